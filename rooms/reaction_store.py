"""What a store keeps for reactions on messages (`chat:react`).

`rooms.store.Store` extends this interface; `MemoryReactions` and
`RedisReactions` implement it for the two stores, tested by one suite
(tests/test_reactions_store.py). A message's reactions expire with the message
(the caller gives the instant: the message's `ts` plus the retention) and are
dropped when it is deleted (`RoomService.delete` calls `drop_reactions`). They
hold user ids and display names, never message text.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .identity import RoomRef
from .reactions import ReactionSet, Reactor


class ReactionStore(ABC):
    @abstractmethod
    async def toggle_reaction(self, room: RoomRef, message_id: str, emoji: str, who: Reactor,
                              expire_at_ms: int) -> ReactionSet:
        """Add `who`'s `emoji` on the message, or take it away if it was there, in one
        step; returns the message's reactions after it."""

    @abstractmethod
    async def reactions(self, room: RoomRef, message_ids: list[str]) -> dict[str, ReactionSet]:
        """The reactions of those messages that have any (others are absent)."""

    @abstractmethod
    async def drop_reactions(self, room: RoomRef, message_id: str) -> None:
        """Forget every reaction on the message (it was deleted)."""
