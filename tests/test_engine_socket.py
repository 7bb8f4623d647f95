"""Engine.IO sockets that cost less while idle (live/engine_socket.py, engine.SendQueue):
pings from one loop, no task per frame, the queue's future awaited directly — and the
Engine.IO behaviour clients rely on unchanged (upgrade, pings, ping timeout, order)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

import pytest
import socketio
import websockets
from engineio import packet as eio_packet
from engineio.async_server import AsyncServer as EngineServer
from engineio.async_socket import AsyncSocket

from live.engine_socket import LiveSocket
from live.engine import GuardedEngine, SendQueue

from .rawsock import ws_url
from .support import connect, eventually, run_server, token


def test_engineio_seams_are_where_live_socket_expects_them() -> None:
    connect_src = inspect.getsource(EngineServer._handle_connect)
    assert "async_socket.AsyncSocket(self, sid)" in connect_src
    assert "self.sockets[sid] = s" in connect_src
    assert connect_src.index("self.sockets[sid] = s") < connect_src.index("s.schedule_ping()")
    ping_src = inspect.getsource(AsyncSocket._send_ping)
    assert "self.last_ping = time.time()" in ping_src and "packet.PING" in ping_src
    assert "self.schedule_ping()" in inspect.getsource(AsyncSocket.receive)
    assert "self._websocket_handler" in inspect.getsource(AsyncSocket._upgrade_websocket)
    # LiveSocket.send mends the announced interval of the OPEN packet sent through it
    assert "'pingInterval': int(" in connect_src and "await s.send(pkt)" in connect_src
    # the spec's 400s: an EngineIOError from a socket's GET or POST handler ends the session
    request_src = inspect.getsource(EngineServer.handle_request)
    for handler in ("socket.handle_get_request(", "socket.handle_post_request("):
        after = request_src[request_src.index(handler):]
        assert after.index("except exceptions.EngineIOError:") < after.index("self._bad_request()")
    assert "payload.Payload(encoded_payload=body)" in inspect.getsource(
        AsyncSocket.handle_post_request)  # raises ValueError on what is not packets
    assert "'response': b'OK'" in inspect.getsource(EngineServer._ok)  # GuardedEngine: b"ok"


async def test_send_queue_behaves_as_engineio_expects() -> None:
    q = SendQueue()
    assert q.empty() and q.qsize() == 0 and not q.idle()  # polling: nobody waits yet
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    waiting = q.get()  # the reader waits on an empty queue
    assert q.idle() and q.has_reader()
    with pytest.raises(RuntimeError):
        q.get()  # one reader only
    q.put_nowait("a")  # handed straight to the waiting reader
    assert await waiting == "a" and q.empty() and not q.idle() and not q.has_reader()
    await q.put("b")
    q.put_nowait(None)
    assert q.qsize() == 2 and q.bytes == 16 + 16
    assert await q.get() == "b" and q.get_nowait() is None and q.bytes == 0
    # join waits for every item taken to be marked done
    joined = asyncio.ensure_future(q.join())
    await asyncio.sleep(0)
    assert not joined.done()
    for _ in range(3):
        q.task_done()
    await asyncio.wait_for(joined, 1)
    # a reader that gave up (wait_for timed out) leaves the next item queued
    gave_up = q.get()
    gave_up.cancel()
    q.put_nowait("c")
    assert q.qsize() == 1 and await q.get() == "c"


def test_send_queue_starts_a_writer_only_when_something_waits() -> None:
    """The WebSocket mode: no reader parked on the queue; `on_put` starts one."""
    q = SendQueue()
    started: list[int] = []

    def on_put() -> None:
        q.sending = True
        started.append(q.qsize())

    q.on_put = on_put
    assert q.idle()  # nothing queued, nothing being sent: direct writes are in order
    q.put_nowait("a")
    q.put_nowait("b")  # a writer is at work already: not started twice
    assert started == [1] and not q.idle()
    assert q.get_nowait() == "a" and q.get_nowait() == "b"
    assert not q.idle()  # emptied, but the writer has not finished its last send
    q.sending = False
    assert q.idle()
    q.put_nowait("c")
    assert started == [1, 1]


async def test_a_client_upgrading_from_polling_gets_a_live_socket() -> None:
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        c = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        got: list[str] = []
        c.on("chat:message", lambda m: got.append(m["text"]))
        await c.connect(srv.url, auth={"token": token(sub="up")})  # polling, then upgrade
        try:
            await eventually(lambda: c.eio.current_transport == "websocket")
            socks = list(srv.svc.sio.eio.sockets.values())
            assert len(socks) == 1 and type(socks[0]) is LiveSocket and socks[0].upgraded
            assert (await c.call("join", {"room": "r"}))["ok"]
            for i in range(20):
                ack = await c.call("chat:send", {"room": "r", "text": f"u{i}", "cid": str(i)})
                assert ack["ok"]
            await eventually(lambda: len(got) == 20)
            assert got == [f"u{i}" for i in range(20)]
        finally:
            await c.disconnect()


async def test_pings_keep_a_live_client_and_end_a_silent_one() -> None:
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        engine: Any = srv.svc.sio.eio
        engine.ping_interval, engine.ping_timeout = 1, 1
        alive = await connect(srv.url, sub="alive")
        # a raw websocket that opens a session and then never answers a ping
        silent = await websockets.connect(ws_url(srv.url), ping_interval=None)
        opened = await silent.recv()
        assert isinstance(opened, str) and opened.startswith("0")
        try:
            await alive.call("join", {"room": "r"})
            started = time.monotonic()
            pings = 0
            try:
                while True:
                    frame = await asyncio.wait_for(silent.recv(), 20)
                    pings += frame == "2"
            except websockets.ConnectionClosed:
                pass
            lasted = time.monotonic() - started
            assert pings >= 1  # it was pinged, by the wheel, and did not answer
            # not before its ping went unanswered (interval + timeout, 2 s), and in bounded
            # time after: the upper bound is generous, it is about the cut, not the machine
            assert 1.5 < lasted < 15, lasted
            await eventually(lambda: len(engine.sockets) == 1)
            assert engine.pings.cut_off == 1  # the half-open connection was cut, not kept
            # the well-behaved client went through the same ping cycles and is still here
            ack = await alive.call("chat:send", {"room": "r", "text": "still", "cid": "1"})
            assert ack["ok"]
            assert (await alive.wait_for("chat:message"))["text"] == "still"
        finally:
            await silent.close()
            await alive.close()


async def test_ping_wheel_keeps_sub_second_intervals_from_one_task() -> None:
    """At 100 ms / 150 ms (a ping timeout longer than the interval), clients that answer
    get a ping every 100 ms (a whole-second wheel pinged a second apart and cut them off
    before they could answer), one that does not is cut off after interval + timeout,
    and the wheel never runs more than one task."""
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        engine: Any = srv.svc.sio.eio
        engine.ping_interval, engine.ping_timeout = 0.1, 0.15
        wheel_tasks: list[int] = []
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                wheel_tasks.append(sum("PingWheel" in t.get_coro().__qualname__
                                       for t in asyncio.all_tasks()))
                await asyncio.sleep(0.005)

        async def answering() -> list[float]:
            async with await websockets.connect(ws_url(srv.url), ping_interval=None) as ws:
                opened = await ws.recv()
                assert isinstance(opened, str) and opened.startswith("0")
                pings: list[float] = []
                while len(pings) < 6:
                    if await asyncio.wait_for(ws.recv(), 5) == "2":
                        pings.append(time.monotonic())
                        await ws.send("3")
                return pings

        async def silent() -> float:
            # timed from before the connect: the server's clock for it starts at the
            # handshake, and the open packet may reach this (shared, busy) loop much later
            started = time.monotonic()
            async with await websockets.connect(ws_url(srv.url), ping_interval=None) as ws:
                await ws.recv()
                with pytest.raises(websockets.ConnectionClosed):
                    while True:
                        await asyncio.wait_for(ws.recv(), 5)
                return time.monotonic() - started

        sampler = asyncio.ensure_future(sample())
        *answered, lasted = await asyncio.gather(*[answering() for _ in range(20)], silent())
        done.set()
        await sampler
        gaps = sorted(b - a for pings in answered for a, b in zip(pings, pings[1:], strict=False))
        assert gaps[0] >= 0.098  # never before the interval (less a 1 ms tick)
        assert gaps[len(gaps) // 2] < 0.5, gaps  # sub-second, as configured
        assert 0.2 < lasted < 3, lasted
        assert engine.pings.cut_off == 1
        assert wheel_tasks and max(wheel_tasks) <= 1


class _BrokenQueue(SendQueue):
    """The queue of a connection whose transport broke: nothing can be queued."""

    def put_nowait(self, item: Any) -> None:
        raise OSError("transport gone")


async def test_ping_wheel_logs_a_socket_it_cannot_ping_and_serves_the_rest(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="live.engine_socket")
    engine: Any = GuardedEngine(async_mode="aiohttp", ping_interval=0.05, ping_timeout=0.05)
    bad, good = LiveSocket(engine, "bad"), LiveSocket(engine, "good")
    bad.queue = _BrokenQueue()
    for sock in (bad, good):
        sock.schedule_ping()
    # neither answers: both are cut off, the one whose ping could not be queued too
    await eventually(lambda: bad.closed and good.closed)
    assert good.queue.get_nowait().packet_type == eio_packet.PING
    assert good.queue.get_nowait().packet_type == eio_packet.NOOP  # ends a pending poll
    failed = {(r.getMessage(), getattr(r, "eio", None)) for r in caplog.records
              if r.levelno == logging.ERROR}
    assert failed == {("ping failed", "bad"), ("closing after a ping timeout failed", "bad")}
    assert engine.pings.cut_off == 2
