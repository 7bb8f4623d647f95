"""Engine.IO sockets that cost less while idle (live/engine_socket.py, guards.SendQueue):
pings from one loop, no task per frame, the queue's future awaited directly — and the
Engine.IO behaviour clients rely on unchanged (upgrade, pings, ping timeout, order)."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
import socketio
import websockets
from engineio.async_server import AsyncServer as EngineServer
from engineio.async_socket import AsyncSocket

from live.engine_socket import LiveSocket
from live.guards import SendQueue

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


async def test_send_queue_behaves_as_engineio_expects() -> None:
    q = SendQueue()
    assert q.empty() and q.qsize() == 0 and not q.idle()  # polling: nobody waits yet
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    waiting = q.get()  # the reader waits on an empty queue
    assert q.idle()
    with pytest.raises(RuntimeError):
        q.get()  # one reader only
    q.put_nowait("a")  # handed straight to the waiting reader
    assert await waiting == "a" and q.empty() and not q.idle()
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
