"""Engine.IO sessions that have not signed in yet: a deadline, and a cap per address.

Why: contract v2 §1, "a transport that has not completed a valid CONNECT within
10 s, or whose CONNECT was refused, is closed by the service". Before, a refused
CONNECT only got its `connect_error` and the Engine.IO session stayed as long as
the client answered pings; and no cap applied before a valid token (the caps of
live/caps.py count signed-in connections), so one host could hold tens of
thousands of sessions.

How a session goes through (the engine and the server call these):
- `GuardedEngine._handle_connect`, before engineio makes a session: `refusal(environ)`
  says whether the client's address already has `per_address` sessions signing in;
  if so the handshake is answered HTTP 429 `{code: "rate_limited", message}`
  (WebSocket and long-polling alike: both start with that request).
- engineio's `connect` event (the session exists): `open(sid, environ)` counts it
  against its address and arms its deadline.
- `LiveServer._handle_eio_message`, once a packet of a pending session is handled:
  connected in the default namespace -> `signed_in(sid)`; otherwise (a refused
  CONNECT, whose `connect_error` is queued by then, or anything but a CONNECT
  first) the server closes the transport, flushing that answer first.
- engineio's `disconnect` event (the session closed, whichever way): `closed(sid)`.
- At the deadline a session still pending is handed to `on_expire` (the engine
  drops it).

Cost: one dict entry and one `loop.call_at` timer per session, only while it
signs in (a few milliseconds for a normal client); a signed-in connection holds
nothing here. `LIVE_RATE_LIMITS=off` lifts the cap per address (benchmarks open
thousands of connections from one address), never the deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from .caps import client_address

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0  # contract v2 §1


class Handshakes:
    """The sessions of one Engine.IO server that have not completed a valid CONNECT."""

    def __init__(self, deadline_s: float = CONNECT_TIMEOUT_S, per_address: int = 0,
                 trusted_proxies: list[str] | None = None, enabled: bool = True) -> None:
        self.deadline_s = deadline_s
        self.per_address = per_address  # 0: no cap
        self.trusted = frozenset(trusted_proxies or [])
        self.enabled = enabled  # the cap per address (the deadline always holds)
        self.on_expire: Callable[[str], None] = lambda sid: None
        self._pending: dict[str, tuple[str, asyncio.TimerHandle]] = {}  # sid -> address, timer
        self._addresses: Counter[str] = Counter()  # address -> sessions pending
        self.refused = 0  # handshakes refused at the cap
        self.expired = 0  # sessions closed at the deadline

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Why a new session from this request's address is refused, or None."""
        if not (self.enabled and self.per_address):
            return None
        if self._addresses[client_address(environ, self.trusted)] < self.per_address:
            return None
        self.refused += 1
        return f"at most {self.per_address} connections signing in per address"

    def open(self, sid: str, environ: dict[str, Any]) -> None:
        """A new session: it has `deadline_s` to complete a valid CONNECT."""
        if sid in self._pending:
            return
        address = client_address(environ, self.trusted)
        loop = asyncio.get_running_loop()
        timer = loop.call_at(loop.time() + self.deadline_s, self._expire, sid)
        self._pending[sid] = (address, timer)
        self._addresses[address] += 1

    def pending(self, sid: str) -> bool:
        return sid in self._pending

    def __len__(self) -> int:
        return len(self._pending)

    def signed_in(self, sid: str) -> None:
        """The session completed a valid CONNECT: no deadline, no place taken."""
        self._settle(sid)

    def closed(self, sid: str) -> None:
        """The session is gone."""
        self._settle(sid)

    def _settle(self, sid: str) -> None:
        entry = self._pending.pop(sid, None)
        if entry is None:
            return
        address, timer = entry
        timer.cancel()
        self._addresses[address] -= 1
        if self._addresses[address] <= 0:
            del self._addresses[address]

    def _expire(self, sid: str) -> None:
        if sid not in self._pending:
            return
        self._settle(sid)
        self.expired += 1
        log.info("no valid CONNECT in time: closing", extra={"eio": sid})
        self.on_expire(sid)
