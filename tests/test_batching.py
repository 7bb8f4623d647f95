"""Bursts travel together: appends pipelined to Redis (live/redis_backend/pipeline.py),
the bus read a socket-read at a time (live/redis_backend/reader.py), and each member given a
batch's frames in one write (FastEmitManager.deliver) — with nothing lost, repeated or reordered."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from live.fanout import RoomEmit
from live.redis_backend.pipeline import REPLY_TIMEOUT_S
from live.redis_backend.reader import BusClosed, BusReader
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.message import Author

from .support import RedisServer, connect, eventually, open_rooms, run_server


class Heard:
    """What a BusReader hands over: reply batches, and the end of the connection."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.ended: BaseException | None = None
        self.changed = asyncio.Event()

    def replies(self, batch: list[Any]) -> None:
        self.batches.append(batch)
        self.changed.set()

    def lost(self, exc: BaseException | None) -> None:
        self.ended = exc or BusClosed()
        self.changed.set()

    async def until(self, n: int, within: float = 5) -> list[list[Any]]:
        """Batches, once `n` replies in all have come (raises if the connection ends)."""
        async with asyncio.timeout(within):
            while sum(len(b) for b in self.batches) < n:
                if self.ended is not None:
                    raise BusClosed(str(self.ended))
                self.changed.clear()
                await self.changed.wait()
        return self.batches


async def test_bus_reader_hands_over_what_arrived_together(redis_url: str) -> None:
    heard = Heard()
    reader = await BusReader.open(redis_url, heard.replies, heard.lost)
    pub = Redis.from_url(redis_url)
    try:
        await reader.ssubscribe("live:{s/r}:bus")
        first = await heard.until(1)
        assert first[0][0][:2] == [b"ssubscribe", b"live:{s/r}:bus"]
        heard.batches.clear()
        async with pub.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.spublish("live:{s/r}:bus", f"m{i}")
            await pipe.execute()
        batches = await heard.until(50)
        flat = [r for b in batches for r in b]
        assert [r[2] for r in flat] == [f"m{i}".encode() for i in range(50)]
        assert all(r[0] == b"smessage" for r in flat)
        assert len(batches) < 50  # published in one pipeline, read in far fewer pieces
    finally:
        await reader.aclose()
        await pub.aclose()


def test_bus_reader_relies_on_redis_py_streams() -> None:
    """BusReader takes redis-py's connection transport over; fail loudly if that moves."""
    import inspect

    from redis.asyncio.connection import Connection
    src = inspect.getsource(Connection._connect)
    assert "self._reader" in src and "self._writer" in src


async def test_bus_reader_ends_when_redis_dies(own_redis: RedisServer) -> None:
    heard = Heard()
    reader = await BusReader.open(own_redis.url, heard.replies, heard.lost)
    try:
        await reader.subscribe("live:ctl")
        await heard.until(1)
        own_redis.stop()
        with pytest.raises(BusClosed):
            await heard.until(2)
        assert not reader.connected
    finally:
        await reader.aclose()


async def test_bus_reader_gives_up_on_a_silent_redis(own_redis: RedisServer) -> None:
    """A Redis that stops answering (hung, or a cut network) is noticed by the watchdog."""
    heard = Heard()
    reader = await BusReader.open(own_redis.url, heard.replies, heard.lost, health_s=0.2)
    assert own_redis.proc is not None
    try:
        await reader.subscribe("live:ctl")
        await heard.until(1)
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        with pytest.raises(BusClosed):
            await heard.until(2, within=3)
    finally:
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        await reader.aclose()


