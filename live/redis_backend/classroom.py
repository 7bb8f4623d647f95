"""`ClassroomStore` in Redis: the part of `RedisStore` for classroom tools.

Keys of a room share its hash tag `{space/room}` (names: `keys.py`):
- `live:{R}:polls`               hash poll id -> msgpack poll (question, options, kind,
                                 correct, hidden, revealed, published answers, ...)
- `live:{R}:polls:closed`        set of closed poll ids
- `live:{R}:poll:<id>:votes`     hash voter key -> msgpack {c: choices, n: name, t: text,
                                 f: flagged}
- `live:{R}:mutes`               hash user -> muted kinds, comma-separated
- `live:{R}:ban:<user>`          the ban's end in ms; expires when the ban ends
- `live:{R}:flags`               hash flag -> "1" / "0" (locked, private messages)
Per space: `live:space:<S>:audit` zset of msgpack audit entries scored by `ts` (not a
Stream: a trimmed stream entry's bytes stay in its node, and entries hold names);
`live:space:<S>:teachers` set of users who came as teachers (never moderated).
Every key expires: a poll's votes at the poll's creation plus the retention,
the rest the retention after their last write. The sweep (`_sweep_classroom`) also
removes audit entries and polls past their space's retention, through the indexes
`live:audit:index` (space -> oldest entry) and `live:polls` (room -> oldest poll).
A teacher's change of a poll (reveal, publish: `update_poll`) rewrites its record under
`WATCH` on the polls hash, retried when another write came between, so none is lost.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.classroom_store import FLAG_DEFAULTS, AuditEntry, ClassroomStore
from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.polls import Poll, Vote

from . import keys
from .frames import pack, unpack
from .rewrite import rewrite

# KEYS: polls hash, closed set, votes hash. ARGV: poll id, voter, vote, expire-at ms.
VOTE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('PEXPIREAT', KEYS[3], ARGV[4])
return 1
"""

UPDATE_TRIES = 20  # optimistic rewrites of a poll record (WATCH) before giving up
AUDIT_SCAN = 200

# KEYS: a zset scored by ms, its index (zset name -> oldest ms). ARGV: floor ms, name.
# Removes what is older than the floor; re-files the name under its oldest, or forgets it.
INDEX_TRIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
else
  redis.call('ZADD', KEYS[2], first[2], ARGV[2])
end
return 0
"""

# KEYS: polls hash, closed set, polls index. ARGV: floor ms, room key, votes key prefix.
# Removes polls created before the floor, with their votes; re-files the room.
POLL_TRIM = """
local polls = redis.call('HGETALL', KEYS[1])
local oldest = false
for i = 1, #polls, 2 do
  local ts = tonumber(cmsgpack.unpack(polls[i + 1])['ts'])
  if ts < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], polls[i])
    redis.call('SREM', KEYS[2], polls[i])
    redis.call('DEL', ARGV[3] .. polls[i] .. ':votes')
  elseif not oldest or ts < oldest then
    oldest = ts
  end
end
if oldest then
  redis.call('ZADD', KEYS[3], oldest, ARGV[2])
else
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return 0
"""



# replies to decoded values, shared by the single reads here and a join's (join_reads.py)
def flags_of(raw: dict[bytes, bytes]) -> dict[str, bool]:
    out = dict(FLAG_DEFAULTS)
    for k, v in raw.items():
        if k.decode() in out:
            out[k.decode()] = v == b"1"
    return out


def mutes_of(raw: dict[bytes, bytes]) -> dict[str, frozenset[str]]:
    return {k.decode(): frozenset(v.decode().split(",")) for k, v in raw.items() if v}


def ban_of(raw: bytes | str | None, now_ms: int) -> int | None:
    """A ban's end (ms) from its key, None if there is none or it ended."""
    if raw is None or int(raw) <= now_ms:
        return None
    return int(raw)


def votes_of(raw: dict[bytes, bytes]) -> dict[str, Vote]:
    return {k.decode(): Vote.from_record(unpack(v)) for k, v in raw.items()}


def poll_order(polls: list[Poll]) -> list[Poll]:
    return sorted(polls, key=lambda p: (p.ts, p.id))

