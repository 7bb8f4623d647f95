"""`ClassroomStore` in process memory: the part of `MemoryStore` for classroom tools."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from .classroom_store import FLAG_DEFAULTS, AuditEntry, ClassroomStore
from .clock import Clock
from .identity import RoomRef
from .polls import Poll, Vote


class MemoryClassroom(ClassroomStore):
    _clock: Clock
    retention_ms: int

    def _init_classroom(self) -> None:
        self._polls: dict[str, dict[str, Poll]] = defaultdict(dict)
        self._mutes: dict[str, dict[str, frozenset[str]]] = defaultdict(dict)
        self._bans: dict[tuple[str, str], int] = {}
        self._teachers: dict[str, dict[str, int]] = defaultdict(dict)  # space -> user -> ms
        self._flags: dict[str, dict[str, bool]] = defaultdict(dict)
        self._audit: dict[str, list[AuditEntry]] = defaultdict(list)

    def _live(self, poll: Poll) -> bool:
        return poll.ts > self._clock.now_ms() - self.retention_ms

    async def add_poll(self, room: RoomRef, poll: Poll) -> None:
        self._polls[room.key][poll.id] = poll

    async def poll(self, room: RoomRef, poll_id: str) -> Poll | None:
        p = self._polls.get(room.key, {}).get(poll_id)
        return p if p is not None and self._live(p) else None

    async def vote(self, room: RoomRef, poll_id: str, voter: str, vote: Vote) -> Poll | None:
        p = await self.poll(room, poll_id)
        if p is None or not p.open:
            return p
        p = p.with_votes({**p.votes, voter: vote})
        self._polls[room.key][poll_id] = p
        return p

    async def close_poll(self, room: RoomRef, poll_id: str) -> Poll | None:
        p = await self.poll(room, poll_id)
        if p is None:
            return None
        p = p.with_votes(p.votes, open_=False)
        self._polls[room.key][poll_id] = p
        return p

    async def open_polls(self, room: RoomRef) -> list[Poll]:
        polls = [p for p in self._polls.get(room.key, {}).values() if p.open and self._live(p)]
        return sorted(polls, key=lambda p: (p.ts, p.id))

    async def room_polls(self, room: RoomRef) -> list[Poll]:
        polls = [p for p in self._polls.get(room.key, {}).values() if self._live(p)]
        return sorted(polls, key=lambda p: (p.ts, p.id))

    async def poll_rooms(self, space: str) -> list[RoomRef]:
        rooms = [RoomRef.from_key(k) for k, polls in self._polls.items() if polls]
        return sorted((r for r in rooms if r.space == space), key=lambda r: r.name)

    async def remove_vote(self, room: RoomRef, poll_id: str, voter: str) -> bool:
        p = self._polls.get(room.key, {}).get(poll_id)
        if p is None or voter not in p.votes:
            return False
        self._polls[room.key][poll_id] = p.with_votes(
            {k: v for k, v in p.votes.items() if k != voter})
        return True

    async def update_poll(self, room: RoomRef, poll_id: str,
                          change: Callable[[Poll], Poll]) -> Poll | None:
        current = await self.poll(room, poll_id)
        if current is None:
            return None
        after = change(current).with_votes(current.votes, open_=current.open)
        self._polls[room.key][poll_id] = after
        return after

    async def set_mutes(self, room: RoomRef, user: str, kinds: frozenset[str]) -> None:
        if kinds:
            self._mutes[room.key][user] = kinds
        else:
            self._mutes.get(room.key, {}).pop(user, None)

    async def mutes(self, room: RoomRef) -> dict[str, frozenset[str]]:
        return dict(self._mutes.get(room.key, {}))

    async def ban(self, room: RoomRef, user: str, until_ms: int) -> None:
        self._bans[(room.key, user)] = until_ms

    async def note_teacher(self, space: str, user: str) -> None:
        self._teachers[space][user] = self._clock.now_ms()

    async def is_teacher(self, space: str, user: str) -> bool:
        seen = self._teachers.get(space, {}).get(user)
        return seen is not None and seen > self._clock.now_ms() - self.retention_ms

    async def banned_until(self, room: RoomRef, user: str) -> int | None:
        until = self._bans.get((room.key, user))
        if until is None:
            return None
        if until <= self._clock.now_ms():
            del self._bans[(room.key, user)]
            return None
        return until

    async def set_flag(self, room: RoomRef, name: str, on: bool) -> None:
        self._flags[room.key][name] = on

    async def flags(self, room: RoomRef) -> dict[str, bool]:
        return {**FLAG_DEFAULTS, **self._flags.get(room.key, {})}

    async def audit_add(self, space: str, entry: AuditEntry) -> None:
        self._audit[space].append(entry)

    async def audit(self, space: str, room: str | None, limit: int) -> list[AuditEntry]:
        horizon = self._clock.now_ms() - self.retention_ms
        out: list[AuditEntry] = []
        for e in reversed(self._audit.get(space, [])):
            if e.ts <= horizon or len(out) >= limit:
                break
            if room is None or e.room == room:
                out.append(e)
        return out

    def _sweep_classroom(self, horizon: Callable[[str], int]) -> None:
        """Remove polls and audit entries past their space's retention (`horizon(space)`:
        what is that old or older goes)."""
        for key, polls in list(self._polls.items()):
            cut = horizon(RoomRef.from_key(key).space)
            for pid in [pid for pid, p in polls.items() if p.ts <= cut]:
                del polls[pid]
            if not polls:
                del self._polls[key]
        for space, entries in list(self._audit.items()):
            kept = [e for e in entries if e.ts > horizon(space)]
            if kept:
                self._audit[space] = kept
            else:
                del self._audit[space]
        now = self._clock.now_ms()
        self._bans = {k: v for k, v in self._bans.items() if v > now}
