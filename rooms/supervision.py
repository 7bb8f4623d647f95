"""The teacher-present rule, checked without waiting: who of the room's teachers is in.

Why a cache: `chat:send` must not await anything before the store takes the
message (a member's messages are stored in the order sent: `RoomService.send`),
so the rule cannot read presence from the store there. This process keeps, for
each room it has members in, the teachers present and whether the rule is on:
filled from the store when a member joins (the join reads members and flags
anyway), then kept by the room's events this process hears (`observe`, called
with every batch the bus delivers): `presence:join` of a teacher,
`presence:leave` of one, `room:teacher_present`. Events heard while the bus was
down are lost, so after it reconnects `resync` re-reads the rooms from the store.
A room leaves the cache when this process's last connection leaves it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from .bus import RoomEvent
from .errors import Forbidden
from .identity import RoomRef
from .presence import Member
from .store import Store

log = logging.getLogger(__name__)

WATCHED = frozenset({"presence:join", "presence:leave", "room:teacher_present"})
NO_TEACHER = "pupils can write and share only while a teacher is in the room"


@dataclass
class _Room:
    supervised: bool
    teachers: set[str] = field(default_factory=set)


class Supervision:
    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}

    def seen(self, room_key: str, members: list[Member], supervised: bool) -> None:
        self._rooms[room_key] = _Room(supervised, {m.id for m in members
                                                   if m.role == "teacher"})

    def forget(self, room_key: str) -> None:
        self._rooms.pop(room_key, None)

    def observe(self, events: Sequence[RoomEvent]) -> None:
        for e in events:
            if e.event not in WATCHED:
                continue
            room = self._rooms.get(e.room_key)
            if room is None:
                continue
            p = e.payload
            if e.event == "presence:join":
                member = p.get("member") or {}
                if member.get("role") == "teacher":
                    room.teachers.add(str(member.get("id")))
            elif e.event == "presence:leave":
                room.teachers.discard(str(p.get("user")))
            else:
                room.supervised = bool(p.get("on"))

    def check(self, room_key: str) -> None:
        """`forbidden` if the rule is on and no teacher is in (a room this process holds no
        state of is treated as supervised and empty of teachers: the safe side)."""
        room = self._rooms.get(room_key)
        if room is None or (room.supervised and not room.teachers):
            raise Forbidden(NO_TEACHER)

    async def resync(self, store: Store) -> None:
        """Re-read every cached room from the store (after the bus reconnected)."""
        for room_key in list(self._rooms):
            ref = RoomRef.from_key(room_key)
            try:
                members = await store.members(ref)
                flags = await store.flags(ref)
            except Exception:
                log.exception("supervision resync failed", extra={"room": room_key})
                continue
            if room_key in self._rooms:
                self.seen(room_key, members, flags["supervised"])
