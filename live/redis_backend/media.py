"""`MediaStore` in Redis: the part of `RedisStore` for the videoconference.

Keys (a room's hash tag, `keys.py`):
- `live:{R}:media:settings`  msgpack `MediaSettings.to_record()`
- `live:{R}:streams`         hash stream id -> msgpack `{r, u, s, p, n}` (room name,
                             user, source, process, order: a counter `live:{R}:streams:n`)
Each expires with the history retention after its last write.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.media_rules import MediaSettings
from rooms.media_store import LiveStream, MediaStore

from . import keys
from .frames import pack, unpack


# replies to decoded values, shared by the single reads here and a join's (join_reads.py)
def settings_of(raw: bytes | None) -> MediaSettings | None:
    if raw is None:
        return None
    try:
        return MediaSettings.from_record(unpack(raw))
    except Exception:  # unreadable (an older shape): as if never changed
        return None


def streams_of(raw: dict[bytes, bytes]) -> list[LiveStream]:
    found: list[tuple[int, LiveStream]] = []
    for sid, rec in raw.items():
        try:
            r = unpack(rec)
            found.append((int(r["n"]), LiveStream(str(r["r"]), sid.decode(), str(r["u"]),
                                                  str(r["s"]), str(r["p"]))))
        except Exception:
            continue  # unreadable: not a stream anyone can subscribe to
    return [s for _, s in sorted(found, key=lambda f: f[0])]

class RedisMedia(MediaStore):
    _r: Redis
    retention_ms: int

    async def media_settings(self, room: RoomRef) -> MediaSettings | None:
        try:
            raw: Any = await self._r.get(keys.room(room.key, "media:settings"))
        except RedisError as exc:
            raise Unavailable() from exc
        return settings_of(raw)

    async def put_media_settings(self, room: RoomRef, settings: MediaSettings) -> None:
        try:
            await self._r.set(keys.room(room.key, "media:settings"), pack(settings.to_record()),
                              px=self.retention_ms)
        except RedisError as exc:
            raise Unavailable() from exc

    async def add_stream(self, room: RoomRef, stream: LiveStream) -> None:
        key, counter = keys.room(room.key, "streams"), keys.room(room.key, "streams:n")
        try:
            n = await self._r.incr(counter)
            async with self._r.pipeline(transaction=True) as p:
                p.pexpire(counter, self.retention_ms)
                p.hset(key, stream.stream, pack({"r": stream.room, "u": stream.user,
                                                 "s": stream.source, "p": stream.process,
                                                 "n": n}))
                p.pexpire(key, self.retention_ms)
                await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc

    async def end_stream(self, room: RoomRef, stream: str) -> bool:
        try:
            return bool(await self._r.hdel(keys.room(room.key, "streams"), stream))
        except RedisError as exc:
            raise Unavailable() from exc

    async def streams(self, room: RoomRef) -> list[LiveStream]:
        try:
            raw: Any = await self._r.hgetall(keys.room(room.key, "streams"))
        except RedisError as exc:
            raise Unavailable() from exc
        return streams_of(raw)

    async def end_streams_of(self, room: RoomRef, process: str) -> list[LiveStream]:
        gone = [s for s in await self.streams(room) if s.process == process]
        if gone:
            try:
                await self._r.hdel(keys.room(room.key, "streams"), *(s.stream for s in gone))
            except RedisError as exc:
                raise Unavailable() from exc
        return gone
