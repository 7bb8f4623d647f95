"""What a store keeps for the message filter: each space's rules, messages held
for a teacher, and flags.

`rooms.store.Store` extends this interface; `MemoryFilterStore` and
`RedisFilterStore` implement it. A held message keeps the text (it may still
be delivered) until a teacher releases or refuses it, or until it expires
(`HOLD_MS`, never past the history retention), whichever comes first. A flag
keeps no text: it names the delivered message, which lives and dies with the
history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from .filter import FilterConfig
from .message import Author

HOLD_MS = 24 * 3_600_000
MAX_FLAG_PAGE = 500


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A pupil's message the filter keeps from the room until a teacher decides."""

    id: str
    room: str
    cid: str
    user: Author
    school: str | None
    text: str
    ts: int
    rules: tuple[str, ...]
    expires: int
    to: Author | None = None  # a private message's recipient (rooms/moderation.py)

    def to_wire(self) -> dict[str, Any]:
        """`{id, room, cid, user, school, text, ts, rules, expires}`, and `to` for a private
        message (released, it goes to that member, not to the room)."""
        wire = {"id": self.id, "room": self.room, "cid": self.cid,
                "user": self.user.to_wire(), "school": self.school, "text": self.text,
                "ts": self.ts, "rules": list(self.rules), "expires": self.expires}
        if self.to is not None:
            wire["to"] = self.to.to_wire()
        return wire

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> HeldMessage:
        u, to = rec["user"], rec.get("to")
        return cls(str(rec["id"]), str(rec["room"]), str(rec["cid"]),
                   Author(str(u["id"]), str(u["name"]), str(u["role"])), rec.get("school"),
                   str(rec["text"]), int(rec["ts"]), tuple(rec["rules"]), int(rec["expires"]),
                   None if to is None else Author(str(to["id"]), str(to["name"]),
                                                  str(to["role"])))


@dataclass(frozen=True, slots=True)
class Flagged:
    """A delivered message the filter flagged: `{ts, room, message, user, school, rules}`
    (`message` the message id; no text)."""

    ts: int
    room: str
    message: str
    user: str
    school: str | None
    rules: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        return {"ts": self.ts, "room": self.room, "message": self.message, "user": self.user,
                "school": self.school, "rules": list(self.rules)}

    def to_record(self) -> dict[str, Any]:
        return self.to_wire()

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Flagged:
        return cls(int(rec["ts"]), str(rec["room"]), str(rec["message"]), str(rec["user"]),
                   rec.get("school"), tuple(rec["rules"]))


class FilterStore(ABC):
    # -- rules -----------------------------------------------------------
    @abstractmethod
    async def filter_config(self, space: str) -> FilterConfig | None:
        """The space's rules as last set; None if never set (or expired: kept for the
        retention after they were last read or set)."""

    @abstractmethod
    async def set_filter_config(self, space: str, config: FilterConfig) -> None: ...

    # -- held messages ---------------------------------------------------
    @abstractmethod
    async def hold(self, space: str, held: HeldMessage) -> None:
        """Keep `held` until taken or until `held.expires`."""

    @abstractmethod
    async def held(self, space: str, room: str | None = None) -> list[HeldMessage]:
        """Held messages not yet expired, oldest first; only `room`'s when given."""

    @abstractmethod
    async def take_held(self, space: str, held_id: str) -> HeldMessage | None:
        """Remove and return a held message; None if unknown, expired or already taken
        (of two callers, exactly one gets it)."""

    # -- flags -----------------------------------------------------------
    @abstractmethod
    async def add_flagged(self, space: str, flag: Flagged) -> None: ...

    @abstractmethod
    async def flagged(self, space: str, room: str | None, limit: int) -> list[Flagged]:
        """Newest first, within the retention; only `room`'s when given."""
