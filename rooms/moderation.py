"""Teacher moderation: mute, kick (with an optional ban), lock, private messages.

Teachers cannot be muted, kicked or banned, present or not (a teacher's join
is remembered per space), and nobody moderates themselves. A mute or a kick
without a ban needs its target in the room (`not_found`); a ban may be given
ahead to a pupil who is not there (one who just left, say). Each action is
written to the audit log, announced to the room, and - where every process must
act on its own connections - published as a notice.

Notices can be lost (a process whose bus connection was down misses them), so
what they carry is also in the store: after the bus reconnected, `resync`
re-reads the mutes and bans of every room with members on this process.
Private messages are off for pupils until a teacher allows them per room;
teachers may always write privately to a member. They are supervised: every
private message is kept with the space's retention (rooms/private_store.py) and
goes, besides the sender and the recipient, to every teacher of the space in the
room; teachers read them later through `GET /api/private`. A
pupil's private message goes through the space's filter (rooms/screening.py)
like `chat:send`; a rule that holds it keeps it in the held queue, and a
teacher's release delivers it as a private message (`deliver_private`), never
into the room's history.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .classroom import permissions_wire
from .errors import BadRequest, Forbidden, NotFound
from .identity import RoomRef
from .message import MAX_CID, Author, clean_text
from .notices import KICK, MUTE, PRIVATE, Notice
from .presence import Member
from .private_store import PrivateIds, PrivateMessage

if TYPE_CHECKING:
    from .line import Turn
    from .service import RoomService, Session

log = logging.getLogger(__name__)

MUTABLE = frozenset({"chat", "audio", "video"})
MUTE_WHAT = ("chat", "audio", "video", "all")
MAX_BAN_MINUTES = 30 * 24 * 60
MAX_USER_ID = 128

# (room key, user, muted kinds) on every process, after a mute changed
MuteHook = Callable[[str, str, frozenset[str]], Awaitable[None]]
# (room key, user) on every process, after a kick
KickHook = Callable[[str, str], Awaitable[None]]


def check_user(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USER_ID:
        raise BadRequest("user must be a user id")
    return value


class Moderation:
    def __init__(self, service: RoomService) -> None:
        self.svc = service
        self.mute_hooks: list[MuteHook] = []  # the media side stops muted tracks here
        self.kick_hooks: list[KickHook] = []
        self.private_ids = PrivateIds()

    async def _target(self, s: Session, room: RoomRef, user: object) -> tuple[str, Member | None]:
        if not s.who.is_teacher:
            raise Forbidden("only teachers moderate")
        target = check_user(user)
        if target == s.who.sub:
            raise BadRequest("you cannot moderate yourself")
        member = next((m for m in await self.svc.store.members(room) if m.id == target), None)
        teacher = (member.role == "teacher" if member is not None
                   else await self.svc.store.is_teacher(room.space, target))
        if teacher:
            raise Forbidden("teachers cannot be muted, kicked or banned")
        return target, member

    async def mute(self, s: Session, name: object, user: object, what: object,
                   muted: bool) -> frozenset[str]:
        room = self.svc.joined_room(s, name)
        if what not in MUTE_WHAT:
            raise BadRequest("what must be chat, audio, video or all")
        target, member = await self._target(s, room, user)
        if member is None:
            raise NotFound("no such member in the room")
        now = await self.set_muted(room, target, str(what), muted)
        await self.svc.audit.record(s.who, "mod:mute", room, target,
                                    {"what": what, "muted": muted})
        if muted:  # the pupil's own school's teachers hear of it, whoever acted
            await self.svc.schools.tell(room, member, "mute", s.who)
        return now

    async def set_muted(self, room: RoomRef, target: str, what: str,
                        muted: bool) -> frozenset[str]:
        """Mute or unmute `what` of `target` in the room, present or not (a report's
        resolution mutes the author wherever they are); the caller checked who may."""
        kinds = MUTABLE if what == "all" else frozenset({what})
        current = (await self.svc.store.mutes(room)).get(target, frozenset())
        now = current | kinds if muted else current - kinds
        await self.svc.store.set_mutes(room, target, now)
        await self.svc.bus.notify(Notice(MUTE, room.key, target, {"kinds": sorted(now)}))
        await self.svc.bus.publish(room.key, "mod:muted", {
            "room": room.name, "user": target, "what": what, "muted": muted,
            "kinds": sorted(now)})
        return now

    async def kick(self, s: Session, name: object, user: object, ban_minutes: int | None) -> None:
        room = self.svc.joined_room(s, name)
        if ban_minutes is not None and not 1 <= ban_minutes <= MAX_BAN_MINUTES:
            raise BadRequest(f"ban_minutes must be 1..{MAX_BAN_MINUTES}")
        target, member = await self._target(s, room, user)
        if member is None and ban_minutes is None:
            raise NotFound("no such member in the room")
        if ban_minutes is not None:
            until = self.svc.clock.now_ms() + ban_minutes * 60_000
            await self.svc.store.ban(room, target, until)
        await self.svc.audit.record(s.who, "mod:kick", room, target,
                                    {"ban_minutes": ban_minutes} if ban_minutes else None)
        # every process tells its members of the room, then drops the target's connections
        await self.svc.bus.notify(Notice(KICK, room.key, target, {
            "event": {"room": room.name, "user": target}}))
        await self.svc.schools.tell(room, member, "ban" if ban_minutes else "kick", s.who)

    async def lock(self, s: Session, name: object, locked: bool) -> None:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers lock rooms")
        await self.svc.store.set_flag(room, "locked", locked)
        await self.svc.audit.record(s.who, "mod:lock", room, None, {"locked": locked})
        await self.svc.bus.publish(room.key, "room:locked", {"room": room.name, "locked": locked})

    async def permissions(self, s: Session, name: object, to_teachers: bool | None,
                          between_pupils: bool | None) -> dict[str, bool]:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers change permissions")
        if to_teachers is not None:
            await self.svc.store.set_flag(room, "pm_teachers", to_teachers)
        if between_pupils is not None:
            await self.svc.store.set_flag(room, "pm_pupils", between_pupils)
        perms = permissions_wire(await self.svc.store.flags(room))
        await self.svc.audit.record(s.who, "mod:permissions", room, None, perms)
        await self.svc.bus.publish(room.key, "mod:permissions", {"room": room.name,
                                                              "permissions": perms})
        return perms

    async def private(self, s: Session, name: object, to: object, text: str,
                      cid: str, turn: Turn) -> dict[str, Any]:
        """Keep and deliver a private message. `turn`, its place in the connection's line
        (reached before its rate-limit bucket, live/edge.py), ends once it is kept and
        delivered: the reads before (members, filter, flags) and the keep are one
        round trip each, so the next one of the connection waits for this one."""
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors cannot send messages")
        target = check_user(to)
        if target == s.who.sub:
            raise BadRequest("write to someone else")
        if not 1 <= len(cid) <= MAX_CID:
            raise BadRequest(f"cid must be 1..{MAX_CID} characters")
        text = clean_text(text)
        self.svc.classroom.check_chat(s, room)
        self.svc.lesson.check_supervised(s, room)  # pupils write only with a teacher in
        member = next((m for m in await self.svc.store.members(room) if m.id == target), None)
        if member is None:
            raise NotFound("no such member in the room")
        between_pupils = not s.who.is_teacher and member.role != "teacher"
        if self.svc.screening.needs_read(s):
            await self.svc.screening.prepare(room.space)
        verdict = self.svc.screening.screen(s, text)  # a blocking rule raises `Filtered`
        if not s.who.is_teacher:
            flags = await self.svc.store.flags(room)
            if member.role == "teacher" and not flags["pm_teachers"]:
                raise Forbidden("private messages to teachers are off in this room")
            if between_pupils and (member.role != "student" or not flags["pm_pupils"]):
                raise Forbidden("private messages between pupils are off in this room")
        recipient = Author(member.id, member.name, member.role)
        if verdict is not None and verdict.action == "hold":  # raises HeldForTeacher
            await self.svc.screening.hold(s, room, cid, text, verdict, to=recipient)
        message = await self.deliver_private(room, Author.of(s.who), recipient, cid, text)
        turn.end()
        return message

    async def deliver_private(self, room: RoomRef, sender: Author, to: Author, cid: str,
                              text: str) -> dict[str, Any]:
        """Keep a private message (supervision: the space's teachers read it later), then
        deliver it to both people and the room's teachers, on every process; also what a
        teacher's release of a held private message does. A store that fails refuses it,
        so nothing is delivered that was not kept; a known cid delivers nothing new."""
        now = self.svc.clock.now_ms()
        pm = PrivateMessage(self.private_ids.next(now), room.name, cid, sender, to, text, now)
        kept = await self.svc.store.keep_private(room.space, pm)
        message = kept.message.to_wire()
        if kept.created:
            await self.svc.bus.notify(Notice(PRIVATE, room.key, to.id, {
                "message": message, "users": [sender.id, to.id], "teachers": True}))
        return message

    # -- on every process ------------------------------------------------
    async def apply_mute(self, notice: Notice) -> None:
        kinds = frozenset(str(k) for k in notice.data.get("kinds", []))
        await self._muted(notice.room_key, notice.user, kinds)

    async def _muted(self, room_key: str, user: str, kinds: frozenset[str]) -> None:
        self.svc.classroom.set_muted(room_key, user, kinds)
        for hook in list(self.mute_hooks):
            await hook(room_key, user, kinds)

    async def resync(self, sessions: Iterable[Session]) -> list[tuple[str, str]]:
        """Re-read from the store what lost notices would have told this process: the
        mutes of every member here (cache and mute hooks, where they changed) and who
        of them is banned. Returns the banned `(room key, user)` pairs, for the edge to
        remove as a kick notice would have. A room whose store read fails is logged
        and skipped (its mutes still hold on `chat:send`, which the store checks)."""
        here: dict[str, set[str]] = {}
        for s in sessions:
            if not s.who.is_teacher:
                for room_key in s.rooms:
                    here.setdefault(room_key, set()).add(s.who.sub)
        banned: list[tuple[str, str]] = []
        cache = self.svc.classroom.muted
        for room_key, users in here.items():
            room = RoomRef.from_key(room_key)
            try:
                mutes = await self.svc.store.mutes(room)
                for user in sorted(users):
                    kinds = mutes.get(user, frozenset())
                    if cache.get((room_key, user), frozenset()) != kinds:
                        await self._muted(room_key, user, kinds)
                    if await self.svc.store.banned_until(room, user) is not None:
                        banned.append((room_key, user))
            except Exception:
                log.exception("moderation resync failed", extra={"room": room_key})
        return banned

    async def apply_kick(self, notice: Notice) -> None:
        for hook in list(self.kick_hooks):
            await hook(notice.room_key, notice.user)
