"""`rtc:*` on any service process: two processes on one real Redis, aiortc peers on loopback.

The room's media is served by the first process asked (`live:{R}:media`); a member
connected to the other process gets the same acks and errors, its requests forwarded
over the bus (live/media_routing.py). The media settings are kept in the store; a
media process that dies is replaced within seconds.
"""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from live.config import Config
from tests.media.mediapeers import EncodedVideoTrack, Publisher

from .support import RedisServer, ServiceProcess, connect, eventually, run_server
from .test_media_edge import ROOM, Peers, code, joined, peers

__all__ = ["peers"]  # the fixture, shared with test_media_edge.py

pytestmark = pytest.mark.redis

MEDIA = {"rate_limits": False, "media_addresses": ["127.0.0.1"], "pupil_cameras": "everyone"}


async def test_every_rtc_event_works_on_the_other_process(
        redis_server: RedisServer, redis_url: str, peers: Peers) -> None:
    async with run_server(redis_url, **MEDIA) as a, run_server(redis_url, **MEDIA) as b:
        assert a.svc is not None and b.svc is not None and a.svc.media and b.svc.media
        teacher = await joined(a.url, sub="t", role="teacher")
        pupil = await joined(b.url, sub="p")
        stream, pub = await peers.publish(teacher, amplitude=0.5)
        assert redis_server.cli("GET", f"live:{{space1/{ROOM}}}:media") == (
            repr(a.svc.proc_id.encode()))
        seen = await pupil.wait_for("rtc:stream", lambda e: e["stream"] == stream)
        # the join ack of the other process lists the stream (from the store)
        late = await connect(b.url, sub="v", role="visitor")
        assert (await late.call("join", {"room": ROOM}))["streams"] == [seen]
        # subscribe and answer through b: the media flows from a's forwarding unit
        sub, peer = await peers.subscribe(pupil, stream)
        await eventually(lambda: len(peer.frames["video"]) > 10
                         and len(peer.frames["audio"]) > 10, 15)
        assert set(peer.frames["video"][-5:]) <= set(pub.video.sent)  # type: ignore[union-attr]
        assert a.svc.media.stats() == {"rooms": 1, "streams": 1, "subscriptions": 1}
        assert b.svc.media.stats()["subscriptions"] == 0
        assert await pupil.call("rtc:unsubscribe", {"sub": sub}) == {"ok": True}
        await eventually(lambda: a.svc.media.stats()["subscriptions"] == 0)  # type: ignore[union-attr]
        # a pupil on b publishes: on a's unit too; the teacher on a watches it
        pstream, _ = await peers.publish(pupil)
        await teacher.wait_for("rtc:stream", lambda e: e["stream"] == pstream)
        assert a.svc.media.stats()["streams"] == 2
        _, tpeer = await peers.subscribe(teacher, pstream)
        await eventually(lambda: len(tpeer.frames["video"]) > 5, 15)
        # a hard mute on a stops the pupil's video on a's unit
        assert (await teacher.call("mod:mute", {"room": ROOM, "user": "p", "what": "video",
                                                "muted": True}))["ok"]
        await eventually(lambda: a.svc.media._rooms[f"space1/{ROOM}"].is_muted("p", "video"))  # type: ignore[union-attr]
        # only its owner or a teacher ends a stream: the teacher (on a) ends the pupil's
        assert code(await pupil.call("rtc:unpublish", {"stream": stream})) == "forbidden"
        assert await teacher.call("rtc:unpublish", {"stream": pstream}) == {"ok": True}
        await pupil.wait_for("rtc:ended", lambda e: e["stream"] == pstream)
        # a member of b leaving ends their streams on a: publish again, then leave
        pstream2, _ = await peers.publish(pupil)
        await teacher.wait_for("rtc:stream", lambda e: e["stream"] == pstream2)
        assert await pupil.call("leave", {"room": ROOM}) == {"ok": True}
        await teacher.wait_for("rtc:ended", lambda e: e["stream"] == pstream2)
        assert (await teacher.call("join", {"room": ROOM}))["streams"] == [seen]
        for c in (teacher, pupil, late):
            await c.close()


