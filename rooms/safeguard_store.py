"""What a store keeps for safeguarding: opened rooms, reports, the lobby.

`rooms.store.Store` extends this interface; `MemorySafeguard` and
`RedisSafeguard` implement it for the two stores (one suite tests both:
tests/test_safeguard_store.py).
- Opened rooms: a teacher's join opens the room (again); an opening is kept for
  the retention after it, and a room with history left stays open besides
  (`rooms.lesson`).
- Reports (`rooms.reports`): each kept until its `until` (the reported
  message's own end), and never past the message's `ts` plus the space's
  effective retention (`retention_of`: a school's shorter limit ends the
  evidence too); then gone from the store (`sweep`, `set_policy`). An erasure
  of a user removes the reports of that user's messages (`erase_reports`).
- The lobby: who waits to enter a room (one entry per user) and who a teacher
  let in (their next join passes the lobby); both kept for the retention after
  their last change, cleared at the end of a lesson.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .identity import RoomRef
from .reports import Report

MAX_REPORTS = 500  # newest first, per read


@dataclass(frozen=True, slots=True)
class Waiting:
    """A member on a room's waiting list: `{id, name, role, school, at}`."""

    id: str
    name: str
    role: str
    school: str | None
    at: int

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "school": self.school,
                "at": self.at}

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Waiting:
        school = rec.get("school")
        return cls(str(rec["id"]), str(rec["name"]), str(rec["role"]),
                   None if school is None else str(school), int(rec["at"]))


class SafeguardStore(ABC):
    # -- opened rooms --------------------------------------------------
    @abstractmethod
    async def open_room(self, room: RoomRef) -> None:
        """A teacher opened the room (now)."""

    @abstractmethod
    async def opened(self, room: RoomRef) -> bool:
        """Whether a teacher opened the room within the retention."""

    @abstractmethod
    async def opened_rooms(self, space: str) -> list[str]:
        """Names of the space's rooms opened within the retention, sorted."""

    # -- reports -------------------------------------------------------
    @abstractmethod
    async def add_report(self, space: str, report: Report) -> bool:
        """Keep a report until its `until`; false (and nothing changes) if a report of that
        id is kept already."""

    @abstractmethod
    async def put_report(self, space: str, report: Report) -> None:
        """Replace a kept report (its resolution); nothing if it is gone."""

    @abstractmethod
    async def report(self, space: str, report_id: str) -> Report | None: ...

    @abstractmethod
    async def reports(self, space: str, room: str | None) -> list[Report]:
        """Kept reports of the space (of `room` only, when given), newest first, at most
        `MAX_REPORTS`."""

    @abstractmethod
    async def erase_reports(self, space: str, user: str) -> int:
        """Remove every report of a message by `user` (its copy of their text); how many."""

    # -- lobby ---------------------------------------------------------
    @abstractmethod
    async def lobby_add(self, room: RoomRef, entry: Waiting) -> bool:
        """Put a member on the waiting list; false if they were on it already."""

    @abstractmethod
    async def lobby(self, room: RoomRef) -> list[Waiting]:
        """The waiting list, in order of arrival."""

    @abstractmethod
    async def lobby_remove(self, room: RoomRef, users: list[str]) -> None: ...

    @abstractmethod
    async def admit_users(self, room: RoomRef, users: list[str]) -> None:
        """Their next join passes the lobby."""

    @abstractmethod
    async def admitted(self, room: RoomRef, user: str) -> bool: ...

    @abstractmethod
    async def lobby_clear(self, room: RoomRef) -> None:
        """Forget the waiting list and every admission (the lesson ended)."""
