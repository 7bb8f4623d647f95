"""Chat messages and the pages of history they are read in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import BadRequest, TooLarge
from .identity import Identity

MAX_TEXT = 2000
MAX_CID = 64
MAX_ID_LEN = 48
MAX_ID_PART = (1 << 64) - 1


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


class MessageId(NamedTuple):
    """A message id, `<ms>-<seq>`: the Redis Stream form, used by every store.

    Ids sort in send order; as a tuple `(ms, seq)` a `MessageId` sorts the same way.
    """

    ms: int
    seq: int

    @classmethod
    def of(cls, value: object) -> MessageId:
        """The one rule for a message id: two runs of ASCII digits joined by one `-`,
        each below 2**64 (as Redis's), at most `MAX_ID_LEN` characters. Anything
        else is a `ValueError` (`parse_id` makes it a `BadRequest`)."""
        if not isinstance(value, str) or len(value) > MAX_ID_LEN:
            raise ValueError("not a message id")
        ms, dash, seq = value.partition("-")
        if not (dash and ms.isascii() and ms.isdigit() and seq.isascii() and seq.isdigit()):
            raise ValueError("not a message id")
        mid = cls(int(ms), int(seq))
        if mid.ms > MAX_ID_PART or mid.seq > MAX_ID_PART:
            raise ValueError("not a message id")
        return mid

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"


def parse_id(value: object) -> MessageId:
    """A message id from outside (a payload, a query): `MessageId.of`, or `BadRequest`."""
    try:
        return MessageId.of(value)
    except ValueError:
        raise BadRequest("not a message id") from None


def sort_key(message_id: str) -> MessageId:
    """The order ids sort in (send order); `ValueError` for what is not an id."""
    return MessageId.of(message_id)
