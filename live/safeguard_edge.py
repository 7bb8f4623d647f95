"""Socket.IO events for safeguarding: reports, the lobby, teacher present, the end of a
lesson (rooms/reports.py, rooms/lesson.py; contract v2 §2).

Registers its handlers on the `Edge` (errors map to acks in one place) and acts
on the notices every process gets: `TEACHERS` goes to this process's teachers in
the room, `USER` to the user's connections of the room's space (a pupil waiting
in the lobby is not in the room), `END` sends this process's students and
visitors of the room `room:ended` and takes them out of it, then runs the
lesson's end hooks (the media side).
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.identity import RoomRef
from rooms.notices import END, TEACHERS, USER, Notice
from rooms.service import RoomService, Session

from .edge import Edge
from .wire import Fields

log = logging.getLogger(__name__)


class SafeguardEdge:
    def __init__(self, edge: Edge, service: RoomService) -> None:
        self.edge = edge
        self.svc = service
        service.bus.on_notice(self.on_notice)
        service.bus.on_reconnect(self.on_reconnect)
        handlers = {
            "chat:report": self.report, "report:resolve": self.resolve,
            "mod:lobby": self.lobby, "mod:admit": self.admit, "mod:end": self.end,
            "mod:supervised": self.supervised,
        }
        for name, h in handlers.items():
            edge.on(name, h)

    # -- client events ------------------------------------------------------
    async def report(self, s: Session, f: Fields) -> dict[str, Any]:
        rep = await self.svc.reports.report(s, f.raw("room"), f.message_id("id"),
                                            f.raw("reason"))
        return {"report": rep.id}

    async def resolve(self, s: Session, f: Fields) -> dict[str, Any]:
        rep = await self.svc.reports.resolve(s, f.str("report", max_len=64),
                                             f.str("action", max_len=16))
        return {"report": rep.to_wire()}

    async def lobby(self, s: Session, f: Fields) -> None:
        await self.svc.lesson.set_lobby(s, f.raw("room"), f.bool("on"))

    async def supervised(self, s: Session, f: Fields) -> None:
        await self.svc.lesson.set_supervised(s, f.raw("room"), f.bool("on"))

    async def admit(self, s: Session, f: Fields) -> dict[str, Any]:
        users = await self.svc.lesson.admit(
            s, f.raw("room"), f.str("user", optional=True, max_len=128),
            f.str("school", optional=True, max_len=128), f.bool("all", optional=True),
            f.bool("allow"))
        return {"users": users}

    async def end(self, s: Session, f: Fields) -> None:
        await self.svc.lesson.end(s, f.raw("room"))

    # -- notices from every process -----------------------------------------
    async def on_notice(self, n: Notice) -> None:
        if n.kind == TEACHERS:
            await self._emit(n, [s for s in self.edge.in_room(n.room_key) if s.who.is_teacher])
        elif n.kind == USER:
            space = RoomRef.from_key(n.room_key).space
            await self._emit(n, [s for s in self.edge.of_user(n.user) if s.who.space == space])
        elif n.kind == END:
            await self._end(n)

    async def on_reconnect(self) -> None:
        await self.svc.lesson.supervision.resync(self.svc.store)

    async def _emit(self, n: Notice, chosen: list[Session]) -> None:
        event, payload = str(n.data.get("event")), n.data.get("payload")
        for s in chosen:
            await self.edge.sio.emit(event, payload, to=s.conn)

    async def _end(self, n: Notice) -> None:
        for s in self.edge.in_room(n.room_key):
            if not s.who.is_teacher:
                try:
                    await self.svc.leave_room(s, n.room_key)
                    await self.edge.sio.emit("room:ended", n.data.get("event"), to=s.conn)
                except Exception:
                    log.exception("end: leaving failed", extra={"conn": s.conn})
        await self.svc.lesson.apply_end(n)
