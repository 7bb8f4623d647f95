"""`PrivateStore` in Redis: the part of `RedisStore` for supervised private messages.

Keys (names: `keys.py`), kept as the chat history is (scripts.py says why content
has keys of its own: a delete must reach the bytes):
- `live:{R}:pms`                      zset of the room's private message ids, all scored
                                      0: ids sort in send order, so pages are lex ranges
- `live:{R}:pm:<id>`                  msgpack message (with its text), expiring at its
                                      `ts` plus the space's retention
- `live:space:<S>:pmuser:<n>:<user>`  zset `<room>:<id>` of what the user sent or
                                      received, by ms (erasure, export); ids only
- `live:private`                      zset room key -> its oldest private message's ms,
                                      for the sweep
- `live:{R}:pmcid:<n>:<user>:<cid>`   message id, for idempotent sends (as `cid`)
Keeping one is one script (`KEEP`, sent as `chat:send`'s APPEND is: pipelined, and acked
once a replica has it when there is one): the cid checked and every key written in one step.
A purge (the sweep, a shorter policy, an erasure) `DEL`s content keys and sets
`live:aof:dirty`, so the append-only file is rewritten (compaction.py). Each key
expires with the newest message it holds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.private_store import (
    KeptPrivate,
    PrivateMessage,
    PrivatePage,
    PrivateStore,
    private_id_floor,
)

from . import keys
from .frames import pack, unpack
from .pipeline import ScriptPipeline
from .scripts import DIRTY_MS, TRIM_BATCH

# KEYS: cid key, content key, ids zset, private index, policies zset, the users' indexes
# (1 or 2). ARGV: id, record, ts, room key, `<room>:<id>`, content key prefix,
# service retention ms, space. The message ends at `ts` plus the space's retention (read
# here, as APPEND does). A known cid returns {0, first id, its content (or false)}.
KEEP = """
local prev = redis.call('GET', KEYS[1])
if prev then
  return {0, prev, redis.call('GET', ARGV[6] .. prev)}
end
local ttl = tonumber(ARGV[7])
local policy = redis.call('ZSCORE', KEYS[5], ARGV[8])
if policy and tonumber(policy) < ttl then ttl = tonumber(policy) end
local at = string.format('%.0f', tonumber(ARGV[3]) + ttl)
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', at)
redis.call('SET', KEYS[2], ARGV[2], 'PXAT', at)
redis.call('ZADD', KEYS[3], 0, ARGV[1])
for i = 6, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[5])
end
for _, key in ipairs({KEYS[3], unpack(KEYS, 6)}) do
  redis.call('PEXPIREAT', key, at, 'NX')  -- the newest message ends each key
  redis.call('PEXPIREAT', key, at, 'GT')
