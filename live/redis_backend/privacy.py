"""`PrivacyStore` in Redis, and the retention sweep: the part of `RedisStore` that
removes history (purges, erasure) and keeps policies, receipts and attendance.

Keys (names: `keys.py`):
- `live:policies`                  zset space -> effective retention ms, for spaces
                                   whose schools set a limit (read by the scripts)
- `live:space:<S>:policy`          hash school -> days
- `live:space:<S>:purges`          zset of msgpack receipts scored by `at`; trimmed to
                                   `RECEIPT_DAYS` on each write and by the sweep
- `live:space:<S>:user:<n>:<user>` zset `<room>:<id>` of the user's messages, by ms;
                                   expires with the user's newest message (erasure)
- `live:{R}:visits`                zset of msgpack visits scored by `joined`
- `live:{R}:visits:open`           hash user -> their open visit (a member of `visits`)
- `live:visits`                    zset room key -> oldest visit, for the sweep
Policies hold no personal data (school ids and numbers) and do not expire: a
school's limit must not lapse. Everything else expires.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.message import Message, sort_key
from rooms.privacy import (
    DAY_MS,
    ERASURE,
    MAX_RECEIPTS,
    POLICY,
    RECEIPT_MS,
    RETENTION,
    Erased,
    Policy,
    PrivacyStore,
    Receipt,
    Visit,
)

from . import keys
from .frames import pack, unpack
from .scripts import POLICY as POLICY_SCRIPT
from .scripts import REMOVE, TRIM, TRIM_BATCH

log = logging.getLogger(__name__)



def visit_begin_lua(k: int, a: int) -> str:
    """A visit's beginning as Lua: KEYS[k..k+2] are `visit_keys`, ARGV[a..a+4] are
    `visit_args` (also run by the store's ENTER script, in the step that enters)."""
    return f"""
redis.call('ZADD', KEYS[{k}], ARGV[{a + 1}], ARGV[{a}])
redis.call('HSET', KEYS[{k + 1}], ARGV[{a + 2}], ARGV[{a}])
redis.call('PEXPIRE', KEYS[{k}], ARGV[{a + 3}])
redis.call('PEXPIRE', KEYS[{k + 1}], ARGV[{a + 3}])
redis.call('ZADD', KEYS[{k + 2}], 'NX', ARGV[{a + 1}], ARGV[{a + 4}])
redis.call('PEXPIRE', KEYS[{k + 2}], ARGV[{a + 3}])
"""


VISIT_BEGIN = visit_begin_lua(1, 1)


def visit_keys(room: RoomRef) -> list[str]:
    """The visits zset, the open visits hash and the visits index."""
    return [keys.room(room.key, "visits"), keys.room(room.key, "visits:open"), keys.VISITS_INDEX]


def visit_args(room: RoomRef, visit: Visit, ttl_ms: int) -> list[bytes | str | int]:
    """The visit's record, its start (ms), its user, the keys' time to live, the room."""
    return [pack(visit.to_record()), visit.joined, visit.user, ttl_ms, room.key]


# A visit's end as a Lua function (also defined by the store's FORGET script, which ends
# the visit in the step that forgets the user's last connection): the user's open visit
# in the visits zset `kz` and open hash `ko` gets `left` = `at` (ms); 0 if none was open.
VISIT_END_FN = """
local function visit_end(kz, ko, user, at)
  local open = redis.call('HGET', ko, user)
  if not open then return 0 end
  redis.call('HDEL', ko, user)
  local joined = redis.call('ZSCORE', kz, open)
  if not joined then return 0 end
  local v = cmsgpack.unpack(open)
  v['left'] = tonumber(at)
  redis.call('ZADD', kz, joined, cmsgpack.pack(v))  -- first: the key (and its expiry) stays
  redis.call('ZREM', kz, open)
  return 1
end
"""

# KEYS: visits zset, open hash, visits index. ARGV: user, ended at ms, room key.
VISIT_END = VISIT_END_FN + """
return visit_end(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
"""

# KEYS: visits zset, open hash, visits index. ARGV: floor ms (older visits go), room key.
VISIT_TRIM = """
local n = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
else
  redis.call('ZADD', KEYS[3], first[2], ARGV[2])
  local open = redis.call('HGETALL', KEYS[2])
  for i = 1, #open, 2 do
    if not redis.call('ZSCORE', KEYS[1], open[i + 1]) then
      redis.call('HDEL', KEYS[2], open[i])
    end
  end
end
return n
"""


class RedisPrivacy(PrivacyStore):
    _r: Any
    _clock: Clock
    retention_ms: int
    _decode: Callable[[RoomRef, str, bytes], Message]  # RedisStore's

    if TYPE_CHECKING:
        async def _trim_reports(self, space: str) -> int: ...  # RedisSafeguard's
        async def _purge_private_space(self, space: str) -> int: ...  # RedisPrivate's

    def _init_privacy(self) -> None:
        r: Redis = self._r
        self._trim = r.register_script(TRIM)
        self._remove_script = r.register_script(REMOVE)
        self._policy_script = r.register_script(POLICY_SCRIPT)
        self._visit_begin = r.register_script(VISIT_BEGIN)
        self._visit_end = r.register_script(VISIT_END)
        self._visit_trim = r.register_script(VISIT_TRIM)

    # -- retention -------------------------------------------------------
    async def _retention(self, space: str) -> int:
        try:
            score = await self._r.zscore(keys.POLICIES, space)
        except RedisError as exc:
            raise Unavailable() from exc
        return self.retention_ms if score is None else min(self.retention_ms, int(score))

    async def retention_of(self, space: str) -> int:
        return await self._retention(space)

    async def _floor(self, space: str) -> int:
        """Messages of the space before this ms are past its retention."""
        return max(0, self._clock.now_ms() - await self._retention(space) + 1)

    async def _trim_room(self, room_key: str, floor: int) -> int:
        """Remove the room's messages before `floor` (in batches); how many."""
        removed = 0
        try:
            while True:
                n, done = await self._trim(
                    keys=[keys.room(room_key, "msgs"), keys.RETENTION_INDEX, keys.AOF_DIRTY],
                    args=[floor, room_key, keys.message_prefix(room_key), TRIM_BATCH])
                removed += int(n)
                if done:
                    return removed
        except RedisError as exc:
            raise Unavailable() from exc

    async def _remove_ids(self, room_key: str, ids: list[str]) -> list[str]:
        """Remove those messages of the room (content and entry); the ids that were there."""
        try:
            gone = await self._remove_script(keys=[keys.room(room_key, "msgs"), keys.AOF_DIRTY],
                                             args=[keys.message_prefix(room_key), *ids])
        except RedisError as exc:
            raise Unavailable() from exc
        return [g.decode() for g in gone]

    async def _purge(self, room_keys: list[str], floors: dict[str, int], reason: str) -> int:
        now = self._clock.now_ms()
        removed = 0
        for room_key in room_keys:
            ref = RoomRef.from_key(room_key)
            floor = floors[ref.space]
            n = await self._trim_room(room_key, floor)
            await self._trim_visits(room_key, floor)
            if n:
                removed += n
                await self._add_receipt(ref.space, Receipt(ref.name, floor, n, now, reason))
        return removed

    async def _floors(self) -> tuple[int, Callable[[str], int]]:
        """For a sweep: the time before which something may be past some space's
        retention, and `floor(space)`, the time before which the space's data goes."""
        now = self._clock.now_ms()
        try:
            policies = dict(await self._r.zrange(keys.POLICIES, 0, -1, withscores=True))
        except RedisError as exc:
            raise Unavailable() from exc
        shortest = min([self.retention_ms, *(int(v) for v in policies.values())])

        def floor(space: str) -> int:
            ttl = min(self.retention_ms, int(policies.get(space.encode(), self.retention_ms)))
            return max(0, now - ttl + 1)

        return now - shortest + 1, floor

    async def _sweep_history(self, cutoff: int, floor: Callable[[str], int]) -> int:
        """Messages and visits past their space's retention (receipts: `retention`)."""
        try:
            due = await self._r.zrangebyscore(keys.RETENTION_INDEX, "-inf", f"({cutoff}")
            due_visits = await self._r.zrangebyscore(keys.VISITS_INDEX, "-inf", f"({cutoff}")
        except RedisError as exc:
            raise Unavailable() from exc
        rooms = [raw.decode() for raw in due]
        floors = {space: floor(space) for space in {RoomRef.from_key(k).space for k in rooms}}
        removed = await self._purge(rooms, floors, RETENTION)
        for raw in due_visits:
            room_key = raw.decode()
            await self._trim_visits(room_key, floor(RoomRef.from_key(room_key).space))
        return removed

    # -- policy ----------------------------------------------------------
    async def policy(self, space: str) -> Policy:
        try:
            raw = await self._r.hgetall(keys.space_policy(space))
        except RedisError as exc:
            raise Unavailable() from exc
        return Policy.of(self.retention_ms, {k.decode(): float(v) for k, v in raw.items()})

    async def set_policy(self, space: str, school: str, days: float) -> Policy:
        try:
            await self._policy_script(
                keys=[keys.space_policy(space), keys.POLICIES],
                args=[school, repr(days), space, self.retention_ms, DAY_MS])
            rooms = [raw.decode() async for raw, _ in self._r.zscan_iter(
                keys.RETENTION_INDEX, match=f"{space}/*")]
            rooms += [raw.decode() async for raw, _ in self._r.zscan_iter(
                keys.VISITS_INDEX, match=f"{space}/*") if raw.decode() not in rooms]
        except RedisError as exc:
            raise Unavailable() from exc
        await self._purge(sorted(set(rooms)), {space: await self._floor(space)}, POLICY)
        await self._trim_reports(space)
        await self._purge_private_space(space)
        return await self.policy(space)

    # -- receipts --------------------------------------------------------
    async def _add_receipt(self, space: str, receipt: Receipt) -> None:
        key = keys.purges(space)
        member = pack({**receipt.to_record(), "n": secrets.token_hex(4)})
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.zadd(key, {member: receipt.at})
                p.zremrangebyscore(key, "-inf", receipt.at - RECEIPT_MS)
                p.pexpire(key, RECEIPT_MS)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def receipts(self, space: str, room: str | None) -> list[Receipt]:
        key = keys.purges(space)
        now = self._clock.now_ms()
        try:
            await self._r.zremrangebyscore(key, "-inf", now - RECEIPT_MS)
            raw = await self._r.zrevrange(key, 0, -1)
        except RedisError as exc:
            raise Unavailable() from exc
        out = [Receipt.from_record(unpack(r)) for r in raw]
        return [r for r in out if room is None or r.room == room][:MAX_RECEIPTS]

    # -- erasure and access ----------------------------------------------
    async def _user_index(self, space: str, user: str) -> dict[str, list[str]]:
        try:
            raw = await self._r.zrange(keys.user_messages(space, user), 0, -1)
        except RedisError as exc:
            raise Unavailable() from exc
        by_room: dict[str, list[str]] = {}
        for member in raw:
            name, _, mid = member.decode().partition(":")
            by_room.setdefault(RoomRef(space, name).key, []).append(mid)
        return by_room

    async def erase_user(self, space: str, user: str) -> Erased:
        now = self._clock.now_ms()
        erased: dict[str, list[str]] = {}
        for room_key, ids in sorted((await self._user_index(space, user)).items()):
            gone: list[str] = []
            for i in range(0, len(ids), TRIM_BATCH):
                gone += await self._remove_ids(room_key, ids[i:i + TRIM_BATCH])
            await self._trim_room(room_key, await self._floor(space))
            if gone:
                erased[room_key] = gone
                name = RoomRef.from_key(room_key).name
                await self._add_receipt(space, Receipt(name, now, len(gone), now, ERASURE))
        try:
            await self._r.delete(keys.user_messages(space, user))
        except RedisError as exc:
            raise Unavailable() from exc
        return Erased(erased)

    async def user_messages(self, space: str, user: str) -> list[Message]:
        floor = await self._floor(space)
        out: list[Message] = []
        for room_key, ids in sorted((await self._user_index(space, user)).items()):
            ref = RoomRef.from_key(room_key)
            ids = sorted(ids, key=sort_key)
            for i in range(0, len(ids), TRIM_BATCH):
                batch = ids[i:i + TRIM_BATCH]
                prefix = keys.message_prefix(room_key)
                try:
                    raw = await self._r.mget([prefix + mid for mid in batch])
                except RedisError as exc:
                    raise Unavailable() from exc
                out += [m for m in (self._decode(ref, mid, content)
                                    for mid, content in zip(batch, raw, strict=True)
                                    if content is not None) if m.ts >= floor]
        return out

    # -- attendance ------------------------------------------------------
    async def visit_begin(self, room: RoomRef, visit: Visit) -> None:
        try:
            await self._visit_begin(keys=visit_keys(room),
                                    args=visit_args(room, visit, self.retention_ms))
        except RedisError as exc:
            raise Unavailable() from exc

    async def visit_end(self, room: RoomRef, user: str, at: int) -> None:
        try:
            await self._visit_end(keys=[keys.room(room.key, "visits"),
                                        keys.room(room.key, "visits:open"),
                                        keys.VISITS_INDEX], args=[user, at, room.key])
        except RedisError as exc:
            raise Unavailable() from exc

    async def _trim_visits(self, room_key: str, floor: int) -> None:
        try:
            await self._visit_trim(keys=[keys.room(room_key, "visits"),
                                         keys.room(room_key, "visits:open"),
                                         keys.VISITS_INDEX], args=[floor, room_key])
        except RedisError as exc:
            raise Unavailable() from exc

    async def visits(self, room: RoomRef) -> list[Visit]:
        floor = await self._floor(room.space)
        try:
            raw = await self._r.zrangebyscore(keys.room(room.key, "visits"), floor, "+inf")
        except RedisError as exc:
            raise Unavailable() from exc
        return [Visit.from_record(unpack(v)) for v in raw]

    async def user_visits(self, space: str, user: str) -> list[tuple[str, Visit]]:
        try:
            rooms = sorted([raw.decode() async for raw, _ in self._r.zscan_iter(
                keys.VISITS_INDEX, match=f"{space}/*")])
        except RedisError as exc:
            raise Unavailable() from exc
        out = []
        for room_key in rooms:
            ref = RoomRef.from_key(room_key)
            out += [(ref.name, v) for v in await self.visits(ref) if v.user == user]
        return out
