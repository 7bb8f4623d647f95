"""Breakout rooms: a teacher splits a room into groups, each in a room of its own.

`mod:breakout {room, groups, minutes?}` opens one room per group in the space,
named by the service (`<room>-g<n>-<4 letters>`, new for each breakout so that
groups never share a history), and sends each listed member `room:moved {from,
to}`; their pages leave the main room and join their group's. A group's room
admits its listed members and the space's teachers; anyone else gets
`forbidden`, and once the breakout is over its pupils too (teachers may still
read it). `mod:move {room, user, to}` moves one member to another group of the
running breakout; their pages follow (`room:moved`, as a `USER` notice).
`mod:recall {room}` (the main room or any of its groups), or the end of
`minutes`, ends the breakout: everyone in the group rooms gets `room:moved`
back to the main room. Moderation holds in group rooms as in any room.

Moves to the groups travel as a notice (`BREAKOUT`, with user -> room) so every
process tells its own connections; the way back is an event on each group
room's bus. The timer runs on every process that heard the breakout; ending is
one step in the store (`end_breakout`), so exactly one process recalls.
"""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import BadRequest, Forbidden, NotFound
from .identity import RoomRef
from .message import MAX_CID, Author, Message, clean_text
from .notices import USER, Notice

if TYPE_CHECKING:
    from .service import RoomService, Session

log = logging.getLogger(__name__)

BREAKOUT = "breakout"  # the notice kind: {moves: {user: room name}, until}
MAX_GROUPS = 50
MAX_GROUP_SIZE = 100
MAX_MINUTES = 240
MAX_USER_ID = 128
_SUFFIX = string.ascii_lowercase + string.digits


@dataclass(frozen=True, slots=True)
class Group:
    """A group's room: who may enter, the main room, and whether the breakout is over."""

    main: str
    members: tuple[str, ...]
    over: bool = False

    def to_record(self) -> dict[str, Any]:
        return {"main": self.main, "members": list(self.members), "over": self.over}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Group:
        return cls(str(rec["main"]), tuple(str(u) for u in rec["members"]), bool(rec["over"]))


@dataclass(frozen=True, slots=True)
class Breakout:
    """A running breakout of a main room: group i is `groups[i]` in room `rooms[i]`."""

    rooms: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    until_ms: int | None
    by: str

    def moves(self) -> dict[str, str]:
        return {user: room for room, group in zip(self.rooms, self.groups, strict=True)
                for user in group}

    def group_of(self, user: str) -> str | None:
        """The room of `user`'s group, None if they are in none."""
        return self.moves().get(user)

    def moved(self, user: str, to: str) -> Breakout:
        """`user` out of their group and into the group in room `to` (last in it)."""
        groups = tuple(tuple(u for u in g if u != user) + ((user,) if room == to else ())
                       for room, g in zip(self.rooms, self.groups, strict=True))
        return replace(self, groups=groups)

    def to_wire(self) -> dict[str, Any]:
        return {"rooms": list(self.rooms), "groups": [list(g) for g in self.groups],
                "until": self.until_ms}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "by": self.by}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Breakout:
        until = rec.get("until")
        return cls(tuple(str(r) for r in rec["rooms"]),
                   tuple(tuple(str(u) for u in g) for g in rec["groups"]),
                   None if until is None else int(until), str(rec["by"]))


