"""Who is acting, and which room they mean.

An `Identity` comes from a verified token; a `RoomRef` is a room name inside
the identity's space, so the same name in two spaces is two rooms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import BadRequest

ROOM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SPACE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Role(StrEnum):
    TEACHER = "teacher"
    STUDENT = "student"
    VISITOR = "visitor"


@dataclass(frozen=True, slots=True)
class Identity:
    sub: str
    name: str
    role: Role
    space: str
    school: str | None = None
    lang: str | None = None
    # the token's `exp` (seconds since the epoch): the connection ends then (live/expiry.py)
    exp: float | None = field(default=None, compare=False)

    @property
    def is_teacher(self) -> bool:
        return self.role is Role.TEACHER

    @property
    def can_write(self) -> bool:
        """Teachers and students may post; visitors only watch."""
        return self.role is not Role.VISITOR

    def public(self) -> dict[str, str]:
        return {"id": self.sub, "name": self.name, "role": self.role.value}

    def to_record(self) -> dict[str, str | None]:
        """Who is acting, for another service process (a directed call on the bus)."""
        return {"sub": self.sub, "name": self.name, "role": self.role.value,
                "space": self.space, "school": self.school, "lang": self.lang}

    @classmethod
    def from_record(cls, rec: object) -> Identity:
        """The identity `to_record` wrote (`bad_request` for anything else)."""
        if not isinstance(rec, dict):
            raise BadRequest("not an identity")
        try:
            school, lang = rec.get("school"), rec.get("lang")
            fields = (rec["sub"], rec["name"], rec["space"])
            if not all(isinstance(v, str) for v in fields) or not all(
                    v is None or isinstance(v, str) for v in (school, lang)):
                raise ValueError(rec)
            return cls(sub=rec["sub"], name=rec["name"], role=Role(rec["role"]),
                       space=rec["space"], school=school, lang=lang)
        except (KeyError, ValueError):
            raise BadRequest("not an identity") from None


@dataclass(frozen=True, slots=True)
class RoomRef:
    space: str
    name: str

    @classmethod
    def parse(cls, space: str, name: object) -> RoomRef:
        if not isinstance(name, str) or not ROOM_NAME.fullmatch(name):
            raise BadRequest("room must match [a-z0-9][a-z0-9_-]{0,63}")
        return cls(space, name)

    @property
    def key(self) -> str:
        """One string naming the room across the service: `space/room`."""
        return f"{self.space}/{self.name}"

    @classmethod
    def from_key(cls, key: str) -> RoomRef:
        space, _, name = key.partition("/")
        return cls(space, name)
