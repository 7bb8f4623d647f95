"""What a store keeps for privacy: per-school retention, purge receipts, attendance.

`rooms.store.Store` extends `PrivacyStore`; the memory and Redis stores implement it.

- A space's effective retention is the shortest limit any of its schools set
  (`PUT /api/policy`), never longer than the service's (`LIVE_HISTORY_DAYS`).
- Every purge (the retention sweep, a policy change, an erasure) leaves one
  `Receipt` per room it touched: `{room, before, count, at, reason}`, no text and
  no user id. Receipts are kept `RECEIPT_DAYS`, then swept.
- A `Visit` is one person's stay in a room (first connection in, last out); visits
  are kept as long as the space's messages are.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .identity import RoomRef
from .message import Message

DAY_MS = 86_400_000
RECEIPT_DAYS = 366  # receipts hold no personal data; a school year and its audit
RECEIPT_MS = RECEIPT_DAYS * DAY_MS
MAX_RECEIPTS = 500  # per answer of `GET /api/purges`

# why a purge happened (a receipt's `reason`)
RETENTION, POLICY, ERASURE = "retention", "policy", "erasure"


def history_days(value: object) -> float:
    """A school's limit from a request: a number > 0 (fractions allowed), finite."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest("history_days must be a number of days greater than 0")
    days = float(value)
    if not math.isfinite(days) or days <= 0:
        raise BadRequest("history_days must be a number of days greater than 0")
    return days


def days_ms(days: float) -> int:
    return max(1, int(days * DAY_MS))


@dataclass(frozen=True, slots=True)
class Policy:
    """A space's retention: `schools` the limits its schools set (days), `history_days`
    the effective one (the shortest, never above the service's)."""

    history_days: float
    schools: dict[str, float]

    @classmethod
    def of(cls, service_ms: int, schools: dict[str, float]) -> Policy:
        effective = min([service_ms / DAY_MS, *schools.values()])
        return cls(effective, dict(sorted(schools.items())))

    @property
    def retention_ms(self) -> int:
        return days_ms(self.history_days)

    def to_wire(self) -> dict[str, Any]:
        return {"history_days": self.history_days, "schools": self.schools}


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of a purge in one room: `count` messages older than `before` (ms; for an
    erasure, the moment of it) removed `at` (ms)."""

    room: str
    before: int
    count: int
    at: int
    reason: str

    def to_wire(self) -> dict[str, Any]:
        return {"room": self.room, "before": self.before, "count": self.count, "at": self.at,
                "reason": self.reason}

    to_record = to_wire

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Receipt:
        return cls(str(rec["room"]), int(rec["before"]), int(rec["count"]), int(rec["at"]),
                   str(rec["reason"]))


@dataclass(frozen=True, slots=True)
class Visit:
    """`{user, name, role, school, joined, left}`; `left` None while present."""

    user: str
    name: str
    role: str
    school: str | None
    joined: int
    left: int | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "role": self.role,
                "school": self.school, "joined": self.joined, "left": self.left}

    to_record = to_wire

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Visit:
        left = rec.get("left")
        return cls(str(rec["user"]), str(rec["name"]), str(rec["role"]), rec.get("school"),
                   int(rec["joined"]), None if left is None else int(left))

    def ended(self, at: int) -> Visit:
        return Visit(self.user, self.name, self.role, self.school, self.joined, at)


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure removed: message ids per room key, and how many other copies of
    the user's text went with them (`evidence`: reports of their messages, their
    messages held by the filter), and how many private messages they sent or received
    (`private`)."""

    ids: dict[str, list[str]]
    evidence: int = 0
    answers: int = 0  # votes and answers removed from named polls (not in `count`)
    private: int = 0

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.ids.values()) + self.evidence + self.private


class PrivacyStore(ABC):
    # -- retention policy ----------------------------------------------
    @abstractmethod
    async def retention_of(self, space: str) -> int:
        """The space's effective retention (ms). What else keeps a message's text or a
        name (reports, held messages) keeps it until the message's `ts` plus this, and
        removes it in `sweep` (the hook for evidence: docs/privacy.md)."""

    @abstractmethod
    async def policy(self, space: str) -> Policy: ...

    @abstractmethod
    async def set_policy(self, space: str, school: str, days: float) -> Policy:
        """Set `school`'s limit and apply the new effective retention at once to
        what the space holds (receipts with reason `policy`)."""

    # -- receipts ------------------------------------------------------
    @abstractmethod
    async def receipts(self, space: str, room: str | None) -> list[Receipt]:
        """Newest first (at most `MAX_RECEIPTS`); only `room`'s when given."""

    # -- erasure and access ----------------------------------------------
    @abstractmethod
    async def erase_user(self, space: str, user: str) -> Erased:
        """Delete every kept message of `user` in the space (receipts: `erasure`)."""

    @abstractmethod
    async def user_messages(self, space: str, user: str) -> list[Message]:
        """Every kept message of `user` in the space, oldest first (rooms in turn)."""

    # -- attendance ------------------------------------------------------
    @abstractmethod
    async def visit_begin(self, room: RoomRef, visit: Visit) -> None:
        """`visit.user` came into the room (their first connection there)."""

    @abstractmethod
    async def visit_end(self, room: RoomRef, user: str, at: int) -> None:
        """`user`'s last connection left the room: their open visit ends `at`."""

    @abstractmethod
    async def visits(self, room: RoomRef) -> list[Visit]:
        """Kept visits of the room, oldest first."""

    @abstractmethod
    async def user_visits(self, space: str, user: str) -> list[tuple[str, Visit]]:
        """`(room name, visit)` of every kept visit of `user` in the space."""
