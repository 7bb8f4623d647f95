"""Engine.IO sockets that cost less while idle, and less per frame.

Why: a member of a big eTwinning event sits idle for most of an hour. Stock
engineio gives each WebSocket connection, for its whole life, a task sleeping
until the next ping, a writer task parked in `wait_for(queue.get())` (one more
task, a waiter and a timer), and, for every frame read, a new task wrapped in
`wait_for`. `LiveSocket` changes only that, and only for the WebSocket
transport (long-polling is engineio's, unchanged):

- pings are sent by one loop per server (`PingWheel`), not a task per socket;
- the reader awaits each frame directly, no task and no timer per frame; the
  client that goes silent for a ping cycle is cut off by that same loop;
- no writer task waits on the queue: one runs only while something is queued
  (`guards.SendQueue.on_put`); the fan-out writes around the queue when idle.

The upgrade handshake (polling -> websocket), packet handling and closing are
engineio's code, kept as it is. `GuardedEngine` makes its sockets
`LiveSocket`s as engineio files them (`SocketTable`). `tests/test_engine_socket.py`
fails if engineio moves what this relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

log = logging.getLogger(__name__)


class LiveSocket(AsyncSocket):  # type: ignore[misc]
    def schedule_ping(self) -> None:
        me: Any = self  # engineio's attributes are untyped
        # engineio: only schedule a new ping if the previous ping wait cycle completed
        if me.last_ping:
            me.last_ping = None
            wheel = getattr(self.server, "pings", None)
            if wheel is None:
                super().schedule_ping()
            else:
                wheel.add(self)

    async def _websocket_handler(self, ws: Any) -> None:
        server = self.server

        async def websocket_wait() -> Any:
            data = await ws.wait()
            if data and len(data) > server.max_http_buffer_size:
                raise ValueError("packet is too large")
            return data

        me: Any = self
        if me.connected:
            # engineio's upgrade from long-polling, as it is
            self.upgrading = True  # hold packet sends during the upgrade
            try:
                pkt = await websocket_wait()
            except OSError:
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.PING or decoded.data != "probe":
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # end poll
            try:
                pkt = await websocket_wait()
            except OSError:
                self.upgrading = False
                return
            decoded = packet.Packet(encoded_packet=pkt)
            if decoded.packet_type != packet.UPGRADE:
                self.upgraded = False
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        queue = self.queue
        writer: asyncio.Task[None] | None = None

        async def send_queued() -> None:
            # engineio's writer, started only while there is something to send
            try:
                while not queue.empty():
                    pkt = queue.get_nowait()
                    queue.task_done()
                    if pkt is None:
                        await ws.close()
                        return
                    await ws.send(pkt.encode())
            except Exception:
                ws.abort()  # the reader sees the end and closes the session
            finally:
                queue.sending = False

        def on_put() -> None:
            nonlocal writer
            queue.sending = True
            writer = asyncio.ensure_future(send_queued())

        queue.on_put = on_put
        if not queue.empty():  # sent during the upgrade
            on_put()
        clock = asyncio.get_running_loop().time
        with contextlib.suppress(asyncio.CancelledError):  # stopping: close as engineio does
            while True:
                # a client silent for a ping cycle is cut off by the PingWheel
                me.live_heard = clock()
                try:
                    p = await ws.wait()  # not websocket_wait(): one frame less per member
                except asyncio.CancelledError:
                    raise
                except Exception:
                    break
                if p is None:  # closed by the client, or cut off
                    break
                if len(p) > server.max_http_buffer_size:
                    break  # engineio: "packet is too large"
                try:
                    await self.receive(packet.Packet(encoded_packet=p))
                except exceptions.UnknownPacketError:
                    pass
                except exceptions.SocketIsClosedError:
                    break
                except Exception:
                    log.exception("receive failed", extra={"eio": self.sid})
        await queue.put(None)  # the writer sends what is queued, then closes the websocket
        if writer is not None:
            await writer
        await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


class PingWheel:
    """Engine.IO v4 pings for every socket of a server, from one task: a socket is
    due `ping_interval` after its last ping cycle completed (engineio sleeps in a
    task per socket for this). Each second it also cuts off WebSocket clients that
    sent nothing for `ping_interval + ping_timeout` (engineio waits for each frame
    under that timeout; a half-open TCP connection would otherwise hold its socket
    for ever)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._due: dict[int, list[Any]] = {}  # second -> LiveSockets due then
        self._task: asyncio.Task[None] | None = None
        self.cut_off = 0  # silent clients cut off (for tests and logs)

    def add(self, sock: Any) -> None:
        at = int(time.monotonic() + self.server.ping_interval) + 1
        self._due.setdefault(at, []).append(sock)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._due or self.server.sockets:
            await asyncio.sleep(1.0 - time.monotonic() % 1.0)
            now = time.monotonic()
            for at in sorted(t for t in self._due if t <= now):
                for sock in self._due.pop(at):
                    if sock.closing or sock.closed:
                        continue
                    sock.last_ping = time.time()
                    with contextlib.suppress(Exception):
                        await sock.send(packet.Packet(packet.PING))
            self._cut_off_silent(loop.time())

    def _cut_off_silent(self, now: float) -> None:
        limit = self.server.ping_interval + self.server.ping_timeout
        for sock in list(self.server.sockets.values()):
            heard = getattr(sock, "live_heard", None)
            if heard is not None and now - heard > limit:
                ws = getattr(sock, "live_ws", None)
                if ws is not None:
                    sock.live_heard = None  # once
                    self.cut_off += 1
                    log.info("silent client cut off", extra={"eio": sock.sid})
                    ws.abort()  # its reader sees the end and closes the session


class SocketTable(dict[str, Any]):
    """engineio's `sockets` table: each socket filed is made a `LiveSocket`."""

    def __setitem__(self, sid: str, sock: Any) -> None:
        if type(sock) is AsyncSocket:
            sock.__class__ = LiveSocket
        super().__setitem__(sid, sock)
