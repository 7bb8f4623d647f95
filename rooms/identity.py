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
