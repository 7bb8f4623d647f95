"""History, presence and idempotency in Redis (key names: `keys.py`).

- `live:{R}:msgs`   Stream of message ids (they sort in send order); each entry's
                    only field `m` is empty: the content is not in the stream;
- `live:{R}:m:<id>` the message's content, msgpack {c, u, t}, expiring with it
                    (why: `scripts.py`);
- `live:{R}:cid:<n>:<user>:<cid>` -> message id (`keys.cid`), for idempotent sends;
- `live:{R}:conns`  hash connection -> msgpack {m: member, at, p: process};
- `live:{R}:users`  hash user -> number of connections.
Shared keys: `live:retention` (zset room -> oldest message ms),
`live:space:<S>:rooms` (zset of rooms with members), `live:procs` (zset of
process ids -> last heartbeat), `live:proc:<P>:conns` (set of `R\\0conn`).
Every key has an expiry; a room with no messages left holds no data. A stored
message is published on the room's bus channel by the same script that stores
it (`frames.message_frame_parts`).

`append` returns (and `chat:send` is acked) once the message is stored, and, when
the primary has a replica, once a replica has it too (`pipeline.py`, WAIT): a
message not confirmed on a replica in time raises `Unavailable`; the client's
resend with the same cid is idempotent.

Presence is kept alive by this process's heartbeat for the rooms it has
connections in (`_local_rooms`). A leave that Redis does not answer stops being
counted there at once (so the heartbeat no longer keeps its entry alive) and is
retried by each heartbeat until Redis takes it (`_unforgotten`); the departure
is announced then. Were the process to die first, the reaper or the expiry
removes the entry.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.errors import Muted, Unavailable
from rooms.identity import Role, RoomRef
from rooms.join_store import RoomSnapshot
from rooms.message import Appended, Author, Message, Page, sort_key
from rooms.presence import Departure, Member
from rooms.privacy import Visit
from rooms.recent import Recent
from rooms.store import Store, clamp_limit

from . import keys
from .breakouts import RedisBreakouts
from .classroom import RedisClassroom
from .compaction import AofCompactor
from .filter import RedisFilterStore
from .frames import message_frame_parts, pack
from .join_reads import RedisJoinReads, entered_snapshot
from .media import RedisMedia
from .pipeline import ScriptPipeline, bulk
from .privacy import VISIT_END_FN, RedisPrivacy, visit_args, visit_begin_lua, visit_keys
from .private import RedisPrivate
from .reactions import RedisReactions
from .records import contents_of, entries_of, members_of, message_of
from .safeguard import RedisSafeguard
from .scripts import APPEND, READ

log = logging.getLogger(__name__)

PRESENCE_TTL_MS = 60_000
MAX_PACKED_ROOMS = 4096  # rooms whose APPEND parts are kept packed (`_pack_room_parts`)
PROC_DEAD_MS = 15_000

# KEYS: conns, users, this process's connections, the space's rooms, then `visit_keys`.
# ARGV: conn, entry, user, presence ttl ms, `R\0conn`, room name, now ms, "1" if a first
# connection begins a visit, then `visit_args`. Returns the user's connections in the
# room, this one included. One step: the entry and the visit are written together.
# Idempotent (it goes through a `ScriptPipeline`, which sends a call again when its
# connection was lost): a connection already entered is not counted again, and the
# visit's writes are the same again.
ENTER = """
local n
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  n = redis.call('HINCRBY', KEYS[2], ARGV[3], 1)
else
  n = tonumber(redis.call('HGET', KEYS[2], ARGV[3]) or '0')
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
if n == 1 and ARGV[8] == '1' then
""" + visit_begin_lua(5, 9) + """
end
return n
"""


# KEYS: conns, users, the process's connections, the space's rooms, then `visit_keys`.
# ARGV: conn, `R\0conn`, room name, now ms. Forgets one connection in one step: nil if it
# was not there (its entry in the process's set goes all the same), else {user, 1 if that
# was the user's last connection in the room}; a last one also ends the user's visit
# (as ENTER begins it). The user is read from the entry (`cmsgpack`: entries are msgpack
# maps of strings, numbers and nil, see `_enter_call`).
FORGET = VISIT_END_FN + """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2])
if not raw then
  return false
end
local uid = cmsgpack.unpack(raw)['m']['id']
redis.call('HDEL', KEYS[1], ARGV[1])
local last = 0
if redis.call('HINCRBY', KEYS[2], uid, -1) <= 0 then
  last = 1
  redis.call('HDEL', KEYS[2], uid)
  if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('ZREM', KEYS[4], ARGV[3])
  end
  visit_end(KEYS[5], KEYS[6], uid, ARGV[4])
