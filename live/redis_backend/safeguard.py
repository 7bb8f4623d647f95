"""`SafeguardStore` in Redis: the part of `RedisStore` for safeguarding.

- `live:space:<S>:opened`   zset room name -> ms a teacher last opened it
- `live:space:<S>:reports`  hash report id -> msgpack report (with its message)
- `live:reports:until`      zset `<space>\\0<report id>` -> ms the evidence ends; the
                            sweep (every process's retention loop) deletes what is due
- `live:{R}:lobby`          hash user -> msgpack waiting entry
- `live:{R}:admitted`       hash user -> ms a teacher let them in
Reads skip what is past its end (or past its message's `ts` plus the space's
retention, when a school shortened it) before the sweep removes it; a policy
change removes such evidence at once (`_trim_reports`), an erasure the reports
of the erased user's messages. Every key expires the retention after its last
write (a report ends no later than that: its message is older than the write).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.reports import Report
from rooms.safeguard_store import MAX_REPORTS, SafeguardStore, Waiting

from . import keys
from .frames import pack, unpack


def fresh(at: bytes | str | float | None, since: int) -> bool:
    """An opening's or an admission's time (ms) is kept: it came after `since`."""
    return at is not None and int(float(at)) > since

class RedisSafeguard(SafeguardStore):
    _r: Redis
    _clock: Clock
    retention_ms: int

    if TYPE_CHECKING:
        async def _retention(self, space: str) -> int: ...  # RedisPrivacy's

    async def _kept_after(self, space: str) -> int:
        """A report is kept while its message's `ts` is after this (and its `until` to come)."""
        return self._clock.now_ms() - await self._retention(space)

    def _since(self) -> int:
        return self._clock.now_ms() - self.retention_ms

    # -- opened rooms --------------------------------------------------
    async def open_room(self, room: RoomRef) -> None:
        key = keys.space_opened(room.space)
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.zadd(key, {room.name: self._clock.now_ms()})
                p.zremrangebyscore(key, "-inf", self._since())
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def opened(self, room: RoomRef) -> bool:
        try:
            at = await self._r.zscore(keys.space_opened(room.space), room.name)
        except RedisError as exc:
            raise Unavailable() from exc
        return fresh(at, self._since())

    async def opened_rooms(self, space: str) -> list[str]:
        try:
            raw: Any = await self._r.zrangebyscore(keys.space_opened(space),
                                                   f"({self._since()}", "+inf")
        except RedisError as exc:
            raise Unavailable() from exc
        return sorted(n.decode() for n in raw)

    # -- reports -------------------------------------------------------
    async def add_report(self, space: str, report: Report) -> bool:
        key = keys.space_reports(space)
        try:
            if await self.report(space, report.id) is not None:
                return False
            async with self._r.pipeline(transaction=True) as p:
                p.hset(key, report.id, pack(report.to_record()))
                p.pexpire(key, self.retention_ms)
                p.zadd(keys.REPORTS_UNTIL, {f"{space}\0{report.id}": report.until})
                p.pexpire(keys.REPORTS_UNTIL, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return True

    async def put_report(self, space: str, report: Report) -> None:
        if await self.report(space, report.id) is None:
            return
        try:
            await self._r.hset(keys.space_reports(space), report.id, pack(report.to_record()))
        except RedisError as exc:
            raise Unavailable() from exc

    async def report(self, space: str, report_id: str) -> Report | None:
        try:
            raw: Any = await self._r.hget(keys.space_reports(space), report_id)
        except RedisError as exc:
            raise Unavailable() from exc
        if raw is None:
            return None
        found = Report.from_record(unpack(raw))
        kept = found.until > self._clock.now_ms()
        return found if kept and found.message.ts > await self._kept_after(space) else None

    async def reports(self, space: str, room: str | None) -> list[Report]:
        try:
            raw: Any = await self._r.hvals(keys.space_reports(space))
        except RedisError as exc:
            raise Unavailable() from exc
        now, after = self._clock.now_ms(), await self._kept_after(space)
        kept = [r for r in (Report.from_record(unpack(v)) for v in raw)
                if r.until > now and r.message.ts > after and (room is None or r.room == room)]
        return sorted(kept, key=lambda r: (r.ts, r.id), reverse=True)[:MAX_REPORTS]

    async def _drop_reports(self, space: str, keep: Callable[[Report], bool]) -> int:
        """Delete the space's reports `keep` refuses (hash and end index); how many."""
        try:
            raw: Any = await self._r.hgetall(keys.space_reports(space))
            gone = [rid.decode() for rid, v in raw.items()
                    if not keep(Report.from_record(unpack(v)))]
            if gone:
                async with self._r.pipeline(transaction=True) as p:
                    p.hdel(keys.space_reports(space), *gone)
                    p.zrem(keys.REPORTS_UNTIL, *(f"{space}\0{rid}" for rid in gone))
                    await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return len(gone)

    async def _trim_reports(self, space: str) -> int:
        """A policy changed: delete the space's evidence past its message's retention, and
        bring the end of the rest forward to it (so the sweep deletes it then)."""
        retention = await self._retention(space)
        after = self._clock.now_ms() - retention
        gone = await self._drop_reports(space, lambda r: r.message.ts > after)
        try:
            raw: Any = await self._r.hvals(keys.space_reports(space))
            ends = {f"{space}\0{r.id}": min(r.until, r.message.ts + retention)
                    for r in (Report.from_record(unpack(v)) for v in raw)}
            if ends:
                await self._r.zadd(keys.REPORTS_UNTIL, ends, xx=True, lt=True)
        except RedisError as exc:
            raise Unavailable() from exc
        return gone

    async def erase_reports(self, space: str, user: str) -> int:
        return await self._drop_reports(space, lambda r: r.message.user.id != user)

    async def _sweep_reports(self) -> int:
        """Delete the evidence whose end has come; returns how many reports went."""
        due: Any = await self._r.zrangebyscore(keys.REPORTS_UNTIL, "-inf", self._clock.now_ms())
        for member in due:
            space, _, report_id = member.decode().partition("\0")
            await self._r.hdel(keys.space_reports(space), report_id)
            await self._r.zrem(keys.REPORTS_UNTIL, member)
        return len(due)

    # -- lobby ---------------------------------------------------------
    async def lobby_add(self, room: RoomRef, entry: Waiting) -> bool:
        key = keys.room(room.key, "lobby")
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.hsetnx(key, entry.id, pack(entry.to_record()))
                p.pexpire(key, self.retention_ms)
                added, _ = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return bool(added)

    async def lobby(self, room: RoomRef) -> list[Waiting]:
        try:
            raw: Any = await self._r.hvals(keys.room(room.key, "lobby"))
        except RedisError as exc:
            raise Unavailable() from exc
        since = self._since()
        entries = [w for w in (Waiting.from_record(unpack(v)) for v in raw) if w.at > since]
        return sorted(entries, key=lambda w: (w.at, w.id))

    async def lobby_remove(self, room: RoomRef, users: list[str]) -> None:
        if not users:
            return
        try:
            await self._r.hdel(keys.room(room.key, "lobby"), *users)
        except RedisError as exc:
            raise Unavailable() from exc

    async def admit_users(self, room: RoomRef, users: list[str]) -> None:
        if not users:
            return
        key = keys.room(room.key, "admitted")
        now = self._clock.now_ms()
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.hset(key, mapping={u: now for u in users})
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def admitted(self, room: RoomRef, user: str) -> bool:
        try:
            at = await self._r.hget(keys.room(room.key, "admitted"), user)
        except RedisError as exc:
            raise Unavailable() from exc
        return fresh(at, self._since())

    async def lobby_clear(self, room: RoomRef) -> None:
        try:
            await self._r.delete(keys.room(room.key, "lobby"), keys.room(room.key, "admitted"))
        except RedisError as exc:
            raise Unavailable() from exc
