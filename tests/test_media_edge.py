"""The `rtc:*` events over real Socket.IO clients, with aiortc peers on loopback.

The service's forwarding unit offers 127.0.0.1 (`media_addresses`), so the
peers of these tests and the service talk over loopback only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.media.mediapeers import EncodedVideoTrack, Publisher, Subscriber, ToneTrack

from .support import Client, Running, connect, eventually, run_server

ROOM = "class"


@pytest.fixture
async def live() -> AsyncIterator[Running]:
    async with run_server(rate_limits=False, media_addresses=["127.0.0.1"]) as running:
        yield running


class Peers:
    def __init__(self) -> None:
        self.all: list[Publisher | Subscriber] = []

    async def publish(self, c: Client, source: str = "camera", amplitude: float = 0.0,
                      room: str = ROOM) -> tuple[str, Publisher]:
        audio = ToneTrack(amplitude) if source == "camera" else None
        pub = Publisher(video=EncodedVideoTrack(160, 120), audio=audio)
        self.all.append(pub)
        ack = await c.call("rtc:publish", {"room": room, "source": source,
                                           "sdp": await pub.offer()}, timeout=15)
        assert ack["ok"], ack
        assert set(ack) == {"ok", "stream", "sdp"}
        await pub.accept(ack["sdp"])
        return ack["stream"], pub

    async def subscribe(self, c: Client, stream: str, room: str = ROOM) -> tuple[str, Subscriber]:
        sub = Subscriber()
        self.all.append(sub)
        ack = await c.call("rtc:subscribe", {"room": room, "stream": stream}, timeout=15)
        assert ack["ok"], ack
        assert set(ack) == {"ok", "sub", "sdp"}
        done = await c.call("rtc:answer", {"sub": ack["sub"], "sdp": await sub.answer(ack["sdp"])})
        assert done == {"ok": True}
        return ack["sub"], sub

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.all), return_exceptions=True)


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    p = Peers()
    yield p
    await p.close()


async def joined(url: str, room: str = ROOM, **tok: Any) -> Client:
    c = await connect(url, **tok)
    ack = await c.call("join", {"room": room})
    assert ack["ok"], ack
    return c


def code(ack: dict[str, Any]) -> str:
    assert ack["ok"] is False, ack
    return str(ack["error"]["code"])


async def test_publish_subscribe_frames_arrive_and_join_lists_streams(
        live: Running, peers: Peers) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    stream, pub = await peers.publish(teacher, amplitude=0.5)
    seen = await pupil.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    assert seen == {"room": ROOM, "stream": stream, "user": "t", "source": "camera"}
    late = await connect(live.url, sub="v", role="visitor")
    ack = await late.call("join", {"room": ROOM})
    assert ack["streams"] == [seen]
    assert ack["media"]["last_n"] >= 1
    _, sub = await peers.subscribe(pupil, stream)
    _, vsub = await peers.subscribe(late, stream)  # visitors watch
    await eventually(lambda: len(sub.frames["video"]) > 10 and len(sub.frames["audio"]) > 10, 10)
    await eventually(lambda: len(vsub.frames["video"]) > 5, 10)
    assert set(sub.frames["video"][-5:]) <= set(pub.video.sent)  # type: ignore[union-attr]
    # the owner ends it: the room hears rtc:ended, the join ack no longer lists it
    assert await teacher.call("rtc:unpublish", {"stream": stream}) == {"ok": True}
    assert await pupil.wait_for("rtc:ended", lambda e: e["stream"] == stream) == {
        "room": ROOM, "stream": stream, "reason": "stopped"}
    assert (await pupil.call("join", {"room": ROOM}))["streams"] == []
    media = live.svc.media if live.svc else None
    assert media is not None
    await eventually(lambda: media.stats()["subscriptions"] == 0)
    for c in (teacher, pupil, late):
        await c.close()


async def test_roles_policy_and_settings(live: Running, peers: Peers) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    other = await joined(live.url, sub="q")
    visitor = await joined(live.url, sub="v", role="visitor")
    stranger = await connect(live.url, sub="s")  # not joined
    pub = Publisher(video=EncodedVideoTrack(160, 120), audio=None)
    peers.all.append(pub)
    offer = await pub.offer()
    screen = {"room": ROOM, "source": "screen", "sdp": offer}
    assert code(await visitor.call("rtc:publish", screen)) == "forbidden"
    assert code(await stranger.call("rtc:publish", screen)) == "not_joined"
    assert code(await stranger.call("rtc:subscribe", {"room": ROOM, "stream": "x"})) == "not_joined"
    assert code(await pupil.call("rtc:settings", {"room": ROOM, "last_n": 2})) == "forbidden"
    # a pupil's share: the teacher stops it
    stream, _ = await peers.publish(pupil, "screen")
    await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    assert code(await other.call("rtc:unpublish", {"stream": stream})) == "forbidden"
    assert await teacher.call("rtc:unpublish", {"stream": stream}) == {"ok": True}
    await other.wait_for("rtc:ended", lambda e: e["stream"] == stream)
    # pupils' cameras for teachers only
    cam, _ = await peers.publish(pupil, "camera")
    await other.wait_for("rtc:stream", lambda e: e["stream"] == cam, timeout=10)
    ack = await teacher.call("rtc:settings", {"room": ROOM, "pupil_cameras_teachers_only": True,
                                              "last_n": 3})
    assert ack["ok"] and ack["settings"] == {
        "teachers_only_publish": False, "pupil_cameras_teachers_only": True, "last_n": 3}
    await other.wait_for("room:settings", lambda e: e["last_n"] == 3)
    assert code(await other.call("rtc:subscribe", {"room": ROOM, "stream": cam})) == "forbidden"
    await peers.subscribe(teacher, cam)
    # teachers only publish: pupils' streams end, new ones are refused
    ack = await teacher.call("rtc:settings", {"room": ROOM, "teachers_only_publish": True})
    assert ack["settings"]["teachers_only_publish"] is True
    await other.wait_for("rtc:ended", lambda e: e["stream"] == cam, timeout=10)
    assert code(await pupil.call("rtc:publish", screen)) == "forbidden"
    assert (await other.call("join", {"room": ROOM}))["media"]["teachers_only_publish"] is True
    for c in (teacher, pupil, other, visitor, stranger):
        await c.close()


@pytest.mark.parametrize(("event", "payload"), [
    ("rtc:publish", {"room": ROOM, "source": "webcam", "sdp": "v=0"}),
    ("rtc:publish", {"room": ROOM, "source": "camera"}),
    ("rtc:publish", {"room": ROOM, "source": "camera", "sdp": "not sdp"}),
    ("rtc:publish", {"room": ROOM, "source": 3, "sdp": "v=0"}),
    ("rtc:publish", {"room": "Bad Room", "source": "camera", "sdp": "v=0"}),
    ("rtc:publish", ["not", "a", "map"]),
    ("rtc:subscribe", {"room": ROOM}),
    ("rtc:subscribe", {"room": ROOM, "stream": "x" * 500}),
    ("rtc:answer", {"sub": 1, "sdp": "v=0"}),
    ("rtc:answer", {"sub": "abc"}),
    ("rtc:unpublish", {}),
    ("rtc:unsubscribe", {"sub": None}),
    ("rtc:settings", {"room": ROOM, "last_n": 65}),
    ("rtc:settings", {"room": ROOM, "last_n": "3"}),
    ("rtc:settings", {"room": ROOM, "teachers_only_publish": "yes"}),
])
async def test_bad_payloads(live: Running, event: str, payload: Any) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    assert code(await teacher.call(event, payload)) == "bad_request"
    # unknown ids are not_found
    assert code(await teacher.call("rtc:answer", {"sub": "nope", "sdp": "v=0"})) == "not_found"
    assert code(await teacher.call("rtc:unsubscribe", {"sub": "nope"})) == "not_found"
    assert code(await teacher.call("rtc:subscribe", {"room": ROOM, "stream": "nope"})) == (
        "not_found")
    await teacher.close()


async def test_settings_hold_after_the_room_had_no_media(live: Running, peers: Peers) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    ack = await teacher.call("rtc:settings", {"room": ROOM, "last_n": 0})
    assert ack["settings"]["last_n"] == 0
    first, _ = await peers.publish(teacher, amplitude=0.5)
    await pupil.wait_for("rtc:stream", lambda e: e["stream"] == first, timeout=10)
    assert await teacher.call("rtc:unpublish", {"stream": first}) == {"ok": True}
    await pupil.wait_for("rtc:ended", lambda e: e["stream"] == first)
    # the forwarding unit held nothing of the room for a moment; the settings still hold
    assert (await pupil.call("join", {"room": ROOM}))["media"]["last_n"] == 0
    stream, _ = await peers.publish(teacher, amplitude=0.5)
    await pupil.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    _, sub = await peers.subscribe(pupil, stream)
    await eventually(lambda: len(sub.frames["audio"]) > 20, 10)
    assert sub.frames["video"] == []  # last_n 0: audio only
    for c in (teacher, pupil):
        await c.close()


async def test_mute_stops_forwarding_at_once(live: Running, peers: Peers) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    stream, _ = await peers.publish(pupil, amplitude=0.5)
    await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    _, sub = await peers.subscribe(teacher, stream)
    await eventually(lambda: len(sub.frames["audio"]) > 10 and len(sub.frames["video"]) > 10, 10)
    ack = await teacher.call("mod:mute", {"room": ROOM, "user": "p", "what": "all",
                                          "muted": True})
    assert ack == {"ok": True}
    # time is the subject: a muted stream is frames NOT arriving for a while
    await asyncio.sleep(0.3)  # frames in flight
    audio, video = len(sub.frames["audio"]), len(sub.frames["video"])
    await asyncio.sleep(1.0)
    assert len(sub.frames["audio"]) - audio <= 2
    assert len(sub.frames["video"]) - video <= 2
    await teacher.call("mod:mute", {"room": ROOM, "user": "p", "what": "audio", "muted": False})
    await eventually(lambda: len(sub.frames["audio"]) > audio + 10, 10)
    assert len(sub.frames["video"]) - video <= 2  # video is still muted
    for c in (teacher, pupil):
        await c.close()


async def test_muted_before_publishing_stays_muted(live: Running, peers: Peers) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    await teacher.call("mod:mute", {"room": ROOM, "user": "p", "what": "audio", "muted": True})
    stream, _ = await peers.publish(pupil, amplitude=0.5)
    await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    _, sub = await peers.subscribe(teacher, stream)
    await eventually(lambda: len(sub.frames["video"]) > 20, 10)
    assert len(sub.frames["audio"]) <= 2
    for c in (teacher, pupil):
        await c.close()


@pytest.mark.parametrize("how", ["leave", "disconnect", "kick"])
async def test_leaving_ends_streams(live: Running, peers: Peers, how: str) -> None:
    teacher = await joined(live.url, sub="t", role="teacher")
    pupil = await joined(live.url, sub="p")
    stream, _ = await peers.publish(pupil)
    await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    own, _ = await peers.publish(teacher, "screen")
    await pupil.wait_for("rtc:stream", lambda e: e["stream"] == own, timeout=10)
    await peers.subscribe(pupil, own)
    if how == "leave":
        assert await pupil.call("leave", {"room": ROOM}) == {"ok": True}
    elif how == "disconnect":
        await pupil.close()
    else:
        assert (await teacher.call("mod:kick", {"room": ROOM, "user": "p"}))["ok"]
    await teacher.wait_for("rtc:ended", lambda e: e["stream"] == stream, timeout=10)
    media = live.svc.media if live.svc else None
    assert media is not None
    # the pupil's subscription went too; the teacher's stream stays
    await eventually(lambda: media.stats() == {"rooms": 1, "streams": 1, "subscriptions": 0})
    assert [s["stream"] for s in media.streams(f"space1/{ROOM}")] == [own]
    await teacher.close()
    await eventually(lambda: media.stats()["streams"] == 0)
    await pupil.close()


async def test_a_second_connection_of_the_member_keeps_their_streams(
        live: Running, peers: Peers) -> None:
    """Streams end when the member's last connection in the room leaves, not the first."""
    teacher = await joined(live.url, sub="t", role="teacher")
    first = await joined(live.url, sub="p")
    second = await joined(live.url, sub="p")
    stream, _ = await peers.publish(first)
    await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=10)
    assert await first.call("leave", {"room": ROOM}) == {"ok": True}
    await teacher.round_trip()
    assert live.svc is not None
    assert [s["stream"] for s in live.svc.media.streams(f"space1/{ROOM}")] == [stream]
    assert not teacher.events["rtc:ended"]
    await second.close()
    await teacher.wait_for("rtc:ended", lambda e: e["stream"] == stream, timeout=10)
    for c in (teacher, first):
        await c.close()


async def test_a_leave_from_a_room_without_media_reads_no_members(
        live: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """When a school's network drops every member at once, each leave from a room with no
    media anywhere costs no read of the room's members (media_edge.on_leave)."""
    assert live.svc is not None
    store = live.svc.store
    reads: list[Any] = []
    real = store.members

    async def counted(room: Any) -> Any:
        reads.append(room)
        return await real(room)

    teacher = await joined(live.url, sub="t", role="teacher")
    pupils = [await joined(live.url, sub=f"p{i}") for i in range(3)]
    monkeypatch.setattr(store, "members", counted)  # from here on: the leaves
    assert await pupils[0].call("leave", {"room": ROOM}) == {"ok": True}
    for p in pupils[1:]:
        await p.close()
    await eventually(lambda: len(live.svc.edge.sessions) == 2 if live.svc else False)
    await teacher.round_trip()
    assert reads == []
    for c in (teacher, pupils[0]):
        await c.close()
