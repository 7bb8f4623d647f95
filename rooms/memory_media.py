"""`MediaStore` in process memory: the part of `MemoryStore` for the videoconference."""

from __future__ import annotations

from .clock import Clock
from .identity import RoomRef
from .media_rules import MediaSettings
from .media_store import LiveStream, MediaStore


class MemoryMedia(MediaStore):
    _clock: Clock
    retention_ms: int

    def _init_media(self) -> None:
        self._media_settings: dict[str, tuple[MediaSettings, int]] = {}  # room -> (, written)
        self._streams: dict[str, dict[str, tuple[LiveStream, int]]] = {}

    def _media_kept(self, written: int) -> bool:
        return written > self._clock.now_ms() - self.retention_ms

    async def media_settings(self, room: RoomRef) -> MediaSettings | None:
        found = self._media_settings.get(room.key)
        return found[0] if found is not None and self._media_kept(found[1]) else None

    async def put_media_settings(self, room: RoomRef, settings: MediaSettings) -> None:
        self._media_settings[room.key] = (settings, self._clock.now_ms())

    async def add_stream(self, room: RoomRef, stream: LiveStream) -> None:
        now = self._clock.now_ms()
        streams = self._streams.setdefault(room.key, {})
        streams.pop(stream.stream, None)  # added again: at the end
        streams[stream.stream] = (stream, now)

    async def end_stream(self, room: RoomRef, stream: str) -> bool:
        streams = self._streams.get(room.key, {})
        found = streams.pop(stream, None) is not None
        if not streams:
            self._streams.pop(room.key, None)
        return found

    async def streams(self, room: RoomRef) -> list[LiveStream]:
        return [s for s, at in self._streams.get(room.key, {}).values() if self._media_kept(at)]

    async def end_streams_of(self, room: RoomRef, process: str) -> list[LiveStream]:
        gone = [s for s in await self.streams(room) if s.process == process]
        for s in gone:
            await self.end_stream(room, s.stream)
        return gone
