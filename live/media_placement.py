"""Which process serves a room's media, so that all its members meet on one process.

With Redis, `live:{space/room}:media` holds the id of the process that serves
the room's media, with an expiry (`TTL_S`). The first process asked to publish
or subscribe in a room claims it; it refreshes the key while the room has
streams or saw media activity lately, and gives it up when the room is quiet or
the process stops. Another process asked for the room's media answers
`unavailable` with that process's id (`MediaElsewhere`); a balancer that routes
by room avoids that answer altogether (README, "Scaling out media").

Without Redis there is one process, which serves every room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.asyncio import Redis

from .loops import every
from .redis_backend import keys

log = logging.getLogger(__name__)

TTL_S = 30
REFRESH_S = 10.0

# claim the key if free or ours (and refresh it); answer the owner
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return v
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class MediaPlacement:
    """Claims rooms for this process (`redis` None: one process, every room is ours)."""

    def __init__(self, proc_id: str, redis: Redis | None,
                 busy: Callable[[str], bool] = lambda _: False) -> None:
        self.proc_id = proc_id
        self._redis = redis
        self._busy = busy  # whether a room still has media here (streams, subscriptions)
        self._active: dict[str, float] = {}  # room key -> last media activity (monotonic)
        self._task: asyncio.Task[None] | None = None

    async def claim(self, room_key: str) -> str | None:
        """None if this process serves the room's media, else the id of the one that does."""
        self.touch(room_key)
        if self._redis is None:
            return None
        owner = await self._redis.eval(_CLAIM, 1, keys.media(room_key), self.proc_id, TTL_S)
        owner = owner.decode() if isinstance(owner, bytes) else str(owner)
        if owner != self.proc_id:
            self._active.pop(room_key, None)
            return owner
        self._start()
        return None

    def touch(self, room_key: str) -> None:
        self._active[room_key] = time.monotonic()

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        await asyncio.sleep(REFRESH_S)
        await every(REFRESH_S, self.refresh, name="media placement", cap=TTL_S / 2,
                    extra={"proc": self.proc_id})

    async def refresh(self) -> None:
        assert self._redis is not None
        now = time.monotonic()
        for room_key, at in list(self._active.items()):
            if self._busy(room_key) or now - at < TTL_S:
                await self._redis.eval(_CLAIM, 1, keys.media(room_key), self.proc_id, TTL_S)
            else:
                del self._active[room_key]
                await self._redis.eval(_RELEASE, 1, keys.media(room_key), self.proc_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._redis is not None:
            for room_key in list(self._active):
                with contextlib.suppress(Exception):
                    await self._redis.eval(_RELEASE, 1, keys.media(room_key), self.proc_id)
            self._active.clear()
            with contextlib.suppress(Exception):
                await self._redis.aclose()
