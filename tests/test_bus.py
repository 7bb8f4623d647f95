"""One suite, both room buses: the in-process one and Redis (a real redis-server).

Two "processes" are two buses: with Redis, two `RedisBus`es on one Redis with their
own process ids; in-process, the same bus twice (one process is all it serves).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from live.redis_backend import keys
from live.redis_backend.bus import RedisBus
from live.redis_backend.frames import pack, room_frame
from live.redis_backend.publisher import Publisher
from rooms.bus import AnnounceRate, Bus, LocalBus, RoomEvent
from rooms.notices import KICK, Notice

ROOM = "sp/r1"
OTHER = "sp/r2"


class Heard:
    """What a bus handed to its process: room events and notices, as they came."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[RoomEvent] = []
        self.batches: list[int] = []  # how many events each delivery handed over
        self.notices: list[Notice] = []
        self._changed = asyncio.Event()
        bus.bind(self._deliver)
        bus.on_notice(self._notice)

    def _deliver(self, events: Sequence[RoomEvent]) -> None:
        self.events += events
        self.batches.append(len(events))
        self._changed.set()

    async def _notice(self, notice: Notice) -> None:
        self.notices.append(notice)
        self._changed.set()

    async def until(self, done: Any, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while not done():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    def texts(self, room: str = ROOM) -> list[Any]:
        return [e.payload.get("text") for e in self.events if e.room_key == room]


@pytest.fixture(params=["local", "redis"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    if request.param == "local":
        bus = LocalBus()
        await bus.start()
        yield bus, bus
        await bus.close()
        return
    url = request.getfixturevalue("redis_url")
    a, b = RedisBus(url, "proc-a"), RedisBus(url, "proc-b")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


async def test_a_room_event_reaches_every_process_once_in_order(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    heard_a = Heard(a) if a is not b else None
    heard_b = Heard(b)
    await a.attach(ROOM)
    await b.attach(ROOM)  # returns once the room's events flow: no wait needed after it
    for i in range(20):
        await a.publish(ROOM, "chat:message", {"text": i}, skip="conn-1")
    await heard_b.until(lambda: len(heard_b.texts()) >= 20)
    assert heard_b.texts() == list(range(20))
    assert all(e.skip == "conn-1" and e.event == "chat:message" for e in heard_b.events)
    if heard_a is not None:  # the publisher delivered its own once, before publishing
        assert heard_a.texts() == list(range(20))


async def test_a_detached_process_hears_the_room_no_more(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    heard = Heard(b)
    for room in (ROOM, OTHER):
        await a.attach(room)
        await b.attach(room)
    await b.detach(ROOM)
    if a is not b:
        await a.publish(ROOM, "typing", {"text": "after detach"})
    await a.publish(OTHER, "typing", {"text": "marker"})  # sent after: arrives after
    await heard.until(lambda: heard.texts(OTHER) == ["marker"])
    if a is not b:  # in one process the fan-out, not the bus, knows who is in a room
        assert heard.texts(ROOM) == []
    await b.attach(ROOM)  # and back
    await a.publish(ROOM, "typing", {"text": "back"})
    await heard.until(lambda: "back" in heard.texts())


async def test_a_notice_reaches_every_process_once(buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    heard_b = Heard(b)
    heard_a = Heard(a) if a is not b else heard_b
    failing: list[Notice] = []

    async def broken(notice: Notice) -> None:
        failing.append(notice)
        raise RuntimeError("a handler that fails")

    b.on_notice(broken)  # does not keep the other handlers from running
    for i in range(3):
        await a.notify(Notice(KICK, ROOM, f"u{i}", {"n": i}))
    await heard_b.until(lambda: len(heard_b.notices) >= 3)
    await heard_a.until(lambda: len(heard_a.notices) >= 3)
    assert [n.user for n in heard_b.notices] == ["u0", "u1", "u2"]
    assert heard_b.notices[1] == Notice(KICK, ROOM, "u1", {"n": 1})
    assert len(failing) == 3


async def test_a_notice_handler_may_await_the_bus(buses: tuple[Bus, Bus]) -> None:
    """Handlers run apart from the bus's reading: one that attaches a room (whose
    confirmation comes through that same reading) does not wait for itself."""
    a, b = buses
    attached = asyncio.Event()

    async def attach_on_notice(notice: Notice) -> None:
        await b.attach(notice.room_key)
        attached.set()

    b.on_notice(attach_on_notice)
    heard = Heard(b)
    await a.notify(Notice(KICK, OTHER, "u"))
    await asyncio.wait_for(attached.wait(), 5)
    await a.publish(OTHER, "typing", {"text": "heard"})
    await heard.until(lambda: heard.texts(OTHER) == ["heard"])


async def test_ping(buses: tuple[Bus, Bus]) -> None:
    assert await buses[0].ping() and await buses[1].ping()


# -- directed calls ---------------------------------------------------------------

async def test_a_call_reaches_the_named_process_and_returns_its_result(
        buses: tuple[Bus, Bus]) -> None:
    a, b = buses
    seen: list[tuple[str, dict[str, Any]]] = []

    async def echo(origin: str, payload: dict[str, Any]) -> dict[str, Any]:
        seen.append((origin, payload))
        return {"twice": payload["n"] * 2, "by": b.proc_id}

    b.on_call("echo", echo)
    results = await asyncio.gather(*(a.call(b.proc_id, "echo", {"n": i}, within=5)
                                     for i in range(10)))
    assert results == [{"twice": 2 * i, "by": b.proc_id} for i in range(10)]
    assert sorted(p["n"] for _, p in seen) == list(range(10))
    assert {origin for origin, _ in seen} == {a.proc_id}


async def test_a_call_answers_the_handlers_error_or_unavailable(buses: tuple[Bus, Bus]) -> None:
    from rooms.errors import Forbidden, ProcessGone, Unavailable

    a, b = buses

    async def refuse(origin: str, payload: dict[str, Any]) -> None:
        raise Forbidden("not you", process="p1")

    async def crash(origin: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("a bug")

    never = asyncio.Event()

    async def hang(origin: str, payload: dict[str, Any]) -> None:
        await never.wait()

    b.on_call("refuse", refuse)
    b.on_call("crash", crash)
    b.on_call("hang", hang)
    with pytest.raises(Forbidden) as refused:
        await a.call(b.proc_id, "refuse", {}, within=5)
    assert refused.value.to_wire() == {"code": "forbidden", "message": "not you",
                                       "process": "p1"}
    with pytest.raises(Unavailable) as crashed:
        await a.call(b.proc_id, "crash", {}, within=5)
    assert crashed.value.code == "unavailable" and "bug" not in crashed.value.message
    with pytest.raises(Unavailable):  # nobody registered it
        await a.call(b.proc_id, "unknown", {}, within=5)
    with pytest.raises(Unavailable, match="in time"):
        await a.call(b.proc_id, "hang", {}, within=0.3)
    with pytest.raises(ProcessGone):  # no process of that id: at once, no timeout
        await asyncio.wait_for(a.call("nobody", "refuse", {}, within=30), 5)
    never.set()


async def test_a_call_to_a_dead_process_is_process_gone(redis_url: str) -> None:
    from rooms.errors import ProcessGone

    a, b = RedisBus(redis_url, "proc-a"), RedisBus(redis_url, "proc-b")
    await a.start()
    await b.start()

    async def ok(origin: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}

    b.on_call("ok", ok)
    try:
        assert await a.call("proc-b", "ok", {}, within=5) == {}
        await b.close()
        with pytest.raises(ProcessGone):
            await asyncio.wait_for(a.call("proc-b", "ok", {}, within=30), 5)
    finally:
        await a.close()


async def test_call_frames_of_another_shape_are_dropped(redis_url: str) -> None:
    """On `live:proc:<P>:calls`, a call is `["c", id, origin, kind, payload]`, a reply
    `["r", id, reply]`; anything else (and a reply nobody waits for) is dropped alone."""
    bus = RedisBus(redis_url, "proc-a")
    await bus.start()

    async def ok(origin: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"from": origin}

    bus.on_call("ok", ok)
    r = Redis.from_url(redis_url)
    try:
        channel = keys.proc_calls("proc-a")
        assert channel == "live:proc:proc-a:calls"
        for garbage in (b"\xc1", pack({"c": 1}), pack(["c", "x", "o", "ok", {}]),
                        pack(["r", 999, {"r": {}}]), pack(["c", 1, "o", "ok"])):
            assert await r.publish(channel, garbage) == 1
        # a call from outside, answered on the caller's own channel
        ps = r.pubsub()
        await ps.subscribe(keys.proc_calls("outside"))
        await r.publish(channel, pack(["c", 7, "outside", "ok", {}]))

        async def reply() -> Any:
            while True:  # skips the subscription's confirmation
                msg = await ps.get_message(ignore_subscribe_messages=True, timeout=5)
                if msg is not None:
                    return msg

        msg = await asyncio.wait_for(reply(), 10)
        from live.redis_backend.frames import unpack
        assert unpack(msg["data"]) == ["r", 7, {"r": {"from": "outside"}}]
        await ps.aclose()
        assert await bus.call("proc-a", "ok", {}, within=5) == {"from": "proc-a"}
    finally:
        await r.aclose()
        await bus.close()


# -- the Redis bus's frames, as docs/protocol.md writes them down ------------------

async def test_frames_of_another_process_and_garbage(redis_url: str) -> None:
    """A frame `[origin, event, payload, skip]` on the room's channel is delivered;
    one that is not (garbage, a frame of the wrong shape) is dropped alone; a frame
    of this process's own is skipped (it delivered it before publishing)."""
    bus = RedisBus(redis_url, "proc-a")
    heard = Heard(bus)
    await bus.start()
    r = Redis.from_url(redis_url)
    try:
        await bus.attach(ROOM)
        channel = keys.room_channel(ROOM)
        assert channel == "live:{sp/r1}:bus"
        await r.spublish(channel, b"\xc1 not msgpack")
        await r.spublish(channel, pack({"method": "emit"}))  # python-socketio's shape: not ours
        await r.spublish(channel, pack(["proc-b", "typing", "not a map", None]))
        await r.spublish(channel, room_frame("proc-a", "typing", {"text": "mine"}, None))
        await r.spublish(channel, room_frame("proc-b", "typing", {"text": "theirs"}, "c9"))
        await r.spublish(channel, room_frame("", "chat:message", {"text": "stored", "id": "5-0"},
                                             None))
        await heard.until(lambda: heard.texts() == ["theirs", "stored"])
        assert heard.events[0] == RoomEvent(ROOM, "typing", {"text": "theirs"}, "c9")
        # a repeated stored message (same id) is delivered once
        await r.spublish(channel, room_frame("", "chat:message", {"text": "stored", "id": "5-0"},
                                             None))
        await r.spublish(channel, room_frame("proc-b", "typing", {"text": "marker"}, None))
        await heard.until(lambda: heard.texts()[-1:] == ["marker"])
        assert heard.texts() == ["theirs", "stored", "marker"]
        # a notice is Notice.to_record() on the notices channel
        await r.publish(keys.NOTICES, pack({"k": "mute", "r": ROOM, "u": "u1", "d": {}}))
        await r.publish(keys.NOTICES, b"garbage")
        await heard.until(lambda: len(heard.notices) == 1)
        assert heard.notices[0] == Notice("mute", ROOM, "u1")
    finally:
        await r.aclose()
        await bus.close()


async def test_attach_fails_cleanly_while_redis_is_away(own_redis: Any) -> None:
    """With Redis gone, attach answers `unavailable` within its timeout; once Redis is
    back, the bus reconnects by itself and attach works."""
    from rooms.errors import Unavailable

    bus = RedisBus(own_redis.url, "proc-a")
    heard = Heard(bus)
    await bus.start()
    try:
        own_redis.stop()
        with pytest.raises(Unavailable):
            await bus.attach(ROOM)
        own_redis.start()
        deadline = asyncio.get_running_loop().time() + 20
        while True:  # the listener retries with backoff (at most 5 s apart)
            try:
                await bus.attach(ROOM)
                break
            except Unavailable:
                assert asyncio.get_running_loop().time() < deadline

        await bus.publish(ROOM, "typing", {"text": "back"})
        assert heard.texts() == ["back"]
        assert await bus.ping()
    finally:
        await bus.close()


async def test_a_backend_is_a_store_and_a_bus_chosen_by_url(redis_url: str) -> None:
    from live.app import open_backend
    from live.config import Config
    from live.redis_backend.store import RedisStore
    from rooms.clock import SystemClock
    from rooms.memory_store import MemoryStore

    store, bus = open_backend(Config(), SystemClock(), "p")
    assert isinstance(store, MemoryStore) and isinstance(bus, LocalBus)
    store, bus = open_backend(Config(redis_url=redis_url), SystemClock(), "p")
    assert isinstance(store, RedisStore) and isinstance(bus, RedisBus)
    await store.close()
    await bus.close()
    with pytest.raises(ValueError, match="no store backend for 'mongodb:'"):
        open_backend(Config(redis_url="mongodb://127.0.0.1"), SystemClock(), "p")


def test_the_cli_refuses_a_store_url_of_no_backend() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "twinspace-live"
    done = subprocess.run([str(exe), "serve", "--port", "0", "--redis", "mongodb://127.0.0.1"],
                          env={**os.environ, "LIVE_JWT_SECRET": "x" * 32}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "no store backend for 'mongodb:' URLs" in done.stderr


async def test_many_first_joins_of_one_room_at_once_all_attach(redis_url: str) -> None:
    """A burst of joins to a room this process does not hear yet (a class arriving):
    every attach returns once the one subscription is confirmed, none waits for a
    confirmation that came while it was reading the room's newest message."""
    from live.redis_backend import open_backend
    from rooms.clock import SystemClock

    store, bus = open_backend(redis_url, SystemClock(), 86_400_000, "proc-a")
    await bus.start()
    try:
        for n in range(5):
            room = f"sp/burst{n}"
            await asyncio.wait_for(asyncio.gather(*[bus.attach(room) for _ in range(60)]), 2.5)
    finally:
        await bus.close()
        await store.close()


async def test_announcements_in_a_storm_go_out_one_batch_per_tick_in_order(
        buses: tuple[Bus, Bus]) -> None:
    """The first announcement in a quiet room goes out at once; those in the same tick
    are held and go out together at its end (one delivery here, one socket read there);
    a publish to the room sends what is held first, so the room's order holds."""
    a, b = buses
    a.announce_tick = b.announce_tick = 0.2
    heard_a = Heard(a)
    heard_b = Heard(b) if a is not b else heard_a
    await a.attach(ROOM)
    await b.attach(ROOM)
    await a.announce(ROOM, "presence:join", {"text": "j0"}, skip="c0")
    assert heard_a.texts() == ["j0"]  # at once: the room was quiet
    for i in range(1, 6):
        await a.announce(ROOM, "presence:join", {"text": f"j{i}"}, skip=f"c{i}")
    assert heard_a.texts() == ["j0"]  # held until the tick ends
    await heard_a.until(lambda: len(heard_a.texts()) == 6)
    assert heard_a.batches[-1] == 5  # the held ones, in one delivery (one write per member)
    await heard_b.until(lambda: len(heard_b.texts()) == 6)
    assert heard_b.texts() == [f"j{i}" for i in range(6)]
    assert [e.skip for e in heard_b.events] == [f"c{i}" for i in range(6)]
    # held again, then a publish: what was held goes first, here and there
    await a.announce(ROOM, "presence:leave", {"text": "l1"})
    await a.publish(ROOM, "typing", {"text": "after"})
    await heard_b.until(lambda: len(heard_b.texts()) == 8)
    assert heard_b.texts()[6:] == ["l1", "after"]
    assert heard_a.texts()[6:] == ["l1", "after"]


async def test_a_connection_does_not_get_what_was_announced_before_it_entered(
        buses: tuple[Bus, Bus]) -> None:
    a, _b = buses
    a.announce_tick = 0.2
    heard = Heard(a)
    await a.attach(ROOM)
    await a.announce(ROOM, "presence:join", {"text": "j0"}, skip="c0")
    await a.announce(ROOM, "presence:leave", {"text": "l0"})  # held
    a.entered(ROOM, "c-late")  # hears the room from now on
    await a.announce(ROOM, "presence:join", {"text": "j1"}, skip="c1")  # held, after it
    held = a.flush(ROOM)
    assert held is not None
    await held
    assert heard.texts() == ["j0", "l0", "j1"]
    assert [e.skip for e in heard.events] == ["c0", ["c-late"], "c1"]
    assert a.flush(ROOM) is None  # nothing held any more


async def test_held_announcements_that_fail_to_reach_redis_are_logged_not_raised(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    bus = RedisBus(redis_url, "proc-x")
    await bus.start()
    heard = Heard(bus)
    try:
        bus.announce_tick = 0.1
        await bus.attach(ROOM)
        await bus.announce(ROOM, "presence:join", {"text": "j0"})
        await bus._rooms_pub.aclose()  # the publishing connection is gone
        # and nothing listens where the next one would go
        bus._rooms_pub = Publisher(Redis.from_url("redis://127.0.0.1:1/0"))
        await bus.announce(ROOM, "presence:join", {"text": "j1"})
        await bus.announce(ROOM, "presence:join", {"text": "j2"})
        await heard.until(lambda: len(heard.texts()) == 3)  # delivered here all the same
        await asyncio.sleep(0.3)
        assert any("bus publish failed" in r.getMessage() for r in caplog.records)
    finally:
        await bus.close()


def test_a_storm_of_announcements_begins_at_the_rate_and_ends_a_quiet_window_later() -> None:
    now = [100.2]
    rate = AnnounceRate(lambda: now[0], threshold=3)
    for _ in range(2):
        rate.add()
    assert not rate.storm()
    rate.add()
    assert rate.storm()  # the third in this second
    now[0] = 101.9
    assert rate.storm()  # the second before was a storm
    rate.add()
    now[0] = 102.0
    assert not rate.storm()  # one in the whole second before
    for _ in range(3):
        rate.add()
    now[0] = 104.5
    assert not rate.storm()  # a second with none in between: over


async def test_in_a_storm_a_room_holds_its_announcements_for_the_longer_tick(
        buses: tuple[Bus, Bus]) -> None:
    """While the process announces joins faster than the storm rate, a room's tick is
    the storm tick; everything still goes out, in order, once."""
    a, b = buses
    now = [10.0]
    a.announce_rate = AnnounceRate(lambda: now[0], threshold=4)
    a.announce_tick, a.storm_tick = 0.01, 30.0  # (a tick of 30 s never ends in this test)
    assert a.tick() == 0.01
    heard_b = Heard(b)
    await a.attach(ROOM)
    await b.attach(ROOM)
    for i in range(3):  # quiet: each tick ends before the next join
        await a.announce(ROOM, "presence:join", {"text": f"j{i}"}, skip=f"c{i}")
        await heard_b.until(lambda: len(heard_b.texts()) == i + 1)
        await asyncio.sleep(0.05)
    assert a.tick() == 0.01
    await a.announce(ROOM, "presence:join", {"text": "j3"}, skip="c3")  # the 4th: a storm
    assert a.tick() == 30.0
    await heard_b.until(lambda: len(heard_b.texts()) == 4)  # a quiet room: at once
    for i in range(4, 8):
        await a.announce(ROOM, "presence:join", {"text": f"j{i}"}, skip=f"c{i}")
    await asyncio.sleep(0.05)  # past the short tick: still held
    assert heard_b.texts() == [f"j{i}" for i in range(4)]
    await a.publish(ROOM, "typing", {"text": "after"})  # what is held goes first
    await heard_b.until(lambda: len(heard_b.texts()) == 9)
    assert heard_b.texts() == [*(f"j{i}" for i in range(8)), "after"]
    now[0] = 12.0
    assert a.tick() == 0.01  # a quiet second: over
