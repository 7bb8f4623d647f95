"""Decoding what the Redis store keeps of a room: presence entries and message contents.

Shared by the single reads (store.py) and a join's reads (join_reads.py), so that a
reply means the same wherever it is read. Pure functions, no I/O.
"""

from __future__ import annotations

from typing import Any

from rooms.identity import RoomRef
from rooms.message import Author, Message, sort_key
from rooms.presence import Member, members_by_user

from .frames import unpack


def message_of(room: RoomRef, message_id: str, raw: bytes) -> Message:
    """A message from its content key (msgpack `{c, u, t}`: scripts.py)."""
    e = unpack(raw)
    uid, name, role = e["u"]
    ms = sort_key(message_id)[0]
    return Message(message_id, room.name, e["c"], Author(uid, name, role), e["t"], ms)


def contents_of(room: RoomRef, flat: list[Any]) -> list[Message]:
    """Messages from a `READ` reply (id, content, id, content...); gone ones skipped."""
    out = []
    for i in range(0, len(flat), 2):
        if flat[i + 1] is not None:
            out.append(message_of(room, flat[i].decode(), flat[i + 1]))
    return out


def entries_of(raw: dict[bytes, bytes]) -> list[tuple[bytes, dict[str, Any]]]:
    """A room's `conns` hash as (connection, entry), in order of arrival: by `at` (ms),
    then by `n`, the entering process's count (entries of the same millisecond; one
    process's in the order they entered; entries written before `n` count as 0)."""
    recs = [(conn, unpack(v)) for conn, v in raw.items()]
    recs.sort(key=lambda cr: (cr[1]["at"], cr[1].get("n", 0)))
    return recs


def members_of(recs: list[tuple[bytes, dict[str, Any]]]) -> list[Member]:
    """One member per user, in order of arrival, from `entries_of`."""
    return members_by_user([Member.from_record(r["m"]) for _, r in recs])
