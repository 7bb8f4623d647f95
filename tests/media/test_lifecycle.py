"""Streams end cleanly: leave, kick, unpublish, a failed connection, shutdown."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest
from aiortc import RTCPeerConnection
from conftest import ANNA, BEN, ROOM, TEACHER, Events, Harness, until
from mediapeers import EncodedVideoTrack, Publisher, ToneTrack

from signaling.config import MediaConfig
from signaling.service import MediaService

pytestmark = pytest.mark.slow  # real WebRTC media, and expiries waited out


def open_pcs() -> int:
    gc.collect()
    return sum(
        1
        for o in gc.get_objects()
        if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"
    )


def media_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.endswith("-decoder"))


async def settled_tasks(baseline: int, limit: float = 5.0) -> int:
    """The number of running tasks once aiortc's own shutdown tasks are done."""
    current = asyncio.current_task()
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if len(tasks) <= baseline or asyncio.get_running_loop().time() > deadline:
            return len(tasks)
        await asyncio.sleep(0.05)


async def test_member_left_ends_streams_and_leaves_nothing_behind(
    media_config: MediaConfig,
) -> None:
    tasks_before = len(asyncio.all_tasks()) - 1
    threads_before = media_threads()
    pcs_before = open_pcs()

    events = Events()
    media = Harness(MediaService(on_event=events, config=media_config), events)
    camera, _ = await media.publish(BEN, amplitude=0.2)
    screen, _ = await media.publish(BEN, source="screen", size=(640, 360))
    teacher_cam, _ = await media.publish(TEACHER)
    _, watch = await media.subscribe(ANNA, camera)
    await media.subscribe(ANNA, screen)
    await media.subscribe(BEN, teacher_cam)
    await until(lambda: len(watch.frames["video"]) > 5)
    assert media.service.stats() == {"rooms": 1, "streams": 3, "subscriptions": 3}
    assert media_threads() >= threads_before + 5  # 2 camera + 1 screen + ... receivers

    await media.service.member_left(ROOM, BEN.sub)
    ended = {p["stream"]: p["reason"] for p in events.of("rtc:ended")}
    assert ended[camera] == ended[screen] == "left"
    assert media.service.stats() == {"rooms": 1, "streams": 1, "subscriptions": 0}
    assert [s["stream"] for s in media.service.streams(ROOM)] == [teacher_cam]

    await media.close()
    assert media.service.stats() == {"rooms": 0, "streams": 0, "subscriptions": 0}
    await until(lambda: open_pcs() == pcs_before, what="every PeerConnection closed")
    assert media_threads() == threads_before
    assert await settled_tasks(tasks_before) <= tasks_before


async def test_publisher_connection_lost_ends_the_stream(media: Harness) -> None:
    stream, pub = await media.publish(BEN)
    _, watch = await media.subscribe(ANNA, stream)
    await until(lambda: len(watch.frames["video"]) > 5)
    await pub.close()  # the browser went away
    # not on purpose: the page publishes again (docs/protocol.md)
    assert (await media.events.wait("rtc:ended", stream))["reason"] == "ended"
    assert media.service.streams(ROOM) == []
    assert media.service.stats()["subscriptions"] == 0


async def test_subscriber_connection_lost_ends_the_subscription(media: Harness) -> None:
    stream, _ = await media.publish(BEN)
    _, watch = await media.subscribe(ANNA, stream)
    await until(lambda: len(watch.frames["video"]) > 5)
    await watch.close()
    await until(lambda: media.service.stats()["subscriptions"] == 0, what="sub ended")
    assert media.service.stats()["streams"] == 1


async def test_teacher_stops_a_pupils_share(media: Harness) -> None:
    screen, _ = await media.publish(BEN, source="screen")
    with pytest.raises(Exception) as refused:
        await media.service.unpublish(ANNA, screen)
    assert getattr(refused.value, "code", None) == "forbidden"
    await media.service.unpublish(TEACHER, screen)
    assert (await media.events.wait("rtc:ended", screen))["reason"] == "stopped"


async def test_publishing_the_same_source_again_replaces_the_stream(media: Harness) -> None:
    first, _ = await media.publish(BEN)
    second, _ = await media.publish(BEN)
    assert (await media.events.wait("rtc:ended", first))["reason"] == "replaced"
    assert [s["stream"] for s in media.service.streams(ROOM)] == [second]


async def test_an_unanswered_subscription_expires(media_config: MediaConfig) -> None:
    events = Events()
    config = MediaConfig(addresses=media_config.addresses, connect_timeout=0.5)
    media = Harness(MediaService(on_event=events, config=config), events)
    try:
        stream, _ = await media.publish(BEN)
        await media.service.subscribe(ANNA, ROOM, stream)
        assert media.service.stats()["subscriptions"] == 1
        await until(lambda: media.service.stats()["subscriptions"] == 0, what="expiry")
    finally:
        await media.close()


async def test_a_publish_that_never_connects_expires(media_config: MediaConfig) -> None:
    events = Events()
    config = MediaConfig(addresses=media_config.addresses, connect_timeout=0.5)
    service = MediaService(on_event=events, config=config)
    pub = Publisher(video=EncodedVideoTrack(), audio=ToneTrack())
    try:
        await service.publish(BEN, ROOM, "camera", await pub.offer())  # answer never applied
        await until(lambda: service.stats()["streams"] == 0, what="expiry")
        assert events.of("rtc:stream") == []
    finally:
        await pub.close()
        await service.close()