async def test_errors_come_back_from_the_media_process_unchanged(
        redis_url: str, peers: Peers) -> None:
    async with run_server(redis_url, **MEDIA) as a, run_server(redis_url, **MEDIA) as b:
        teacher = await joined(a.url, sub="t", role="teacher")
        stream, _ = await peers.publish(teacher)
        # a stream is offered to subscribers once its publisher is connected (`rtc:stream`)
        await teacher.wait_for("rtc:stream", lambda e: e["stream"] == stream, timeout=15)
        pupil = await joined(b.url, sub="p")
        other = await joined(b.url, sub="q")
        visitor = await joined(b.url, sub="v", role="visitor")
        assert code(await pupil.call("rtc:subscribe", {"room": ROOM, "stream": "s-nope"})) == (
            "not_found")
        assert code(await pupil.call("rtc:answer", {"sub": "nope", "sdp": "v=0"})) == "not_found"
        assert code(await pupil.call("rtc:unsubscribe", {"sub": "nope"})) == "not_found"
        assert code(await pupil.call("rtc:unpublish", {"stream": "nope"})) == "not_found"
        assert code(await pupil.call("rtc:publish", {"room": ROOM, "source": "camera",
                                                     "sdp": "v=0\r\nnot sdp"})) == "bad_request"
        assert code(await pupil.call("rtc:publish", {"room": ROOM, "source": "webcam",
                                                     "sdp": "v=0"})) == "bad_request"
        offer = Publisher(video=EncodedVideoTrack(160, 120), audio=None)
        peers.all.append(offer)
        assert code(await visitor.call("rtc:publish", {"room": ROOM, "source": "camera",
                                                       "sdp": await offer.offer()})) == "forbidden"
        # a bad answer through b ends the subscription on a, answered bad_request
        ack = await pupil.call("rtc:subscribe", {"room": ROOM, "stream": stream})
        assert ack["ok"], ack
        assert code(await pupil.call("rtc:answer", {"sub": ack["sub"], "sdp": "garbage"})) == (
            "bad_request")
        assert code(await other.call("rtc:unsubscribe", {"sub": ack["sub"]})) == "not_found"
        # settings changed on b hold on a's unit: pupils' cameras for teachers only
        pstream, _ = await peers.publish(pupil)
        await other.wait_for("rtc:stream", lambda e: e["stream"] == pstream)
        await peers.subscribe(other, pstream)
        bteacher = await joined(b.url, sub="t2", role="teacher")
        ack = await bteacher.call("rtc:settings", {"room": ROOM,
                                                   "pupil_cameras_teachers_only": True})
        assert ack["ok"] and ack["settings"]["pupil_cameras_teachers_only"] is True
        assert a.svc is not None and a.svc.media is not None
        await eventually(lambda: a.svc.media.stats()["subscriptions"] == 0)  # type: ignore[union-attr]
        assert code(await other.call("rtc:subscribe", {"room": ROOM, "stream": pstream})) == (
            "forbidden")
        for c in (teacher, pupil, other, visitor, bteacher):
            await c.close()


async def test_media_settings_survive_a_restart(redis_url: str, peers: Peers) -> None:
    async with run_server(redis_url, **MEDIA) as a:
        teacher = await joined(a.url, sub="t", role="teacher")
        ack = await teacher.call("rtc:settings", {"room": ROOM, "teachers_only_publish": True,
                                                  "last_n": 3})
        assert ack["ok"], ack
        await teacher.close()
    async with run_server(redis_url, **MEDIA) as b:
        teacher = await joined(b.url, sub="t", role="teacher")
        ack = await teacher.call("join", {"room": ROOM})
        assert ack["media"] == {"teachers_only_publish": True,
                                "pupil_cameras_teachers_only": False, "last_n": 3}  # as configured (MEDIA)
        pupil = await joined(b.url, sub="p")
        offer = Publisher(video=EncodedVideoTrack(160, 120), audio=None)
        peers.all.append(offer)
        assert code(await pupil.call("rtc:publish", {"room": ROOM, "source": "camera",
                                                     "sdp": await offer.offer()})) == "forbidden"
        await peers.publish(teacher)
        assert b.svc is not None and b.svc.media is not None
        assert b.svc.media._rooms[f"space1/{ROOM}"].last_n == 3
        for c in (teacher, pupil):
            await c.close()


@pytest.mark.slow
async def test_a_dead_media_process_is_replaced_within_seconds(
        redis_server: RedisServer, redis_url: str, peers: Peers) -> None:
    """SIGKILL the media process: the other process takes the room over within seconds,
    announces `rtc:ended` for the dead one's streams, and serves the republished ones."""
    dead = ServiceProcess(redis_url, env={"LIVE_RATE_LIMITS": "off",
                                          "LIVE_MEDIA_ADDRESSES": "127.0.0.1"})
    await dead.start()
    try:
        async with run_server(redis_url, **MEDIA) as b:
            teacher = await joined(dead.url, sub="t", role="teacher")
            pupil = await joined(b.url, sub="p")
            stream, _ = await peers.publish(teacher)
            await pupil.wait_for("rtc:stream", lambda e: e["stream"] == stream)
            _, peer = await peers.subscribe(pupil, stream)
            await eventually(lambda: len(peer.frames["video"]) > 5, 15)
            killed = time.monotonic()
            dead.kill(signal.SIGKILL)
            await pupil.wait_for("rtc:ended", lambda e: e["stream"] == stream, timeout=15)
            took = time.monotonic() - killed
            assert took < 8, took
            assert b.svc is not None
            assert redis_server.cli("GET", f"live:{{space1/{ROOM}}}:media") == (
                repr(b.svc.proc_id.encode()))
            assert (await pupil.call("join", {"room": ROOM}))["streams"] == []
            # the teacher's page reconnects to b and publishes again: served by b
            teacher2 = await joined(b.url, sub="t", role="teacher")
            stream2, pub2 = await peers.publish(teacher2)
            await pupil.wait_for("rtc:stream", lambda e: e["stream"] == stream2)
            _, peer2 = await peers.subscribe(pupil, stream2)
            await eventually(lambda: len(peer2.frames["video"]) > 5, 15)
            print(f"rtc:ended {took:.2f} s after the media process was killed")
            for c in (pupil, teacher2):
                await c.close()
            await teacher.close()
    finally:
        dead.stop()