async def test_a_burst_is_pipelined_and_written_once_per_member(redis_url: str) -> None:
    async with run_server(redis_url, rate_limits=False) as srv:
        members = [await connect(srv.url, sub=f"m{i}") for i in range(8)]
        try:
            for m in members:
                await m.call("join", {"room": "r"})
            assert srv.svc is not None
            manager: Any = srv.svc.sio.manager
            appends: Any = srv.svc.store._append  # type: ignore[attr-defined]
            pipelines, writes, frames = appends.pipelines, manager.writes, manager.direct_writes
            acks = await asyncio.gather(*[
                members[0].call("chat:send", {"room": "r", "text": f"t{i}", "cid": str(i)})
                for i in range(60)])
            assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
            ids = [a["message"]["id"] for a in acks]
            assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
            for m in members:
                got = await m.wait_count("chat:message", 60)
                assert [g["text"] for g in got] == [f"t{i}" for i in range(60)]
            # 60 sends in flight at once: far fewer round trips and writes than messages
            assert appends.pipelines - pipelines < 60
            assert manager.writes - writes < manager.direct_writes - frames
            # a last message is the barrier: a duplicate of any of the 60 would come first
            end = {"room": "r", "text": "end", "cid": "end"}
            assert (await members[0].call("chat:send", end))["ok"]
            for m in members:
                await m.wait_for("chat:message", lambda g: g["text"] == "end")
                assert m.texts() == [f"t{i}" for i in range(60)] + ["end"]
        finally:
            for m in members:
                await m.close()


async def test_one_failing_call_in_a_pipeline_fails_alone(redis_url: str) -> None:
    async with run_server(redis_url, rate_limits=False, opened=("s1/good", "s1/bad")) as srv:
        a = await connect(srv.url, sub="a", space="s1")
        try:
            await a.call("join", {"room": "good"})
            await a.call("join", {"room": "bad"})
            # a key of the wrong type where the bad room's stream would go
            r = Redis.from_url(redis_url)
            await r.set(f"live:{{{RoomRef('s1', 'bad').key}}}:msgs", "not a stream")
            await r.aclose()
            acks = await asyncio.gather(*[
                a.call("chat:send", {"room": "bad" if i == 5 else "good",
                                     "text": f"x{i}", "cid": str(i)}) for i in range(12)])
            assert [ack["ok"] for ack in acks] == [i != 5 for i in range(12)]
            assert acks[5]["error"]["code"] == "unavailable"
            hist = await a.call("chat:history", {"room": "good"})
            assert [m["text"] for m in hist["messages"]] == [f"x{i}" for i in range(12) if i != 5]
        finally:
            await a.close()


async def test_appends_survive_a_script_flush(redis_url: str) -> None:
    """Redis forgetting its scripts (a restart, SCRIPT FLUSH) costs a reload, not a message."""
    async with run_server(redis_url, rate_limits=False) as srv:
        assert srv.svc is not None
        store: Any = srv.svc.store
        room = RoomRef("s1", "r")
        author = Author("u", "U", "student")
        first = await store.append(room, author, "c0", "before")
        r = Redis.from_url(redis_url)
        await r.script_flush()
        await r.aclose()
        got = await asyncio.gather(*[store.append(room, author, f"c{i}", f"after{i}")
                                     for i in range(1, 6)])
        assert all(g.created for g in got)
        page = await store.history(room)
        assert [m.text for m in page.messages] == ["before"] + [f"after{i}" for i in range(1, 6)]
        assert first.created


async def test_a_batch_reaches_each_member_in_order_once(server: Any) -> None:
    """deliver(): emits for several rooms, one skipping its sender, in one batch."""
    await open_rooms(server.url, "r1", "r2")
    a = await connect(server.url, sub="a")
    b = await connect(server.url, sub="b")
    c = await connect(server.url, sub="c")
    try:
        for m, rooms in ((a, ("r1", "r2")), (b, ("r1",)), (c, ("r2",))):
            for room in rooms:
                assert (await m.call("join", {"room": room}))["ok"]
        manager: Any = server.svc.sio.manager
        edge: Any = server.svc.edge
        a_sid = next(sid for sid, s in edge.sessions.items() if s.who.sub == "a")
        r1, r2 = RoomRef("space1", "r1").key, RoomRef("space1", "r2").key
        assert manager.deliver([
            RoomEmit("chat:message", [{"text": "1"}], "/", r1),
            RoomEmit("chat:message", [{"text": "2"}], "/", r2),
            RoomEmit("chat:message", [{"text": "3"}], "/", r1, a_sid),
            RoomEmit("chat:message", [{"text": "4"}], "/", r2),
        ])
        expect = [(a, ["1", "2", "4"]), (b, ["1", "3"]), (c, ["2", "4"])]
        for m, texts in expect:
            # deliver() wrote (or queued) every frame before returning: a round trip on
            # each connection is a barrier behind them
            await m.round_trip()
            assert m.texts() == texts
    finally:
        for m in (a, b, c):
            await m.close()


