"""Engine.IO sockets that cost less while idle, and less per frame.

Why: a member of a big eTwinning event sits idle for most of an hour. Stock
engineio gives each WebSocket connection, for its whole life, a task sleeping
until the next ping, a writer task parked in `wait_for(queue.get())` (one more
task, a waiter and a timer), and, for every frame read, a new task wrapped in
`wait_for`. `LiveSocket` changes that:

- pings are sent by one timer per server (`PingWheel`), not a task per socket,
  at any interval (sub-second too); a client that does not answer a ping within
  the ping timeout is cut off from there (WebSocket and long-polling);
- no reader task: once the upgrade is done, the connection's WebSocket
  (live/websocket.py, outside aiohttp's request) hands each message to
  `_ws_message`, in a task that runs only while there are some, and its end to
  `_ws_end`; no timer per frame;
- no writer task waits on the queue: one runs only while something is queued
  (`engine.SendQueue.on_put`); the fan-out writes around the queue when idle.

Where engineio departs from the Engine.IO v4 spec, `LiveSocket` follows the spec
(`tests/test_engineio_protocol.py`, the cases of the protocol's own test suite):
the handshake announces the true ping interval (engineio: `int(0.3) * 1000 = 0`);
a second pending long-polling GET, or a POST that is not Engine.IO packets, ends
the session with a 400; a session closed without a CLOSE packet (client CLOSE,
ping timeout, dropped) ends its pending GET with a noop instead of leaving it to
time out; the upgrade's noop goes only to a pending GET (engineio queues it even
when none is pending, and then it goes out on the websocket).

The upgrade handshake (polling -> websocket), packet handling and closing are
otherwise engineio's code, kept as it is. `GuardedEngine` (live/engine.py) makes
its sockets `LiveSocket`s as engineio files them (`seam.adopt_sockets`). Every
method overridden here is a seam checked at start (`live/seam.py`,
"engine-socket"); `tests/test_engine_socket.py` fails if engineio moves what
this relies on.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

log = logging.getLogger(__name__)


class LiveSocket(AsyncSocket):  # type: ignore[misc]
    # the service's own state of a socket (class defaults: engineio's __init__ sets none)
    live_ws: Any = None  # its GuardedWebSocket, once on WebSocket (the fan-out writes there)
    live_dropped = False  # ended by GuardedEngine.drop
    live_acks_due = 0  # its events being handled that get an ack (server.LiveServer)

    async def send(self, pkt: Any) -> None:
        if pkt.packet_type == packet.OPEN:
            # engineio announces int(ping_interval + grace) * 1000 ms: 0 for 0.3 s, and a
            # client that expects a ping every 0 ms gives up on the server
            server = self.server
            pkt.data["pingInterval"] = round(
                (server.ping_interval + server.ping_interval_grace_period) * 1000)
        await super().send(pkt)

    async def handle_get_request(self, environ: dict[str, Any]) -> Any:
        me: Any = self
        if (not (me.upgrading or me.upgraded) and "HTTP_UPGRADE" not in environ
                and self.queue.has_reader()):
            # a second long-polling GET while one is pending: the spec's answer is a 400
            # and the end of the session (engineio would have both wait); the pending one
            # gets the session's CLOSE
            await self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)
            raise exceptions.EngineIOError("duplicate poll")
        return await super().handle_get_request(environ)

    async def handle_post_request(self, environ: dict[str, Any]) -> None:
        try:
            await super().handle_post_request(environ)
        except ValueError as bad:
            # not Engine.IO packets: the spec ends the session (engineio logs it and
            # answers 200); the 400 comes from engineio's EngineIOError handling
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
            raise exceptions.EngineIOError("bad payload") from bad

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        me: Any = self
        polling = abort and not (me.upgraded or me.closing or me.closed)
        await super().close(wait=wait, abort=abort, reason=reason)
        if polling:
            # engineio sends nothing on an abort, so a pending long-polling GET would wait
            # for its timeout: a noop ends it now (as engine.io does); the next is a 400
            self.queue.put_nowait(packet.Packet(packet.NOOP))

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
            if self.queue.has_reader():
                # end the pending poll (engineio queues the noop even when no poll is
                # pending: it then goes out on the websocket, after the upgrade)
                await self.queue.put(packet.Packet(packet.NOOP))
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

        # from here on the connection has no task of its own: the websocket hands each
        # message to `_ws_message` (a task only while there are some), a writer runs only
        # while something is queued (`_send_queued`), and `_ws_end` closes the session
        self.queue.on_put = self._start_writer
        if not self.queue.empty():  # sent during the upgrade
            self._start_writer()
        ws.serve(self._ws_message, self._ws_end)

    def _start_writer(self) -> None:
        queue = self.queue
        queue.sending = True
        queue.writer = asyncio.ensure_future(self._send_queued())

    async def _send_queued(self) -> None:
        # engineio's writer, started only while there is something to send
        queue, ws = self.queue, self.live_ws
        try:
            while not queue.empty():
                pkt = queue.get_nowait()
                queue.task_done()
                if pkt is None:
                    await ws.close()
                    return
                await ws.send(pkt.encode())
        except Exception:
            ws.abort()  # the websocket sees the end and closes the session
        finally:
            queue.sending = False
            queue.writer = None  # (a finished task, kept, would cost an idle member 0.5 KB)

    async def _ws_message(self, p: bytes | str) -> bool:
        """One message from the websocket; False ends the connection."""
        if len(p) > self.server.max_http_buffer_size:
            return False  # engineio: "packet is too large"
        try:
            await self.receive(packet.Packet(encoded_packet=p))
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            return False
        except Exception:
            log.exception("receive failed", extra={"eio": self.sid})
        return True

    async def _ws_end(self) -> None:
        """The websocket is over (closed by either side, cut off, dropped): what is queued
        goes out, then the session closes and leaves the server's table (engineio's
        request did both when its handler returned)."""
        queue = self.queue
        await queue.put(None)  # the writer sends what is queued, then closes the websocket
        if queue.writer is not None:
            await queue.writer
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        sockets = self.server.sockets
        if self.closed and sockets.get(self.sid) is self:
            del sockets[self.sid]


class PingWheel:
    """Engine.IO v4 heartbeats for every socket of a server, from one timer.

    A socket is due a ping `ping_interval` after its last ping cycle completed
    (engineio sleeps in a task per socket for this), and is cut off when it has
    not answered `ping_timeout` after the ping: a silent WebSocket client goes
    `ping_interval + ping_timeout` after it last answered (engineio waits for each
    frame under that timeout; a half-open TCP connection would otherwise hold its
    socket for ever); a long-polling session is closed, its pending GET ended.

    Cost: a socket waiting for its ping is one reference in a bucket of sockets
    due in the same tick (`tick`: a hundredth of the shorter of the two periods,
    1 ms to 1 s, so 200 ms at the service's 20 s); pings may leave up to a tick
    early. A ping awaiting its pong holds one small tuple (due to the millisecond)
    for the moment it is in flight. The buckets' due times are in one heap,
    behind one `loop.call_at` timer for the earliest; a task runs only while due
    buckets are served. No task and no timer per socket.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self._pings: dict[int, list[Any]] = {}  # due (ms, loop clock) -> sockets due a ping
        self._pongs: dict[int, list[Any]] = {}  # due -> (socket, its ping time)
        self._due: list[int] = []  # heap of the buckets' due times
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0
        self._task: asyncio.Task[None] | None = None
        self.cut_off = 0  # clients cut off for not answering a ping (for tests and logs)

    def tick(self) -> float:
        """The granularity of pings, in seconds."""
        shorter = min(self.server.ping_interval, self.server.ping_timeout)
        return float(min(1.0, max(0.001, shorter / 100)))

    def add(self, sock: Any) -> None:
        """Ping `sock` in `ping_interval` (engineio's `schedule_ping`)."""
        loop = asyncio.get_running_loop()
        tick_ms = max(1, round(self.tick() * 1000))
        at = int((loop.time() + self.server.ping_interval) * 1000) // tick_ms * tick_ms
        self._file(self._pings, at, sock, loop)

    def _file(self, buckets: dict[int, list[Any]], at: int, entry: Any,
              loop: asyncio.AbstractEventLoop) -> None:
        bucket = buckets.get(at)
        if bucket is None:
            if at not in self._pings and at not in self._pongs:
                heapq.heappush(self._due, at)
            buckets[at] = bucket = []
        bucket.append(entry)
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None or not self._due:
            return  # serving: it arms the timer when it is done
        first = self._due[0]
        if self._timer is not None:
            if self._timer_at <= first:
                return
            self._timer.cancel()
        self._timer_at = first
        self._timer = loop.call_at(first / 1000, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._due and self._due[0] <= loop.time() * 1000 + 1:
                at = heapq.heappop(self._due)
                for sock in self._pings.pop(at, ()):
                    await self._ping(sock, loop)
                for sock, pinged in self._pongs.pop(at, ()):
                    if sock.last_ping == pinged and not (sock.closing or sock.closed):
                        await self._cut_off(sock)
        finally:
            self._task = None
            self._arm(loop)

    async def _ping(self, sock: Any, loop: asyncio.AbstractEventLoop) -> None:
        if sock.closing or sock.closed or sock.last_ping:
            return  # gone, or pinged already
        sock.last_ping = pinged = time.time()
        at = math.ceil((loop.time() + self.server.ping_timeout) * 1000)
        self._file(self._pongs, at, (sock, pinged), loop)  # a ping that failed is not answered
        try:
            await sock.send(packet.Packet(packet.PING))
        except Exception:
            log.exception("ping failed", extra={"eio": sock.sid})

    async def _cut_off(self, sock: Any) -> None:
        self.cut_off += 1
        log.info("ping timeout: cutting off", extra={"eio": sock.sid})
        ws = sock.live_ws
        if ws is not None:
            ws.abort()  # its reader sees the end
        try:  # (long-polling: LiveSocket.close ends a pending poll)
            await sock.close(wait=False, abort=True, reason=self.server.reason.PING_TIMEOUT)
        except Exception:
            log.exception("closing after a ping timeout failed", extra={"eio": sock.sid})

