"""What a store keeps for classroom tools: polls, mutes, bans, room flags, audit.

`rooms.store.Store` extends this interface; `MemoryClassroom` and
`RedisClassroom` implement it for the two stores. Everything kept here expires
with the history retention (bans sooner: when they end).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .identity import RoomRef
from .polls import Poll, Vote

# room flags and their defaults
FLAG_DEFAULTS: dict[str, bool] = {
    "locked": False,
    "pm_teachers": False,  # pupils may write privately to the room's teachers
    "pm_pupils": False,  # pupils may write privately to each other (teachers see it)
    "lobby": False,  # pupils wait until a teacher lets them in (rooms/lesson.py)
    "supervised": True,  # pupils write and publish only while a teacher is in the room
}
MAX_AUDIT_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """`{ts, actor, action, room, target}`: `action` is the event that did it."""

    ts: int
    actor: dict[str, str]
    action: str
    room: str
    target: str | None
    detail: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"ts": self.ts, "actor": self.actor, "action": self.action,
                                "room": self.room, "target": self.target}
        if self.detail:
            wire["detail"] = self.detail
        return wire

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> AuditEntry:
        return cls(int(rec["ts"]), dict(rec["actor"]), str(rec["action"]), str(rec["room"]),
                   rec.get("target"), rec.get("detail"))


class ClassroomStore(ABC):
    # -- polls ---------------------------------------------------------
    @abstractmethod
    async def add_poll(self, room: RoomRef, poll: Poll) -> None: ...

    @abstractmethod
    async def poll(self, room: RoomRef, poll_id: str) -> Poll | None:
        """The poll with its votes and open flag; None if unknown or expired."""

    @abstractmethod
    async def vote(self, room: RoomRef, poll_id: str, voter: str, vote: Vote) -> Poll | None:
        """Record (or replace) a vote if the poll is open; returns the poll after it
        (closed and unchanged if it was closed), None if unknown."""

    @abstractmethod
    async def close_poll(self, room: RoomRef, poll_id: str) -> Poll | None: ...

    @abstractmethod
    async def open_polls(self, room: RoomRef) -> list[Poll]:
        """Open polls of the room, oldest first, with their votes."""

    @abstractmethod
    async def room_polls(self, room: RoomRef) -> list[Poll]:
        """Every poll of the room still kept, open or closed, oldest first, with votes."""

    @abstractmethod
    async def poll_rooms(self, space: str) -> list[RoomRef]:
        """Rooms of the space that hold polls (some maybe past the retention, not swept)."""

    @abstractmethod
    async def remove_vote(self, room: RoomRef, poll_id: str, voter: str) -> bool:
        """Remove one voter's vote, open poll or closed (an erasure); False if none."""

    @abstractmethod
    async def update_poll(self, room: RoomRef, poll_id: str,
                          change: Callable[[Poll], Poll]) -> Poll | None:
        """Apply `change` to the poll as it is now, in one step against other changes
        (two teachers publishing at once both count), and keep what it changed of the
        record (`to_record`: revealed, published); votes and the open flag are not
        written. `change` sees the poll without its votes in Redis. The poll after it
        (with votes), None if it is gone."""

    # -- moderation ----------------------------------------------------
    @abstractmethod
    async def set_mutes(self, room: RoomRef, user: str, kinds: frozenset[str]) -> None:
        """What of `user` is muted in the room (empty: nothing)."""

    @abstractmethod
    async def mutes(self, room: RoomRef) -> dict[str, frozenset[str]]: ...

    @abstractmethod
    async def ban(self, room: RoomRef, user: str, until_ms: int) -> None: ...

    @abstractmethod
    async def banned_until(self, room: RoomRef, user: str) -> int | None: ...

    @abstractmethod
    async def note_teacher(self, space: str, user: str) -> None:
        """Remember that `user` came as a teacher of the space (kept for the retention)."""

    @abstractmethod
    async def is_teacher(self, space: str, user: str) -> bool:
        """Whether `user` came as a teacher of the space: teachers are never moderated,
        present or not."""

    @abstractmethod
    async def set_flag(self, room: RoomRef, name: str, on: bool) -> None: ...

    @abstractmethod
    async def flags(self, room: RoomRef) -> dict[str, bool]:
        """Every flag of FLAG_DEFAULTS, as set or defaulted."""

    # -- audit ---------------------------------------------------------
    @abstractmethod
    async def audit_add(self, space: str, entry: AuditEntry) -> None:
        """Append; nothing edits or removes entries but the retention."""

    @abstractmethod
    async def audit(self, space: str, room: str | None, limit: int) -> list[AuditEntry]:
        """Newest first; only `room`'s entries when given."""
