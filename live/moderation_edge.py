"""Socket.IO events for polls, moderation and private messages (contract §2).

Registers its handlers on the `Edge` (so errors map to acks in one place) and
acts on notices from every process: a kick drops the target's connections of
this process from the room, a private message (or any event for some members
only: the filter's, the school notices) goes to the connections of this
process that may read it; a filter change drops the space's cached rules.
After the bus reconnected (notices may have been lost), mutes are re-read and
banned members here are removed as a kick notice would have removed them (`Moderation.resync`).
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.identity import RoomRef
from rooms.line import Turn
from rooms.moderation import MAX_BAN_MINUTES
from rooms.notices import DIRECT, FILTER, KICK, MUTE, PRIVATE, SCHOOL, Notice
from rooms.service import RoomService, Session

from .edge import Edge
from .wire import Fields

log = logging.getLogger(__name__)


class ModerationEdge:
    def __init__(self, edge: Edge, service: RoomService) -> None:
        self.edge = edge
        self.svc = service
        service.bus.on_notice(self.on_notice)
        service.bus.on_reconnect(self.on_reconnect)
        handlers = {
            "poll:create": self.poll_create,
            "poll:close": self.poll_close, "poll:reveal": self.poll_reveal,
            "poll:publish": self.poll_publish, "poll:scores": self.poll_scores,
            "mod:mute": self.mute, "mod:kick": self.kick,
            "mod:lock": self.lock, "mod:permissions": self.permissions,
        }
        for name, h in handlers.items():
            edge.on(name, h)
        # kept in the order sent, as chat:send (rooms/line.py)
        edge.in_line("poll:vote", self.poll_vote)
        edge.in_line("chat:private", self.private)

    # -- client events ------------------------------------------------------
    async def poll_create(self, s: Session, f: Fields) -> dict[str, Any]:
        poll = await self.svc.classroom.create(
            s, f.raw("room"), f.str("question", max_len=10_000), f.raw("options"),
            f.bool("multiple", optional=True), f.bool("anonymous", optional=True),
            f.str("kind", optional=True, max_len=16), f.raw("correct"),
            f.bool("hidden", optional=True))
        return {"poll": poll.to_wire(teacher=True)}  # teachers only create polls

    async def poll_vote(self, s: Session, f: Fields, turn: Turn) -> None:
        await self.svc.classroom.vote(s, f.raw("room"), f.str("poll", max_len=64),
                                      f.raw("choices"), f.str("text", optional=True,
                                                              max_len=10_000), turn)

    async def poll_close(self, s: Session, f: Fields) -> dict[str, Any]:
        poll = await self.svc.classroom.close(s, f.raw("room"), f.str("poll", max_len=64))
        return {"poll": poll.to_wire(teacher=True)}  # teachers only close polls

    async def poll_reveal(self, s: Session, f: Fields) -> dict[str, Any]:
        poll = await self.svc.classroom.reveal(s, f.raw("room"), f.str("poll", max_len=64))
        return {"poll": poll.to_wire(teacher=True)}

    async def poll_publish(self, s: Session, f: Fields) -> dict[str, Any]:
        poll = await self.svc.classroom.publish(s, f.raw("room"), f.str("poll", max_len=64),
                                                f.raw("answers"))
        return {"poll": poll.to_wire(teacher=True)}

    async def poll_scores(self, s: Session, f: Fields) -> dict[str, Any]:
        return await self.svc.classroom.scores(s, f.raw("room"), f.bool("all", optional=True))

    async def mute(self, s: Session, f: Fields) -> None:
        await self.svc.moderation.mute(s, f.raw("room"), f.str("user", max_len=128),
                                       f.str("what", max_len=16), f.bool("muted"))

    async def kick(self, s: Session, f: Fields) -> None:
        await self.svc.moderation.kick(s, f.raw("room"), f.str("user", max_len=128),
                                       f.int("ban_minutes", optional=True, lo=1,
                                             hi=MAX_BAN_MINUTES))

    async def lock(self, s: Session, f: Fields) -> None:
        await self.svc.moderation.lock(s, f.raw("room"), f.bool("locked"))

    async def permissions(self, s: Session, f: Fields) -> dict[str, Any]:
        perms = await self.svc.moderation.permissions(
            s, f.raw("room"), f.bool("pupils_to_teachers", optional=True),
            f.bool("pupils_to_pupils", optional=True))
        return {"permissions": perms}

    async def private(self, s: Session, f: Fields, turn: Turn) -> dict[str, Any]:
        message = await self.svc.moderation.private(
            s, f.raw("room"), f.str("to", max_len=128), f.str("text", max_len=1 << 20),
            f.str("cid", max_len=1000), turn)
        return {"message": message}

    # -- notices from every process -----------------------------------------
    async def on_notice(self, n: Notice) -> None:
        if n.kind == KICK:
            await self._kick(n)
        elif n.kind == MUTE:
            await self.svc.moderation.apply_mute(n)
        elif n.kind == PRIVATE:
            await self._private(n)
        elif n.kind == DIRECT:
            await self._direct(n)
        elif n.kind == FILTER:
            self.svc.screening.forget(n.room_key)
        elif n.kind == SCHOOL:
            await self._school(n)

    async def on_reconnect(self) -> None:
        banned = await self.svc.moderation.resync(list(self.edge.sessions.values()))
        for room_key, user in banned:
            log.info("resync: removing a banned member", extra={"room": room_key, "user": user})
            name = RoomRef.from_key(room_key).name
            await self._kick(Notice(KICK, room_key, user, {"event": {"room": name,
                                                                     "user": user}}))

    async def _kick(self, n: Notice) -> None:
        sio = self.edge.sio
        # this process's members of the room hear it, the kicked one included
        await sio.emit("mod:kicked", n.data.get("event"), room=n.room_key)
        for s in self.edge.of_user(n.user):
            if n.room_key in s.rooms:
                try:
                    await self.svc.leave_room(s, n.room_key)
                except Exception:
                    log.exception("kick: leaving failed", extra={"conn": s.conn})
        await self.svc.moderation.apply_kick(n)

    async def _private(self, n: Notice) -> None:
        users = set(n.data.get("users", []))
        teachers = bool(n.data.get("teachers"))
        message = n.data.get("message")
        for s in self.edge.in_room(n.room_key):
            if s.who.sub in users or (teachers and s.who.is_teacher):
                await self.edge.sio.emit("chat:private", message, to=s.conn)

    async def _direct(self, n: Notice) -> None:
        """An event for some members of the room (rooms/screening.py `direct`), and with
        `others` its other members' own version of it."""
        users = set(n.data.get("users") or [])
        teachers = bool(n.data.get("teachers"))
        school = n.data.get("school")
        others = n.data.get("others")
        for s in self.edge.in_room(n.room_key):
            if s.who.sub in users or (teachers and s.who.is_teacher
                                      and (school is None or s.who.school == school)):
                await self.edge.sio.emit(str(n.data.get("event")), n.data.get("payload"),
                                         to=s.conn)
            elif others is not None:
                await self.edge.sio.emit(str(n.data.get("event")), others, to=s.conn)

    async def _school(self, n: Notice) -> None:
        """`school:notice` to this process's teachers of the pupil's school in the space,
        once per connection, the actor's own connections left out (rooms/schools.py)."""
        space = RoomRef.from_key(n.room_key).space
        school, actor = n.data.get("school"), n.data.get("actor")
        for s in list(self.edge.sessions.values()):
            if (s.who.space == space and s.who.is_teacher and s.who.school == school
                    and s.who.sub != actor):
                await self.edge.sio.emit("school:notice", n.data.get("event"), to=s.conn)
