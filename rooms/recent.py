"""A map that keeps its most recently used entries: at most `limit`, the least recently
read or written dropped first.

Why: what a room's last read decoded or built (live/redis_backend/decoded.py,
rooms/wire_forms.py) is kept for the room's next join, for the rooms joined lately only,
so a process that saw many rooms over a day holds a bounded amount. No I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The entry of `key`, now the most recent, or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """`key` holds `value`, the most recent entry; the least recent beyond the limit go."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
