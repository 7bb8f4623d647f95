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
- Polls (kinds: rooms/polls.py): teachers create and close them, reveal a
  quiz's answer, publish text answers; teachers and students vote. Who chose
  what in a named poll goes to teachers only (`poll:voters`, and `voters` in
  their join ack and poll acks); members see counts. A poll whose others see
  less than its teachers (hidden, quiz, text) goes out as two views
  (`announce`): never a quiz's answer before the reveal, an unpublished answer
  or a hidden poll's counts to a member who is not a teacher.

Muted kinds are cached per process (filled on join, refreshed by notices and,
after the bus reconnected, from the store: `Moderation.resync`) for typing and
private messages. `chat:send` does not trust the cache: the store refuses a
muted author's message in the same step that stores it (`Store.append`), so a
mute holds on every process whatever happens to the bus.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .errors import BadRequest, Banned, Filtered, Forbidden, Muted, NotFound, RoomLocked
from .identity import RoomRef
from .join_store import RoomSnapshot
from .polls import (
    MAX_OPEN_POLLS,
    TEXT_KINDS,
    Poll,
    Vote,
    check_choices,
    check_poll_id,
    check_text,
    new_poll,
    scores,
)

if TYPE_CHECKING:
    from .line import Turn
    from .service import RoomService, Session


MAX_PUBLISH = 1000  # answer ids in one poll:publish
MAX_AUDIT = 500  # audit entries read for the room's last mod:end (scores)


