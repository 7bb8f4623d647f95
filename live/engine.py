"""The Engine.IO server of the service: bounded send buffers, guarded websockets,
cheap idle sockets.

python-engineio is extended where it leaves a gap (each reach is a seam in
`live/seam.py`):

- A text frame that is not an Engine.IO packet (empty, unknown type, bad
  base64) makes engineio's websocket loop raise before its cleanup, leaving the
  session open until the ping timeout and a traceback in the log.
  `GuardedWebSocket.accept` ends such a connection as if the client had closed it.
- Engineio queues outgoing packets per connection without bound. A client that
  stops reading (its TCP window stays shut) would pin that queue, the writer
  task and the socket forever. `SendQueue` counts the bytes waiting;
  `GuardedEngine.send_packet` aborts the TCP connection of a client past
  `max_send_buffer` bytes, so memory per connection stays bounded and sending
  to a room never waits on its slowest member.
- Sockets are `engine_socket.LiveSocket`s (pings from one wheel, no task per
  frame) and WebSockets are `GuardedWebSocket`s: aiohttp checks and answers the
  upgrade, then the connection is served outside aiohttp's request
  (`live/websocket.py`; `abort_websockets` drops those left when the server
  stops), and the fan-out (`live/fanout.py`) writes to their transport directly.
- `close_transport` (SIGTERM, `server.LiveServer.drain`) flushes what is queued
  and closes the transport, so the client reconnects elsewhere.
- Sessions that have not signed in (`handshakes.Handshakes`): a handshake from an
  address with too many of them is refused with HTTP 429 (`_handle_connect`); each
  new session gets a deadline for its CONNECT (the `connect` event) and is dropped
  when it passes; the `disconnect` event forgets it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import engineio
from aiohttp.web import WebSocketResponse
from engineio import packet as eio_packet

from . import seam
from .engine_socket import LiveSocket, PingWheel
from .handshakes import Handshakes
from .websocket import WebSocketConnection

log = logging.getLogger(__name__)


def _valid_text_frame(data: str) -> bool:
    try:
        pkt = eio_packet.Packet(encoded_packet=data)
    except Exception:
        return False
    return isinstance(pkt.packet_type, int) and 0 <= pkt.packet_type < len(
        eio_packet.packet_names)


class Handshake(WebSocketResponse):
    """aiohttp's answer to a WebSocket upgrade (checks, 101) for a connection then taken
    over (live/websocket.py): when aiohttp ends the request it sends nothing more."""

    async def write_eof(self) -> None:  # type: ignore[override]
        return None  # (aiohttp's would send a CLOSE; the connection is not aiohttp's now)


class GuardedWebSocket(WebSocketConnection):
    """engineio's WebSocket driver: aiohttp answers the upgrade, then the connection is
    served outside aiohttp's request (websocket.py); frames that are not Engine.IO end
    it."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Any, server: Any) -> None:
        super().__init__(server.max_http_buffer_size)
        self._handler = handler  # the engineio socket's `_websocket_handler`
        owner = getattr(handler, "__self__", None)  # the engineio socket it serves
        if owner is not None:
            owner.live_ws = self

    async def __call__(self, environ: dict[str, Any]) -> Any:
        # permessage-deflate stays off (as the Node.js server's default: compressing
        # every frame for every recipient costs more than it saves on small chat frames)
        request = environ["aiohttp.request"]
        handshake = Handshake(max_msg_size=self.max_message, compress=False)
        if not handshake.can_prepare(request).ok:
            await handshake.prepare(request)  # aiohttp refuses it (400), as it always has
            return handshake
        seam.take_over_upgraded(request, self)  # its frames come here, none to aiohttp
        try:
            await handshake.prepare(request)  # the 101
        except BaseException:
            self.abort()
            raise
        finally:
            seam.release_upgraded(request)  # aiohttp's request ends when this returns
        owner = getattr(self._handler, "__self__", None)
        if getattr(owner, "connected", False):
            # an upgrade from long-polling: the session is connected already, and the
            # headers of this request are not read again (a new session's are, at
            # CONNECT, and `Edge.on_connect` slims them then)
            slim_environ(environ)
        handler, self._handler = self._handler, None
        try:
            await handler(self)  # the Engine.IO upgrade exchange, then `serve` (engine_socket)
        except BaseException:
            self.abort()
            raise
        if not self.serving:  # the upgrade was not completed: aiohttp would close it now
            await self.close()
        return handshake

    def accept(self, message: bytes | str) -> bool:
        if isinstance(message, str) and (message.startswith("1")
                                         or not _valid_text_frame(message)):
            # garbage, or a CLOSE packet, after which engineio would keep the websocket open
            # until the ping timeout: end the connection, as on a client close
            log.info("closing a websocket",
                     extra={"frame": "close" if message[:1] == "1" else "bad"})
            return False
        return True


