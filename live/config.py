"""Configuration from the environment and the command line (contract §5)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from rooms.store import DAY_MS


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
    max_frame_bytes: int = 64 * 1024
    # live/engine.py, live/caps.py: per-connection send buffer, connection caps (0: no cap)
    max_send_buffer_bytes: int = 1 << 20
    max_connections_per_user: int = 10
    max_connections_per_address: int = 200
    trusted_proxies: list[str] = field(default_factory=list)
    media_addresses: list[str] = field(default_factory=list)
    media_public_ip: str | None = None
    public_url: str | None = None
    # clock leeway on a token's `exp`, at connect and for the connection's end (0 to 5 s)
    token_leeway_s: float = 5.0

    @property
    def retention_ms(self) -> int:
        return max(1, int(self.history_days * DAY_MS))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        e = dict(os.environ if env is None else env)
        cfg = cls()
        cfg.redis_url = e.get("LIVE_REDIS_URL") or None
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
        cfg.max_send_buffer_bytes = _int(e, "LIVE_MAX_SEND_BUFFER", cfg.max_send_buffer_bytes)
        cfg.max_connections_per_user = _int(e, "LIVE_MAX_CONNECTIONS_PER_USER",
                                            cfg.max_connections_per_user)
        cfg.max_connections_per_address = _int(e, "LIVE_MAX_CONNECTIONS_PER_ADDRESS",
                                               cfg.max_connections_per_address)
        cfg.trusted_proxies = _csv(e.get("LIVE_TRUSTED_PROXIES", ""))
        cfg.media_addresses = _csv(e.get("LIVE_MEDIA_ADDRESSES", ""))
        cfg.media_public_ip = e.get("LIVE_MEDIA_PUBLIC_IP") or None
        cfg.public_url = e.get("LIVE_PUBLIC_URL") or None
        if e.get("LIVE_TOKEN_LEEWAY", "").strip():
            cfg.token_leeway_s = _leeway(e["LIVE_TOKEN_LEEWAY"])
        return cfg

    def ensure_secret(self) -> None:
        """A dev default: generated and printed at start when none is configured."""
        if not self.jwt_secret:
            self.jwt_secret = secrets.token_urlsafe(32)
            self.secret_generated = True


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
