"""The wire forms of a room's members and last messages, kept from one join's read to
the next.

Why: every join ack carries the room's members and its last 50 messages. A join
builds their wire dicts from the snapshot it read; in a storm over rooms of a hundred,
where a room's joins rarely share a read (rooms/shared_read.py), that was 150 dicts per
join for values that had mostly not changed since the room's read before.

How: per room, the last read's values with their wire forms. When the values begin
with the last read's (equal values: the same members and more after them, as a join
adds one; the same page of messages), those forms are reused and only the rest are
built. Otherwise a value that is the very one of the last read (a store hands out the
same immutable value for an unchanged member or message: live/redis_backend/decoded.py;
the memory store keeps its values) gets its form back; any other gets a new one. A room
remembers only its last read's values. The wire dicts are shared by every ack that
carries them: nobody mutates them (they are encoded, never edited); the lists are new.

Bounds: at most `MAX_ROOMS` rooms, least recently read dropped first (rooms/recent.py).
No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .recent import Recent

MAX_ROOMS = 512


class Wired(Protocol):
    def to_wire(self) -> dict[str, Any]: ...


class WireForms:
    def __init__(self, max_rooms: int = MAX_ROOMS) -> None:
        # room key -> the last call's values and their wire forms
        self._rooms: Recent[str, tuple[list[Wired], list[dict[str, Any]]]] = Recent(max_rooms)
        self.built = 0  # wire forms built (not reused), for tests

    def of(self, room_key: str, values: Sequence[Wired]) -> list[dict[str, Any]]:
        """`[v.to_wire() for v in values]`, reusing the forms of the room's last call;
        the room now remembers exactly these values."""
        values = list(values)
        before, wires = self._rooms.get(room_key) or ([], [])
        n = len(before)
        if n and len(values) >= n and values[:n] == before:
            # the same values, or more after them (a join): an equal value has the same form
            out = wires + [v.to_wire() for v in values[n:]]
            self.built += len(values) - n
        else:
            kept = {id(v): (v, w) for v, w in zip(before, wires, strict=True)}
            out = []
            for v in values:
                got = kept.get(id(v))
                if got is not None and got[0] is v:
                    out.append(got[1])
                else:
                    out.append(v.to_wire())
                    self.built += 1
        self._rooms.put(room_key, (values, out))
        return list(out)
