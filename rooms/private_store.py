"""Supervised private messages (issue #11 part 4): what a store keeps of them.

`rooms.store.Store` extends `PrivateStore`; `MemoryPrivate` and `RedisPrivate`
implement it (one suite tests both: tests/test_private_store.py).

- Every private message sent (teacher <-> pupil, pupil <-> pupil) is kept per room,
  with the space's retention, as chat messages are: it is gone from the store once
  its `ts` is past the space's effective retention (`sweep`, and at once on a
  shorter policy), and with an erasure of its sender or of its recipient.
- Teachers of the space read a room's private messages page by page (`private_page`,
  oldest first, `before` / `after` cursors as `chat:history`); members never do.
- Sending is idempotent on `(room, sender, cid)`, as `chat:send` is.
- A private message's id is `pm-<ms, 13 digits>-<12 hex>` (`PrivateIds`): ids sort in send
  order as strings, which is what both stores page on.
"""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest
from .message import Author

PRIVATE_ID = re.compile(r"pm-[0-9]{13}-[0-9a-f]{12}")
MAX_SEQ = 0xFFFF


def new_private_id(ms: int, seq: int = 0) -> str:
    """`pm-<ms>-<seq, 4 hex><random, 8 hex>`: in send order within a process (the sequence
    orders one ms), unique across processes (the random part)."""
    return f"pm-{ms:013d}-{seq:04x}{secrets.token_hex(4)}"


class PrivateIds:
    """One process's private message ids, in the order they are asked for, even within one
    ms or when the clock steps back (as `MemoryStore.append` orders chat ids)."""

    def __init__(self) -> None:
        self._last = (0, -1)

    def next(self, now_ms: int) -> str:
        ms, seq = self._last
        if now_ms > ms or seq >= MAX_SEQ:
            ms, seq = max(now_ms, ms + (seq >= MAX_SEQ)), 0
        else:
            seq += 1
        self._last = (ms, seq)
        return new_private_id(ms, seq)


def private_id_floor(ms: int) -> str:
    """A string every id of a message sent at `ms` or later sorts at or after."""
    return f"pm-{max(0, ms):013d}-"


def parse_private_id(value: object) -> str:
    """A private message id from outside (a query): as written, or `BadRequest`."""
    if not isinstance(value, str) or not PRIVATE_ID.fullmatch(value):
        raise BadRequest("not a private message id")
    return value


def _author(rec: dict[str, Any]) -> Author:
    return Author(str(rec["id"]), str(rec["name"]), str(rec["role"]))


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    """A chat message plus `to` (docs/protocol.md "Private messages")."""

    id: str
    room: str
    cid: str
    user: Author
    to: Author
    text: str
    ts: int

    def __post_init__(self) -> None:
        if not PRIVATE_ID.fullmatch(self.id):
            raise ValueError("not a private message id")

    def involves(self, user: str) -> bool:
        return self.user.id == user or self.to.id == user

    def to_wire(self) -> dict[str, Any]:
        """`{id, room, cid, user, to, text, ts}`."""
        return {"id": self.id, "room": self.room, "cid": self.cid,
                "user": self.user.to_wire(), "to": self.to.to_wire(), "text": self.text,
                "ts": self.ts}

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> PrivateMessage:
        return cls(str(rec["id"]), str(rec["room"]), str(rec["cid"]), _author(rec["user"]),
                   _author(rec["to"]), str(rec["text"]), int(rec["ts"]))


@dataclass(frozen=True, slots=True)
class KeptPrivate:
    """What `keep_private` did: `created` false when the sender's cid was known (then
    `message` is the first one sent with it, or the one given if that one is gone)."""

    message: PrivateMessage
    created: bool


@dataclass(frozen=True, slots=True)
class PrivatePage:
    messages: list[PrivateMessage]
    more: bool


class PrivateStore(ABC):
    @abstractmethod
    async def keep_private(self, space: str, message: PrivateMessage) -> KeptPrivate:
        """Keep a private message of the room `message.room` of `space` for the space's
        retention after its `ts`. Idempotent on `(room, sender, cid)` for that long: a
        known cid keeps nothing new and returns the first message."""

    @abstractmethod
    async def private_page(self, space: str, room: str, *, before: str | None = None,
                           after: str | None = None, limit: int = 50) -> PrivatePage:
        """A page of the room's kept private messages, oldest first (paged as
        `chat:history`: no cursor the newest, `before` / `after` an id; `more` whether
        further messages lie beyond the page in that direction)."""

    @abstractmethod
    async def erase_private(self, space: str, user: str) -> int:
        """Delete every kept private message `user` sent or received in the space; how
        many."""

    @abstractmethod
    async def user_private(self, space: str, user: str) -> list[PrivateMessage]:
        """Every kept private message `user` sent or received in the space, oldest
        first."""
