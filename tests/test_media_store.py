"""One suite, both stores: a room's media settings and live streams (rooms/media_store.py)."""

from __future__ import annotations

import pytest

from live.redis_backend.store import RedisStore
from rooms.clock import FakeClock
from rooms.identity import RoomRef
from rooms.media_rules import MediaSettings
from rooms.media_store import LiveStream
from rooms.store import DAY_MS, Store

from .stores import StoreMaker

R = RoomRef("sp", "room")
OTHER = RoomRef("sp", "other")
RETENTION = DAY_MS


@pytest.fixture
async def store(clock: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(clock, RETENTION)


def stream(sid: str, process: str = "p1", user: str = "ana") -> LiveStream:
    return LiveStream("room", sid, user, "camera", process)


async def test_settings_are_kept_per_room(store: Store) -> None:
    assert await store.media_settings(R) is None
    changed = MediaSettings(last_n=2, teachers_only_publish=True)
    await store.put_media_settings(R, changed)
    assert await store.media_settings(R) == changed
    assert await store.media_settings(OTHER) is None
    again = changed.changed(pupil_cameras_teachers_only=True, teachers_only_publish=False)
    await store.put_media_settings(R, again)
    assert await store.media_settings(R) == again


async def test_streams_in_order_ended_and_per_process(store: Store) -> None:
    assert await store.streams(R) == []
    for sid, proc in (("s1", "p1"), ("s2", "p2"), ("s3", "p1")):
        await store.add_stream(R, stream(sid, proc))
    await store.add_stream(OTHER, stream("s9"))
    assert [s.stream for s in await store.streams(R)] == ["s1", "s2", "s3"]
    assert (await store.streams(R))[0].to_wire() == {"room": "room", "stream": "s1",
                                                     "user": "ana", "source": "camera"}
    assert await store.end_stream(R, "s2")
    assert not await store.end_stream(R, "s2")
    assert [s.stream for s in await store.streams(R)] == ["s1", "s3"]
    gone = await store.end_streams_of(R, "p1")
    assert [s.stream for s in gone] == ["s1", "s3"] and {s.process for s in gone} == {"p1"}
    assert await store.streams(R) == []
    assert await store.end_streams_of(R, "p1") == []
    assert [s.stream for s in await store.streams(OTHER)] == ["s9"]


async def test_media_records_expire_with_the_retention(store: Store, clock: FakeClock) -> None:
    await store.put_media_settings(R, MediaSettings(last_n=3))
    await store.add_stream(R, stream("s1"))
    if isinstance(store, RedisStore):  # Redis expires them itself: each key has its TTL
        for what in ("media:settings", "streams", "streams:n"):
            ttl = await store._r.pttl(f"live:{{{R.key}}}:{what}")
            assert 0 < ttl <= RETENTION
        return
    clock.advance(RETENTION / 1000 + 1)
    assert await store.media_settings(R) is None
    assert await store.streams(R) == []