def check_groups(value: object) -> tuple[tuple[str, ...], ...]:
    """A list of 1..MAX_GROUPS non-empty lists of user ids, nobody in two groups."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_GROUPS:
        raise BadRequest(f"groups must be a list of 1..{MAX_GROUPS} lists of user ids")
    seen: set[str] = set()
    groups = []
    for group in value:
        if not isinstance(group, list) or not 1 <= len(group) <= MAX_GROUP_SIZE:
            raise BadRequest(f"each group is a list of 1..{MAX_GROUP_SIZE} user ids")
        for user in group:
            if not isinstance(user, str) or not 1 <= len(user) <= MAX_USER_ID:
                raise BadRequest("a user id is a string")
            if user in seen:
                raise BadRequest("a user may be in one group only")
            seen.add(user)
        groups.append(tuple(group))
    return tuple(groups)


def group_room_names(main: str, count: int) -> tuple[str, ...]:
    """`<main>-g<n>-<4 letters>`: valid room names, new for each breakout."""
    tag = "".join(secrets.choice(_SUFFIX) for _ in range(4))
    stem = main[:52]
    return tuple(f"{stem}-g{i + 1}-{tag}" for i in range(count))


class Breakouts:
    def __init__(self, service: RoomService) -> None:
        self.svc = service

    @staticmethod
    def admit(s: Session, group: Group | None) -> None:
        """A group's room (`group`: the group it was opened for) lets in its listed members
        while the breakout runs, and teachers."""
        if group is None or s.who.is_teacher:
            return
        if s.who.sub not in group.members:
            raise Forbidden("this room is for the members of one group")
        if group.over:
            raise Forbidden("the group work is over")

    async def start(self, s: Session, name: object, groups: object,
                    minutes: int | None) -> Breakout:
        main = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers split a room into groups")
        if await self.svc.store.group(main) is not None:
            raise BadRequest("a group's room cannot be split again")
        checked = check_groups(groups)
        now = self.svc.clock.now_ms()
        breakout = Breakout(group_room_names(main.name, len(checked)), checked,
                            None if minutes is None else now + minutes * 60_000, s.who.sub)
        if not await self.svc.store.start_breakout(main, breakout):
            raise BadRequest("the room is already split into groups: recall them first")
        for room_name in breakout.rooms:
            group_room = RoomRef(main.space, room_name)
            # a group's members enter before any teacher does (rooms teachers open), and
            # write on their own: the teacher-present rule is off in a group's room (a
            # teacher may turn it on there); teachers read group chat from the console
            await self.svc.store.open_room(group_room)
            await self.svc.store.set_flag(group_room, "supervised", False)
        await self.svc.audit.record(s.who, "mod:breakout", main, None,
                                    {"groups": len(checked), "minutes": minutes})
        await self.svc.bus.notify(Notice(BREAKOUT, main.key, s.who.sub,
                                         {"moves": breakout.moves(),
                                          "until": breakout.until_ms}))
        return breakout

    async def recall(self, s: Session, name: object) -> None:
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers bring the groups back")
        group = await self.svc.store.group(room)
        main = RoomRef(room.space, group.main) if group is not None else room
        if not await self.end(main, s):
            raise NotFound("no groups to bring back in this room")

    async def move(self, s: Session, name: object, user: str, to: str) -> Breakout:
        """`mod:move`: one member from their group to another group of the same running
        breakout (`room` the main room or any of its groups). The member's pages follow:
        `room:moved {from, to}` from their group's room and from the main room (a page
        still there). Moving a member to the group they are in changes nothing."""
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers move members between groups")
        group = await self.svc.store.group(room)
        main = RoomRef(room.space, group.main) if group is not None else room
        breakout = await self.svc.store.breakout(main)
        if breakout is None:
            raise NotFound("no groups are working in this room")
        if to not in breakout.rooms:
            raise BadRequest("to must be a group's room of this breakout")
        was = breakout.group_of(user)
        if was is None:
            raise BadRequest("that member is in no group of this breakout")
        if was == to:
            return breakout
        after = await self.svc.store.move_member(main, user, to)
        if after is None:
            raise NotFound("no groups are working in this room")
        await self.svc.audit.record(s.who, "mod:move", main, user, {"from": was, "to": to})
        for left in (was, main.name):
            await self.svc.bus.notify(Notice(USER, main.key, user, {
                "event": "room:moved", "payload": {"from": left, "to": to}}))
        return after

    async def broadcast(self, s: Session, name: object, text: str, cid: str) -> list[Message]:
        """A teacher's message to every group of the running breakout (`mod:broadcast`): one
        chat message in each group's room, idempotent per group on `cid`."""
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers write to every group")
        if not 1 <= len(cid) <= MAX_CID - 4:
            raise BadRequest(f"cid must be 1..{MAX_CID - 4} characters")
        text = clean_text(text)
        group = await self.svc.store.group(room)
        main = RoomRef(room.space, group.main) if group is not None else room
        breakout = await self.svc.store.breakout(main)
        if breakout is None:
            raise NotFound("no groups are working in this room")
        author = Author.of(s.who)
        sent = []
        for i, name_ in enumerate(breakout.rooms):
            appended = await self.svc.store.append(RoomRef(main.space, name_), author,
                                                   f"{cid}:g{i + 1}", text)
            sent.append(appended.message)
        return sent

    async def end(self, main: RoomRef, s: Session | None = None) -> bool:
        """End the room's breakout (a recall, or its timer: `s` None): everyone in the
        group rooms gets `room:moved` back. False if none was running."""
        breakout = await self.svc.store.end_breakout(main)
        if breakout is None:
            return False
        if s is not None:
            await self.svc.audit.record(s.who, "mod:recall", main, None)
        else:
            log.info("breakout ended by its timer", extra={"room": main.key})
        for name in breakout.rooms:
            group = RoomRef(main.space, name)
            await self.svc.bus.publish(group.key, "room:moved", {"from": name, "to": main.name})
        return True

    @staticmethod
    def join_state(s: Session, group: Group | None, breakout: Breakout | None
                   ) -> dict[str, Any]:
        """A join ack of a room split into groups (`breakout`, the one running in it) says
        where the joiner belongs (`breakout: {to}`; teachers get the whole breakout), and of
        a group's room (`group`, the group it was opened for) which room it belongs to
        (`group: {main}`)."""
        if group is not None:
            return {"group": {"main": group.main, "over": group.over}}
        if breakout is None:
            return {}
        if s.who.is_teacher:
            return {"breakout": breakout.to_wire()}
        to = breakout.moves().get(s.who.sub)
        return {"breakout": {"to": to}} if to else {}
