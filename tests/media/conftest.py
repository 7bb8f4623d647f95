"""Fixtures for the forwarding unit: a MediaService on loopback and its peers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from mediapeers import EncodedVideoTrack, Publisher, Subscriber, ToneTrack

from rooms.identity import Identity, Role
from signaling.config import MediaConfig
from signaling.service import MediaService

SPACE = "ts1"
ROOM = f"{SPACE}/class-a"


def person(sub: str, role: Role = Role.STUDENT, space: str = SPACE) -> Identity:
    return Identity(sub=sub, name=sub.title(), role=role, space=space)


TEACHER = person("teacher", Role.TEACHER)
ANNA = person("anna")
BEN = person("ben")
CARL = person("carl")
VISITOR = person("vic", Role.VISITOR)


async def until(predicate: Callable[[], bool], limit: float = 10.0, what: str = "") -> None:
    """Wait for `predicate()` to hold, checking every 20 ms."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


class Events:
    """What the service told the room, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, room_key: str, event: str, payload: dict[str, Any]) -> None:
        self.seen.append((room_key, event, payload))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [p for _, e, p in self.seen if e == event]

    async def wait(self, event: str, stream: str, limit: float = 10.0) -> dict[str, Any]:
        await until(lambda: any(p["stream"] == stream for p in self.of(event)), limit, event)
        return next(p for p in self.of(event) if p["stream"] == stream)


class Harness:
    def __init__(self, service: MediaService, events: Events) -> None:
        self.service = service
        self.events = events
        self.peers: list[Publisher | Subscriber] = []

    async def publish(
        self,
        who: Identity,
        *,
        source: str = "camera",
        amplitude: float = 0.0,
        size: tuple[int, int] = (320, 240),
        room: str = ROOM,
    ) -> tuple[str, Publisher]:
        audio = ToneTrack(amplitude) if source == "camera" else None
        pub = Publisher(video=EncodedVideoTrack(*size), audio=audio)
        self.peers.append(pub)
        stream, answer = await self.service.publish(who, room, source, await pub.offer())
        await pub.accept(answer)
        await self.events.wait("rtc:stream", stream)
        return stream, pub

    async def subscribe(
        self, who: Identity, stream: str, room: str = ROOM
    ) -> tuple[str, Subscriber]:
        sub = Subscriber()
        self.peers.append(sub)
        sub_id, offer = await self.service.subscribe(who, room, stream)
        await self.service.answer(who, sub_id, await sub.answer(offer))
        return sub_id, sub

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.peers), return_exceptions=True)
        await self.service.close()


@pytest.fixture
def media_config() -> MediaConfig:
    return MediaConfig(addresses=("127.0.0.1",), connect_timeout=10.0, keyframe_interval=0.3)


@pytest.fixture
async def media(media_config: MediaConfig) -> AsyncIterator[Harness]:
    events = Events()
    harness = Harness(MediaService(on_event=events, config=media_config), events)
    try:
        yield harness
    finally:
        await harness.close()
