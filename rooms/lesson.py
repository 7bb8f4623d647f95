"""A lesson: rooms teachers open, the lobby, the teacher-present rule, the end.

- Opening (`LIVE_ROOMS=teachers`, the default): a teacher's join opens the room;
  a student or visitor joining a room no teacher of the space opened gets
  `not_found`, the answer for a room that does not exist (no hint). An opening
  is kept for the retention after the teacher's last join, and a room with
  history left stays open besides. `LIVE_ROOMS=open` (v1) lets anyone open a
  room, and has no teacher-present rule.
- The lobby (`mod:lobby`): while it is on, a student's join answers `waiting`
  and puts them on the waiting list; the teachers of the room hear
  `lobby:waiting`. `mod:admit` lets in (`room:admitted`: their next join passes)
  or sends away (`room:refused`) one user, a whole school or everyone waiting;
  teachers hear `lobby:done {room, users, allow}`. Turning the lobby off lets
  everyone waiting in. Teachers are never held; visitors are held like students.
- Teacher present (room flag `supervised`, on by default in `teachers` mode,
  `mod:supervised` changes it): pupils may write (`chat:send`) and publish media
  only while a teacher is in the room, else `forbidden` (checked from this
  process's view of the room: rooms/supervision.py).
- `mod:end`: the room is locked, open polls close, hands go down, the waiting list
  and every admission are forgotten, and every process sends its students and
  visitors of the room `room:ended {room}` and takes them out of it; the end hooks
  (the media side: every stream of the room stops) run on every process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .errors import BadRequest, Forbidden, NotFound, Waiting
from .identity import RoomRef
from .join_store import Admission
from .moderation import check_user
from .notices import END, TEACHERS, USER, Notice
from .presence import Member
from .safeguard_store import Waiting as WaitingEntry
from .supervision import Supervision

if TYPE_CHECKING:
    from .service import RoomService, Session

log = logging.getLogger(__name__)

MAX_SCHOOL = 128
# (room key) on every process, when a lesson ends: the media side stops every stream
EndHook = Callable[[str], Awaitable[None]]


class Lesson:
    def __init__(self, service: RoomService, open_rooms: bool) -> None:
        self.svc = service
        self.open_rooms = open_rooms  # LIVE_ROOMS=open: anyone opens a room (v1)
        self.end_hooks: list[EndHook] = []
        self.supervision = Supervision()  # teachers present, per room with members here

    # -- entering --------------------------------------------------------
    async def open_by(self, room: RoomRef) -> None:
        """A teacher's join opens the room."""
        await self.svc.store.open_room(room)

    def check_open(self, room: RoomRef, opened: bool) -> None:
        """Anyone else's join needs the room open (`opened`, read by `Store.admission`),
        unless every room is open (`not_found`)."""
        if not self.open_rooms and not opened:
            raise NotFound("no such room")

    async def check_lobby(self, s: Session, room: RoomRef, found: Admission) -> None:
        """While the lobby is on, a pupil not admitted waits (`waiting`)."""
        store = self.svc.store
        if s.who.is_teacher or not found.flags["lobby"] or found.admitted:
            return
        group = found.group
        if group is not None and not group.over and s.who.sub in group.members:
            return  # a group's listed members come in whatever the lobby (contract §2)
        entry = WaitingEntry(s.who.sub, s.who.name, s.who.role.value, s.who.school,
                             self.svc.clock.now_ms())
        s.waiting.add(room.key)
        if await store.lobby_add(room, entry):
            await self._to_teachers(room, "lobby:waiting", {"room": room.name,
                                                            "member": entry.to_wire()})
        raise Waiting()

    async def room_state(self, s: Session, room: RoomRef, flags: dict[str, bool],
                         members: list[Member]) -> dict[str, Any]:
        if not self.open_rooms:
            self.supervision.seen(room.key, members, flags["supervised"])
        state: dict[str, Any] = {"lobby": flags["lobby"],
                                 "teacher_present": self.supervised(flags)}
        if s.who.is_teacher:
            state["waiting"] = [w.to_wire() for w in await self.svc.store.lobby(room)]
        return state

    async def forget_waiting(self, s: Session) -> None:
        """A connection closed: its user leaves the waiting lists it was on (unless another
        of their connections waits too)."""
        for room_key in list(s.waiting):
            room = RoomRef.from_key(room_key)
            try:
                await self.svc.store.lobby_remove(room, [s.who.sub])
                await self._to_teachers(room, "lobby:done", {"room": room.name,
                                                             "users": [s.who.sub],
                                                             "allow": None})
            except Exception:
                log.exception("leaving the waiting list failed", extra={"conn": s.conn})
        s.waiting.clear()

    # -- teacher present -------------------------------------------------
    def supervised(self, flags: dict[str, bool]) -> bool:
        return not self.open_rooms and flags["supervised"]

    def check_supervised(self, s: Session, room: RoomRef) -> None:
        """Pupils write and publish only while a teacher is in the room (if the rule is on).
        Nothing awaited: `chat:send` calls it just before the store takes the message."""
        if not s.who.is_teacher and not self.open_rooms:
            self.supervision.check(room.key)

    # -- teachers' requests ----------------------------------------------
    def _teacher_room(self, s: Session, name: object) -> RoomRef:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers run a lesson")
        return room

    async def set_lobby(self, s: Session, name: object, on: bool) -> None:
        room = self._teacher_room(s, name)
        await self.svc.store.set_flag(room, "lobby", on)
        await self.svc.audit.record(s.who, "mod:lobby", room, None, {"on": on})
        await self.svc.bus.publish(room.key, "room:lobby", {"room": room.name, "on": on})
        if not on:  # everyone waiting may come in
            await self._decide(room, await self.svc.store.lobby(room), True)

    async def set_supervised(self, s: Session, name: object, on: bool) -> None:
        room = self._teacher_room(s, name)
        await self.svc.store.set_flag(room, "supervised", on)
        await self.svc.audit.record(s.who, "mod:supervised", room, None, {"on": on})
        await self.svc.bus.publish(room.key, "room:teacher_present",
                                   {"room": room.name, "on": self.supervised(
                                       await self.svc.store.flags(room))})

    async def admit(self, s: Session, name: object, user: object, school: object,
                    everyone: bool | None, allow: bool) -> list[str]:
        """Let in (or send away) one waiting user, a whole school, or everyone waiting;
        returns whom it concerned."""
        room = self._teacher_room(s, name)
        given = [user is not None, school is not None, bool(everyone)]
        if sum(given) != 1:
            raise BadRequest("give one of user, school or all")
        waiting = await self.svc.store.lobby(room)
        if user is not None:
            uid = check_user(user)
            chosen = [w for w in waiting if w.id == uid]
            if not chosen:
                raise NotFound("nobody of that id is waiting")
        elif school is not None:
            if not isinstance(school, str) or not 1 <= len(school) <= MAX_SCHOOL:
                raise BadRequest("school must be a school id")
            chosen = [w for w in waiting if w.school == school]
        else:
            chosen = waiting
        await self._decide(room, chosen, allow)
        users = [w.id for w in chosen]
        await self.svc.audit.record(s.who, "mod:admit", room, users[0] if len(users) == 1
                                    else None, {"users": users, "allow": allow})
        return users

    async def _decide(self, room: RoomRef, chosen: list[WaitingEntry], allow: bool) -> None:
        users = [w.id for w in chosen]
        if not users:
            return
        if allow:
            await self.svc.store.admit_users(room, users)
        await self.svc.store.lobby_remove(room, users)
        event = "room:admitted" if allow else "room:refused"
        for uid in users:
            await self.svc.bus.notify(Notice(USER, room.key, uid, {
                "event": event, "payload": {"room": room.name}}))
        await self._to_teachers(room, "lobby:done", {"room": room.name, "users": users,
                                                     "allow": allow})

    async def end(self, s: Session, name: object) -> None:
        room = self._teacher_room(s, name)
        store, bus = self.svc.store, self.svc.bus
        await store.set_flag(room, "locked", True)
        await bus.publish(room.key, "room:locked", {"room": room.name, "locked": True})
        for poll in await store.open_polls(room):
            closed = await store.close_poll(room, poll.id)
            if closed is not None:
                await self.svc.classroom.announce(room, "poll:closed", closed)
        for member in await store.members(room):
            if member.hand:
                lowered = await store.set_hand(room, member.id, None)
                if lowered is not None:
                    await bus.publish(room.key, "presence:update",
                                      {"room": room.name, "member": lowered.to_wire()})
        await store.lobby_clear(room)
        await self.svc.audit.record(s.who, "mod:end", room, None)
        await bus.notify(Notice(END, room.key, "", {"event": {"room": room.name}}))

    async def apply_end(self, notice: Notice) -> None:
        """On every process, after the edge took its pupils out: the end hooks."""
        for hook in list(self.end_hooks):
            try:
                await hook(notice.room_key)
            except Exception:
                log.exception("end hook failed", extra={"room": notice.room_key})

    async def _to_teachers(self, room: RoomRef, event: str, payload: dict[str, Any]) -> None:
        await self.svc.bus.notify(Notice(TEACHERS, room.key, "", {"event": event,
                                                                  "payload": payload}))
