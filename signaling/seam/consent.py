"""ICE consent that keeps a slow peer (`patient_consent`) and the connections to apply it to."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aioice.ice import CONSENT_INTERVAL as _AIOICE_CONSENT_INTERVAL
from aioice.ice import Connection as _AioiceConnection
from aioice.stun import TransactionError as _StunTransactionError

logger = logging.getLogger(__name__)


CONSENT_EXPIRY = 30.0  # seconds without any consent answer (RFC 7675 section 5.1)
CONSENT_RETRANSMISSIONS = 2  # a check waits 0.5 + 1 + 2 s for its answer


def patient_consent(
    connection: _AioiceConnection,
    *,
    interval: float = _AIOICE_CONSENT_INTERVAL,
    expiry: float = CONSENT_EXPIRY,
) -> None:
    """Check consent on `connection` every ~`interval` s; close after `expiry` s unanswered."""
    if not callable(getattr(connection, "query_consent", None)) or not callable(
        getattr(connection, "build_request", None)
    ):
        raise RuntimeError("aioice Connection.query_consent or build_request moved")

    async def query_consent() -> None:
        loop = asyncio.get_running_loop()
        answered = loop.time()
        password = connection.remote_password
        if password is None:
            raise RuntimeError("consent checks before the remote password")
        while True:
            await asyncio.sleep(interval * (0.8 + 0.4 * random.random()))
            pairs = list(connection._nominated.values())
            if not pairs:  # nothing to check yet (aioice's own counts no miss either)
                answered = loop.time()
            for pair in pairs:
                request = connection.build_request(pair, nominate=False)
                try:
                    await pair.protocol.request(
                        request, pair.remote_addr, integrity_key=password.encode("utf8"),
                        retransmissions=CONSENT_RETRANSMISSIONS)
                    answered = loop.time()
                except _StunTransactionError:
                    pass
            if loop.time() - answered >= expiry:
                logger.info("consent expired: no answer for %.0f s", loop.time() - answered)
                connection._query_consent_task = None
                await connection.close()
                return

    connection.query_consent = query_consent  # type: ignore[method-assign]


def ice_connections(pc: Any) -> list[_AioiceConnection]:
    """The aioice connections of a PeerConnection's transceivers (one with BUNDLE)."""
    found: dict[int, _AioiceConnection] = {}
    for transceiver in pc.getTransceivers():
        connection = transceiver.sender.transport.transport._connection
        found[id(connection)] = connection
    return list(found.values())
