"""`ReactionStore` in process memory: the part of `MemoryStore` for reactions.

Each reacted-to message has its pairs `(emoji, user) -> name` and the instant
they expire; a heap of expiry instants lets every call first drop what ran out,
so memory holds no reaction past its message's retention.
"""

from __future__ import annotations

import heapq

from .clock import Clock
from .identity import RoomRef
from .reaction_store import ReactionStore
from .reactions import ReactionSet, Reactor

_Key = tuple[str, str]  # (room key, message id)


class MemoryReactions(ReactionStore):
    _clock: Clock

    def _init_reactions(self) -> None:
        self._reacts: dict[_Key, dict[tuple[str, str], str]] = {}
        self._react_expiry: dict[_Key, int] = {}
        self._react_heap: list[tuple[int, _Key]] = []

    def _expire_reactions(self) -> None:
        now = self._clock.now_ms()
        while self._react_heap and self._react_heap[0][0] <= now:
            at, key = heapq.heappop(self._react_heap)
            if self._react_expiry.get(key) == at:
                del self._react_expiry[key]
                self._reacts.pop(key, None)

    @staticmethod
    def _set(pairs: dict[tuple[str, str], str]) -> ReactionSet:
        return ReactionSet.of([(emoji, Reactor(user, name))
                               for (emoji, user), name in pairs.items()])

    async def toggle_reaction(self, room: RoomRef, message_id: str, emoji: str, who: Reactor,
                              expire_at_ms: int) -> ReactionSet:
        self._expire_reactions()
        key = (room.key, message_id)
        if expire_at_ms <= self._clock.now_ms():
            return ReactionSet()
        pairs = self._reacts.setdefault(key, {})
        if pairs.pop((emoji, who.id), None) is None:
            pairs[(emoji, who.id)] = who.name
        if not pairs:
            del self._reacts[key]
            self._react_expiry.pop(key, None)
            return ReactionSet()
        if self._react_expiry.get(key) != expire_at_ms:
            self._react_expiry[key] = expire_at_ms
            heapq.heappush(self._react_heap, (expire_at_ms, key))
        return self._set(pairs)

    async def reactions(self, room: RoomRef, message_ids: list[str]) -> dict[str, ReactionSet]:
        self._expire_reactions()
        out = {}
        for mid in message_ids:
            pairs = self._reacts.get((room.key, mid))
            if pairs:
                out[mid] = self._set(pairs)
        return out

    async def drop_reactions(self, room: RoomRef, message_id: str) -> None:
        self._reacts.pop((room.key, message_id), None)
        self._react_expiry.pop((room.key, message_id), None)
