"""What a store keeps for breakout rooms (`mod:breakout`, `mod:recall`).

`rooms.store.Store` extends this interface; `MemoryBreakouts` and
`RedisBreakouts` implement it, tested by one suite (tests/test_breakouts.py).
Per main room, the running breakout (its groups, their rooms, its end); per
group room, who may enter it and whether its breakout is over. Both expire
with the history retention, so a group room keeps its rule (and the console
its history) as long as its messages are kept.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .breakouts import Breakout, Group
from .identity import RoomRef


class BreakoutStore(ABC):
    @abstractmethod
    async def start_breakout(self, main: RoomRef, breakout: Breakout) -> bool:
        """Keep the breakout and each of its groups, unless one is running in the room
        already: then change nothing and return false."""

    @abstractmethod
    async def breakout(self, main: RoomRef) -> Breakout | None:
        """The breakout running in the room, or None."""

    @abstractmethod
    async def end_breakout(self, main: RoomRef) -> Breakout | None:
        """End the running breakout in one step (of several callers, exactly one gets it;
        the others None); its groups are marked over."""

    @abstractmethod
    async def move_member(self, main: RoomRef, user: str, to: str) -> Breakout | None:
        """Move `user` from their group to the group in room `to` of the running
        breakout, in one step against `end_breakout`; both groups' rules follow (a
        group already over stays over). The breakout after it; None if none runs."""

    @abstractmethod
    async def group(self, room: RoomRef) -> Group | None:
        """The group a room was opened for, or None for a room that is no group's."""