async def test_a_call_to_a_dead_owner_takes_the_room_over_at_once(
        redis_server: RedisServer, redis_url: str, peers: Peers) -> None:
    """A request that finds the room's media process gone does not wait for the watchdog:
    it takes the room over and is served."""
    async with run_server(redis_url, **MEDIA) as b:
        assert b.svc is not None
        redis_server.cli("SET", f"live:{{space1/{ROOM}}}:media", "gone-proc", "EX", "30")
        teacher = await joined(b.url, sub="t", role="teacher")
        started = asyncio.get_running_loop().time()
        await peers.publish(teacher)
        assert asyncio.get_running_loop().time() - started < 10
        assert redis_server.cli("GET", f"live:{{space1/{ROOM}}}:media") == (
            repr(b.svc.proc_id.encode()))
        await teacher.close()


async def test_a_forwarded_call_of_another_shape_is_refused(redis_url: str) -> None:
    """What a process answers on the bus for `rtc` calls that no edge of ours would send."""
    from rooms.errors import BadRequest, NotFound

    async with run_server(redis_url, **MEDIA) as a:
        assert a.svc is not None
        bus, me = a.svc.bus, a.svc.proc_id
        who = {"sub": "t", "name": "T", "role": "teacher", "space": "space1"}
        for payload in ({}, {"op": "publish"}, {"op": "explode", "room": "space1/x", "who": who},
                        {"op": "answer", "room": "space1/x", "who": {"sub": 1}},
                        {"op": "answer", "room": "space1/x", "who": who, "sub": 5},
                        {"op": "settings", "room": "space1/x", "who": who,
                         "teachers_only_publish": "yes"}):
            with pytest.raises(BadRequest):
                await bus.call(me, "rtc", payload, within=5)
        with pytest.raises(NotFound):  # another space's room
            await bus.call(me, "rtc", {"op": "left", "room": "space2/x", "who": who}, within=5)
        with pytest.raises(NotFound):
            await bus.call(me, "rtc", {"op": "answer", "room": "space1/x", "who": who,
                                       "sub": "nope", "sdp": "v=0"}, within=5)


async def test_new_rooms_show_pupils_cameras_to_teachers_only_unless_configured(
        redis_url: str) -> None:
    """LIVE_MEDIA_PUPIL_CAMERAS: `teachers` by default (issue #11), `everyone` on request;
    anything else refuses to start."""
    assert Config.from_env({}).pupil_cameras == "teachers"
    assert Config.from_env({"LIVE_MEDIA_PUPIL_CAMERAS": " Everyone "}).pupil_cameras == "everyone"
    with pytest.raises(ValueError, match="LIVE_MEDIA_PUPIL_CAMERAS must be teachers or everyone"):
        Config.from_env({"LIVE_MEDIA_PUPIL_CAMERAS": "pupils"})
    async with run_server(redis_url, rate_limits=False, media_addresses=["127.0.0.1"]) as a:
        teacher = await joined(a.url, sub="t", role="teacher")
        ack = await teacher.call("join", {"room": ROOM})
        assert ack["media"]["pupil_cameras_teachers_only"] is True
        await teacher.close()


async def test_concurrent_reads_of_a_rooms_media_owner_share_one(
        redis_server: RedisServer) -> None:
    """Every leave of a mass disconnect asks its room's media owner: the questions asked
    at once share reads (two per round trip at most), each begun after it was asked."""
    from live.media_placement import MediaPlacement
    from live.redis_backend.client import connect as redis_connect

    def gets() -> int:
        stats = redis_server.info("commandstats").get("cmdstat_get", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0

    a = MediaPlacement("proc-a", redis_connect(redis_server.url))
    b = MediaPlacement("proc-b", redis_connect(redis_server.url))
    room = "space1/shared-owner"
    try:
        before = gets()
        owners = await asyncio.gather(*[a.owner(room) for _ in range(200)])
        assert owners == [None] * 200  # nobody serves it
        assert gets() - before <= 2
        assert await b.claim(room) is None  # b serves it from now on
        assert await a.owner(room) == "proc-b"  # asked after the claim: sees it
        assert await b.owner(room) is None  # (its own: None)
    finally:
        for p in (a, b):
            await p.close()  # (releases b's claim)
