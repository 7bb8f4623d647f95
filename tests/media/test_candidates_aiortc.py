"""A publisher's offer names an "internal service" (a UDP socket on 127.0.0.2) as one of its ICE
candidates. With 127.0.0.2 in the denied ranges, aiortc never learns of it and nothing is sent
there, while the stream still connects over the publisher's real candidate; without the range
(the control), the same offer makes the unit send STUN checks to the socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import ANNA, TEACHER, Events, Harness
from mediapeers import EncodedVideoTrack, Publisher

from signaling.candidates import parse_nets
from signaling.config import MediaConfig
from signaling.service import MediaService

pytestmark = [pytest.mark.slow]  # real WebRTC media

ROOM = "ts1/class-a"
INTERNAL = "127.0.0.2"


class Listener(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.first = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)
        self.first.set()


@pytest.fixture
async def internal() -> AsyncIterator[tuple[Listener, int]]:
    loop = asyncio.get_running_loop()
    transport, listener = await loop.create_datagram_endpoint(Listener, local_addr=(INTERNAL, 0))
    try:
        yield listener, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def aimed_at(offer: str, port: int) -> str:
    """`offer` with one more host candidate, of the highest priority, at the internal socket."""
    line = f"a=candidate:999 1 udp 2130706431 {INTERNAL} {port} typ host"
    out: list[str] = []
    for part in offer.split("\r\n"):
        if part.startswith("a=candidate:") and line not in out:
            out.append(line)
        out.append(part)
    assert line in out
    return "\r\n".join(out)


async def publish(harness: Harness, port: int) -> tuple[str, list[str]]:
    pub = Publisher(video=EncodedVideoTrack(160, 120), audio=None)
    harness.peers.append(pub)
    stream, answer = await harness.service.publish(
        TEACHER, ROOM, "screen", aimed_at(await pub.offer(), port))
    await pub.accept(answer)
    await harness.events.wait("rtc:stream", stream, limit=20)
    leg = harness.service._rooms[ROOM].streams[stream]
    (transceiver,) = leg.pc.getTransceivers()
    ice = transceiver.receiver.transport.transport
    return stream, [c.ip for c in ice.getRemoteCandidates()]


async def harness(config: MediaConfig) -> Harness:
    events = Events()
    return Harness(MediaService(on_event=events, config=config), events)


async def test_a_denied_candidate_is_never_contacted(
        internal: tuple[Listener, int]) -> None:
    listener, port = internal
    h = await harness(MediaConfig(addresses=("127.0.0.1",), denied_nets=parse_nets(INTERNAL),
                                  connect_timeout=15.0))
    try:
        stream, remote = await publish(h, port)
        assert INTERNAL not in remote and "127.0.0.1" in remote
        # the stream works: a subscriber receives it
        _, sub = await h.subscribe(ANNA, stream)
        await asyncio.wait_for(sub.first_video.wait(), 20)
        assert listener.got == []
    finally:
        await h.close()


async def test_control_without_the_range_the_unit_sends_checks_to_it(
        internal: tuple[Listener, int]) -> None:
    listener, port = internal
    h = await harness(MediaConfig(addresses=("127.0.0.1",), connect_timeout=15.0))
    try:
        _, remote = await publish(h, port)
        assert INTERNAL in remote
        await asyncio.wait_for(listener.first.wait(), 20)
        assert listener.got[0][:2] == b"\x00\x01"  # a STUN Binding request
    finally:
        await h.close()