class Classroom:
    def __init__(self, service: RoomService) -> None:
        self.svc = service
        # (room key, user) -> muted kinds, for members connected to this process
        self.muted: dict[tuple[str, str], frozenset[str]] = {}
        # keys anonymous voters (rooms/polls.py); the app sets one all processes share
        self.pepper: bytes = secrets.token_bytes(32)

    # -- entering --------------------------------------------------------
    async def admit(self, s: Session, room: RoomRef) -> None:
        """May the caller enter: a teacher always (and opens the room); anyone else only
        an opened room (`not_found`), unbanned (`banned`), unlocked (`room_locked`), past
        the lobby (`waiting`) and, in a group's room, listed in the group (`forbidden`),
        checked in that order on one store read (`Store.admission`)."""
        store = self.svc.store
        if s.who.is_teacher:
            await self.svc.lesson.open_by(room)
            await store.note_teacher(room.space, s.who.sub)
            return
        found = await store.admission(room, s.who.sub)
        self.svc.lesson.check_open(room, found.opened)  # not_found for pupils: no hint
        if found.banned_until is not None:
            raise Banned()
        if found.flags["locked"]:
            raise RoomLocked()
        await self.svc.lesson.check_lobby(s, room, found)
        self.svc.breakouts.admit(s, found.group)

    async def room_state(self, s: Session, room: RoomRef, snap: RoomSnapshot
                         ) -> dict[str, Any]:
        polls, flags, mutes, members = snap.polls, snap.flags, snap.mutes, snap.members
        self.set_muted(room.key, s.who.sub, mutes.get(s.who.sub, frozenset()))
        hands = sorted((m for m in members if m.hand_at is not None),
                       key=lambda m: (m.hand_at or 0, m.id))
        return {
            "polls": [self.joined_wire(s, p) for p in polls],
            "locked": flags["locked"],
            "permissions": permissions_wire(flags),
            "mutes": {u: sorted(k) for u, k in mutes.items() if k},
            "hands": [m.id for m in hands],
            **await self.svc.lesson.room_state(s, room, flags, members),  # lobby, waiting
        }

    def joined_wire(self, s: Session, poll: Poll) -> dict[str, Any]:
        """A poll as a joiner sees it, with their own vote (`mine`, and `mine_text` for
        a text or cloud answer)."""
        wire = {**poll.to_wire(teacher=s.who.is_teacher), "mine": poll.mine(s.who.sub,
                                                                              self.pepper)}
        if poll.kind in TEXT_KINDS:
            wire["mine_text"] = poll.mine_text(s.who.sub, self.pepper)
        return wire

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
                     multiple: object, anonymous: object, kind: object = None,
                     correct: object = None, hidden: object = None) -> Poll:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers create polls")
        poll = new_poll(question, options, multiple, anonymous, s.who.sub,
                        self.svc.clock.now_ms(), kind, correct, hidden)
        if len(await self.svc.store.open_polls(room)) >= MAX_OPEN_POLLS:
            raise BadRequest(f"at most {MAX_OPEN_POLLS} open polls per room")
        await self.svc.store.add_poll(room, poll)
        await self.announce(room, "poll:created", poll)
        return poll

    async def announce(self, room: RoomRef, event: str, poll: Poll) -> None:
        """`event {room, poll}` to the room: one wire for all, or, when the others see less
        (`Poll.public_view`), the teachers' view to teachers and the public one to the
        others, on every process."""
        if poll.public_view:
            await self.svc.screening.direct(
                room, event, {"room": room.name, "poll": poll.to_wire(teacher=True)},
                teachers=True, others={"room": room.name, "poll": poll.to_wire()})
        else:
            await self.svc.bus.publish(room.key, event, {"room": room.name,
                                                         "poll": poll.to_wire()})

    async def _open_poll(self, s: Session, name: object, poll_id: object
                         ) -> tuple[RoomRef, Poll]:
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors do not vote")
        pid = check_poll_id(poll_id)
        poll = await self.svc.store.poll(room, pid)
        if poll is None:
            raise NotFound("no such poll")
        return room, poll

    async def vote(self, s: Session, name: object, poll_id: object, choices: object,
                   text: object, turn: Turn) -> Poll:
        """A vote or an answer, replacing the voter's previous one. `turn`, its place in
        the connection's line (reached before its rate-limit bucket, live/edge.py), ends
        once it is stored and announced: a voter's last vote sent is the one kept."""
        room, poll = await self._open_poll(s, name, poll_id)
        if poll.kind in TEXT_KINDS:
            answer = check_text(poll, text)
            if not poll.open:
                raise BadRequest("the poll is closed")
            flagged = await self._screen(s, poll, answer)
            vote = Vote((), None if poll.anonymous else s.who.name, answer, flagged)
        else:
            picked = check_choices(poll, choices)
            if not poll.open:
                raise BadRequest("the poll is closed")
            vote = Vote(picked, None if poll.anonymous else s.who.name)
        after = await self.svc.store.vote(room, poll.id, poll.voter_key(s.who.sub, self.pepper),
                                          vote)
        if after is None:
            raise NotFound("no such poll")
        if not after.open:
            raise BadRequest("the poll is closed")
        await self.announce(room, "poll:results", after)
        if not after.anonymous and after.kind in ("choice", "quiz"):
            # who voted what: the room's teachers only
            await self.svc.screening.to_teachers(room, "poll:voters", {
                "room": room.name, "poll": after.id, "voters": after.voters()})
        turn.end()
        return after

    async def _screen(self, s: Session, poll: Poll, answer: str) -> bool:
        """A pupil's answer through the space's filter, as chat: blocked is refused
        (`filtered`); held or flagged is kept flagged for the teachers in a text poll
        (nobody else sees an answer before it is published), refused in a word
        cloud (everyone sees its words at once)."""
        if self.svc.screening.needs_read(s):
            await self.svc.screening.prepare(s.who.space)
        verdict = self.svc.screening.screen(s, answer)
        if verdict is None:
            return False
        if poll.kind == "cloud":
            raise Filtered(verdict.reason)
        return True

    async def close(self, s: Session, name: object, poll_id: object) -> Poll:
        room, before = await self._teacher_poll(s, name, poll_id, "close polls")
        if not before.open:
            return before
        poll = await self.svc.store.close_poll(room, before.id)
        if poll is None:
            raise NotFound("no such poll")
        await self.svc.audit.record(s.who, "poll:close", room, poll.id)
        await self.announce(room, "poll:closed", poll)
        return poll

    async def _teacher_poll(self, s: Session, name: object, poll_id: object,
                            what: str) -> tuple[RoomRef, Poll]:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden(f"only teachers {what}")
        pid = check_poll_id(poll_id)
        poll = await self.svc.store.poll(room, pid)
        if poll is None:
            raise NotFound("no such poll")
        return room, poll

    async def reveal(self, s: Session, name: object, poll_id: object) -> Poll:
        """A quiz's correct answer to everyone; answering ends (the quiz closes)."""
        room, poll = await self._teacher_poll(s, name, poll_id, "reveal answers")
        if poll.kind != "quiz":
            raise BadRequest("only a quiz has an answer to reveal")
        if poll.revealed:
            return poll
        if poll.open:
            poll = await self.close(s, name, poll_id)
        after = await self.svc.store.update_poll(room, poll.id,
                                                 lambda p: replace(p, revealed=True))
        if after is None:
            raise NotFound("no such poll")
        await self.svc.audit.record(s.who, "poll:reveal", room, poll.id)
        await self.announce(room, "poll:revealed", after)
        return after

    async def publish(self, s: Session, name: object, poll_id: object,
                      answers: object) -> Poll:
        """Text answers to everyone: those whose ids are in `answers`, or, without it,
        every answer the filter did not flag. Published answers stay published."""
        room, poll = await self._teacher_poll(s, name, poll_id, "publish answers")
        if poll.kind != "text":
            raise BadRequest("only a text poll has answers to publish")
        listed = poll.answers()
        if answers is None:
            chosen = [a["text"] for a in listed if not a["flagged"]]
        else:
            if (not isinstance(answers, list) or len(answers) > MAX_PUBLISH
                    or not all(isinstance(a, str) for a in answers)):
                raise BadRequest("answers must be a list of answer ids")
            by_id = {a["id"]: a["text"] for a in listed}
            if any(a not in by_id for a in answers):
                raise BadRequest("answers must be ids of this poll's answers")
            chosen = [by_id[a] for a in answers]
        def adding(p: Poll) -> Poll:
            return replace(p, published=p.published + tuple(
                t for t in dict.fromkeys(chosen) if t not in p.published))

        after = await self.svc.store.update_poll(room, poll.id, adding)
        if after is None:
            raise NotFound("no such poll")
        await self.svc.audit.record(s.who, "poll:publish", room, poll.id)
        await self.announce(room, "poll:published", after)
        return after

    # -- a member's answers: export and erasure (contract v2 §3) --------------
    async def _named_votes(self, space: str, user: str) -> list[tuple[RoomRef, Poll]]:
        """The space's named polls still kept in which `user` voted. Anonymous polls
        cannot be searched: nothing links their votes to a member."""
        found = []
        for room in await self.svc.store.poll_rooms(space):
            for poll in await self.svc.store.room_polls(room):
                if not poll.anonymous and user in poll.votes:
                    found.append((room, poll))
        return found

    async def user_answers(self, space: str, user: str) -> list[dict[str, Any]]:
        """`{room, poll, question, kind, choices, text, ts}` per named poll `user` answered."""
        out = []
        for room, poll in await self._named_votes(space, user):
            vote = poll.votes[user]
            out.append({"room": room.name, "poll": poll.id, "question": poll.question,
                        "kind": poll.kind, "ts": poll.ts, "text": vote.text,
                        "choices": [poll.options[c] for c in vote.choices
                                    if 0 <= c < len(poll.options)]})
        return out

    async def erase_answers(self, space: str, user: str) -> int:
        """Remove `user`'s votes and answers from the space's named polls, and a published
        copy of their answer that no one else gave; members see the poll again
        (`poll:results`, or `poll:published` when a published answer went)."""
        erased = 0
        for room, poll in await self._named_votes(space, user):
            text = poll.votes[user].text
            if not await self.svc.store.remove_vote(room, poll.id, user):
                continue
            erased += 1
            others = {v.text for k, v in poll.votes.items() if k != user}
            event = "poll:results"
            if text is not None and text in poll.published and text not in others:
                await self.svc.store.update_poll(room, poll.id, _unpublishing(text))
                event = "poll:published"
            after = await self.svc.store.poll(room, poll.id)
            if after is not None:
                await self.announce(room, event, after)
        return erased

    async def scores(self, s: Session, name: object, everything: bool | None = None
                     ) -> dict[str, Any]:
        """The teachers' view of the room's quizzes: `{quizzes, scores}` over the named
        quizzes revealed in this lesson - since the room's last `mod:end` (its audit
        entry), or, with `everything`, every one still kept (rooms/polls.py `scores`)."""
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers see scores")
        since = 0
        if not everything:
            ends = [e.ts for e in await self.svc.audit.read(room.space, room.name, MAX_AUDIT)
                    if e.action == "mod:end"]
            since = max(ends, default=0)
        polls = [p for p in await self.svc.store.room_polls(room)
                 if p.kind == "quiz" and p.ts > since]
        return {"quizzes": [{"id": p.id, "question": p.question, "revealed": p.revealed,
                             "anonymous": p.anonymous, "voted": len(p.votes)} for p in polls],
                "scores": scores(polls)}


def _unpublishing(text: str) -> Callable[[Poll], Poll]:
    def change(p: Poll) -> Poll:
        return replace(p, published=tuple(t for t in p.published if t != text))
    return change


def permissions_wire(flags: dict[str, bool]) -> dict[str, bool]:
    return {"pupils_to_teachers": flags["pm_teachers"], "pupils_to_pupils": flags["pm_pupils"]}
