"""The service's TURN credentials against a real coturn (`use-auth-secret`), in the test's
network namespace: aioice allocates a relay over TCP with what `TurnConfig` hands out; a wrong
secret or an expired credential is refused by coturn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aioice import stun, turn

from rooms.clock import FakeClock, SystemClock
from signaling.turn import TurnConfig
from tests.media.coturn import Coturn
from tests.netns import NetNS, netns

pytestmark = [pytest.mark.media]

SECRET = "coturn-test-secret"


@pytest.fixture
def ns() -> Iterator[NetNS]:
    with netns() as space:
        yield space


@pytest.fixture
async def coturn(ns: NetNS) -> AsyncIterator[Coturn]:
    server = Coturn(ns.inside, SECRET, wrap=ns.command)
    try:
        yield await server.start()
    finally:
        server.stop()


def config(coturn: Coturn, secret: str = SECRET) -> TurnConfig:
    return TurnConfig(urls=(f"turn:{coturn.ip}:{coturn.port}?transport=tcp",), secret=secret)


async def allocate(coturn: Coturn, server: dict[str, object]) -> tuple[str, int]:
    transport, _ = await turn.create_turn_endpoint(
        asyncio.DatagramProtocol, (coturn.ip, coturn.port), str(server["username"]),
        str(server["credential"]), transport="tcp")
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


async def test_coturn_relays_with_the_services_credentials_and_refuses_others(
        coturn: Coturn) -> None:
    (good,) = config(coturn).ice_servers("pupil-42", SystemClock())
    assert str(good["username"]).endswith(":pupil-42")
    relayed = await allocate(coturn, good)
    assert relayed[0] == coturn.ip and 49152 <= relayed[1] <= 65535

    (forged,) = config(coturn, secret="another-secret").ice_servers("pupil-42", SystemClock())
    with pytest.raises(stun.TransactionFailed, match="401"):
        await allocate(coturn, forged)

    # made with the right secret, but seven hours ago: expired an hour ago
    past = FakeClock(start_ms=int(SystemClock().now_ms() - 7 * 3600 * 1000))
    (expired,) = config(coturn).ice_servers("pupil-42", past)
    with pytest.raises(stun.TransactionFailed, match="401"):
        await allocate(coturn, expired)
