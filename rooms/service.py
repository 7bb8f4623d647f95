"""What members do in a room: join, leave, chat, typing, hands.

The rules live here; the Socket.IO edge only parses payloads and maps errors.

Order: a connection's chat messages are stored in the order sent. Each send has its
place in the connection's line (`Session.line`, rooms/line.py), taken by the edge as
it arrived, before its rate-limit bucket: the send after it goes on only once this one
has handed its append to the store (which keeps the order of calls) or failed. So the
bucket's answer, a read of the space's filter (dropped by a periodic refresh or a
change) and the append keep the order of arrival; a read that fails fails its send
(`unavailable`) and the next one goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .audit import AuditLog
from .breakouts import Breakouts
from .bus import Bus, Connections
from .classroom import Classroom
from .clock import Clock
from .errors import BadRequest, Forbidden, NotFound, NotJoined
from .feedback import Feedback
from .identity import Identity, RoomRef
from .join_store import RoomSnapshot
from .lesson import Lesson
from .line import Line, Turn
from .links import EVERY_DOMAIN, LinkPolicy
from .message import MAX_CID, Author, Message, clean_text
from .moderation import Moderation
from .presence import Departure, Member
from .privacy import Erased, Visit
from .ratelimit import Limiter
from .reactions import Reactions
from .reports import Reports
from .schools import Schools
from .screening import Screening
from .shared_read import SharedRead
from .store import Store
from .wire_forms import WireForms

log = logging.getLogger(__name__)

MAX_ROOMS_PER_CONNECTION = 16


@dataclass
class Session:
    """One connection of one person."""

    conn: str
    who: Identity
    rooms: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)  # rooms whose lobby it waits in
    # its messages, private messages and votes in the order sent (rooms/line.py)
    line: Line = field(default_factory=Line)


@dataclass(frozen=True, slots=True)
class RoomView:
    """A room as a join reads it (`Store.snapshot`), with the wire forms of its members
    and last messages (shared by the joins in flight at once: read-only)."""

    snapshot: RoomSnapshot
    by_id: dict[str, Member]
    members_wire: list[dict[str, Any]]
    messages_wire: list[dict[str, Any]]


class RoomService:
    def __init__(self, store: Store, bus: Bus, conns: Connections, clock: Clock,
                 buckets: Limiter, open_rooms: bool = False) -> None:
        self.store = store
        self.bus = bus  # room events and notices, to every process
        self.conns = conns  # this process's connections in rooms (the edge's fan-out)
        self.clock = clock
        self.buckets = buckets  # per-member rate limits: the edge takes them first (live/limits.py)
        self.audit = AuditLog(store, clock)
        self.classroom = Classroom(self)  # join rules and polls
        self.moderation = Moderation(self)
        self.reactions = Reactions(self)  # chat:react
        self.feedback = Feedback(self)  # the classroom feedback bar
        self.breakouts = Breakouts(self)  # mod:breakout, mod:recall, group rooms' admission
        self.lesson = Lesson(self, open_rooms)  # opening, lobby, teacher present, end
        self.reports = Reports(self)
        self.screening = Screening(self)  # the space's message filter (rooms/filter.py)
        self.schools = Schools(self)  # a pupil's own school's teachers hear of moderation
        # the media side: extra join-ack fields (`streams`, ...) and connections leaving a room
        self.media_state: Callable[[RoomSnapshot], dict[str, Any]] = _no_media
        self.leave_hooks: list[Callable[[Session, str], Awaitable[None]]] = []
        # which links in chat the pages make clickable, per space (rooms/links.py)
        self.link_policy: Callable[[str], LinkPolicy] = lambda _space: EVERY_DOMAIN
        # joins in flight at once share the room's snapshot (a storm of rejoins reads it
        # twice per round trip, not once per joiner: rooms/shared_read.py)
        self._joined_view: SharedRead[RoomRef, RoomView] = SharedRead(self._read_view)
        # the wire forms of members and messages unchanged since the room's last read
        self._member_forms = WireForms()
        self._message_forms = WireForms()

    def _room(self, s: Session, name: object) -> RoomRef:
        return RoomRef.parse(s.who.space, name)

    def joined_room(self, s: Session, name: object) -> RoomRef:
        """The room `name` of the caller's space, which this connection joined (`not_joined`)."""
        room = self._room(s, name)
        if room.key not in s.rooms:
            raise NotJoined()
        return room

    async def join(self, s: Session, name: object) -> dict[str, Any]:
        """Enter the room (unless this connection is in it) and read it for the ack.

        A failure (the store away: `unavailable`) leaves nothing behind: before entering
        nothing was written; after, the connection leaves the room again (the store's
        entry with it, or, while the store is away, by its heartbeat's retry)."""
        room = self._room(s, name)
        me = Member.of(s.who)
        entered, first = room.key not in s.rooms, False
        view: RoomView | None = None
        if entered:
            if len(s.rooms) >= MAX_ROOMS_PER_CONNECTION:
                raise BadRequest(f"at most {MAX_ROOMS_PER_CONNECTION} rooms per connection")
            # opened, banned, locked, lobby, a group's room: one store read (a teacher: none)
            await self.classroom.admit(s, room)
            if self.screening.needs_read(s):  # chat:send screens from the cache only
                await self.screening.prepare(room.space)
            # listen first, then read: nothing sent meanwhile can fall between
            await self._attach(s.conn, room.key)
            # a first connection of the user begins a visit (attendance) in the same step
            visit = Visit(s.who.sub, s.who.name, s.who.role.value, s.who.school,
                          self.clock.now_ms())
            if self._joined_view.idle(room):
                # no other join reads the room: enter and read it in one store call (its
                # read is the room's running one: joins coming meanwhile share the next)

                async def enter_and_read() -> RoomView:
                    nonlocal first
                    first, snap = await self.store.enter_and_snapshot(room, s.conn, me, visit)
                    return self._view_of(room, snap)

                try:
                    view = await self._joined_view.run_own(room, enter_and_read)
                except Exception:
                    await self._enter_after_failure(s, room, me, visit)
                    raise
            else:
                first = await self._enter(s, room, me, visit)
            s.rooms.add(room.key)
            s.waiting.discard(room.key)
        try:
            if entered and first:
                await self._announce_arrival(s, room, me)
            if view is None:
                view = await self._joined_view.get(room)  # one store read (rooms/join_store.py)
            snap = view.snapshot
            # polls, locked, ... (a teacher's: the waiting list, one store read more)
            state = await self.classroom.room_state(s, room, snap)
        except Exception:
            if entered:  # an error ack: not in the room
                await self._undo_join(s, room)
            raise
        you = view.by_id.get(me.id, me)
        return {
            "room": room.name,
            "you": you.to_wire(),
            "members": view.members_wire,
            "messages": view.messages_wire,
            "reactions": self.reactions.for_caller(s, snap.reactions),
            "links": self.link_policy(room.space).to_wire(),
            **self.feedback.join_state(s, room),  # teachers: the feedback bar's counts
            **self.breakouts.join_state(s, snap.group, snap.breakout),  # breakout / group
            **self.media_state(snap),  # streams, media settings
            **state,
        }

    async def _enter_after_failure(self, s: Session, room: RoomRef, me: Member,
                                   visit: Visit) -> None:
        """A join's entering read failed, perhaps after the entry was written: make sure
        of the entry (`enter` is idempotent) and leave again, as a join whose read failed
        after it entered does (its arrival announced, then its departure); if even that
        fails, the connection only stops hearing the room."""
        try:
            first = await self._enter(s, room, me, visit)
        except Exception:
            return
        s.rooms.add(room.key)
        try:
            if first:
                await self._announce_arrival(s, room, me)
        finally:
            await self._undo_join(s, room)

    async def _enter(self, s: Session, room: RoomRef, me: Member, visit: Visit) -> bool:
        """The store's `enter` (true: the user's first connection in the room); when it
        fails, the connection stops hearing the room and the error goes on."""
        try:
            return await self.store.enter(room, s.conn, me, visit)
        except Exception:
            await self._detach(s.conn, room.key)
            raise

    async def _announce_arrival(self, s: Session, room: RoomRef, me: Member) -> None:
        await self.bus.announce(room.key, "presence:join",
                                {"room": room.name, "member": me.to_wire()}, skip=s.conn)

    async def _undo_join(self, s: Session, room: RoomRef) -> None:
        try:
            await self.leave_room(s, room.key)
        except Exception:
            log.exception("leaving a failed join failed", extra={"conn": s.conn, "room": room.key})

    async def _read_view(self, room: RoomRef) -> RoomView:
        return self._view_of(room, await self.store.snapshot(room))

    def _view_of(self, room: RoomRef, snap: RoomSnapshot) -> RoomView:
        return RoomView(snap, {m.id: m for m in snap.members},
                        self._member_forms.of(room.key, snap.members),
                        self._message_forms.of(room.key, snap.page.messages))

    async def leave(self, s: Session, name: object) -> None:
        room = self.joined_room(s, name)
        await self.leave_room(s, room.key)

    async def _attach(self, conn: str, room_key: str) -> None:
        """The connection gets the room's events from now on (this process hears the
        room on the bus before this returns)."""
        self.conns.enter(conn, room_key)
        self.bus.entered(room_key, conn)  # not for it: presence announced before it came
        try:
            await self.bus.attach(room_key)
        except Exception:
            await self._detach(conn, room_key)
            raise

    async def _detach(self, conn: str, room_key: str) -> None:
        if self.conns.leave(conn, room_key):  # the last of this process in the room
            self.lesson.supervision.forget(room_key)
            await self.bus.detach(room_key)

    async def leave_room(self, s: Session, room_key: str) -> None:
        """Take the connection out of the room (a leave, a kick, a disconnect)."""
        s.rooms.discard(room_key)
        await self._detach(s.conn, room_key)
        gone = await self.store.leave(RoomRef.from_key(room_key), s.conn)
        for hook in list(self.leave_hooks):
            try:
                await hook(s, room_key)
            except Exception:
                log.exception("leave hook failed", extra={"conn": s.conn})
        if gone is not None:
            await self.announce_departure(gone)

    async def announce_departure(self, gone: Departure) -> None:
        if gone.last:  # (the store ended the user's visit in the same step)
            room = RoomRef.from_key(gone.room_key)
            # at once, not coalesced: a teacher's leaving ends the teacher-present rule's
            # permission on this process now (rooms/supervision.py); what is held goes first
            await self.bus.publish(gone.room_key, "presence:leave",
                                   {"room": room.name, "user": gone.user})

    async def disconnect(self, s: Session) -> None:
        await self.lesson.forget_waiting(s)
        for room_key in list(s.rooms):
            try:
                await self.leave_room(s, room_key)
            except Exception:
                log.exception("leave on disconnect failed", extra={"conn": s.conn})

    async def send(self, s: Session, name: object, text: str, cid: str, turn: Turn) -> Message:
        """Store and deliver a chat message. `turn` is its place in the connection's line,
        taken as it arrived and reached before its rate-limit bucket (live/edge.py); ended
        here once the append is handed to the store, so the connection's next send goes on
        meanwhile, and its append comes after this one."""
        room = self.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors cannot send messages")
        self.classroom.check_chat(s, room)
        if not 1 <= len(cid) <= MAX_CID:
            raise BadRequest(f"cid must be 1..{MAX_CID} characters")
        text = clean_text(text)
        self.lesson.check_supervised(s, room)
        if self.screening.needs_read(s):  # not since a join: the only read before append
            await self.screening.prepare(room.space)
        try:
            verdict = self.screening.screen(s, text)  # a blocking rule raises `Filtered`
        finally:
            # the next send resumes after this step, which hands its append to the
            # store (or holds the message, which is not in the room's stream)
            turn.end()
        if verdict is not None and verdict.action == "hold":
            await self.screening.hold(s, room, cid, text, verdict)  # raises HeldForTeacher
        self.bus.flush(room.key)  # presence held this tick reaches the room first
        # no await before this call: a member's messages are stored in the order sent
        appended = await self.store.append(room, Author.of(s.who), cid, text)
        if appended.created:  # acked once this process's members have it (rooms/bus.py)
            await self.bus.handed(room.key, appended.message.id)
        if verdict is not None and appended.created:  # flag: delivered, teachers told
            await self.screening.flag(s, room, appended.message, verdict)
        return appended.message

    async def history(self, s: Session, name: object, before: str | None, after: str | None,
                      limit: int | None) -> dict[str, Any]:
        room = self.joined_room(s, name)
        if before is not None and after is not None:
            raise BadRequest("give before or after, not both")
        page = await self.store.history(room, before=before, after=after,
                                        limit=50 if limit is None else limit)
        return {"messages": [m.to_wire() for m in page.messages], "more": page.more,
                "reactions": await self.reactions.of_page(s, room, page.messages)}

    async def delete(self, s: Session, name: object, message_id: str) -> Message:
        room = self.joined_room(s, name)
        msg = await self.store.get(room, message_id)
        if msg is None:
            raise NotFound("no such message")
        if not s.who.is_teacher and msg.user.id != s.who.sub:
            raise Forbidden("you can delete only your own messages")
        if await self.store.delete(room, message_id):
            await self.store.drop_reactions(room, message_id)
            if msg.user.id != s.who.sub:
                await self.audit.record(s.who, "chat:delete", room, msg.user.id, {"id": message_id})
            await self.bus.publish(room.key, "chat:deleted", {"room": room.name, "id": message_id})
        return msg

    async def erase_user(self, space: str, user: str) -> Erased:
        """Erase every message of `user` in the space, with the reports' copies of them,
        their held messages, the private messages they sent or received and their answers to
        named polls; members see them go (`chat:deleted`, the polls again)."""
        erased = await self.store.erase_user(space, user)
        private = await self.store.erase_private(space, user)
        evidence = await self.store.erase_reports(space, user)
        for held in await self.store.held(space):
            mine = held.user.id == user or (held.to is not None and held.to.id == user)
            if mine and await self.store.take_held(space, held.id) is not None:
                evidence += 1
        erased = replace(erased, evidence=evidence, private=private,
                         answers=await self.classroom.erase_answers(space, user))
        for room_key, ids in erased.ids.items():
            name = RoomRef.from_key(room_key).name
            for mid in ids:
                await self.bus.publish(room_key, "chat:deleted", {"room": name, "id": mid})
        return erased

    async def typing(self, s: Session, name: object, typing: bool) -> None:
        room = self.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors cannot type")
        self.classroom.check_chat(s, room)
        await self.bus.publish(room.key, "typing",
                            {"room": room.name, "user": s.who.public(), "typing": typing},
                            skip=s.conn)

    async def hand(self, s: Session, name: object, raised: bool, user: str | None = None) -> None:
        room = self.joined_room(s, name)
        target = s.who.sub if user is None else user
        if target != s.who.sub and not (s.who.is_teacher and not raised):
            raise Forbidden("only a teacher may lower someone else's hand")
        member = await self.store.set_hand(room, target, self.clock.now_ms() if raised else None)
        if member is None:
            raise NotFound("no such member in the room")
        await self.bus.publish(room.key, "presence:update",
                            {"room": room.name, "member": member.to_wire()})


def _no_media(snap: RoomSnapshot) -> dict[str, Any]:
    return {"streams": []}