end
return {uid, last}
"""


class RedisStore(RedisClassroom, RedisPrivacy, RedisMedia, RedisReactions, RedisBreakouts,
                 RedisSafeguard, RedisFilterStore, RedisPrivate, RedisJoinReads, Store):
    def __init__(self, redis: Redis, clock: Clock, retention_ms: int, proc_id: str) -> None:
        super().__init__(retention_ms)
        # redis-py types replies as unions over decode_responses; replies here are bytes
        self._r: Any = redis
        self._clock = clock
        self.proc_id = proc_id
        self._arrivals = itertools.count(1)  # `n` of the entries: ties of `at` keep arrival
        self._append = ScriptPipeline(redis, APPEND)  # stored-message bursts in one round trip
        # room key -> `_pack_room_parts`, for the rooms written to lately
        self._append_parts: Recent[str, tuple[bytes, ...]] = Recent(MAX_PACKED_ROOMS)
        self._read = redis.register_script(READ)
        # entries in pipelines of their own; presence needs no replica's confirmation
        self._enter = ScriptPipeline(redis, ENTER, confirm=False)
        # a join into a room no other join is reading: entered and read in one step
        self._enter_read = ScriptPipeline(redis, entered_snapshot(ENTER), confirm=False)
        # leaves too: when a school's network drops, thousands at once, in a few writes
        self._forget_call = ScriptPipeline(redis, FORGET, confirm=False)
        self._local_rooms: dict[str, int] = {}  # room key -> connections of this process
        self._unforgotten: set[tuple[str, str]] = set()  # (room key, conn) left, not yet in Redis
        self._init_classroom()
        self._init_privacy()
        self._compactor = AofCompactor(redis, proc_id)
        self._init_reactions()
        self._init_breakouts()
        self._init_private()
        self._init_join_reads()

    # -- history -------------------------------------------------------
    async def append(self, room: RoomRef, author: Author, cid: str, text: str) -> Appended:
        entry = pack({"c": cid, "u": [author.id, author.name, author.role], "t": text})
        payload = {"room": room.name, "cid": cid, "user": author.to_wire(), "text": text}
        prefix, _, _ = message_frame_parts("chat:message", payload, ("ts", "id"))
        try:
            created, mid_, raw = await self._append.call_packed(
                self._append_call(room, author, cid, entry, prefix))
        except RedisError as exc:
            raise Unavailable() from exc
        if created == -1:
            raise Muted()
        message_id = mid_.decode()
        if raw:
            return Appended(self._decode(room, message_id, raw), bool(created))
        ms = sort_key(message_id)[0]
        return Appended(Message(message_id, room.name, cid, author, text, ms), bool(created))

    def _append_call(self, room: RoomRef, author: Author, cid: str, entry: bytes,
                     prefix: bytes) -> bytes:
        """The APPEND call (its KEYS and ARGV in `scripts.py`), packed; the parts that are
        the same for every message of the room were packed once."""
        parts = self._append_parts.get(room.key) or self._pack_room_parts(room)
        return b"".join((
            parts[0], bulk(keys.cid(room.key, author.id, cid)),  # KEYS 1, 2
            parts[1], bulk(keys.user_messages(room.space, author.id)),  # KEYS 3-5, 6
            parts[2], bulk(entry), bulk(prefix),  # ARGV 1-2, 3, 4
            parts[3], bulk("" if author.role == Role.TEACHER else author.id),  # 5-7, 8
            parts[4]))  # ARGV 9-11

    def _pack_room_parts(self, room: RoomRef) -> tuple[bytes, ...]:
        """The APPEND call's keys and args that are the same for every message of the
        room, packed, in the runs between those that are not (kept for the last
        `MAX_PACKED_ROOMS` rooms written to)."""
        _, mid, suffix = message_frame_parts("chat:message", {}, ("ts", "id"))
        parts = (
            self._append.head(6, 11) + bulk(keys.room(room.key, "msgs")),
            bulk(keys.RETENTION_INDEX) + bulk(keys.room(room.key, "mutes"))
            + bulk(keys.POLICIES),
            bulk(self.retention_ms) + bulk(keys.room_channel(room.key)),
            bulk(mid) + bulk(suffix) + bulk(room.key),
            bulk(keys.message_prefix(room.key)) + bulk(room.space) + bulk(room.name),
        )
        self._append_parts.put(room.key, parts)
        return parts

    @staticmethod
    def _decode(room: RoomRef, message_id: str, raw: bytes) -> Message:
        return message_of(room, message_id, raw)

    def _contents(self, room: RoomRef, flat: list[Any]) -> list[Message]:
        return contents_of(room, flat)

    async def _page(self, room: RoomRef, direction: str, cursor: str | None,
                    count: int) -> list[Message]:
        try:
            flat = await self._read(
                keys=[keys.room(room.key, "msgs"), keys.POLICIES],
                args=[self._clock.now_ms(), self.retention_ms, room.space, direction,
                      cursor or "", count, keys.message_prefix(room.key)])
        except RedisError as exc:
            raise Unavailable() from exc
        return self._contents(room, flat)

    async def history(
        self,
        room: RoomRef,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        limit = clamp_limit(limit)
        if after is not None:
            msgs = await self._page(room, "after", after, limit + 1)
            return Page(msgs[:limit], len(msgs) > limit)
        msgs = await self._page(room, "before", before, limit + 1)
        return Page(list(reversed(msgs[:limit])), len(msgs) > limit)

    async def get(self, room: RoomRef, message_id: str) -> Message | None:
        try:
            raw = await self._r.get(keys.message_prefix(room.key) + message_id)
        except RedisError as exc:
            raise Unavailable() from exc
        if raw is None:
            return None
        msg = self._decode(room, message_id, raw)
        if msg.ts <= self._clock.now_ms() - await self._retention(room.space):
            return None
        return msg

    async def delete(self, room: RoomRef, message_id: str) -> bool:
        gone = await self._remove_ids(room.key, [message_id])
        if gone:
            await self._trim_room(room.key, await self._floor(room.space))
        return bool(gone)

    async def sweep(self) -> int:
        cutoff, floor = await self._floors()
        removed = await self._sweep_history(cutoff, floor)
        await self._sweep_classroom(cutoff, floor)
        await self._sweep_private(cutoff, floor)
        try:
            await self._sweep_reports()
        except RedisError as exc:
            raise Unavailable() from exc
        return removed

    # -- presence ------------------------------------------------------
    async def enter(self, room: RoomRef, conn: str, member: Member,
                    visit: Visit | None = None) -> bool:
        names, args = await self._enter_call(room, conn, member, visit)
        try:
            n = await self._enter(keys=names, args=args)
        except RedisError as exc:
            raise Unavailable() from exc
        self._local_rooms[room.key] = self._local_rooms.get(room.key, 0) + 1
        return int(n) == 1

    async def enter_and_snapshot(self, room: RoomRef, conn: str, member: Member,
                                 visit: Visit | None = None) -> tuple[bool, RoomSnapshot]:
        """`ENTER` and `SNAPSHOT` in one script (`entered_snapshot`): one round trip.
        A failure after the entry was written (the read failed) leaves it written."""
        names, args = await self._enter_call(room, conn, member, visit)
        now = self._clock.now_ms()
        snap_names, snap_args = self._snapshot_call(room, now)
        try:
            n, reply = await self._enter_read(keys=[*names, *snap_names],
                                              args=[len(names), len(args), *args, *snap_args])
        except RedisError as exc:
            raise Unavailable() from exc
        self._local_rooms[room.key] = self._local_rooms.get(room.key, 0) + 1
        return int(n) == 1, self._snapshot_of(room, reply, now)

    async def _enter_call(self, room: RoomRef, conn: str, member: Member,
                          visit: Visit | None) -> tuple[list[str], list[bytes | str | int]]:
        """The KEYS and ARGV of `ENTER` (a connection back before its leave reached
        Redis is forgotten first)."""
        now = self._clock.now_ms()
        rec = pack({"m": member.to_record(), "at": now, "n": next(self._arrivals),
                    "p": self.proc_id})
        mine = keys.proc_conns(self.proc_id)
        if (room.key, conn) in self._unforgotten:  # back before its leave reached Redis
            await self._forget(room.key, conn, self.proc_id)
            self._unforgotten.discard((room.key, conn))
        names = [keys.room(room.key, "conns"), keys.room(room.key, "users"), mine,
                 keys.space_rooms(room.space), *visit_keys(room)]
        args: list[bytes | str | int] = [conn, rec, member.id, PRESENCE_TTL_MS,
                                         f"{room.key}\0{conn}", room.name, now,
                                         "0" if visit is None else "1"]
        if visit is not None:
            args += visit_args(room, visit, self.retention_ms)
        return names, args

    async def leave(self, room: RoomRef, conn: str) -> Departure | None:
        """Forget a connection. When Redis fails, None: the heartbeat retries it."""
        try:
            left = await self._forget(room.key, conn, self.proc_id)
        except Unavailable:
            log.warning("leave failed; the heartbeat retries it",
                        extra={"room": room.key, "conn": conn})
            self._unforgotten.add((room.key, conn))
            self._uncount(room.key)
            return None
        if left is not None:
            self._uncount(room.key)
        return left

    def _uncount(self, room_key: str) -> None:
        n = self._local_rooms.get(room_key, 0) - 1
        if n > 0:
            self._local_rooms[room_key] = n
        else:
            self._local_rooms.pop(room_key, None)

    async def _forget(self, room_key: str, conn: str, proc: str) -> Departure | None:
        """`FORGET` (one round trip, pipelined with the other leaves of the moment)."""
        ref = RoomRef.from_key(room_key)
        try:
            got = await self._forget_call(
                (keys.room(room_key, "conns"), keys.room(room_key, "users"),
                 keys.proc_conns(proc), keys.space_rooms(ref.space), *visit_keys(ref)),
                (conn, f"{room_key}\0{conn}", ref.name, self._clock.now_ms()))
        except RedisError as exc:
            raise Unavailable() from exc
        if got is None:
            return None
        uid, last = got
        return Departure(room_key, uid.decode() if isinstance(uid, bytes) else str(uid),
                         bool(last))

    async def _entries_of(self, room_key: str) -> list[tuple[bytes, dict[str, Any]]]:
        return entries_of(await self._r.hgetall(keys.room(room_key, "conns")))

    async def members(self, room: RoomRef) -> list[Member]:
        try:
            recs = await self._entries_of(room.key)
        except RedisError as exc:
            raise Unavailable() from exc
        return members_of(recs)

    async def set_hand(self, room: RoomRef, user: str, at: int | None) -> Member | None:
        found: Member | None = None
        try:
            recs = await self._entries_of(room.key)
            updates = {}
            for conn, r in recs:
                if r["m"]["id"] == user:
                    found = Member.from_record(r["m"]).with_hand(at)
                    r["m"] = found.to_record()
                    updates[conn] = pack(r)
            if updates:
                await self._r.hset(keys.room(room.key, "conns"), mapping=updates)
        except RedisError as exc:
            raise Unavailable() from exc
        return found

    async def heartbeat(self) -> list[Departure]:
        now = self._clock.now_ms()
        mine = keys.proc_conns(self.proc_id)
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.zadd(keys.PROCS, {self.proc_id: now})
                p.pexpire(keys.PROCS, PROC_DEAD_MS * 8)
                p.pexpire(mine, PRESENCE_TTL_MS)
                for room_key in self._local_rooms:
                    p.pexpire(keys.room(room_key, "conns"), PRESENCE_TTL_MS)
                    p.pexpire(keys.room(room_key, "users"), PRESENCE_TTL_MS)
                    p.pexpire(keys.space_rooms(RoomRef.from_key(room_key).space), PRESENCE_TTL_MS)
                await p.execute()
            departures: list[Departure] = []
            for room_key, conn in sorted(self._unforgotten):  # leaves Redis missed
                gone = await self._forget(room_key, conn, self.proc_id)
                self._unforgotten.discard((room_key, conn))
                if gone is not None:
                    departures.append(gone)
            dead = await self._r.zrangebyscore(keys.PROCS, "-inf", now - PROC_DEAD_MS)
            for raw in dead:
                proc = raw.decode()
                lock = keys.reap_lock(proc)
                if not await self._r.set(lock, self.proc_id, nx=True, px=PROC_DEAD_MS):
                    continue  # another process is reaping it
                log.info("reaping presence of dead process", extra={"proc": proc})
                for entry in await self._r.smembers(keys.proc_conns(proc)):
                    room_key, _, conn = entry.decode().partition("\0")
                    gone = await self._forget(room_key, conn, proc)
                    if gone is not None:
                        departures.append(gone)
                await self._r.delete(keys.proc_conns(proc))
                for held in await self._r.smembers(keys.proc_caps(proc)):  # caps.py
                    await self._r.hdel(held.decode(), proc)
                await self._r.delete(keys.proc_caps(proc))
                await self._r.zrem(keys.PROCS, proc)
        except RedisError as exc:
            raise Unavailable() from exc
        return departures

    async def rooms(self, space: str) -> dict[str, list[Member]]:
        out: dict[str, list[Member]] = {}
        try:
            names = await self._r.zrange(keys.space_rooms(space), 0, -1)
        except RedisError as exc:
            raise Unavailable() from exc
        for raw in names:
            ref = RoomRef(space, raw.decode())
            members = await self.members(ref)
            if members:
                out[ref.name] = members
        return out

    async def compact(self) -> bool:
        try:
            return await self._compactor.step()
        except RedisError as exc:
            raise Unavailable() from exc

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._append.aclose()
        await self._enter.aclose()
        await self._enter_read.aclose()
        await self._forget_call.aclose()
        await self._close_join_reads()
        await self._keep.aclose()
        await self._r.aclose()

