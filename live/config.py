"""Configuration from the environment and the command line (contract §5)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rooms.links import LinkPolicy
from rooms.store import DAY_MS

ROOMS_MODES = ("teachers", "open")


@dataclass
class Config:
    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    jwt_secret: str = ""
    jwt_public_key: str | None = None
    secret_generated: bool = False
    history_days: float = 90.0
    allowed_origins: list[str] = field(default_factory=list)
    rate_limits: bool = True
    # LIVE_ROOMS: "teachers" (only a teacher opens a room) or "open" (anyone does; v1)
    rooms: str = "teachers"
    max_frame_bytes: int = 64 * 1024
    # live/engine.py, live/caps.py: per-connection send buffer, connection caps (0: no cap)
    max_send_buffer_bytes: int = 1 << 20
    max_connections_per_user: int = 10
    max_connections_per_address: int = 200
    # live/limits.py: events of one connection running at once (0: no cap)
    max_events_in_flight: int = 32
    # live/handshakes.py: a transport without a valid Socket.IO CONNECT by then is closed
    # (contract v2 §1: 10 s; shorter in tests)
    connect_timeout_s: float = 10.0
    trusted_proxies: list[str] = field(default_factory=list)
    media_addresses: list[str] = field(default_factory=list)
    media_public_ip: str | None = None
    # LIVE_MEDIA_PUPIL_CAMERAS: who sees pupils' cameras (and hears them) in a room whose
    # teachers did not choose: "teachers" (the default, issue #11) or "everyone"
    pupil_cameras: str = "teachers"
    public_url: str | None = None
    # live/app.py: GET /metrics on its own port, loopback unless told (0: no metrics server)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9180
    # clock leeway on a token's `exp`, at connect and for the connection's end (0 to 5 s)
    token_leeway_s: float = 5.0
    # rooms/links.py: domains whose links the pages make clickable (None: every http(s) one)
    link_domains: tuple[str, ...] | None = None

    @property
    def retention_ms(self) -> int:
        return max(1, int(self.history_days * DAY_MS))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = dict(os.environ if env is None else env)
        cfg = cls()
        cfg.redis_url = e.get("LIVE_REDIS_URL") or None
        sentinels = _csv(e.get("LIVE_REDIS_SENTINELS", ""))
        if sentinels:
            if cfg.redis_url:
                raise ValueError("set LIVE_REDIS_URL or LIVE_REDIS_SENTINELS, not both")
            cfg.redis_url = sentinel_url(sentinels, e.get("LIVE_REDIS_MASTER") or "mymaster")
        cfg.jwt_secret = e.get("LIVE_JWT_SECRET", "")
        key = e.get("LIVE_JWT_PUBLIC_KEY")
        if key and os.path.exists(key):
            with open(key) as f:
                key = f.read()
        cfg.jwt_public_key = key or None
        if "LIVE_HISTORY_DAYS" in e:
            days = float(e["LIVE_HISTORY_DAYS"])
            if not days > 0:
                raise ValueError("LIVE_HISTORY_DAYS must be positive")
            cfg.history_days = days
        cfg.allowed_origins = _csv(e.get("LIVE_ALLOWED_ORIGINS", ""))
        cfg.rate_limits = e.get("LIVE_RATE_LIMITS", "on").strip().lower() not in {
            "off",
            "0",
            "false",
            "no",
        }
        cfg.rooms = e.get("LIVE_ROOMS", "teachers").strip().lower() or "teachers"
        if cfg.rooms not in ROOMS_MODES:
            raise ValueError("LIVE_ROOMS must be teachers or open")
        cameras = e.get("LIVE_MEDIA_PUPIL_CAMERAS", "teachers").strip().lower()
        cfg.pupil_cameras = cameras or "teachers"
        if cfg.pupil_cameras not in ("teachers", "everyone"):
            raise ValueError("LIVE_MEDIA_PUPIL_CAMERAS must be teachers or everyone")
        cfg.max_send_buffer_bytes = _int(e, "LIVE_MAX_SEND_BUFFER", cfg.max_send_buffer_bytes)
        cfg.max_connections_per_user = _int(e, "LIVE_MAX_CONNECTIONS_PER_USER",
                                            cfg.max_connections_per_user)
        cfg.max_connections_per_address = _int(e, "LIVE_MAX_CONNECTIONS_PER_ADDRESS",
                                               cfg.max_connections_per_address)
        cfg.max_events_in_flight = _int(e, "LIVE_MAX_EVENTS_IN_FLIGHT", cfg.max_events_in_flight)
        cfg.trusted_proxies = _csv(e.get("LIVE_TRUSTED_PROXIES", ""))
        cfg.media_addresses = _csv(e.get("LIVE_MEDIA_ADDRESSES", ""))
        cfg.media_public_ip = e.get("LIVE_MEDIA_PUBLIC_IP") or None
        cfg.public_url = e.get("LIVE_PUBLIC_URL") or None
        cfg.metrics_host = e.get("LIVE_METRICS_HOST", "").strip() or cfg.metrics_host
        cfg.metrics_port = _int(e, "LIVE_METRICS_PORT", cfg.metrics_port)
        cfg.link_domains = LinkPolicy.parse(e.get("LIVE_LINK_DOMAINS")).domains
        if e.get("LIVE_TOKEN_LEEWAY", "").strip():
            cfg.token_leeway_s = _leeway(e["LIVE_TOKEN_LEEWAY"])
        return cfg

    def ensure_secret(self) -> None:
        """A dev default: generated and printed at start when none is configured."""
        if not self.jwt_secret:
            self.jwt_secret = secrets.token_urlsafe(32)
            self.secret_generated = True


def sentinel_url(sentinels: list[str], master: str) -> str:
    """`redis+sentinel://h1:p1,h2:p2/<master>/0` (live/redis_backend/client.py) from
    `LIVE_REDIS_SENTINELS` (host:port, comma-separated) and `LIVE_REDIS_MASTER`."""
    for s in sentinels:
        host, colon, port = s.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise ValueError(f"LIVE_REDIS_SENTINELS: a sentinel is host:port, not '{s}'")
    if not master.strip() or "/" in master:
        raise ValueError("LIVE_REDIS_MASTER must be the name the sentinels monitor")
    return f"redis+sentinel://{','.join(sentinels)}/{master.strip()}/0"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number (0: no limit)")
    return int(raw)


def _leeway(raw: str) -> float:
    try:
        leeway = float(raw)
    except ValueError:
        leeway = -1.0
    if not 0 <= leeway <= 5:
        raise ValueError("LIVE_TOKEN_LEEWAY must be a number of seconds from 0 to 5")
    return leeway


def _csv(value: str) -> list[str]:
    return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]


def redacted_url(url: str) -> str:
    """`url` with its password hidden (in the userinfo and in a `password` query
    parameter), for banners and logs: `redis://user:***@host:6379/0`."""
    parts = urlsplit(url)
    shown = url
    if "@" in parts.netloc:
        userinfo, _, hosts = parts.netloc.rpartition("@")  # a password may hold a raw "@"
        user, colon, _ = userinfo.partition(":")
        # (userinfo without a colon is a user name to redis-py, but a password to some
        # tools: hidden too)
        shown = shown.replace(parts.netloc, f"{user}:***@{hosts}" if colon else f"***@{hosts}", 1)
    if parts.query:
        query = "&".join("password=***" if pair.split("=", 1)[0].lower() == "password" else pair
                         for pair in parts.query.split("&"))
        shown = shown.replace(f"?{parts.query}", f"?{query}", 1)
    return shown
