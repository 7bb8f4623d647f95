"""Socket.IO events for group work: reactions on messages and the feedback bar.

Registers its handlers on the `Edge` (errors map to acks there, in one place)
and hears feedback presses from every process (`rooms/feedback.py`): the
teachers of the room connected to this process get `feedback:counts {room,
counts}` at once, and again each time a press fades (one timer per room, set
for the tally's next fade).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rooms.feedback import FEEDBACK
from rooms.identity import RoomRef
from rooms.notices import Notice
from rooms.service import RoomService, Session

from .edge import Edge
from .wire import Fields

log = logging.getLogger(__name__)


class GroupworkEdge:
    def __init__(self, edge: Edge, service: RoomService) -> None:
        self.edge = edge
        self.svc = service
        self._fades: dict[str, asyncio.TimerHandle] = {}  # room key -> next fade's timer
        self._running: set[asyncio.Task[None]] = set()
        service.bus.on_notice(self.on_notice)
        handlers = {"chat:react": self.react, "chat:reactors": self.reactors,
                    "feedback": self.feedback}
        for name, h in handlers.items():
            edge.on(name, h)

    # -- client events ------------------------------------------------------
    async def react(self, s: Session, f: Fields) -> dict[str, Any]:
        return await self.svc.reactions.react(s, f.raw("room"), f.message_id("id"),
                                              f.str("emoji", max_len=16))

    async def reactors(self, s: Session, f: Fields) -> dict[str, Any]:
        return await self.svc.reactions.reactors(s, f.raw("room"), f.message_id("id"))

    async def feedback(self, s: Session, f: Fields) -> None:
        await self.svc.feedback.give(s, f.raw("room"), f.str("kind", max_len=16))

    # -- feedback from every process ------------------------------------------
    async def on_notice(self, n: Notice) -> None:
        if n.kind != FEEDBACK:
            return
        counts = self.svc.feedback.heard(n)
        if counts is not None:
            await self._tell_teachers(n.room_key, counts)
            self._schedule_fade(n.room_key)

    def _schedule_fade(self, room_key: str) -> None:
        old = self._fades.pop(room_key, None)
        if old is not None:
            old.cancel()
        at = self.svc.feedback.next_fade(room_key)
        if at is None:
            return
        delay = max(0.0, (at - self.svc.clock.now_ms()) / 1000)
        self._fades[room_key] = asyncio.get_running_loop().call_later(
            delay, self._start_fade, room_key)

    def _start_fade(self, room_key: str) -> None:
        task = asyncio.ensure_future(self._faded(room_key))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _faded(self, room_key: str) -> None:
        self._fades.pop(room_key, None)
        try:
            await self._tell_teachers(room_key, self.svc.feedback.counts(room_key))
        except Exception:
            log.exception("feedback fade failed", extra={"room": room_key})
        self._schedule_fade(room_key)

    async def _tell_teachers(self, room_key: str, counts: dict[str, int]) -> None:
        name = RoomRef.from_key(room_key).name
        for s in list(self.edge.sessions.values()):
            if s.who.is_teacher and room_key in s.rooms:
                await self.edge.sio.emit("feedback:counts", {"room": name, "counts": counts},
                                         to=s.conn)
