"""Notices: moderation news every service process must act on.

Room events reach members; a notice instead reaches every *process*, so each
can act on its own connections: drop a kicked member's connections from the
room, refresh what a member has muted, hand a private message to the
connections that may read it, tell the room's teachers (`TEACHERS`: `{event,
payload}` to the teachers of the room connected here) or one person who is not in
the room (`USER`: `{event, payload}` to the user's connections of the room's
space: a pupil in the lobby), end a lesson (`END`: pupils and visitors leave the
room). Notices travel on the room bus (`rooms/bus.py`:
`Bus.notify`, `Bus.on_notice`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KICK = "kick"
MUTE = "mute"
PRIVATE = "private"
TEACHERS = "teachers"
USER = "user"
END = "end"
FILTER = "filter"  # a space's filter rules changed (`room_key` is the space)
# an event for some members of a room: {event, payload, users, teachers, school, others}
DIRECT = "direct"
SCHOOL = "school"  # news for a school's teachers online anywhere in the space (rooms/schools.py)


@dataclass(frozen=True, slots=True)
class Notice:
    kind: str
    room_key: str
    user: str  # whom it is about
    data: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"k": self.kind, "r": self.room_key, "u": self.user, "d": self.data}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Notice:
        return cls(str(rec["k"]), str(rec["r"]), str(rec["u"]), dict(rec.get("d") or {}))
