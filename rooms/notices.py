"""Notices: moderation news every service process must act on.

Room events reach members through the room bus; a notice instead reaches every
*process*, so each can act on its own connections: drop a kicked member's
connections from the room, refresh what a member has muted, hand a private
message to the connections that may read it. `LocalNotices` serves one
process; `rooms.redis_notices.RedisNotices` spans processes on one Redis.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

KICK = "kick"
MUTE = "mute"
PRIVATE = "private"


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


NoticeHandler = Callable[[Notice], Awaitable[None]]


class Notices(ABC):
    def __init__(self) -> None:
        self._handlers: list[NoticeHandler] = []

    def subscribe(self, handler: NoticeHandler) -> None:
        self._handlers.append(handler)

    @abstractmethod
    async def publish(self, notice: Notice) -> None:
        """Hand the notice to every process's handlers, this one's included."""

    async def _dispatch(self, notice: Notice) -> None:
        for handler in list(self._handlers):
            try:
                await handler(notice)
            except Exception:
                log.exception("notice handler failed",
                              extra={"kind": notice.kind, "room": notice.room_key})

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class LocalNotices(Notices):
    """One process: a notice is handled right here."""

    async def publish(self, notice: Notice) -> None:
        await self._dispatch(notice)
