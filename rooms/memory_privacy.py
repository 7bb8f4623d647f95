"""`PrivacyStore` in process memory: policies, receipts and visits of `MemoryStore`
(what touches the history itself, purges and erasure, is in `memory_store.py`)."""

from __future__ import annotations

from collections import defaultdict

from .clock import Clock
from .identity import RoomRef
from .privacy import MAX_RECEIPTS, RECEIPT_MS, Policy, Receipt, Visit


class MemoryPrivacy:
    _clock: Clock
    retention_ms: int

    def _init_privacy(self) -> None:
        self._schools: dict[str, dict[str, float]] = {}  # space -> school -> days
        self._receipts: dict[str, list[Receipt]] = defaultdict(list)  # space -> oldest first
        self._visits: dict[str, list[Visit]] = {}  # room key -> oldest first

    def _policy(self, space: str) -> Policy:
        return Policy.of(self.retention_ms, self._schools.get(space, {}))

    def _retention(self, space: str) -> int:
        return min(self.retention_ms, self._policy(space).retention_ms)

    def _space_horizon(self, space: str) -> int:
        return self._clock.now_ms() - self._retention(space)

    async def retention_of(self, space: str) -> int:
        return self._retention(space)

    async def policy(self, space: str) -> Policy:
        return self._policy(space)

    def _receipt(self, space: str, receipt: Receipt) -> None:
        self._receipts[space].append(receipt)

    async def receipts(self, space: str, room: str | None) -> list[Receipt]:
        out = [r for r in reversed(self._receipts.get(space, []))
               if room is None or r.room == room]
        return out[:MAX_RECEIPTS]

    async def visit_begin(self, room: RoomRef, visit: Visit) -> None:
        self._visits.setdefault(room.key, []).append(visit)

    async def visit_end(self, room: RoomRef, user: str, at: int) -> None:
        visits = self._visits.get(room.key, [])
        for i in range(len(visits) - 1, -1, -1):
            if visits[i].user == user and visits[i].left is None:
                visits[i] = visits[i].ended(at)
                return

    async def visits(self, room: RoomRef) -> list[Visit]:
        horizon = self._space_horizon(room.space)
        return [v for v in self._visits.get(room.key, []) if v.joined > horizon]

    async def user_visits(self, space: str, user: str) -> list[tuple[str, Visit]]:
        out = []
        for key in sorted(self._visits):
            ref = RoomRef.from_key(key)
            if ref.space == space:
                out += [(ref.name, v) for v in await self.visits(ref) if v.user == user]
        return out

    def _sweep_privacy(self) -> None:
        now = self._clock.now_ms()
        for key, visits in list(self._visits.items()):
            horizon = self._space_horizon(RoomRef.from_key(key).space)
            kept = [v for v in visits if v.joined > horizon]
            if kept:
                self._visits[key] = kept
            else:
                del self._visits[key]
        for space, receipts in list(self._receipts.items()):
            kept_r = [r for r in receipts if r.at > now - RECEIPT_MS]
            if kept_r:
                self._receipts[space] = kept_r
            else:
                del self._receipts[space]
