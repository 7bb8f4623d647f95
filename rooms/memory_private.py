"""`PrivateStore` in process memory: the part of `MemoryStore` for private messages."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from .clock import Clock
from .identity import RoomRef
from .private_store import (
    KeptPrivate,
    PrivateMessage,
    PrivatePage,
    PrivateStore,
    private_id_floor,
)


class MemoryPrivate(PrivateStore):
    _clock: Clock
    retention_ms: int

    if TYPE_CHECKING:
        def _space_horizon(self, space: str) -> int: ...  # MemoryPrivacy's
        def _retention(self, space: str) -> int: ...  # MemoryPrivacy's

    def _init_private(self) -> None:
        # room key -> (ids in send order, id -> message)
        self._private_ids: dict[str, list[str]] = {}
        self._private_msgs: dict[str, dict[str, PrivateMessage]] = {}
        # (room key, sender, cid) -> (id, ms the cid is forgotten)
        self._private_cids: dict[tuple[str, str, str], tuple[str, int]] = {}

    async def keep_private(self, space: str, message: PrivateMessage) -> KeptPrivate:
        key = RoomRef(space, message.room).key
        now = self._clock.now_ms()
        cid = (key, message.user.id, message.cid)
        known = self._private_cids.get(cid)
        if known is not None and known[1] > now:
            first = self._private_msgs.get(key, {}).get(known[0])
            return KeptPrivate(first if first is not None else message, False)
        self._private_cids[cid] = (message.id, message.ts + self._retention(space))
        ids = self._private_ids.setdefault(key, [])
        if message.id not in self._private_msgs.setdefault(key, {}):
            bisect.insort(ids, message.id)
        self._private_msgs[key][message.id] = message
        return KeptPrivate(message, True)

    def _private_kept(self, space: str, room: str) -> list[str]:
        """The room's ids within the space's retention, in send order."""
        ids = self._private_ids.get(RoomRef(space, room).key, [])
        floor = private_id_floor(self._space_horizon(space) + 1)
        return ids[bisect.bisect_left(ids, floor):]

    async def private_page(self, space: str, room: str, *, before: str | None = None,
                           after: str | None = None, limit: int = 50) -> PrivatePage:
        ids = self._private_kept(space, room)
        msgs = self._private_msgs.get(RoomRef(space, room).key, {})
        if after is not None:
            start = bisect.bisect_right(ids, after)
            chosen, more = ids[start:start + limit], start + limit < len(ids)
        else:
            end = len(ids) if before is None else bisect.bisect_left(ids, before)
            start = max(0, end - limit)
            chosen, more = ids[start:end], start > 0
        return PrivatePage([msgs[i] for i in chosen], more)

    def _drop_private(self, key: str, gone: list[str]) -> None:
        msgs = self._private_msgs.get(key, {})
        for i in gone:
            msgs.pop(i, None)
        self._private_ids[key] = [i for i in self._private_ids.get(key, []) if i in msgs]
        if not msgs:
            self._private_ids.pop(key, None)
            self._private_msgs.pop(key, None)

    async def erase_private(self, space: str, user: str) -> int:
        erased = 0
        for key, msgs in list(self._private_msgs.items()):
            if RoomRef.from_key(key).space == space:
                gone = [i for i, m in msgs.items() if m.involves(user)]
                erased += len(gone)
                self._drop_private(key, gone)
        return erased

    async def user_private(self, space: str, user: str) -> list[PrivateMessage]:
        out: list[PrivateMessage] = []
        for key in sorted(self._private_msgs):
            ref = RoomRef.from_key(key)
            if ref.space == space:
                msgs = self._private_msgs[key]
                out += [msgs[i] for i in self._private_kept(space, ref.name)
                        if msgs[i].involves(user)]
        return sorted(out, key=lambda m: m.id)

    def _sweep_private(self) -> int:
        """Drop what is past its space's retention (and cids past theirs); how many."""
        now = self._clock.now_ms()
        self._private_cids = {k: v for k, v in self._private_cids.items() if v[1] > now}
        removed = 0
        for key in list(self._private_ids):
            ref = RoomRef.from_key(key)
            floor = private_id_floor(self._space_horizon(ref.space) + 1)
            ids = self._private_ids[key]
            gone = ids[:bisect.bisect_left(ids, floor)]
            removed += len(gone)
            if gone:
                self._drop_private(key, gone)
        return removed
