"""Configuration of the forwarding unit, from the environment or given."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from rooms.media_rules import NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY

from .ice import parse_addresses


@dataclass(frozen=True, slots=True)
class MediaConfig:
    addresses: tuple[str, ...] = ()
    """LIVE_MEDIA_ADDRESSES: host-candidate addresses; empty is aioice's default."""
    public_ip: str | None = None
    """LIVE_MEDIA_PUBLIC_IP: announced instead of the host addresses (1:1 NAT)."""
    stun_servers: tuple[str, ...] = ()
    """LIVE_MEDIA_STUN: e.g. `stun:stun.example.org:3478`; none by default."""
    last_n: int = 9
    """LIVE_MEDIA_LAST_N: video streams per subscriber until a teacher changes it."""
    keyframe_interval: float = 0.5
    """Seconds between two keyframe requests to one publisher."""
    connect_timeout: float = 30.0
    """Seconds a leg may take from offer to connected (or to its answer)."""
    max_subscriptions: int = 64
    """Subscriptions one member may hold in one room."""
    max_sdp: int = 64 * 1024
    pupil_cameras_teachers_only: bool = False
    """A new room's setting until a teacher changes it; `from_env` (the service) takes
    `rooms.media_rules.NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY` (issue #11 part 6)."""

    def __post_init__(self) -> None:
        if self.public_ip is not None:
            ipaddress.ip_address(self.public_ip)
        if not 0 <= self.last_n <= 64:
            raise ValueError("last_n must be within 0..64")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MediaConfig:
        env = os.environ if env is None else env
        stun = tuple(s.strip() for s in env.get("LIVE_MEDIA_STUN", "").split(",") if s.strip())
        return cls(
            addresses=tuple(parse_addresses(env.get("LIVE_MEDIA_ADDRESSES"))),
            public_ip=(env.get("LIVE_MEDIA_PUBLIC_IP") or "").strip() or None,
            stun_servers=stun,
            last_n=int(env.get("LIVE_MEDIA_LAST_N", "9")),
            pupil_cameras_teachers_only=NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY,
        )
