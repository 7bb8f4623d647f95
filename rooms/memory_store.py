"""The in-process store: one process, data kept in memory (the default)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from .bus import Bus
from .clock import Clock
from .errors import Muted
from .identity import Role, RoomRef
from .memory_breakouts import MemoryBreakouts
from .memory_classroom import MemoryClassroom
from .memory_filter import MemoryFilterStore
from .memory_media import MemoryMedia
from .memory_privacy import MemoryPrivacy
from .memory_private import MemoryPrivate
from .memory_reactions import MemoryReactions
from .memory_safeguard import MemorySafeguard
from .message import Appended, Author, Message, Page, sort_key
from .presence import Departure, Member, members_by_user
from .privacy import ERASURE, POLICY, RETENTION, Erased, Policy, Receipt, Visit
from .store import Store, clamp_limit

MAX_SEQ = 1 << 64  # above any id's sequence number: `(ms, MAX_SEQ)` follows every id of `ms`


@dataclass
class _Room:
    keys: list[tuple[int, int]] = field(default_factory=list)
    messages: dict[str, Message] = field(default_factory=dict)
    cids: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> (id, expiry)
    last: tuple[int, int] = (0, 0)
    conns: dict[str, Member] = field(default_factory=dict)


class MemoryStore(MemoryClassroom, MemoryPrivacy, MemoryMedia, MemoryReactions, MemoryBreakouts,
                  MemorySafeguard, MemoryFilterStore, MemoryPrivate, Store):
    def __init__(self, clock: Clock, bus: Bus, retention_ms: int) -> None:
        super().__init__(retention_ms)
        self._clock = clock
        self._bus = bus
        self._rooms: dict[str, _Room] = {}
        self._init_classroom()
        self._init_privacy()
        self._init_media()
        self._init_reactions()
        self._init_breakouts()
        self._init_safeguard()
        self._init_filter()
        self._init_private()

    def _room(self, room: RoomRef) -> _Room:
        return self._rooms.setdefault(room.key, _Room())

    def _drop_if_empty(self, key: str) -> None:
        r = self._rooms.get(key)
        if r is not None and not r.messages and not r.conns and not r.cids:
            del self._rooms[key]

    async def append(self, room: RoomRef, author: Author, cid: str, text: str) -> Appended:
        r = self._room(room)
        now = self._clock.now_ms()
        known = r.cids.get((author.id, cid))
        if known is not None and known[1] > now:
            existing = r.messages.get(known[0])
            if existing is None:  # deleted since: the first message is gone for everyone
                ms, _ = sort_key(known[0])
                existing = Message(known[0], room.name, cid, author, text, ms)
            return Appended(existing, False)
        if author.role != Role.TEACHER and "chat" in self._mutes.get(room.key, {}).get(
                author.id, frozenset()):
            raise Muted()
        ms = max(now, r.last[0])
        seq = r.last[1] + 1 if ms == r.last[0] else 0
        r.last = (ms, seq)
        msg = Message(f"{ms}-{seq}", room.name, cid, author, text, ms)
        r.keys.append((ms, seq))
        r.messages[msg.id] = msg
        r.cids[(author.id, cid)] = (msg.id, ms + self.retention_ms)
        await self._bus.publish(room.key, "chat:message", msg.to_wire())
        return Appended(msg, True)

    async def history(
        self,
        room: RoomRef,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> Page:
        limit = clamp_limit(limit)
        r = self._rooms.get(room.key)
        if r is None:
            return Page([], False)
        keys = r.keys[bisect.bisect_right(r.keys, (self._space_horizon(room.space), MAX_SEQ)):]
        if after is not None:
            start = bisect.bisect_right(keys, sort_key(after))
            chosen = keys[start : start + limit]
            more = start + limit < len(keys)
        else:
            end = len(keys) if before is None else bisect.bisect_left(keys, sort_key(before))
            start = max(0, end - limit)
            chosen = keys[start:end]
            more = start > 0
        return Page([r.messages[f"{ms}-{seq}"] for ms, seq in chosen], more)

    async def get(self, room: RoomRef, message_id: str) -> Message | None:
        r = self._rooms.get(room.key)
        if r is None:
            return None
        msg = r.messages.get(message_id)
        if msg is None or msg.ts <= self._space_horizon(room.space):
            return None
        return msg

    async def delete(self, room: RoomRef, message_id: str) -> bool:
        r = self._rooms.get(room.key)
        if r is None or message_id not in r.messages:
            return False
        del r.messages[message_id]
        r.keys.remove(sort_key(message_id))
        self._drop_if_empty(room.key)
        return True

    async def sweep(self) -> int:
        now = self._clock.now_ms()
        removed = 0
        for space in {RoomRef.from_key(k).space for k in self._rooms}:
            removed += self._purge_space(space, RETENTION)
        for key, r in list(self._rooms.items()):
            r.cids = {k: v for k, v in r.cids.items() if v[1] > now}
            self._drop_if_empty(key)
        self._sweep_classroom(self._space_horizon)
        self._sweep_privacy()
        self._sweep_safeguard()
        self._sweep_filter()
        self._sweep_private()
        return removed

    def _purge_space(self, space: str, reason: str) -> int:
        """Remove the space's messages past its retention; a receipt per room."""
        now = self._clock.now_ms()
        horizon = self._space_horizon(space)
        removed = 0
        for key, r in list(self._rooms.items()):
            if RoomRef.from_key(key).space != space:
                continue
            cut = bisect.bisect_right(r.keys, (horizon, MAX_SEQ))
            for ms, seq in r.keys[:cut]:
                del r.messages[f"{ms}-{seq}"]
            del r.keys[:cut]
            if cut:
                removed += cut
                self._receipt(space, Receipt(RoomRef.from_key(key).name, horizon + 1, cut,
                                             now, reason))
            self._drop_if_empty(key)
        return removed

    async def set_policy(self, space: str, school: str, days: float) -> Policy:
        self._schools.setdefault(space, {})[school] = days
        self._purge_space(space, POLICY)
        self._sweep_private()
        self._sweep_privacy()
        self._sweep_safeguard()
        return self._policy(space)

    async def erase_user(self, space: str, user: str) -> Erased:
        now = self._clock.now_ms()
        erased: dict[str, list[str]] = {}
        for key, r in list(self._rooms.items()):
            ref = RoomRef.from_key(key)
            if ref.space != space:
                continue
            ids = [i for i, m in r.messages.items() if m.user.id == user]
            for i in ids:
                del r.messages[i]
                r.keys.remove(sort_key(i))
            if ids:
                erased[key] = sorted(ids, key=sort_key)
                self._receipt(space, Receipt(ref.name, now, len(ids), now, ERASURE))
            self._drop_if_empty(key)
        return Erased(erased)

    async def user_messages(self, space: str, user: str) -> list[Message]:
        out: list[Message] = []
        for key in sorted(self._rooms):
            ref = RoomRef.from_key(key)
            if ref.space == space:
                horizon = self._space_horizon(space)
                out += sorted((m for m in self._rooms[key].messages.values()
                               if m.user.id == user and m.ts > horizon),
                              key=lambda m: sort_key(m.id))
        return out

    async def enter(self, room: RoomRef, conn: str, member: Member,
                    visit: Visit | None = None) -> bool:
        r = self._room(room)
        first = all(m.id != member.id for c, m in r.conns.items() if c != conn)
        again = conn in r.conns
        r.conns[conn] = member
        if first and visit is not None and not again:
            await self.visit_begin(room, visit)
        return first

    async def leave(self, room: RoomRef, conn: str) -> Departure | None:
        r = self._rooms.get(room.key)
        if r is None or conn not in r.conns:
            return None
        gone = r.conns.pop(conn)
        last = all(m.id != gone.id for m in r.conns.values())
        self._drop_if_empty(room.key)
        if last:
            await self.visit_end(room, gone.id, self._clock.now_ms())
        return Departure(room.key, gone.id, last)

    async def members(self, room: RoomRef) -> list[Member]:
        r = self._rooms.get(room.key)
        return members_by_user(list(r.conns.values())) if r else []

    async def set_hand(self, room: RoomRef, user: str, at: int | None) -> Member | None:
        r = self._rooms.get(room.key)
        if r is None:
            return None
        found: Member | None = None
        for conn, m in r.conns.items():
            if m.id == user:
                r.conns[conn] = found = m.with_hand(at)
        return found

    async def heartbeat(self) -> list[Departure]:
        return []  # one process: its entries die with it

    async def rooms(self, space: str) -> dict[str, list[Member]]:
        out: dict[str, list[Member]] = {}
        for key, r in self._rooms.items():
            ref = RoomRef.from_key(key)
            if ref.space == space and r.conns:
                out[ref.name] = members_by_user(list(r.conns.values()))
        return out

    async def ping(self) -> bool:
        return True
