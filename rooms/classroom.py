"""Classroom rules around joining and chatting, and polls.

- Who may enter: in a room no teacher opened, only a teacher (rooms/lesson.py, as
  the lobby); a banned member gets `banned` until the ban ends; a locked
  room lets only teachers in (`room_locked`). Teachers are never banned or
  muted: a teacher's join is remembered (`note_teacher`) so that moderation
  refuses them even when they are not in the room, and what may be stored
  against a teacher's id is not applied to them.
- What a joiner learns besides chat: open polls with counts (and their own
  vote), whether the room is locked, its private-message permissions, who is
  muted, and raised hands in raise order.
- Polls: teachers create and close them; teachers and students vote. Who chose
  what in a named poll goes to teachers only (`poll:voters`, and `voters` in
  their join ack and poll acks); members see counts.

Muted kinds are cached per process (filled on join, refreshed by notices and,
after the bus reconnected, from the store: `Moderation.resync`) for typing and
private messages. `chat:send` does not trust the cache: the store refuses a
muted author's message in the same step that stores it (`Store.append`), so a
mute holds on every process whatever happens to the bus.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from .errors import BadRequest, Banned, Forbidden, Muted, NotFound, RoomLocked
from .identity import RoomRef
from .polls import MAX_OPEN_POLLS, Poll, Vote, check_choices, check_poll_id, new_poll
from .presence import Member

if TYPE_CHECKING:
    from .service import RoomService, Session


class Classroom:
    def __init__(self, service: RoomService) -> None:
        self.svc = service
        # (room key, user) -> muted kinds, for members connected to this process
        self.muted: dict[tuple[str, str], frozenset[str]] = {}
        # keys anonymous voters (rooms/polls.py); the app sets one all processes share
        self.pepper: bytes = secrets.token_bytes(32)

    # -- entering --------------------------------------------------------
    async def admit(self, s: Session, room: RoomRef) -> None:
        store = self.svc.store
        await self.svc.lesson.check_open(s, room)  # not_found for pupils: no hint
        if s.who.is_teacher:
            await store.note_teacher(room.space, s.who.sub)
            return
        if await store.banned_until(room, s.who.sub) is not None:
            raise Banned()
        flags = await store.flags(room)
        if flags["locked"]:
            raise RoomLocked()
        await self.svc.lesson.check_lobby(s, room, flags["lobby"])

    async def room_state(self, s: Session, room: RoomRef, members: list[Member]) -> dict[str, Any]:
        store = self.svc.store
        polls = await store.open_polls(room)
        flags = await store.flags(room)
        mutes = await store.mutes(room)
        self.set_muted(room.key, s.who.sub, mutes.get(s.who.sub, frozenset()))
        hands = sorted((m for m in members if m.hand_at is not None),
                       key=lambda m: (m.hand_at or 0, m.id))
        return {
            "polls": [{**p.to_wire(voters=s.who.is_teacher),
                       "mine": p.mine(s.who.sub, self.pepper)} for p in polls],
            "locked": flags["locked"],
            "permissions": permissions_wire(flags),
            "mutes": {u: sorted(k) for u, k in mutes.items() if k},
            "hands": [m.id for m in hands],
            **await self.svc.lesson.room_state(s, room, flags, members),  # lobby, waiting
        }

    def set_muted(self, room_key: str, user: str, kinds: frozenset[str]) -> None:
        """What of `user` is muted in the room, for this process's cache."""
        if kinds:
            self.muted[(room_key, user)] = kinds
        else:
            self.muted.pop((room_key, user), None)

    def check_chat(self, s: Session, room: RoomRef) -> None:
        if not s.who.is_teacher and "chat" in self.muted.get((room.key, s.who.sub), frozenset()):
            raise Muted()

    # -- polls -----------------------------------------------------------
    async def create(self, s: Session, name: object, question: object, options: object,
                     multiple: object, anonymous: object) -> Poll:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers create polls")
        poll = new_poll(question, options, multiple, anonymous, s.who.sub,
                        self.svc.clock.now_ms())
        if len(await self.svc.store.open_polls(room)) >= MAX_OPEN_POLLS:
            raise BadRequest(f"at most {MAX_OPEN_POLLS} open polls per room")
        await self.svc.store.add_poll(room, poll)
        await self.svc.bus.publish(room.key, "poll:created",
                                {"room": room.name, "poll": poll.to_wire()})
        return poll

    async def vote(self, s: Session, name: object, poll_id: object, choices: object) -> Poll:
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors do not vote")
        pid = check_poll_id(poll_id)
        poll = await self.svc.store.poll(room, pid)
        if poll is None:
            raise NotFound("no such poll")
        picked = check_choices(poll, choices)
        if not poll.open:
            raise BadRequest("the poll is closed")
        vote = Vote(picked, None if poll.anonymous else s.who.name)
        after = await self.svc.store.vote(room, pid, poll.voter_key(s.who.sub, self.pepper),
                                          vote)
        if after is None:
            raise NotFound("no such poll")
        if not after.open:
            raise BadRequest("the poll is closed")
        await self.svc.bus.publish(room.key, "poll:results",
                                {"room": room.name, "poll": after.to_wire()})
        if not after.anonymous:  # who voted what: the room's teachers only
            await self.svc.screening.to_teachers(room, "poll:voters", {
                "room": room.name, "poll": after.id, "voters": after.voters()})
        return after

    async def close(self, s: Session, name: object, poll_id: object) -> Poll:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers close polls")
        pid = check_poll_id(poll_id)
        before = await self.svc.store.poll(room, pid)
        if before is None:
            raise NotFound("no such poll")
        if not before.open:
            return before
        poll = await self.svc.store.close_poll(room, pid)
        if poll is None:
            raise NotFound("no such poll")
        await self.svc.audit.record(s.who, "poll:close", room, pid)
        await self.svc.bus.publish(room.key, "poll:closed",
                                {"room": room.name, "poll": poll.to_wire()})
        return poll


def permissions_wire(flags: dict[str, bool]) -> dict[str, bool]:
    return {"pupils_to_teachers": flags["pm_teachers"], "pupils_to_pupils": flags["pm_pupils"]}
