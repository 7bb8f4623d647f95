"""Connection caps at CONNECT: at most so many connections per user and per address.
(Sessions still signing in are capped per address before this: live/handshakes.py.)

Counted in this process here; with the Redis backend, in Redis across every process
(live/redis_backend/caps.py), so a user's connections spread over processes still
meet one cap.

Behind a trusted proxy the address is the last hop the proxy added to
`X-Forwarded-For`; from anyone else that header is ignored.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rooms.errors import RateLimited
from rooms.identity import Identity


class CapReached(RateLimited):
    """A connection refused because its user or address has too many already."""


def client_address(environ: dict[str, Any], trusted_proxies: frozenset[str]) -> str:
    """The peer's address; behind a trusted proxy, the last hop it added to X-Forwarded-For."""
    req = environ.get("aiohttp.request")
    peer = str(getattr(req, "remote", None) or "?")
    if peer in trusted_proxies:
        hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if hops:
            return str(hops[-1])
    return peer


class ConnectionCaps:
    """At most `per_user` connections per user and `per_address` per address (0: no cap)."""

    def __init__(self, per_user: int, per_address: int, trusted_proxies: list[str] | None = None,
                 enabled: bool = True) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.trusted = frozenset(trusted_proxies or [])
        self.enabled = enabled
        self._users: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self._held: dict[str, tuple[str, str]] = {}
        self.refused = 0

    async def admit(self, sid: str, who: Identity, environ: dict[str, Any]) -> None:
        """Count connection `sid` of `who`, or raise `CapReached`."""
        self.admit_here(sid, f"{who.space}\x00{who.sub}", client_address(environ, self.trusted))

    async def release(self, sid: str) -> None:
        """Connection `sid` is gone (nothing happens for one never admitted)."""
        self.release_here(sid)

    def admit_here(self, sid: str, user: str, address: str) -> None:
        """`admit`, counted in this process."""
        if not self.enabled:
            return
        if self.per_user and self._users[user] >= self.per_user:
            self.refused += 1
            raise CapReached(f"at most {self.per_user} connections per user")
        if self.per_address and self._addresses[address] >= self.per_address:
            self.refused += 1
            raise CapReached(f"at most {self.per_address} connections per address")
        self._users[user] += 1
        self._addresses[address] += 1
        self._held[sid] = (user, address)

    async def close(self) -> None:
        """Nothing held outside this process."""

    def release_here(self, sid: str) -> None:
        held = self._held.pop(sid, None)
        if held is None:
            return
        user, address = held
        for counter, key in ((self._users, user), (self._addresses, address)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]
