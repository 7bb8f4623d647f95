"""Socket.IO events for group work: reactions on messages, the feedback bar and
breakout rooms.

Registers its handlers on the `Edge` (errors map to acks there, in one place)
and hears feedback presses from every process (`rooms/feedback.py`): the
teachers of the room connected to this process get `feedback:counts {room,
counts}` at once, and again each time a press fades (one timer per room, set
for the tally's next fade). A breakout's notice (`rooms/breakouts.py`) sends
`room:moved {from, to}` to the listed members connected here; every process
watches the end of a breakout with `minutes` on the injected clock, and the
store lets one of them end it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from rooms.breakouts import BREAKOUT, MAX_MINUTES
from rooms.feedback import FEEDBACK
from rooms.identity import RoomRef
from rooms.notices import Notice
from rooms.service import RoomService, Session

from .edge import Edge
from .wire import Fields

log = logging.getLogger(__name__)

END_CHECK_S = 0.5  # how often the ends of breakouts with a timer are checked


class GroupworkEdge:
    def __init__(self, edge: Edge, service: RoomService) -> None:
        self.edge = edge
        self.svc = service
        self._fades: dict[str, asyncio.TimerHandle] = {}  # room key -> next fade's timer
        self._running: set[asyncio.Task[None]] = set()
        service.bus.on_notice(self.on_notice)
        self._ends: dict[str, int] = {}  # main room key -> its breakout's end (ms)
        self._watching: asyncio.Future[None] | None = None
        handlers = {"chat:react": self.react, "chat:reactors": self.reactors,
                    "feedback": self.feedback, "mod:breakout": self.breakout,
                    "mod:recall": self.recall, "mod:broadcast": self.broadcast_,
                    "mod:move": self.move}
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

    async def breakout(self, s: Session, f: Fields) -> dict[str, Any]:
        started = await self.svc.breakouts.start(
            s, f.raw("room"), f.raw("groups"),
            f.int("minutes", optional=True, lo=1, hi=MAX_MINUTES))
        return {"rooms": list(started.rooms)}

    async def broadcast_(self, s: Session, f: Fields) -> dict[str, Any]:
        sent = await self.svc.breakouts.broadcast(
            s, f.raw("room"), f.str("text", max_len=1 << 20), f.str("cid", max_len=1000))
        return {"messages": [m.to_wire() for m in sent]}

    async def move(self, s: Session, f: Fields) -> dict[str, Any]:
        moved = await self.svc.breakouts.move(s, f.raw("room"), f.str("user", max_len=128),
                                              f.str("to", max_len=128))
        return {"breakout": moved.to_wire()}

    async def recall(self, s: Session, f: Fields) -> None:
        await self.svc.breakouts.recall(s, f.raw("room"))

    # -- breakouts from every process -------------------------------------------
    async def _moved(self, n: Notice) -> None:
        moves = n.data.get("moves")
        if not isinstance(moves, dict):
            return
        main = RoomRef.from_key(n.room_key)
        for s in self.edge.in_room(n.room_key):
            to = moves.get(s.who.sub)
            if to is not None:
                await self.edge.sio.emit("room:moved", {"from": main.name, "to": to},
                                         to=s.conn)
        until = n.data.get("until")
        if isinstance(until, int):
            self._ends[n.room_key] = until
            if self._watching is None:
                self._watching = asyncio.ensure_future(self._watch_ends())

    async def _watch_ends(self) -> None:
        """End each breakout heard of when its time is up on the injected clock (checked
        every `END_CHECK_S`; gone once none is left to watch)."""
        try:
            while self._ends:
                await asyncio.sleep(END_CHECK_S)
                now = self.svc.clock.now_ms()
                for key, until in list(self._ends.items()):
                    if until > now:
                        continue
                    del self._ends[key]
                    try:
                        await self.svc.breakouts.end(RoomRef.from_key(key))
                    except Exception:
                        log.exception("breakout end failed", extra={"room": key})
        finally:
            self._watching = None

    # -- feedback from every process ------------------------------------------
    async def on_notice(self, n: Notice) -> None:
        if n.kind == BREAKOUT:
            await self._moved(n)
            return
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
            delay, lambda: self._start(self._faded(room_key)))

    def _start(self, step: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(step)
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
        for s in self.edge.in_room(room_key):
            if s.who.is_teacher:
                await self.edge.sio.emit("feedback:counts", {"room": name, "counts": counts},
                                         to=s.conn)