def _size(item: Any) -> int:
    data = getattr(item, "data", None)
    return len(data) if isinstance(data, bytes | str) else 16


class SendQueue:
    """engineio's per-connection outgoing queue, counting the bytes it holds.

    It has the part of `asyncio.Queue`'s interface engineio uses (`put`,
    `put_nowait`, `get`, `get_nowait`, `task_done`, `join`, `empty`, `qsize`),
    for a queue with one reader (the connection's writer), and costs little
    while empty, which is nearly always (live/fanout.py writes around it):
    `asyncio.Queue` holds four deques (~3 KB) from the start, and its `get()`
    is a coroutine that engineio's `wait_for` wraps in a task per wait. Here
    `get()` returns a future, which `wait_for` awaits as it is.

    A WebSocket connection has no reader waiting on it at all: its socket sets
    `on_put` (engine_socket.LiveSocket), which starts a writer only while there
    is something to send.
    """

    __slots__ = ("_items", "_waiter", "_unfinished", "_joiners", "bytes", "on_put", "sending",
                 "writer")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[Any] | None = None  # the reader, waiting
        self._unfinished = 0
        self._joiners: list[asyncio.Future[None]] | None = None
        self.bytes = 0
        self.on_put: Callable[[], None] | None = None  # called when an item waits
        self.sending = False  # a writer started by on_put is at work
        self.writer: asyncio.Task[None] | None = None  # that writer (the last one started)

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def idle(self) -> bool:
        """Nothing queued and nothing being sent: a frame written to the transport now
        comes after everything sent before it."""
        if self._items:
            return False
        if self.on_put is not None:
            return not self.sending
        return self.has_reader()

    def has_reader(self) -> bool:
        """A reader (a long-polling GET) is waiting for the next item."""
        return self._waiter is not None and not self._waiter.done()

    def put_nowait(self, item: Any) -> None:
        self._unfinished += 1
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(item)
            return
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        self.bytes += _size(item)
        if self.on_put is not None and not self.sending:
            self.on_put()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty()
        item = self._items.popleft()
        self.bytes -= _size(item)
        if not self._items:
            self._items = None
        return item

    def get(self) -> asyncio.Future[Any]:
        fut = asyncio.get_running_loop().create_future()
        if self._items:
            fut.set_result(self.get_nowait())
        else:
            if self._waiter is not None and not self._waiter.done():
                raise RuntimeError("SendQueue has one reader")
            self._waiter = fut
        return fut

    def task_done(self) -> None:
        if self._unfinished > 0:
            self._unfinished -= 1
        if not self._unfinished and self._joiners:
            for fut in self._joiners:
                if not fut.done():
                    fut.set_result(None)
            self._joiners = None

    async def join(self) -> None:
        if self._unfinished:
            fut = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(fut)
            await fut


