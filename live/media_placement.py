"""Which process serves a room's media, so that all its members meet on one process.

With Redis, `live:{space/room}:media` holds the id of the process that serves
the room's media, with an expiry (`TTL_S`). The first process asked to publish
or subscribe in a room claims it; it refreshes the key while the room has
streams or saw media activity lately, and gives it up when the room is quiet or
the process stops. Another process asked for the room's media forwards the
request to that process over the bus (`live/media_routing.py`).

Failover: a process that holds the key may die without giving it up. Every
process checks, every `WATCH_S` seconds, who serves the media of the rooms its
members are in (`check_owners`); an owner that is not alive (`alive`: no
subscription to its calls channel, or a heartbeat older than `PROC_DEAD_MS`) on
`STRIKES` checks in a row is replaced: the first process to swap the key from the
dead owner to itself (`take_over`, atomic) serves the room and runs
`on_dead(room, dead)` (the end of the dead process's streams is announced). A
forwarded call that finds no process listening takes the room over at once the
same way. A process whose refresh finds the key taken by another (taken for dead,
e.g. after a long pause) hands the room over: `on_lost(room)` ends what it still
forwards there.

Without Redis there is one process, which serves every room.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from rooms.shared_read import SharedRead

from .loops import every
from .redis_backend import keys
from .redis_backend.store import PROC_DEAD_MS

log = logging.getLogger(__name__)

TTL_S = 30
REFRESH_S = 10.0
WATCH_S = 1.0
STRIKES = 2  # checks in a row an owner must be dead before its rooms are taken

# claim the key if free or ours (and refresh it); answer the owner
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return ARGV[1]
end
return v
"""
# take the key if free, ours, or the dead owner's
_TAKE_OVER = """
local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] or v == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return 1
end
return 0
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
        # concurrent reads of a room's owner share one (each one begun after its caller
        # asked): when a school's network drops, every member's leave asks it at once
        self._owners: SharedRead[str, str | None] = SharedRead(self._read_owner)
        self._busy = busy  # whether a room still has media here (streams, subscriptions)
        self._active: dict[str, float] = {}  # room key -> last media activity (monotonic)
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._strikes: dict[tuple[str, str], int] = {}  # (room, owner) -> dead checks in a row
        # set by the media edge: rooms with members here, and what to do on a failover
        self.rooms_here: Callable[[], set[str]] = set
        self.on_dead: Callable[[str, str], Awaitable[None]] = _nothing2
        self.on_lost: Callable[[str], Awaitable[None]] = _nothing1

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

    async def owner(self, room_key: str) -> str | None:
        """The process serving the room's media now (None: this one, or none)."""
        if self._redis is None:
            return None
        return await self._owners.get(room_key)

    async def _read_owner(self, room_key: str) -> str | None:
        assert self._redis is not None
        raw = await self._redis.get(keys.media(room_key))
        owner = raw.decode() if isinstance(raw, bytes) else raw
        return None if owner in (None, self.proc_id) else str(owner)

    async def take_over(self, room_key: str, dead: str) -> bool:
        """Serve the room's media here instead of `dead`; false if another process was
        faster (or serves it, alive)."""
        if self._redis is None:
            return True
        took = await self._redis.eval(_TAKE_OVER, 1, keys.media(room_key), self.proc_id, dead,
                                      TTL_S)
        if not took:
            return False
        log.info("media room taken over", extra={"room": room_key, "dead": dead,
                                                 "proc": self.proc_id})
        self.touch(room_key)
        self._start()
        return True

    async def alive(self, proc: str) -> bool:
        """Whether `proc` is subscribed to its calls channel and its heartbeat is recent."""
        assert self._redis is not None
        async with self._redis.pipeline(transaction=False) as p:
            p.pubsub_numsub(keys.proc_calls(proc))
            p.zscore(keys.PROCS, proc)
            (numsub, beat) = await p.execute()
        listening = bool(numsub) and int(numsub[0][1]) > 0
        fresh = beat is not None and float(beat) >= time.time() * 1000 - PROC_DEAD_MS
        if not (listening and fresh):
            log.info("media owner looks dead", extra={"owner": proc, "listening": listening,
                                                      "heartbeat": beat, "proc": self.proc_id})
        return listening and fresh

    def watch(self) -> None:
        """Start checking the owners of the rooms with members here (with Redis)."""
        if self._redis is not None and self._watch is None:
            self._watch = asyncio.ensure_future(every(
                WATCH_S, self.check_owners, name="media owners", cap=10.0,
                extra={"proc": self.proc_id}))

    async def check_owners(self) -> None:
        """Take over the rooms here whose media owner died (`STRIKES` checks in a row)."""
        assert self._redis is not None
        rooms = sorted(self.rooms_here())
        if not rooms:
            self._strikes.clear()
            return
        async with self._redis.pipeline(transaction=False) as p:
            for room_key in rooms:
                p.get(keys.media(room_key))
            raw = await p.execute()
        owners = {room_key: o.decode() for room_key, o in zip(rooms, raw, strict=True)
                  if isinstance(o, bytes) and o.decode() != self.proc_id}
        dead = {o for o in set(owners.values()) if not await self.alive(o)}
        strikes: dict[tuple[str, str], int] = {}
        for room_key, owner in owners.items():
            if owner not in dead:
                continue
            n = strikes[(room_key, owner)] = self._strikes.get((room_key, owner), 0) + 1
            if n >= STRIKES and await self.take_over(room_key, owner):
                del strikes[(room_key, owner)]
                await self.on_dead(room_key, owner)
        self._strikes = strikes

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
                owner = await self._redis.eval(_CLAIM, 1, keys.media(room_key), self.proc_id,
                                               TTL_S)
                owner = owner.decode() if isinstance(owner, bytes) else str(owner)
                if owner != self.proc_id:  # taken for dead meanwhile: hand it over
                    log.warning("media room taken by another process", extra={
                        "room": room_key, "owner": owner, "proc": self.proc_id})
                    del self._active[room_key]
                    await self.on_lost(room_key)
            else:
                del self._active[room_key]
                await self._redis.eval(_RELEASE, 1, keys.media(room_key), self.proc_id)

    async def close(self) -> None:
        for task in (self._task, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._redis is not None:
            for room_key in list(self._active):
                with contextlib.suppress(Exception):
                    await self._redis.eval(_RELEASE, 1, keys.media(room_key), self.proc_id)
            self._active.clear()
            with contextlib.suppress(Exception):
                await self._redis.aclose()


async def _nothing1(room_key: str) -> None:
    return None


async def _nothing2(room_key: str, dead: str) -> None:
    return None