class RedisClassroom(ClassroomStore):
    _r: Redis
    _clock: Clock
    retention_ms: int

    def _init_classroom(self) -> None:
        self._vote_script = self._r.register_script(VOTE)
        self._index_trim = self._r.register_script(INDEX_TRIM)
        self._poll_trim = self._r.register_script(POLL_TRIM)

    def _horizon(self) -> int:
        return self._clock.now_ms() - self.retention_ms

    # -- polls ---------------------------------------------------------
    async def add_poll(self, room: RoomRef, poll: Poll) -> None:
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.hset(keys.room(room.key, "polls"), poll.id, pack(poll.to_record()))
                p.pexpire(keys.room(room.key, "polls"), self.retention_ms)
                p.zadd(keys.POLLS_INDEX, {room.key: poll.ts}, nx=True)
                p.pexpire(keys.POLLS_INDEX, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def poll(self, room: RoomRef, poll_id: str) -> Poll | None:
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.hget(keys.room(room.key, "polls"), poll_id)
                p.sismember(keys.room(room.key, "polls:closed"), poll_id)
                p.hgetall(keys.room(room.key, f"poll:{poll_id}:votes"))
                raw, closed, votes = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        if raw is None:
            return None
        poll = Poll.from_record(poll_id, unpack(raw), not closed, votes_of(votes))
        return poll if poll.ts > self._horizon() else None


    async def vote(self, room: RoomRef, poll_id: str, voter: str, vote: Vote) -> Poll | None:
        current = await self.poll(room, poll_id)
        if current is None or not current.open:
            return current
        names = [keys.room(room.key, "polls"), keys.room(room.key, "polls:closed"),
                keys.room(room.key, f"poll:{poll_id}:votes")]
        args: list[bytes | str | int] = [poll_id, voter, pack(vote.to_record()),
                                         current.ts + self.retention_ms]
        try:
            await self._vote_script(keys=names, args=args)
        except RedisError as exc:
            raise Unavailable() from exc
        return await self.poll(room, poll_id)

    async def close_poll(self, room: RoomRef, poll_id: str) -> Poll | None:
        if await self.poll(room, poll_id) is None:
            return None
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.sadd(keys.room(room.key, "polls:closed"), poll_id)
                p.pexpire(keys.room(room.key, "polls:closed"), self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return await self.poll(room, poll_id)

    async def open_polls(self, room: RoomRef) -> list[Poll]:
        return await self._room_polls(room, open_only=True)

    async def room_polls(self, room: RoomRef) -> list[Poll]:
        return await self._room_polls(room, open_only=False)

    async def poll_rooms(self, space: str) -> list[RoomRef]:
        try:
            raw: Any = await self._r.zrange(keys.POLLS_INDEX, 0, -1)
        except RedisError as exc:
            raise Unavailable() from exc
        rooms = [RoomRef.from_key(k.decode()) for k in raw]
        return sorted((r for r in rooms if r.space == space), key=lambda r: r.name)

    async def remove_vote(self, room: RoomRef, poll_id: str, voter: str) -> bool:
        try:
            removed = await self._r.hdel(keys.room(room.key, f"poll:{poll_id}:votes"), voter)
        except RedisError as exc:
            raise Unavailable() from exc
        return bool(removed)

    async def update_poll(self, room: RoomRef, poll_id: str,
                          change: Callable[[Poll], Poll]) -> Poll | None:
        key = keys.room(room.key, "polls")

        async def step(p: Any) -> Poll | None:
            raw = await p.hget(key, poll_id)
            if raw is None:
                return None
            current = Poll.from_record(poll_id, unpack(raw), True, {})
            if current.ts <= self._horizon():
                return None
            changed = change(current)
            p.multi()
            p.hset(key, poll_id, pack(changed.to_record()))
            await p.execute()
            return changed

        try:
            if await rewrite(self._r, key, UPDATE_TRIES, step) is None:
                return None
        except RedisError as exc:
            raise Unavailable() from exc
        return await self.poll(room, poll_id)

    async def _room_polls(self, room: RoomRef, open_only: bool) -> list[Poll]:
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.hgetall(keys.room(room.key, "polls"))
                p.smembers(keys.room(room.key, "polls:closed"))
                raw, closed = await p.execute()
            closed_ids = {c.decode() for c in closed}
            horizon = self._horizon()
            out: list[Poll] = []
            expired: list[bytes] = []
            for pid_raw, rec_raw in raw.items():
                pid = pid_raw.decode()
                rec = unpack(rec_raw)
                if int(rec["ts"]) <= horizon:
                    expired.append(pid_raw)
                    continue
                if open_only and pid in closed_ids:
                    continue
                votes: Any = await self._r.hgetall(keys.room(room.key, f"poll:{pid}:votes"))
                out.append(Poll.from_record(pid, rec, pid not in closed_ids, votes_of(votes)))
            if expired:
                await self._r.hdel(keys.room(room.key, "polls"), *expired)
        except RedisError as exc:
            raise Unavailable() from exc
        return poll_order(out)

    # -- moderation ----------------------------------------------------
    async def set_mutes(self, room: RoomRef, user: str, kinds: frozenset[str]) -> None:
        key = keys.room(room.key, "mutes")
        try:
            if kinds:
                async with self._r.pipeline(transaction=True) as p:
                    p.hset(key, user, ",".join(sorted(kinds)))
                    p.pexpire(key, self.retention_ms)
                    await p.execute()
            else:
                await self._r.hdel(key, user)
        except RedisError as exc:
            raise Unavailable() from exc

    async def mutes(self, room: RoomRef) -> dict[str, frozenset[str]]:
        try:
            raw: Any = await self._r.hgetall(keys.room(room.key, "mutes"))
        except RedisError as exc:
            raise Unavailable() from exc
        return mutes_of(raw)

    async def ban(self, room: RoomRef, user: str, until_ms: int) -> None:
        ttl = until_ms - self._clock.now_ms()
        if ttl <= 0:
            return
        try:
            await self._r.set(keys.room(room.key, f"ban:{user}"), str(until_ms), px=ttl)
        except RedisError as exc:
            raise Unavailable() from exc

    async def note_teacher(self, space: str, user: str) -> None:
        key = keys.space_teachers(space)
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.sadd(key, user)
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def is_teacher(self, space: str, user: str) -> bool:
        try:
            return bool(await self._r.sismember(keys.space_teachers(space), user))
        except RedisError as exc:
            raise Unavailable() from exc

    async def banned_until(self, room: RoomRef, user: str) -> int | None:
        try:
            raw = await self._r.get(keys.room(room.key, f"ban:{user}"))
        except RedisError as exc:
            raise Unavailable() from exc
        return ban_of(raw, self._clock.now_ms())

    async def set_flag(self, room: RoomRef, name: str, on: bool) -> None:
        key = keys.room(room.key, "flags")
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.hset(key, name, "1" if on else "0")
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def flags(self, room: RoomRef) -> dict[str, bool]:
        try:
            raw: Any = await self._r.hgetall(keys.room(room.key, "flags"))
        except RedisError as exc:
            raise Unavailable() from exc
        return flags_of(raw)

    # -- audit ---------------------------------------------------------
    async def audit_add(self, space: str, entry: AuditEntry) -> None:
        key = keys.audit(space)
        member = pack({**entry.to_record(), "n": secrets.token_hex(4)})  # (entries may tie)
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.zadd(key, {member: entry.ts})
                p.zremrangebyscore(key, "-inf", self._horizon())
                p.pexpire(key, self.retention_ms)
                p.zadd(keys.AUDIT_INDEX, {space: entry.ts}, nx=True)
                p.pexpire(keys.AUDIT_INDEX, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def audit(self, space: str, room: str | None, limit: int) -> list[AuditEntry]:
        key = keys.audit(space)
        horizon = self._horizon()
        out: list[AuditEntry] = []
        start = 0
        try:
            while len(out) < limit:
                rows: Any = await self._r.zrevrangebyscore(
                    key, "+inf", f"({horizon}", start=start, num=AUDIT_SCAN)
                for raw in rows:
                    entry = AuditEntry.from_record(unpack(raw))
                    if room is None or entry.room == room:
                        out.append(entry)
                        if len(out) >= limit:
                            break
                if len(rows) < AUDIT_SCAN:
                    break
                start += AUDIT_SCAN
        except RedisError as exc:
            raise Unavailable() from exc
        return out

    # -- the sweep -----------------------------------------------------
    async def _sweep_classroom(self, cutoff: int, floor: Callable[[str], int]) -> None:
        """Remove audit entries and polls (with their votes) past their space's retention
        (`floor(space)`: what is older goes), on the sweep's timer: not only when
        something new is written, nor only when their keys expire. Only what holds
        something older than `cutoff` is looked at."""
        try:
            for index, trim in ((keys.AUDIT_INDEX, self._audit_trim),
                                (keys.POLLS_INDEX, self._polls_trim)):
                due: Any = await self._r.zrangebyscore(index, "-inf", f"({cutoff}")
                for raw in due:
                    await trim(raw.decode(), floor)
        except RedisError as exc:
            raise Unavailable() from exc

    async def _audit_trim(self, space: str, floor: Callable[[str], int]) -> None:
        await self._index_trim(keys=[keys.audit(space), keys.AUDIT_INDEX],
                               args=[floor(space), space])

    async def _polls_trim(self, room_key: str, floor: Callable[[str], int]) -> None:
        await self._poll_trim(keys=[keys.room(room_key, "polls"),
                                    keys.room(room_key, "polls:closed"), keys.POLLS_INDEX],
                              args=[floor(RoomRef.from_key(room_key).space), room_key,
                                    keys.room(room_key, "poll:")])
