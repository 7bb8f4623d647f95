"""ICE servers for the browsers: STUN and TURN URLs with coturn REST credentials.

A pupil whose school lets only TCP out (80/443) reaches the forwarding unit through a TURN
server (coturn) over TCP or TLS. The service and coturn share a secret (coturn's
`use-auth-secret` + `static-auth-secret`); the service hands each member time-limited
credentials in coturn's REST form (contract v2 §2, "Media"):

    username   = "<unix expiry>:<sub>"
    credential = base64(HMAC-SHA1(secret, username))

coturn recomputes the credential from the username and refuses it once the expiry has
passed, also for an allocation's refreshes: a credential must outlive the legs made with it,
so the lifetime (`LIVE_TURN_TTL`) is at least an hour (default 6 h, a school day's lessons).
Pages get fresh ones with each `join` ack and each `auth:renew` ack (docs/protocol.md).

`stun:` URLs are handed out as they are, without credentials; with no URL configured the list
is empty (browsers then offer host and server-reflexive candidates only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rooms.clock import Clock

DEFAULT_TTL_S = 6 * 3600
MIN_TTL_S = 3600
MAX_TTL_S = 7 * 24 * 3600

# turn:host[:port][?transport=udp|tcp], turns:..., stun:host[:port] (RFC 7064/7065); IPv6 hosts
# in brackets. No user info, no path: browsers reject them.
_URL = re.compile(
    r"^(?P<scheme>stuns?|turns?):(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?$"
)


def parse_urls(value: str | None) -> tuple[str, ...]:
    """`LIVE_TURN_URLS`: comma-separated `turn:`/`turns:`/`stun:` URLs; ValueError naming the
    first bad one."""
    if not value or not value.strip():
        return ()
    urls: list[str] = []
    for item in value.split(","):
        url = item.strip()
        if not url:
            continue
        match = _URL.match(url)
        if match is None:
            raise ValueError(
                f"LIVE_TURN_URLS: '{url}' is not a turn:, turns: or stun: URL "
                "(e.g. turn:turn.example.org:3478?transport=tcp, turns:turn.example.org:443)")
        port = match["port"]
        if port is not None and not 0 < int(port) < 65536:
            raise ValueError(f"LIVE_TURN_URLS: '{url}' has no valid port")
        if match["scheme"].startswith("stun") and match["transport"]:
            raise ValueError(f"LIVE_TURN_URLS: '{url}': a stun: URL takes no transport")
        urls.append(url)
    return tuple(urls)


def credential(secret: str, username: str) -> str:
    """coturn's REST credential for `username`: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class TurnConfig:
    urls: tuple[str, ...] = ()
    """LIVE_TURN_URLS: `turn:`, `turns:` and `stun:` URLs for the browsers."""
    secret: str = ""
    """LIVE_TURN_SECRET: coturn's `static-auth-secret`; needed with any turn(s): URL."""
    ttl_s: int = DEFAULT_TTL_S
    """LIVE_TURN_TTL: seconds a credential stays valid (at least an hour)."""

    def __post_init__(self) -> None:
        parse_urls(",".join(self.urls))
        if self.relays and not self.secret:
            raise ValueError("LIVE_TURN_URLS names a TURN server: set LIVE_TURN_SECRET to its "
                             "static-auth-secret")
        if self.secret and not self.relays:
            raise ValueError("LIVE_TURN_SECRET is set but LIVE_TURN_URLS names no turn: or "
                             "turns: URL")
        if not MIN_TTL_S <= self.ttl_s <= MAX_TTL_S:
            raise ValueError(f"LIVE_TURN_TTL must be {MIN_TTL_S}..{MAX_TTL_S} seconds: a TURN "
                             "credential must outlive the lesson's connections made with it")

    @property
    def relays(self) -> tuple[str, ...]:
        return tuple(u for u in self.urls if u.startswith("turn"))

    @property
    def stuns(self) -> tuple[str, ...]:
        return tuple(u for u in self.urls if u.startswith("stun"))

    def ice_servers(self, sub: str, clock: Clock) -> list[dict[str, Any]]:
        """The `RTCIceServer` list for member `sub` now: STUN URLs as they are, TURN URLs with
        credentials valid for `ttl_s` from now."""
        servers: list[dict[str, Any]] = []
        if self.stuns:
            servers.append({"urls": list(self.stuns)})
        if self.relays:
            username = f"{clock.now_ms() // 1000 + self.ttl_s}:{sub}"
            servers.append({"urls": list(self.relays), "username": username,
                            "credential": credential(self.secret, username)})
        return servers

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TurnConfig:
        env = os.environ if env is None else env
        raw_ttl = env.get("LIVE_TURN_TTL", "").strip()
        if raw_ttl and not raw_ttl.isdigit():
            raise ValueError("LIVE_TURN_TTL must be a whole number of seconds")
        return cls(
            urls=parse_urls(env.get("LIVE_TURN_URLS")),
            secret=env.get("LIVE_TURN_SECRET", ""),
            ttl_s=int(raw_ttl) if raw_ttl else DEFAULT_TTL_S,
        )