def test_pipeline_packs_commands_as_redis_py_does() -> None:
    from redis.asyncio.connection import Connection

    from live.redis_backend.pipeline import pack_command

    args: list[bytes | str | int] = [3, b"k\r\n1", "clé", "", 0, -7, b"\x00\xff"]
    ours = pack_command((b"EVALSHA", b"abc"), *args)
    theirs = b"".join(Connection().pack_command("EVALSHA", "abc", *args))
    assert ours == theirs


async def test_a_lost_bus_connection_replays_in_order_exactly_once(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The bus connection is killed while messages keep being stored: on reconnecting
    the process replays what it missed from history, then goes on live; a member sees
    every message once, in order (what arrives live during the replay waits for it)."""
    caplog.set_level(logging.INFO, logger="live.redis_backend.bus")
    async with run_server(redis_url, rate_limits=False) as srv:
        reader = await connect(srv.url, sub="reader")
        sender = await connect(srv.url, sub="sender")
        try:
            for c in (reader, sender):
                assert (await c.call("join", {"room": "r"}))["ok"]

            async def send(i: int) -> None:
                ack = await sender.call("chat:send", {"room": "r", "text": f"k{i}", "cid": str(i)})
                assert ack["ok"]

            for i in range(10):
                await send(i)
            await reader.wait_count("chat:message", 10)
            r = Redis.from_url(redis_url)
            killed = await r.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            await r.aclose()
            assert killed >= 1
            # stored while the bus is down, and on through the reconnection
            for i in range(10, 40):
                await send(i)
                await asyncio.sleep(0.01)  # pacing: the sends span the reconnection
            got = await reader.wait_count("chat:message", 40, timeout=10)
            assert [g["text"] for g in got] == [f"k{i}" for i in range(40)]
            # one more message, sent once the bus is back, is the barrier: a message
            # replayed twice would have been delivered before it
            await send(40)
            await reader.wait_for("chat:message", lambda g: g["text"] == "k40", timeout=10)
            assert reader.texts() == [f"k{i}" for i in range(41)]
            replayed = [getattr(rec, "count", 0) for rec in caplog.records
                        if rec.getMessage() == "replayed after bus loss"]
            assert replayed and sum(replayed) > 0  # some came from history, not live
        finally:
            await reader.close()
            await sender.close()


async def test_appends_in_flight_when_the_connection_drops_are_sent_again(redis_url: str) -> None:
    """The pipeline's connection drops with a pipeline in flight: each of its calls is
    sent once more on a fresh connection (the script is idempotent on the cid), so every
    message is stored exactly once and every caller gets its answer."""
    async with run_server(redis_url, rate_limits=False) as srv:
        assert srv.svc is not None
        store: Any = srv.svc.store
        room, author = RoomRef("s1", "r"), Author("u", "U", "student")
        assert (await store.append(room, author, "c-1", "first")).created
        pipeline = store._append
        calls = [asyncio.ensure_future(store.append(room, author, f"c{i}", f"t{i}"))
                 for i in range(200)]
        await asyncio.sleep(0)  # they are made ...
        await asyncio.sleep(0)  # ... and written to Redis together at the end of that turn
        assert pipeline._inflight
        pipeline._link.transport.abort()  # the connection drops, replies unread
        done = await asyncio.gather(*calls)
        assert pipeline.resent >= 1
        assert [d.message.text for d in done] == [f"t{i}" for i in range(200)]
        texts: list[str] = []
        after = "0-0"
        while True:  # the whole history, oldest first
            page = await store.history(room, after=after, limit=100)
            texts += [m.text for m in page.messages]
            if not page.messages:
                break
            after = page.messages[-1].id
        assert texts == ["first"] + [f"t{i}" for i in range(200)]  # once each, in order


async def test_a_hung_redis_fails_appends_in_time_and_they_work_again(
        own_redis: RedisServer) -> None:
    async with run_server(own_redis.url, rate_limits=False) as srv:
        assert srv.svc is not None and own_redis.proc is not None
        store: Any = srv.svc.store
        room, author = RoomRef("s1", "r"), Author("u", "U", "student")
        assert (await store.append(room, author, "a", "before")).created
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(Unavailable):
                await store.append(room, author, "b", "while hung")
            # failed by the reply timeout, not left hanging (generous: a loaded machine)
            assert time.monotonic() - started < 4 * REPLY_TIMEOUT_S
        finally:
            os.kill(own_redis.proc.pid, signal.SIGCONT)
        got = await store.append(room, author, "c", "after")
        assert got.created
        page = await store.history(room)
        assert [m.text for m in page.messages][0] == "before"
        assert [m.text for m in page.messages][-1] == "after"


async def test_a_senders_ack_and_own_message_leave_in_one_write(server: Any) -> None:
    """Frames written to a connection in one turn of the event loop go out together."""
    a = await connect(server.url, sub="a")
    try:
        await a.call("join", {"room": "r"})
        manager: Any = server.svc.sio.manager
        writes, frames = manager.writes, manager.direct_writes
        for i in range(20):
            ack = await a.call("chat:send", {"room": "r", "text": f"w{i}", "cid": str(i)})
            assert ack["ok"] and ack["message"]["text"] == f"w{i}"
        got = await a.wait_count("chat:message", 20)
        assert [g["text"] for g in got] == [f"w{i}" for i in range(20)]
        assert manager.direct_writes - frames == 40  # 20 acks, 20 messages
        assert manager.writes - writes <= 24  # nearly all in pairs
    finally:
        await a.close()


async def test_a_member_whose_writer_is_stuck_is_dropped_not_buffered() -> None:
    """Frames that cannot be written directly queue behind the connection's writer; past
    `max_send_buffer` bytes queued the member is dropped, and the others go on."""
    async with run_server(rate_limits=False, max_send_buffer_bytes=64 * 1024) as srv:
        assert srv.svc is not None
        stuck = await connect(srv.url, sub="stuck")
        fine = await connect(srv.url, sub="fine")
        try:
            for c in (stuck, fine):
                await c.call("join", {"room": "r"})
            engine: Any = srv.svc.sio.eio
            manager: Any = srv.svc.sio.manager
            edge: Any = srv.svc.edge
            stuck_sid = next(sid for sid, s in edge.sessions.items() if s.who.sub == "stuck")
            eio_sid = manager.eio_sid_from_sid(stuck_sid, "/")
            sock = engine.sockets[eio_sid]
            sock.queue.sending = True  # as if its writer were blocked on a full TCP window
            key = RoomRef("space1", "r").key
            for i in range(40):  # 40 x 4 KB
                manager.deliver([RoomEmit("chat:message", [{"text": f"{i}" + "x" * 4096}],
                                          "/", key)])
            await eventually(lambda: eio_sid not in engine.sockets)
            assert engine.slow_dropped >= 1
            got = await fine.wait_count("chat:message", 40)
            assert [g["text"][:2].rstrip("x") for g in got] == [str(i) for i in range(40)]
        finally:
            await stuck.close()
            await fine.close()


# each call appends its name; padded, a pipeline is longer than what Redis reads from a
# connection in one turn of its event loop (16 KiB), as a busy room's pipeline can be
_ORDERED = "redis.call('RPUSH', KEYS[1], ARGV[1]) return 1"


async def test_calls_failed_by_the_reply_timeout_never_land_after_later_calls(
        own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis stops with a pipeline of calls in its connection's input buffer; no reply in
    time fails them (their senders are told `unavailable`) and the connection is dropped;
    later calls go on a new connection, and then Redis runs again. A failed call may still
    be stored (what Redis had read of the old connection runs), but never after a later
    call: Redis's first answer to the closed socket draws a reset, which ends the old
    connection and drops the rest of its input before the new one has sent anything."""
    from live import seam
    from live.redis_backend import pipeline as module

    assert own_redis.proc is not None
    pid = own_redis.proc.pid
    monkeypatch.setattr(module, "REPLY_TIMEOUT_S", 0.5)
    opened = 0

    async def taken_over_then_stop(pool: Any) -> Any:
        nonlocal opened
        got = await real_taken_over(pool)
        opened += 1
        if opened == 1:  # Redis stops once the first connection is open
            # a long-lived connection's send buffer, grown by the kernel: much of what
            # is written to the stopped Redis waits there
            sock = got[1].get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            os.kill(pid, signal.SIGSTOP)
        return got

    real_taken_over = seam.taken_over
    monkeypatch.setattr(module, "taken_over", taken_over_then_stop)
    redis = Redis.from_url(own_redis.url)
    pipeline = module.ScriptPipeline(redis, _ORDERED, confirm=False)
    pad = b"x" * 8000
    await redis.script_load(_ORDERED)  # (or the stopped Redis would answer NOSCRIPT)
    try:
        early = [asyncio.ensure_future(pipeline(["list"], [f"early{i}", pad]))
                 for i in range(module.MAX_BATCH)]
        failed = await asyncio.gather(*early, return_exceptions=True)
        assert all(isinstance(f, RedisTimeoutError) for f in failed)
        late = [asyncio.ensure_future(pipeline(["list"], [f"late{i}", pad])) for i in range(50)]
        await asyncio.sleep(0.05)  # the new connection is being opened
        os.kill(pid, signal.SIGCONT)
        done = await asyncio.gather(*late, return_exceptions=True)
        assert await pipeline(["list"], ["last", pad]) == 1
        stored = [s.decode() if isinstance(s, bytes) else s
                  for s in await redis.lrange("list", 0, -1)]
        assert len(set(stored)) == len(stored)  # none twice
        succeeded = [f"late{i}" for i, d in enumerate(done) if d == 1] + ["last"]
        assert [s for s in stored if not s.startswith("early")] == succeeded  # in order
        first_later = stored.index(succeeded[0])
        assert not [s for s in stored[first_later:] if s.startswith("early")]
    finally:
        os.kill(pid, signal.SIGCONT)
        await pipeline.aclose()
        await redis.aclose()


def test_an_append_is_packed_as_its_keys_and_args_would_be() -> None:
    """The APPEND call, with the room's parts packed once, is byte for byte the
    EVALSHA of the script's KEYS and ARGV (scripts.py) packed one by one; a teacher's
    author arg is empty (no mute check)."""
    from redis.asyncio import Redis

    from live.redis_backend import keys
    from live.redis_backend.frames import message_frame_parts
    from live.redis_backend.pipeline import pack_command
    from live.redis_backend.store import RedisStore
    from rooms.clock import SystemClock
    from rooms.identity import RoomRef
    from rooms.message import Author

    store = RedisStore(Redis.from_url("redis://127.0.0.1:9"), SystemClock(), 86_400_000, "p1")
    room = RoomRef("space:1", "room/é")
    for author, arg in ((Author("u:1", "Ana", "student"), "u:1"),
                        (Author("t1", "Tom", "teacher"), "")):
        for _ in range(2):  # packed, then from the room's kept parts
            entry, cid = b"\x83entry", "c:1"
            prefix, mid, suffix = message_frame_parts("chat:message", {"text": "hi"},
                                                      ("ts", "id"))
            names = [keys.room(room.key, "msgs"), keys.cid(room.key, author.id, cid),
                     keys.RETENTION_INDEX, keys.room(room.key, "mutes"), keys.POLICIES,
                     keys.user_messages(room.space, author.id)]
            args: list[bytes | str | int] = [
                86_400_000, keys.room_channel(room.key), entry, prefix, mid, suffix,
                room.key, arg, keys.message_prefix(room.key), room.space, room.name]
            sha = store._append._head[1]
            assert store._append_call(room, author, cid, entry, prefix) == pack_command(
                (b"EVALSHA", sha), len(names), *names, *args)


async def test_the_appends_of_one_turn_go_to_redis_in_one_pipeline(redis_url: str) -> None:
    """Members' sends handled in the same turn of the event loop (one socket read's
    worth) are written to Redis together at its end, not the first alone and the
    others after its reply."""
    async with run_server(redis_url, rate_limits=False) as srv:
        assert srv.svc is not None
        store: Any = srv.svc.store
        room, author = RoomRef("s1", "r"), Author("u", "U", "student")
        assert (await store.append(room, author, "c-0", "warm")).created  # connected
        before = store._append.pipelines
        done = await asyncio.gather(*(store.append(room, author, f"c{i}", f"t{i}")
                                      for i in range(5)))
        assert [d.message.text for d in done] == [f"t{i}" for i in range(5)]
        assert store._append.pipelines - before == 1
