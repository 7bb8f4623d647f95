"""Chat messages and the pages of history they are read in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import BadRequest, TooLarge
from .identity import Identity

MAX_TEXT = 2000
MAX_CID = 64


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    name: str
    role: str

    @classmethod
    def of(cls, who: Identity) -> Author:
        return cls(who.sub, who.name, who.role.value)

    def to_wire(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "role": self.role}


@dataclass(frozen=True, slots=True)
class Message:
    """`{id, room, cid, user, text, ts}` of contract §2; ids sort in send order."""

    id: str
    room: str
    cid: str
    user: Author
    text: str
    ts: int

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "cid": self.cid,
            "user": self.user.to_wire(),
            "text": self.text,
            "ts": self.ts,
        }


@dataclass(frozen=True, slots=True)
class Appended:
    message: Message
    created: bool


@dataclass(frozen=True, slots=True)
class Page:
    messages: list[Message]
    more: bool


def clean_text(text: str) -> str:
    """Check a message text; it is kept exactly as written, only the length is
    measured on the trimmed text (contract: 1..2000 characters after trimming)."""
    trimmed = text.strip()
    if not trimmed:
        raise BadRequest("text is empty")
    if len(trimmed) > MAX_TEXT:
        raise TooLarge(f"text is longer than {MAX_TEXT} characters")
    return text


def sort_key(message_id: str) -> tuple[int, int]:
    """Ids are `<ms>-<seq>` (the Redis Stream form, used by every store)."""
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


def parse_id(value: str) -> tuple[int, int]:
    try:
        ms, seq = sort_key(value)
    except ValueError:
        raise BadRequest("not a message id") from None
    if ms < 0 or seq < 0 or not value.count("-") == 1:
        raise BadRequest("not a message id")
    return ms, seq
