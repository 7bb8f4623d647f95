"""`BreakoutStore` in process memory: the part of `MemoryStore` for breakout rooms."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from .breakout_store import BreakoutStore
from .breakouts import Breakout, Group
from .clock import Clock
from .identity import RoomRef

T = TypeVar("T")


class MemoryBreakouts(BreakoutStore):
    _clock: Clock
    retention_ms: int

    def _init_breakouts(self) -> None:
        self._breakouts: dict[str, tuple[Breakout, int]] = {}  # main key -> (it, expiry)
        self._groups: dict[str, tuple[Group, int]] = {}  # group room key -> (it, expiry)

    def _breakout_kept(self, table: dict[str, tuple[T, int]], key: str) -> T | None:
        found = table.get(key)
        if found is None:
            return None
        if found[1] <= self._clock.now_ms():
            del table[key]
            return None
        return found[0]

    async def start_breakout(self, main: RoomRef, breakout: Breakout) -> bool:
        if await self.breakout(main) is not None:
            return False
        until = self._clock.now_ms() + self.retention_ms
        self._breakouts[main.key] = (breakout, until)
        for name, members in zip(breakout.rooms, breakout.groups, strict=True):
            self._groups[RoomRef(main.space, name).key] = (Group(main.name, members), until)
        return True

    async def breakout(self, main: RoomRef) -> Breakout | None:
        return self._breakout_kept(self._breakouts, main.key)

    async def end_breakout(self, main: RoomRef) -> Breakout | None:
        breakout = await self.breakout(main)
        if breakout is None:
            return None
        del self._breakouts[main.key]
        for name in breakout.rooms:
            key = RoomRef(main.space, name).key
            group = self._groups.get(key)
            if group is not None:
                self._groups[key] = (dataclasses.replace(group[0], over=True), group[1])
        return breakout

    async def move_member(self, main: RoomRef, user: str, to: str) -> Breakout | None:
        breakout = await self.breakout(main)
        if breakout is None:
            return None
        after = breakout.moved(user, to)
        self._breakouts[main.key] = (after, self._breakouts[main.key][1])
        for name, members in zip(after.rooms, after.groups, strict=True):
            key = RoomRef(main.space, name).key
            found = self._groups.get(key)
            if found is not None:
                self._groups[key] = (dataclasses.replace(found[0], members=members), found[1])
        return after

    async def group(self, room: RoomRef) -> Group | None:
        return self._breakout_kept(self._groups, room.key)
