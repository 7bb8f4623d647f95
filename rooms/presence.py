"""Who is in a room: one entry per connection, shown as one member per user."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .identity import Identity


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    role: str
    hand_at: int | None = None  # ms when the hand went up, for raise order
    school: str | None = None  # the token's `school` claim, shown as a badge

    @classmethod
    def of(cls, who: Identity) -> Member:
        return cls(who.sub, who.name, who.role.value, school=who.school)

    @property
    def hand(self) -> bool:
        return self.hand_at is not None

    def with_hand(self, at: int | None) -> Member:
        return replace(self, hand_at=at)

    def to_wire(self) -> dict[str, Any]:
        """`{id, name, role, hand}`, and `school` when the member's token names one."""
        wire: dict[str, Any] = {"id": self.id, "name": self.name, "role": self.role,
                                "hand": self.hand}
        if self.school is not None:
            wire["school"] = self.school
        return wire

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "role": self.role, "hand_at": self.hand_at,
                "school": self.school}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Member:
        return cls(str(rec["id"]), str(rec["name"]), str(rec["role"]), rec.get("hand_at"),
                   rec.get("school"))


def members_by_user(entries: list[Member]) -> list[Member]:
    """Fold connection entries into one member per user, in order of arrival;
    a hand is up if it is up on any of the user's connections."""
    seen: dict[str, Member] = {}
    for m in entries:
        prev = seen.get(m.id)
        if prev is None:
            seen[m.id] = m
        elif m.hand_at is not None and (prev.hand_at is None or m.hand_at < prev.hand_at):
            seen[m.id] = prev.with_hand(m.hand_at)
    return list(seen.values())


@dataclass(frozen=True, slots=True)
class Departure:
    """A connection left; `last` is true when it was the user's last one in the room."""

    room_key: str
    user: str
    last: bool
