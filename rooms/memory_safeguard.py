"""`SafeguardStore` in process memory: the part of `MemoryStore` for safeguarding."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from .clock import Clock
from .identity import RoomRef
from .reports import Report
from .safeguard_store import MAX_REPORTS, SafeguardStore, Waiting


class MemorySafeguard(SafeguardStore):
    _clock: Clock
    retention_ms: int

    def _init_safeguard(self) -> None:
        self._opened: dict[str, dict[str, int]] = defaultdict(dict)  # space -> room -> ms
        self._reports: dict[str, dict[str, Report]] = defaultdict(dict)  # space -> id -> report
        self._lobby: dict[str, dict[str, Waiting]] = defaultdict(dict)  # room key -> user -> entry
        self._admitted: dict[str, dict[str, int]] = defaultdict(dict)  # room key -> user -> ms

    if TYPE_CHECKING:
        def _retention(self, space: str) -> int: ...  # MemoryPrivacy's

    def _kept(self, space: str, report: Report) -> bool:
        """Its own end not come, nor its message's under the space's retention now."""
        now = self._clock.now_ms()
        return report.until > now and report.message.ts + self._retention(space) > now

    def _horizon(self) -> int:
        return self._clock.now_ms() - self.retention_ms

    async def open_room(self, room: RoomRef) -> None:
        self._opened[room.space][room.name] = self._clock.now_ms()

    async def opened(self, room: RoomRef) -> bool:
        at = self._opened.get(room.space, {}).get(room.name)
        return at is not None and at > self._horizon()

    async def opened_rooms(self, space: str) -> list[str]:
        horizon = self._horizon()
        return sorted(n for n, at in self._opened.get(space, {}).items() if at > horizon)

    async def add_report(self, space: str, report: Report) -> bool:
        if await self.report(space, report.id) is not None:
            return False
        self._reports[space][report.id] = report
        return True

    async def put_report(self, space: str, report: Report) -> None:
        if await self.report(space, report.id) is not None:
            self._reports[space][report.id] = report

    async def report(self, space: str, report_id: str) -> Report | None:
        found = self._reports.get(space, {}).get(report_id)
        return found if found is not None and self._kept(space, found) else None

    async def reports(self, space: str, room: str | None) -> list[Report]:
        kept = [r for r in self._reports.get(space, {}).values()
                if self._kept(space, r) and (room is None or r.room == room)]
        return sorted(kept, key=lambda r: (r.ts, r.id), reverse=True)[:MAX_REPORTS]

    async def erase_reports(self, space: str, user: str) -> int:
        reports = self._reports.get(space, {})
        gone = [i for i, r in reports.items() if r.message.user.id == user]
        for i in gone:
            del reports[i]
        return len(gone)

    async def lobby_add(self, room: RoomRef, entry: Waiting) -> bool:
        waiting = self._lobby[room.key]
        if entry.id in waiting:
            return False
        waiting[entry.id] = entry
        return True

    async def lobby(self, room: RoomRef) -> list[Waiting]:
        horizon = self._horizon()
        return [w for w in self._lobby.get(room.key, {}).values() if w.at > horizon]

    async def lobby_remove(self, room: RoomRef, users: list[str]) -> None:
        waiting = self._lobby.get(room.key, {})
        for user in users:
            waiting.pop(user, None)

    async def admit_users(self, room: RoomRef, users: list[str]) -> None:
        now = self._clock.now_ms()
        for user in users:
            self._admitted[room.key][user] = now

    async def admitted(self, room: RoomRef, user: str) -> bool:
        at = self._admitted.get(room.key, {}).get(user)
        return at is not None and at > self._horizon()

    async def lobby_clear(self, room: RoomRef) -> None:
        self._lobby.pop(room.key, None)
        self._admitted.pop(room.key, None)

    def _sweep_safeguard(self) -> None:
        horizon = self._horizon()
        for space, reports in list(self._reports.items()):
            kept = {i: r for i, r in reports.items() if self._kept(space, r)}
            if kept:
                self._reports[space] = kept
            else:
                del self._reports[space]
        for space, rooms in list(self._opened.items()):
            self._opened[space] = {n: at for n, at in rooms.items() if at > horizon}
            if not self._opened[space]:
                del self._opened[space]
        for book in (self._lobby, self._admitted):
            for key in list(book):
                entries = book[key]
                for user in [u for u, v in entries.items()
                             if (v.at if isinstance(v, Waiting) else v) <= horizon]:
                    del entries[user]
                if not entries:
                    del book[key]
