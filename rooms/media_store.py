"""What a store keeps for the videoconference: a room's media settings and live streams.

`rooms.store.Store` extends this interface; `MemoryMedia` (rooms/memory_media.py)
and `RedisMedia` (live/redis_backend/media.py) implement it for the two stores.

Why in the store: any service process may be asked about a room's media, not
only the one serving it (contract §2, "every `rtc:*` event works on whichever
service process the member is connected to"). The settings (`rtc:settings`)
must survive restarts and the room's media moving to another process; the live
streams make the `join` ack's `streams` right on every process. The process
serving the room's media writes a stream when it announces it (`rtc:stream`) and
removes it when it ends (`rtc:ended`); a process that takes the room over from a
dead one removes the dead one's streams (`end_streams_of`) and announces their end.
Both expire with the history retention after their last write.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from .identity import RoomRef
from .media_rules import MediaSettings


@dataclass(frozen=True, slots=True)
class LiveStream:
    """A stream as the room heard of it (`rtc:stream`), and the process forwarding it."""

    room: str
    stream: str
    user: str
    source: str
    process: str

    def to_wire(self) -> dict[str, str]:
        """`{room, stream, user, source}`, as in `rtc:stream` and the join ack."""
        return {"room": self.room, "stream": self.stream, "user": self.user,
                "source": self.source}


class MediaStore(ABC):
    @abstractmethod
    async def media_settings(self, room: RoomRef) -> MediaSettings | None:
        """The room's media settings; None when nobody changed them."""

    @abstractmethod
    async def put_media_settings(self, room: RoomRef, settings: MediaSettings) -> None: ...

    @abstractmethod
    async def add_stream(self, room: RoomRef, stream: LiveStream) -> None:
        """Remember a live stream (after earlier ones: `streams` keeps this order)."""

    @abstractmethod
    async def end_stream(self, room: RoomRef, stream: str) -> bool:
        """Forget a stream; false if it was not there."""

    @abstractmethod
    async def streams(self, room: RoomRef) -> list[LiveStream]:
        """The room's live streams, in the order they were added."""

    @abstractmethod
    async def end_streams_of(self, room: RoomRef, process: str) -> list[LiveStream]:
        """Forget the room's streams forwarded by `process`; returns them, in order."""