end
redis.call('ZADD', KEYS[4], 'NX', ARGV[3], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {1, ARGV[1], false}
"""


class RedisPrivate(PrivateStore):
    _r: Any
    _clock: Clock
    retention_ms: int

    def _init_private(self) -> None:
        # bursts in one round trip, a replica's WAIT when there is one (pipeline.py)
        self._keep = ScriptPipeline(self._r, KEEP)

    if TYPE_CHECKING:
        async def _retention(self, space: str) -> int: ...  # RedisPrivacy's
        async def _floor(self, space: str) -> int: ...  # RedisPrivacy's

    async def keep_private(self, space: str, message: PrivateMessage) -> KeptPrivate:
        ref = RoomRef(space, message.room)
        users = [keys.private_user(space, u) for u in dict.fromkeys(
            (message.user.id, message.to.id))]
        names = [keys.private_cid(ref.key, message.user.id, message.cid),
                 keys.private_prefix(ref.key) + message.id, keys.room(ref.key, "pms"),
                 keys.PRIVATE_INDEX, keys.POLICIES, *users]
        args: list[bytes | str | int] = [
            message.id, pack(message.to_record()), message.ts, ref.key,
            f"{message.room}:{message.id}", keys.private_prefix(ref.key), self.retention_ms,
            space]
        try:
            created, _, raw = await self._keep(keys=names, args=args)
        except RedisError as exc:
            raise Unavailable() from exc
        if created:
            return KeptPrivate(message, True)
        return KeptPrivate(message if not raw else PrivateMessage.from_record(unpack(raw)),
                           False)

    async def _private_contents(self, room_key: str, ids: list[str]) -> list[PrivateMessage]:
        if not ids:
            return []
        prefix = keys.private_prefix(room_key)
        try:
            raw = await self._r.mget([prefix + i for i in ids])
        except RedisError as exc:
            raise Unavailable() from exc
        return [PrivateMessage.from_record(unpack(r)) for r in raw if r is not None]

    async def private_page(self, space: str, room: str, *, before: str | None = None,
                           after: str | None = None, limit: int = 50) -> PrivatePage:
        key = RoomRef(space, room).key
        floor = private_id_floor(await self._floor(space))
        try:
            if after is not None:
                lo = f"({after}" if after >= floor else f"[{floor}"
                raw = await self._r.zrangebylex(keys.room(key, "pms"), lo, "+", 0, limit + 1)
                ids = [i.decode() for i in raw]
            else:
                hi = "+" if before is None else f"({before}"
                raw = await self._r.zrevrangebylex(keys.room(key, "pms"), hi, f"[{floor}",
                                                   0, limit + 1)
                ids = [i.decode() for i in reversed(raw)]
        except RedisError as exc:
            raise Unavailable() from exc
        more = len(ids) > limit
        ids = ids[:limit] if after is not None else ids[len(ids) - limit:] if more else ids
        return PrivatePage(await self._private_contents(key, ids), more)

    async def _remove_private(self, room_key: str, ids: list[str]) -> int:
        """Delete those messages' content and ids; how many were there."""
        if not ids:
            return 0
        prefix = keys.private_prefix(room_key)
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.delete(*(prefix + i for i in ids))
                p.zrem(keys.room(room_key, "pms"), *ids)
                p.set(keys.AOF_DIRTY, "1", px=DIRTY_MS)
                gone, _, _ = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return int(gone)

    async def _user_private_ids(self, space: str, user: str) -> dict[str, list[str]]:
        try:
            raw = await self._r.zrange(keys.private_user(space, user), 0, -1)
        except RedisError as exc:
            raise Unavailable() from exc
        by_room: dict[str, list[str]] = defaultdict(list)
        for member in raw:
            name, _, mid = member.decode().partition(":")
            by_room[RoomRef(space, name).key].append(mid)
        return by_room

    async def erase_private(self, space: str, user: str) -> int:
        erased = 0
        for room_key, ids in sorted((await self._user_private_ids(space, user)).items()):
            for i in range(0, len(ids), TRIM_BATCH):
                erased += await self._remove_private(room_key, ids[i:i + TRIM_BATCH])
        try:
            await self._r.delete(keys.private_user(space, user))
        except RedisError as exc:
            raise Unavailable() from exc
        return erased

    async def user_private(self, space: str, user: str) -> list[PrivateMessage]:
        floor = private_id_floor(await self._floor(space))
        out: list[PrivateMessage] = []
        for room_key, ids in sorted((await self._user_private_ids(space, user)).items()):
            kept = sorted(i for i in ids if i >= floor)
            for i in range(0, len(kept), TRIM_BATCH):
                out += await self._private_contents(room_key, kept[i:i + TRIM_BATCH])
        return sorted(out, key=lambda m: m.id)

    async def _trim_private(self, room_key: str, floor_ms: int) -> int:
        """Delete the room's private messages sent before `floor_ms`; how many."""
        ids_key = keys.room(room_key, "pms")
        upto = f"({private_id_floor(floor_ms)}"
        removed = 0
        try:
            while True:
                raw = await self._r.zrangebylex(ids_key, "-", upto, 0, TRIM_BATCH)
                removed += await self._remove_private(room_key, [i.decode() for i in raw])
                if len(raw) < TRIM_BATCH:
                    break
            first = await self._r.zrange(ids_key, 0, 0)
            if first:
                ms = int(first[0].decode().split("-")[1])
                await self._r.zadd(keys.PRIVATE_INDEX, {room_key: ms})
            else:
                await self._r.zrem(keys.PRIVATE_INDEX, room_key)
        except RedisError as exc:
            raise Unavailable() from exc
        return removed

    async def _sweep_private(self, cutoff: int, floor: Callable[[str], int]) -> int:
        """Private messages past their space's retention (`cutoff`, `floor`: `_floors`)."""
        try:
            due = await self._r.zrangebyscore(keys.PRIVATE_INDEX, "-inf", f"({cutoff}")
        except RedisError as exc:
            raise Unavailable() from exc
        removed = 0
        for raw in due:
            room_key = raw.decode()
            removed += await self._trim_private(room_key,
                                                floor(RoomRef.from_key(room_key).space))
        return removed

    async def _purge_private_space(self, space: str) -> int:
        """A policy changed: the space's private messages past it go at once."""
        try:
            rooms = sorted([raw.decode() async for raw, _ in self._r.zscan_iter(
                keys.PRIVATE_INDEX, match=f"{space}/*")])
        except RedisError as exc:
            raise Unavailable() from exc
        floor = await self._floor(space)
        removed = 0
        for room_key in rooms:
            removed += await self._trim_private(room_key, floor)
        return removed
