"""The Redis backend: a `Store` (history, presence, classroom tools) and a `Bus`
(room events and notices between processes) on one Redis. Several service
processes on one Redis act as one service. The URL is `redis://`, `rediss://`,
`unix://` or `redis+sentinel://` (the primary Redis Sentinel names, followed through
failovers: `client.py`)."""

from __future__ import annotations

from typing import Any

from rooms.clock import Clock
from rooms.identity import RoomRef
from rooms.store import Store

from . import client
from .bus import RedisBus
from .caps import RedisConnectionCaps
from .limiter import RedisLimiter
from .store import PROC_DEAD_MS, RedisStore


def open_backend(url: str, clock: Clock, retention_ms: int,
                 proc_id: str) -> tuple[RedisStore, RedisBus]:
    store = RedisStore(client.connect(url), clock, retention_ms, proc_id)
    bus = RedisBus(url, proc_id)
    bus.replay = _replayer(store)
    bus.newest = _newest(store)
    return store, bus


def open_limiter(url: str, clock: Clock, enabled: bool) -> RedisLimiter:
    """Rate-limit buckets in Redis: one user's rate across every process."""
    return RedisLimiter(client.connect(url), clock, enabled=enabled)


def open_caps(url: str, clock: Clock, proc_id: str, per_user: int, per_address: int,
              trusted_proxies: list[str], enabled: bool) -> RedisConnectionCaps:
    """Connection caps counted in Redis: one user's (one address's) cap across processes."""
    return RedisConnectionCaps(client.connect(url), clock, proc_id, PROC_DEAD_MS, per_user,
                               per_address, trusted_proxies, enabled)


def _newest(store: Store) -> Any:
    """The id of a room's newest stored message, "0-0" when it has none (the bus's
    replay cursor for a room attached while quiet)."""

    async def newest(room_key: str) -> str:
        page = await store.history(RoomRef.from_key(room_key), limit=1)
        return page.messages[-1].id if page.messages else "0-0"

    return newest


def _replayer(store: Store) -> Any:
    """Messages of a room stored after a given id, oldest first (the bus's replay)."""

    async def replay(room_key: str, after: str) -> list[dict[str, Any]]:
        room, out = RoomRef.from_key(room_key), []
        while True:
            page = await store.history(room, after=after, limit=100)
            out += [m.to_wire() for m in page.messages]
            if not page.more or not page.messages:
                return out
            after = page.messages[-1].id

    return replay
