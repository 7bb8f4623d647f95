"""`BreakoutStore` in Redis: the part of `RedisStore` for breakout rooms.

- `live:{S/main}:breakout`   msgpack breakout (rooms, groups, until, by) of a main room
- `live:{S/group}:group`     msgpack group (main, members, over) of a group's room
Both expire the retention after they were written. A breakout starts with
`SET NX` on the main room's key (two teachers at once: one wins) and ends with
`GETDEL` (a recall and a timer at once, on any processes: one gets it). A move
(`move_member`) rewrites the breakout under `WATCH` (so it never revives one
that ended), then each group's record only if that group is not over yet
(`GROUP_SET`): an end that came between marks it over with the moved members.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from rooms.breakout_store import BreakoutStore
from rooms.breakouts import Breakout, Group
from rooms.errors import Unavailable
from rooms.identity import RoomRef

from . import keys
from .frames import pack, unpack
from .rewrite import rewrite

# KEYS: a group's key. ARGV: the group's record, its time to live (ms).
GROUP_SET = """
local cur = redis.call('GET', KEYS[1])
if cur and cmsgpack.unpack(cur)['over'] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
MOVE_TRIES = 10


class RedisBreakouts(BreakoutStore):
    _r: Any
    retention_ms: int

    def _init_breakouts(self) -> None:
        self._group_set = self._r.register_script(GROUP_SET)

    async def start_breakout(self, main: RoomRef, breakout: Breakout) -> bool:
        try:
            started = await self._r.set(keys.room(main.key, "breakout"),
                                        pack(breakout.to_record()), nx=True,
                                        px=self.retention_ms)
            if not started:
                return False
            async with self._r.pipeline(transaction=False) as p:
                for name, members in zip(breakout.rooms, breakout.groups, strict=True):
                    p.set(keys.room(RoomRef(main.space, name).key, "group"),
                          pack(Group(main.name, members).to_record()), px=self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return True

    async def breakout(self, main: RoomRef) -> Breakout | None:
        try:
            raw = await self._r.get(keys.room(main.key, "breakout"))
        except RedisError as exc:
            raise Unavailable() from exc
        return None if raw is None else Breakout.from_record(unpack(raw))

    async def end_breakout(self, main: RoomRef) -> Breakout | None:
        try:
            raw = await self._r.getdel(keys.room(main.key, "breakout"))
            if raw is None:
                return None
            breakout = Breakout.from_record(unpack(raw))
            async with self._r.pipeline(transaction=False) as p:
                for name, members in zip(breakout.rooms, breakout.groups, strict=True):
                    p.set(keys.room(RoomRef(main.space, name).key, "group"),
                          pack(Group(main.name, members, over=True).to_record()),
                          px=self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return breakout

    async def move_member(self, main: RoomRef, user: str, to: str) -> Breakout | None:
        key = keys.room(main.key, "breakout")

        async def move(p: Any) -> Breakout | None:
            raw = await p.get(key)
            if raw is None:
                return None
            ttl = await p.pttl(key)
            moved = Breakout.from_record(unpack(raw)).moved(user, to)
            p.multi()
            p.set(key, pack(moved.to_record()), px=max(1, int(ttl)))
            await p.execute()
            return moved

        try:
            after = await rewrite(self._r, key, MOVE_TRIES, move)
            if after is None:
                return None
            for name, members in zip(after.rooms, after.groups, strict=True):
                await self._group_set(
                    keys=[keys.room(RoomRef(main.space, name).key, "group")],
                    args=[pack(Group(main.name, members).to_record()), self.retention_ms])
        except RedisError as exc:
            raise Unavailable() from exc
        return after

    async def group(self, room: RoomRef) -> Group | None:
        try:
            raw = await self._r.get(keys.room(room.key, "group"))
        except RedisError as exc:
            raise Unavailable() from exc
        return None if raw is None else Group.from_record(unpack(raw))
