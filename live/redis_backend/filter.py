"""`FilterStore` in Redis: the part of `RedisStore` for the message filter.

Keys (names: `keys.py`), per space:
- `live:space:<S>:filter`        msgpack rules; expires the retention after it was last
                                 read or set (a space in use keeps its rules)
- `live:space:<S>:held:<id>`     msgpack held message (with its text); expires when the
                                 hold does, so Redis itself drops the text then
- `live:space:<S>:held`          zset held id -> expiry ms (no text), for listing; trimmed
                                 of expired ids on every read and write
- `live:space:<S>:flagged`       Stream of flags (field `f`, msgpack, no text), trimmed to
                                 the retention as the audit Stream is
Taking a held message is one GETDEL: of two teachers deciding at once, one gets it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from rooms.clock import Clock
from rooms.errors import Unavailable
from rooms.filter import FilterConfig
from rooms.filter_store import FilterStore, Flagged, HeldMessage

from . import keys
from .frames import pack, unpack

FLAG_SCAN = 200


class RedisFilterStore(FilterStore):
    _r: Redis
    _clock: Clock
    retention_ms: int

    async def filter_config(self, space: str) -> FilterConfig | None:
        key = keys.space_filter(space)
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.get(key)
                p.pexpire(key, self.retention_ms)
                raw, _ = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        return None if raw is None else FilterConfig.from_record(unpack(raw))

    async def set_filter_config(self, space: str, config: FilterConfig) -> None:
        try:
            await self._r.set(keys.space_filter(space), pack(config.to_record()),
                              px=self.retention_ms)
        except RedisError as exc:
            raise Unavailable() from exc

    async def hold(self, space: str, held: HeldMessage) -> None:
        now = self._clock.now_ms()
        ttl = held.expires - now
        if ttl <= 0:
            return
        index = keys.space_held(space)
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.set(keys.space_held(space, held.id), pack(held.to_record()), px=ttl)
                p.zadd(index, {held.id: held.expires})
                p.zremrangebyscore(index, "-inf", now)
                p.pexpire(index, ttl)  # holds last alike long: the last one written ends last
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def held(self, space: str, room: str | None = None) -> list[HeldMessage]:
        now = self._clock.now_ms()
        index = keys.space_held(space)
        try:
            async with self._r.pipeline(transaction=False) as p:
                p.zremrangebyscore(index, "-inf", now)
                p.zrange(index, 0, -1)
                _, ids = await p.execute()
            if not ids:
                return []
            raws: Any = await self._r.mget([keys.space_held(space, i.decode()) for i in ids])
        except RedisError as exc:
            raise Unavailable() from exc
        found = [HeldMessage.from_record(unpack(r)) for r in raws if r is not None]
        found = [h for h in found if h.expires > now and (room is None or h.room == room)]
        return sorted(found, key=lambda h: (h.ts, h.id))

    async def take_held(self, space: str, held_id: str) -> HeldMessage | None:
        try:
            async with self._r.pipeline(transaction=True) as p:
                p.getdel(keys.space_held(space, held_id))
                p.zrem(keys.space_held(space), held_id)
                raw, _ = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        if raw is None:
            return None
        held = HeldMessage.from_record(unpack(raw))
        return held if held.expires > self._clock.now_ms() else None

    async def add_flagged(self, space: str, flag: Flagged) -> None:
        key = keys.space_flagged(space)
        fields: Any = {"f": pack(flag.to_record())}
        horizon = self._clock.now_ms() - self.retention_ms
        try:
            try:
                await self._r.xadd(key, fields, id=f"{flag.ts}-*")
            except ResponseError:  # another process's clock ran ahead: keep the order
                await self._r.xadd(key, fields)
            async with self._r.pipeline(transaction=False) as p:
                p.xtrim(key, minid=f"{max(0, horizon)}-0", approximate=False)
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def flagged(self, space: str, room: str | None, limit: int) -> list[Flagged]:
        key = keys.space_flagged(space)
        horizon = self._clock.now_ms() - self.retention_ms
        out: list[Flagged] = []
        top = "+"
        try:
            while len(out) < limit:
                rows: Any = await self._r.xrevrange(
                    key, max=top, min=f"{max(0, horizon) + 1}-0", count=FLAG_SCAN)
                for _rid, fields in rows:
                    flag = Flagged.from_record(unpack(fields[b"f"]))
                    if flag.ts > horizon and (room is None or flag.room == room):
                        out.append(flag)
                        if len(out) >= limit:
                            break
                if len(rows) < FLAG_SCAN:
                    break
                top = f"({rows[-1][0].decode()}"
        except RedisError as exc:
            raise Unavailable() from exc
        return out