class GuardedEngine(engineio.AsyncServer):  # type: ignore[misc]
    """The Engine.IO server with bounded send buffers and guarded websockets."""

    max_send_buffer = 1 << 20

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seam.use_websocket_driver(self, GuardedWebSocket)
        seam.adopt_sockets(self, LiveSocket)
        self.pings = PingWheel(self)
        self.slow_dropped = 0
        self.dropped_at_bytes = 0  # queued for the last slow consumer dropped
        self._ending: set[asyncio.Task[None]] = set()
        self.handshakes = Handshakes()  # (LiveServer gives the configured one)
        self.use_handshakes(self.handshakes)

    def use_handshakes(self, handshakes: Handshakes) -> None:
        """Follow the sessions not signed in with `handshakes` (its deadline and cap)."""
        handshakes.on_expire = self._expired
        self.handshakes = handshakes

    def on(self, event: str, handler: Any = None) -> Any:
        # python-socketio registers its `connect` and `disconnect` handlers here (engineio's
        # public API): the pending sessions follow them
        if handler is not None and event == "connect":
            handler = self._connecting(handler)
        elif handler is not None and event == "disconnect":
            handler = self._disconnecting(handler)
        return super().on(event, handler)

    def _connecting(self, handler: Any) -> Callable[..., Any]:
        async def connecting(sid: str, environ: dict[str, Any]) -> Any:
            accepted = await handler(sid, environ)
            if accepted is None or accepted is True:  # engineio keeps the session
                self.handshakes.open(sid, environ)
            return accepted

        return connecting

    def _disconnecting(self, handler: Any) -> Callable[..., Any]:
        async def disconnecting(sid: str, reason: Any) -> Any:
            self.handshakes.closed(sid)
            return await handler(sid, reason)

        return disconnecting

    async def _handle_connect(self, environ: dict[str, Any], transport: str,
                              jsonp_index: Any = None) -> Any:
        why = self.handshakes.refusal(environ)
        if why is not None:
            log.info("handshake refused: too many signing in from one address")
            refused = self._bad_request({"code": "rate_limited", "message": why})
            refused["status"] = "429 TOO MANY REQUESTS"
            refused["headers"] = [("Content-Type", "application/json")]
            return refused
        return await super()._handle_connect(environ, transport, jsonp_index)

    def _expired(self, sid: str) -> None:
        if sid in self.sockets:
            task = asyncio.ensure_future(self.drop(sid, "no valid CONNECT in time"))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue()

    def _ok(self, packets: Any = None, headers: Any = None, jsonp_index: Any = None) -> Any:
        response = super()._ok(packets, headers=headers, jsonp_index=jsonp_index)
        if packets is None:
            response["response"] = b"ok"  # the spec's answer to a POST (engineio's: "OK")
        return response

    async def send_packet(self, sid: str, pkt: Any) -> None:
        sock = self.sockets.get(sid)
        queue = getattr(sock, "queue", None)
        if isinstance(queue, SendQueue) and queue.bytes > self.max_send_buffer:
            await self.drop(sid, "slow consumer")
            return
        await super().send_packet(sid, pkt)

    async def drop(self, sid: str, why: str) -> None:
        """End a connection at once, without waiting for its client."""
        sock = self.sockets.get(sid)
        if sock is None or sock.live_dropped:
            return
        sock.live_dropped = True
        if why == "slow consumer":
            self.slow_dropped += 1
            # held for it: in engineio's queue, or in the transport (live/fanout.py writes there)
            transport = getattr(sock.live_ws, "transport", None)
            self.dropped_at_bytes = getattr(sock.queue, "bytes", 0) + (
                transport.get_write_buffer_size() if transport is not None else 0)
            log.warning("dropping a slow consumer",
                        extra={"eio": sid, "queued": self.dropped_at_bytes})
        else:
            log.info("dropping a connection", extra={"eio": sid, "why": why})
        ws = sock.live_ws
        if ws is not None:
            ws.abort()  # its websocket loop and writer end; the session closes now
        await sock.close(wait=False, abort=True, reason=self.reason.TRANSPORT_ERROR)
        if ws is None:
            self.sockets.pop(sid, None)

    def end_unsigned(self, sid: str) -> None:
        """End a session that did not sign in, once what is queued for it (a refused
        CONNECT's `connect_error`) has gone out: a websocket is closed after it; a
        long-polling client gets an Engine.IO CLOSE with it on its next poll, after which
        the session is gone (if it never polls again, by its deadline at the latest)."""
        sock = self.sockets.get(sid)
        if sock is None or sock.closing or sock.closed:
            return
        if sock.live_ws is not None:
            sock.queue.put_nowait(None)  # the writer sends what is queued, then closes the ws
            return
        task = asyncio.ensure_future(self._end_polling(sock))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def _end_polling(self, sock: Any) -> None:
        try:
            await sock.send(eio_packet.Packet(eio_packet.CLOSE))
            # until the client has fetched it all (bounded: one that stops polling is gone)
            await asyncio.wait_for(sock.queue.join(), self.handshakes.deadline_s)
        except TimeoutError:
            pass
        except Exception:
            log.exception("ending a session failed", extra={"eio": sock.sid})
        if not (sock.closing or sock.closed):
            await sock.close(wait=False, abort=True, reason=self.reason.SERVER_DISCONNECT)

    async def abort_websockets(self, wait: float) -> None:
        """Drop every WebSocket connection left (the server is stopping: aiohttp no longer
        holds them, live/websocket.py), and wait at most `wait` seconds for their
        sessions to close."""
        for sock in list(self.sockets.values()):
            if sock.live_ws is not None:
                sock.live_ws.abort()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        # their sessions close as each connection's end is handed over: look every 10 ms
        while (any(s.live_ws is not None for s in self.sockets.values())  # noqa: ASYNC110
               and loop.time() < deadline):
            await asyncio.sleep(0.01)

    async def close_transport(self, sid: str) -> None:
        """Flush what is queued for `sid`, then close its transport (it reconnects)."""
        sock = self.sockets.get(sid)
        if sock is None:
            return
        if sock.live_ws is not None:
            await sock.queue.put(None)  # the writer sends what is queued, then closes the ws
        else:
            await sock.close(wait=False, abort=False, reason=self.reason.SERVER_DISCONNECT)


def slim_environ(environ: dict[str, Any]) -> None:
    """Drop a connection's request headers and the aiohttp request from its environ
    (kept by python-socketio for the connection's life; nothing reads them after
    CONNECT): about 1 KB per idle member, and the request with its parsed head."""
    kept = {k: v for k, v in environ.items()
            if not k.startswith("HTTP_") and k != "aiohttp.request"}
    environ.clear()  # releases the table; deleting keys one by one would not
    environ.update(kept)


