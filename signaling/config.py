"""Configuration of the forwarding unit, from the environment or given."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass

from rooms.media_rules import NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY

from .candidates import CandidateFilter, IPNetwork, parse_nets
from .ice import parse_addresses
from .turn import TurnConfig


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
    max_legs_per_member: int = 80
    """LIVE_MEDIA_MAX_LEGS_PER_MEMBER: PeerConnections (streams published and subscriptions)
    one member may hold on this process, all rooms together (`rate_limited` past it)."""
    max_legs: int = 500
    """LIVE_MEDIA_MAX_LEGS: PeerConnections of this process (`unavailable` past it)."""
    denied_nets: tuple[IPNetwork, ...] = ()
    """LIVE_MEDIA_DENIED_NETS: ranges a browser's ICE candidates may not name
    (`signaling.candidates`)."""
    turn: TurnConfig = TurnConfig()
    """LIVE_TURN_URLS, LIVE_TURN_SECRET, LIVE_TURN_TTL: the browsers' ICE servers."""
    max_sdp: int = 64 * 1024
    publish_bitrate: int = 1_000_000
    """The video bitrate (bit/s) the unit lets a publisher send: a REMB at this cap once a
    second (as Janus's VideoRoom `bitrate`); the browser's own loss-based control goes
    below it on a weak uplink."""
    pupil_cameras_teachers_only: bool = False
    """A new room's setting until a teacher changes it; `from_env` (the service) takes
    `rooms.media_rules.NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY` (issue #11 part 6)."""

    def __post_init__(self) -> None:
        if self.public_ip is not None:
            ipaddress.ip_address(self.public_ip)
        if not 0 <= self.last_n <= 64:
            raise ValueError("last_n must be within 0..64")
        if self.publish_bitrate < 30_000:
            raise ValueError("publish_bitrate must be at least 30000 bit/s")
        if self.max_legs_per_member < 1 or self.max_legs < 1:
            raise ValueError("LIVE_MEDIA_MAX_LEGS and LIVE_MEDIA_MAX_LEGS_PER_MEMBER must be "
                             "at least 1")

    @property
    def candidates(self) -> CandidateFilter:
        """Which of a browser's ICE candidates the unit may send to."""
        return CandidateFilter.for_unit(self.denied_nets, self.addresses)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MediaConfig:
        env = os.environ if env is None else env
        stun = tuple(s.strip() for s in env.get("LIVE_MEDIA_STUN", "").split(",") if s.strip())
        return cls(
            addresses=tuple(parse_addresses(env.get("LIVE_MEDIA_ADDRESSES"))),
            public_ip=(env.get("LIVE_MEDIA_PUBLIC_IP") or "").strip() or None,
            stun_servers=stun,
            last_n=int(env.get("LIVE_MEDIA_LAST_N", "9")),
            max_legs_per_member=_count(env, "LIVE_MEDIA_MAX_LEGS_PER_MEMBER", 80),
            max_legs=_count(env, "LIVE_MEDIA_MAX_LEGS", 500),
            denied_nets=parse_nets(env.get("LIVE_MEDIA_DENIED_NETS")),
            turn=TurnConfig.from_env(env),
            pupil_cameras_teachers_only=NEW_ROOM_PUPIL_CAMERAS_TEACHERS_ONLY,
        )


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number, at least 1")
    return int(raw)
