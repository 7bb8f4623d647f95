"""The classroom feedback bar: 👍, "slower please", "I didn't understand", "louder".

A member presses one (`feedback {room, kind}`); teachers of the room see, per
kind, how many members pressed it in the last minute (`feedback:counts {room,
counts}`), and the counts fade as each press turns a minute old. Pressing the
same kind again renews one's press, it does not count twice.

Presses travel as notices (`FEEDBACK`), so every process hears every press and
keeps its own `FeedbackTally` of each room: the teachers connected to it get
the counts from it, at once on a press and again when a press fades (the edge
sets a timer for `next_fade`). Nothing is stored: a press is worth a minute.
Time is the injected clock's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import BadRequest, Forbidden
from .identity import RoomRef
from .notices import Notice

if TYPE_CHECKING:
    from .service import RoomService, Session

FEEDBACK = "feedback"  # the notice kind
KINDS: tuple[str, ...] = ("thumbs", "slower", "lost", "louder")
FADE_MS = 60_000


def check_kind(value: object) -> str:
    if isinstance(value, str) and value in KINDS:
        return value
    raise BadRequest("kind must be one of " + ", ".join(KINDS))


@dataclass
class FeedbackTally:
    """The presses of one room in the last `FADE_MS`: (kind, user) -> when."""

    presses: dict[tuple[str, str], int] = field(default_factory=dict)

    def press(self, kind: str, user: str, at_ms: int) -> None:
        self.presses[(kind, user)] = max(at_ms, self.presses.get((kind, user), at_ms))

    def _fade(self, now_ms: int) -> None:
        for key in [k for k, at in self.presses.items() if at + FADE_MS <= now_ms]:
            del self.presses[key]

    def counts(self, now_ms: int) -> dict[str, int]:
        """Members per kind (every kind, zeros included)."""
        self._fade(now_ms)
        out = dict.fromkeys(KINDS, 0)
        for kind, _ in self.presses:
            out[kind] += 1
        return out

    def next_fade(self, now_ms: int) -> int | None:
        """When the next press fades (ms since the epoch), None if none is left."""
        self._fade(now_ms)
        return min(self.presses.values()) + FADE_MS if self.presses else None


class Feedback:
    def __init__(self, service: RoomService) -> None:
        self.svc = service
        self.tallies: dict[str, FeedbackTally] = {}  # room key -> presses heard by this process

    async def give(self, s: Session, name: object, kind: object) -> None:
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors do not give feedback")
        chosen = check_kind(kind)
        await self.svc.bus.notify(Notice(FEEDBACK, room.key, s.who.sub,
                                         {"kind": chosen, "at": self.svc.clock.now_ms()}))

    def join_state(self, s: Session, room: RoomRef) -> dict[str, dict[str, int]]:
        """A teacher's join ack carries the room's counts (`feedback`); others', nothing."""
        return {"feedback": self.counts(room.key)} if s.who.is_teacher else {}

    def heard(self, n: Notice) -> dict[str, int] | None:
        """A press from any process: the room's counts after it (None if not a press)."""
        kind, at = n.data.get("kind"), n.data.get("at")
        if n.kind != FEEDBACK or kind not in KINDS or not isinstance(at, int):
            return None
        tally = self.tallies.setdefault(n.room_key, FeedbackTally())
        tally.press(str(kind), n.user, at)
        return tally.counts(self.svc.clock.now_ms())

    def counts(self, room_key: str) -> dict[str, int]:
        """The room's counts now; a room whose presses all faded is forgotten."""
        tally = self.tallies.get(room_key)
        counts = tally.counts(self.svc.clock.now_ms()) if tally else dict.fromkeys(KINDS, 0)
        if tally is not None and not tally.presses:
            del self.tallies[room_key]
        return counts

    def next_fade(self, room_key: str) -> int | None:
        tally = self.tallies.get(room_key)
        return tally.next_fade(self.svc.clock.now_ms()) if tally else None
