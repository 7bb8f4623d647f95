"""`FilterStore` in process memory: the part of `MemoryStore` for the message filter."""

from __future__ import annotations

from collections import defaultdict

from .clock import Clock
from .filter import FilterConfig
from .filter_store import FilterStore, Flagged, HeldMessage


class MemoryFilterStore(FilterStore):
    _clock: Clock
    retention_ms: int

    def _init_filter(self) -> None:
        self._filters: dict[str, tuple[FilterConfig, int]] = {}  # space -> (config, read ms)
        self._held: dict[str, dict[str, HeldMessage]] = defaultdict(dict)
        self._flagged: dict[str, list[Flagged]] = defaultdict(list)

    async def filter_config(self, space: str) -> FilterConfig | None:
        now = self._clock.now_ms()
        found = self._filters.get(space)
        if found is None or found[1] <= now - self.retention_ms:
            return None
        self._filters[space] = (found[0], now)
        return found[0]

    async def set_filter_config(self, space: str, config: FilterConfig) -> None:
        self._filters[space] = (config, self._clock.now_ms())

    async def hold(self, space: str, held: HeldMessage) -> None:
        self._held[space][held.id] = held

    async def held(self, space: str, room: str | None = None) -> list[HeldMessage]:
        self._expire_held(space)
        found = [h for h in self._held.get(space, {}).values()
                 if room is None or h.room == room]
        return sorted(found, key=lambda h: (h.ts, h.id))

    async def take_held(self, space: str, held_id: str) -> HeldMessage | None:
        self._expire_held(space)
        return self._held.get(space, {}).pop(held_id, None)

    def _expire_held(self, space: str) -> None:
        now = self._clock.now_ms()
        held = self._held.get(space)
        if held is None:
            return
        for hid in [hid for hid, h in held.items() if h.expires <= now]:
            del held[hid]
        if not held:
            del self._held[space]

    async def add_flagged(self, space: str, flag: Flagged) -> None:
        self._flagged[space].append(flag)

    async def flagged(self, space: str, room: str | None, limit: int) -> list[Flagged]:
        horizon = self._clock.now_ms() - self.retention_ms
        out: list[Flagged] = []
        for f in reversed(self._flagged.get(space, [])):
            if f.ts <= horizon or len(out) >= limit:
                break
            if room is None or f.room == room:
                out.append(f)
        return out

    def _sweep_filter(self) -> None:
        for space in list(self._held):
            self._expire_held(space)
        horizon = self._clock.now_ms() - self.retention_ms
        for space, flags in list(self._flagged.items()):
            kept = [f for f in flags if f.ts > horizon]
            if kept:
                self._flagged[space] = kept
            else:
                del self._flagged[space]
