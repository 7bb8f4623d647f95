"""Decoded presence entries and messages of a room, kept from one join's snapshot to the
next, so that only what changed is decoded again.

Why: a join's `SNAPSHOT` (join_reads.py) answers the whole `conns` hash of the room and
its last page of messages, raw. In a storm over many rooms of a hundred, where the
joins of one room rarely share a read (rooms/shared_read.py), every join unpacked a
hundred entries and fifty messages and built their values again, though at most a few
changed since the room's read before.

How: per room, the last reply (connection -> raw entry; the page's raw list) and what
it decoded to. A reply equal to the last one gives the same values (the page of
messages in a storm: nobody writes). A reply that only adds entries to the last one
(`old.items() <= new.items()`, compared without decoding) decodes the added ones;
when they come after every entry before (a join: its entry is the newest) and are new
users, the members are the ones before followed by them. Anything else (an entry gone
or changed, a hand raised, an entry older than the newest, a second tab) is decoded
as `records.py` would, reusing each entry or message whose raw bytes are exactly those
decoded before. The values (`Member`, `Message`) are immutable, and the lists handed
out are new ones each time: sharing them between snapshots is safe.

Bounds: at most `MAX_ROOMS` rooms, least recently read dropped first (rooms/recent.py);
a room holds what its last reply held (its entries and one page of messages). Pure: no
I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rooms.identity import RoomRef
from rooms.message import Message
from rooms.presence import Member, members_by_user
from rooms.recent import Recent

from .frames import unpack
from .records import message_of

MAX_ROOMS = 512

Order = tuple[Any, Any]  # a presence entry's order in the room: `at`, `n` (records.entries_of)


@dataclass(slots=True)
class _Room:
    conns: dict[bytes, bytes] = field(default_factory=dict)  # the last reply's entries, raw
    entries: dict[bytes, tuple[Order, Member]] = field(default_factory=dict)  # decoded
    last: Order | None = None  # the newest entry's order
    members: list[Member] = field(default_factory=list)  # one per user, by arrival
    users: set[str] = field(default_factory=set)  # their ids
    page: list[Any] = field(default_factory=list)  # the last page reply, raw
    messages: list[Message] = field(default_factory=list)  # decoded from it
    by_id: dict[bytes, tuple[bytes, Message]] = field(default_factory=dict)


def _entry(raw: bytes) -> tuple[Order, Member]:
    rec = unpack(raw)
    return (rec["at"], rec.get("n", 0)), Member.from_record(rec["m"])


class DecodedRooms:
    """What `RedisJoinReads.snapshot` decodes, remembered per room."""

    def __init__(self, max_rooms: int = MAX_ROOMS) -> None:
        self._rooms: Recent[str, _Room] = Recent(max_rooms)
        self.decoded = 0  # entries and messages unpacked (not reused), for tests

    def _room(self, room: RoomRef) -> _Room:
        r = self._rooms.get(room.key)
        if r is None:
            r = _Room()
            self._rooms.put(room.key, r)
        return r

    def members(self, room: RoomRef, flat: list[bytes]) -> list[Member]:
        """The room's members from its `conns` hash as a script returns it (connection,
        raw entry, ...): one per user, in order of arrival, as
        `records.members_of(records.entries_of(...))` gives them."""
        r = self._room(room)
        conns = dict(zip(flat[::2], flat[1::2], strict=True))
        if conns == r.conns:
            return list(r.members)
        if r.conns and r.conns.items() <= conns.items():  # entries added, none changed
            added = sorted((_entry(conns[c]) + (c,) for c in conns.keys() - r.conns.keys()),
                           key=lambda e: e[0])
            self.decoded += len(added)
            new_users = {m.id for _, m, _ in added}
            rising = all(a[0] < b[0] for a, b in zip(added, added[1:], strict=False))
            if (r.last is not None and added[0][0] > r.last and rising
                    and len(new_users) == len(added) and not new_users & r.users):
                for order, member, conn in added:
                    r.entries[conn] = (order, member)
                    r.members.append(member)
                r.users |= new_users
                r.last = added[-1][0]
                r.conns = conns
                return list(r.members)
        return self._all_members(r, conns)

    def _all_members(self, r: _Room, conns: dict[bytes, bytes]) -> list[Member]:
        entries: dict[bytes, tuple[Order, Member]] = {}
        for conn, raw in conns.items():
            kept = r.entries.get(conn)
            if kept is None or r.conns.get(conn) != raw:
                kept = _entry(raw)
                self.decoded += 1
            entries[conn] = kept
        ordered = sorted(entries.values(), key=lambda e: e[0])
        r.conns, r.entries = conns, entries
        r.last = ordered[-1][0] if ordered else None
        r.members = members_by_user([m for _, m in ordered])
        r.users = {m.id for m in r.members}
        return list(r.members)

    def contents(self, room: RoomRef, flat: list[Any]) -> list[Message]:
        """Messages from a `READ` reply (id, content, ...), gone ones skipped, as
        `records.contents_of` gives them."""
        r = self._room(room)
        if flat == r.page:
            return list(r.messages)
        by_id: dict[bytes, tuple[bytes, Message]] = {}
        out = []
        for i in range(0, len(flat), 2):
            mid, raw = flat[i], flat[i + 1]
            if raw is None:
                continue
            kept = r.by_id.get(mid)
            if kept is None or kept[0] != raw:
                kept = (raw, message_of(room, mid.decode(), raw))
                self.decoded += 1
            by_id[mid] = kept
            out.append(kept[1])
        r.page, r.messages, r.by_id = list(flat), out, by_id
        return list(out)
