"""`BreakoutStore` in Redis: the part of `RedisStore` for breakout rooms.

- `live:{S/main}:breakout`   msgpack breakout (rooms, groups, until, by) of a main room
- `live:{S/group}:group`     msgpack group (main, members, over) of a group's room
Both expire the retention after they were written. A breakout starts with
`SET NX` on the main room's key (two teachers at once: one wins) and ends with
`GETDEL` (a recall and a timer at once, on any processes: one gets it).
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


class RedisBreakouts(BreakoutStore):
    _r: Any
    retention_ms: int

    def _init_breakouts(self) -> None:
        return None

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

    async def group(self, room: RoomRef) -> Group | None:
        try:
            raw = await self._r.get(keys.room(room.key, "group"))
        except RedisError as exc:
            raise Unavailable() from exc
        return None if raw is None else Group.from_record(unpack(raw))
