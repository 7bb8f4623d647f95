"""Every reach into python-socketio's, python-engineio's, aiohttp's, wsproto's,
redis-py's and PyJWT's internals, named in one place and checked at start.

Why: the service is fast and bounded because it goes around these libraries at a
few points (live/fanout.py writes frames straight to transports, live/engine.py
and live/engine_socket.py make idle connections cheap and send buffers bounded,
live/server.py guards packets and drains, live/redis_backend/ drives Redis
connections itself). A library release can move any of these without an import
error. So each reach is a `Seam` below, read from the pinned sources
(`PINNED`, pinned exactly in pyproject.toml and the lock file); `check()` runs
when the service is built and raises `SeamMoved` naming the seam that moved;
`tests/test_seams.py` pins each seam and shows that breaking it is named.

The overriding methods live in the classes that need them (named per seam); the
reaches that are not overrides (taking over a redis-py connection, the engineio
driver table, the class of engineio's sockets) live here as functions.

python-socketio
- `server-engine-class`: `AsyncServer._engineio_server_class()` gives the Engine.IO
  server class; `LiveServer` returns `GuardedEngine` (server.py).
- `server-send-packet`: `AsyncServer._send_packet(eio_sid, pkt)`, the one exit of
  packets to a client; `LiveServer` writes binary ones directly (server.py).
- `server-eio-message`: `AsyncServer._handle_eio_message(eio_sid, data)`, the one
  entry of client frames; `LiveServer` ends a malformed packet's connection.
- `server-event`: `AsyncServer._handle_event_internal(server, sid, eio_sid, data,
  namespace, id)`, which runs an event's handler and sends its ack; `LiveServer`
  counts events in flight and refuses new ones while draining.
- `server-trigger`: `AsyncServer._trigger_event(event, namespace, *args)` runs
  `self.handlers[namespace][event]`, when there is one and it is a coroutine
  function, as `await handler(*args)`, a cancellation giving None (the reserved
  events aside); `LiveServer` does the same without asking
  `inspect.iscoroutinefunction` per event (server.py).
- `server-connect`: `AsyncServer._handle_connect(eio_sid, namespace, data)` has
  queued a refused CONNECT's `connect_error` and taken the sid out of the manager
  (`sid_from_eio_sid` gives None) by the time `_handle_eio_message` returns, and
  engineio hands a session's packets over one at a time (`async_handlers` False);
  `LiveServer` then closes a transport that has not signed in (server.py).
- `manager-rooms`: `AsyncManager.basic_enter_room`, `basic_leave_room`,
  `get_participants` and the `rooms` table (namespace -> room -> sid -> eio sid),
  through which `FastEmitManager` finds recipients (fanout.py); it also keeps each
  connection's rooms itself and does what `get_rooms`, `pre_disconnect` and
  `basic_disconnect` do with them (`pending_disconnect`, which `is_connected` reads,
  holds dicts).
- `msgpack-packet`: `msgpack_packet.MsgPackPacket` encodes with `dumps_default`
  and decodes in `decode(encoded_packet)`; `LivePacket` overrides both (wire.py).
python-engineio
- `engine-websocket-driver`: `AsyncServer._async["websocket"]`, the driver class
  `AsyncSocket._upgrade_websocket` instantiates as `(handler, server)`;
  `use_websocket_driver` gives one server `GuardedWebSocket` (engine.py).
- `engine-queue`: `AsyncServer.create_queue()` makes each socket's outgoing queue
  (`SendQueue`, engine.py); `send_packet(sid, pkt)` queues a packet.
- `engine-sockets`: `_handle_connect` files each new `AsyncSocket(self, sid)` in
  `self.sockets[sid]`; `adopt_sockets` makes that table give them our class.
- `engine-connect`: `AsyncServer._handle_connect(environ, transport, jsonp_index)`
  makes a session for a handshake and returns the response dict (`status`,
  `headers`, `response`, as `_bad_request` builds it) that `handle_request` sends;
  it fires the `connect` event with `(sid, environ)` (a result other than None or
  True refuses the session) and `AsyncSocket.close` the `disconnect` event;
  `GuardedEngine` refuses handshakes over the cap per address (HTTP 429) and
  follows sessions not signed in through those events (engine.py, handshakes.py).
- `engine-socket`: `AsyncSocket`'s state (`last_ping`, `connected`, `upgrading`,
  `upgraded`, `closing`, `closed`, `queue`), `schedule_ping()` and
  `_websocket_handler(ws)`, which `LiveSocket` replaces, and `send(pkt)`,
  `handle_get_request(environ)`, `handle_post_request(environ)` and
  `close(wait, abort, reason)`, which it extends (engine_socket.py).
- `engine-ok`: `AsyncServer._ok(packets, headers, jsonp_index)` builds the answer
  to a long-polling request; `GuardedEngine` answers a POST `ok` (engine.py).
aiohttp
- `aiohttp-request`: engineio's environ carries the aiohttp request as
  `environ["aiohttp.request"]` (`slim_environ` drops it once read, at CONNECT).
- `aiohttp-upgrade`: a WebSocket connection taken over from aiohttp once it has
  checked the upgrade (live/websocket.py, engine.GuardedWebSocket):
  `take_over_upgraded` moves the bytes `RequestHandler` buffered past the request's
  head (`_message_tail`) and the transport (`set_protocol`) to our protocol before
  `WebSocketResponse.prepare` writes the 101 through `request._protocol.transport`;
  `release_upgraded` sets the handler's `transport` to None (so `force_close` closes
  nothing) and calls its `connection_lost(None)`, which tells the server
  (`_manager.connection_lost`) and does not cancel the request with the service's
  default `handler_cancellation=False` (`take_over_upgraded` refuses the upgrade, 500,
  where it is on); the request then ends, and
  `RequestHandler.finish_response` calls the response's `write_eof()`, which
  `engine.Handshake` makes send nothing.
wsproto
- `wsproto-frames`: `FrameProtocol` parses a connection's frames with a
  `_frame_decoder` (`FrameDecoder`: `header` None and an empty `buffer` between
  frames); `frames_idle` tells when a parser can be dropped (live/websocket.py).
redis-py
- `redis-connection`: `ConnectionPool.make_connection()`, `connect()` and the
  connection's `_writer` (an asyncio StreamWriter) whose transport `taken_over`
  hands to the bus reader and the append pipeline (live/redis_backend/).
- `redis-sentinel-connection`: with Sentinel, a `SentinelConnectionPool`'s connection
  (`SentinelManagedConnection`) asks the pool for the primary's address in `connect()`
  (`_connect_retry` -> `connection_pool.get_master_address()` -> `connect_to`), so a
  connection `taken_over` makes goes to the current primary; `client._SentinelPool`
  closes the pool's `sentinel_manager` with it (live/redis_backend/client.py).
- `redis-resp`: the RESP bytes `pipeline.pack_command` writes are those of
  `Connection.pack_command`.
PyJWT
- `jwt-segments`: `PyJWS._load` decodes each segment of a token with the static
  `_decode_base64url_segment(segment, name)` (padding, alphabet, canonical encoding:
  `tokens.SegmentCheckedJWS` makes the same checks faster), and `PyJWT` verifies
  through the `PyJWS` its `__init__` makes as `self._jws` (`tokens._JWT` makes its own).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import engineio
import socketio
import socketio.base_server
from aiohttp import web, web_protocol, web_ws
from engineio import async_server as eio_server
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from jwt.api_jws import PyJWS
from jwt.api_jwt import PyJWT
from redis.asyncio.connection import AbstractConnection, Connection, ConnectionPool
from redis.asyncio.sentinel import SentinelConnectionPool, SentinelManagedConnection
from socketio import msgpack_packet
from wsproto import frame_protocol

log = logging.getLogger(__name__)

# the versions these seams were read from (pyproject.toml pins the same)
PINNED = {
    "python-socketio": "5.18.1",
    "python-engineio": "4.15.1",
    "aiohttp": "3.14.5",
    "redis": "8.1.0",
    "hiredis": "3.5.0",
    "msgpack": "1.2.4",
    "wsproto": "1.3.2",
    "pyjwt": "2.15.1",
}


class SeamMoved(RuntimeError):
    """A library no longer has what the service reaches into."""

    def __init__(self, seam: str, what: str) -> None:
        super().__init__(f"seam '{seam}' moved: {what} "
                         f"(read from {', '.join(f'{k}=={v}' for k, v in PINNED.items())})")
        self.seam = seam


@dataclass(frozen=True)
class Seam:
    name: str
    owner: Any  # the class or module reached into (tests break it there)
    attr: str
    check: Callable[[], None]


def _params(seam: str, func: Any, names: tuple[str, ...]) -> None:
    try:
        got = tuple(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        raise SeamMoved(seam, f"{func!r} is not a function") from None
    if got != names:
        raise SeamMoved(seam, f"{getattr(func, '__qualname__', func)} takes {got}, not {names}")


def _source(seam: str, func: Any, *markers: str) -> None:
    try:
        text = inspect.getsource(func)
    except (TypeError, OSError):
        raise SeamMoved(seam, f"no source for {func!r}") from None
    for marker in markers:
        if marker not in text:
            raise SeamMoved(seam, f"{getattr(func, '__qualname__', func)} no longer has "
                                  f"`{marker}`")


def _has(seam: str, owner: Any, *names: str) -> None:
    for name in names:
        if not hasattr(owner, name):
            raise SeamMoved(seam, f"{getattr(owner, '__name__', owner)}.{name} is gone")


# -- the checks ---------------------------------------------------------------------
S = socketio.AsyncServer
E = engineio.AsyncServer


def _server_engine_class() -> None:
    _params("server-engine-class", S._engineio_server_class, ("self",))
    _source("server-engine-class", socketio.base_server.BaseServer.__init__,
            "self.eio = self._engineio_server_class()(")


def _server_send_packet() -> None:
    _params("server-send-packet", S._send_packet, ("self", "eio_sid", "pkt"))
    _source("server-send-packet", S._send_packet, "pkt.encode()",
            "await self.eio.send(eio_sid, encoded_packet)")


def _server_eio_message() -> None:
    _params("server-eio-message", S._handle_eio_message, ("self", "eio_sid", "data"))


def _server_event() -> None:
    _params("server-event", S._handle_event_internal,
            ("self", "server", "sid", "eio_sid", "data", "namespace", "id"))
    _source("server-event", S._handle_event, "self._handle_event_internal")


def _server_trigger() -> None:
    _params("server-trigger", S._trigger_event, ("self", "event", "namespace", "args"))
    _source("server-trigger", socketio.base_server.BaseServer._get_event_handler,
            "if event in self.handlers[namespace]:",
            "handler = self.handlers[namespace][event]")
    _source("server-trigger", S._trigger_event, "inspect.iscoroutinefunction(handler)",
            "ret = await handler(*args)", "except asyncio.CancelledError:", "ret = None")


def _server_connect() -> None:
    _params("server-connect", S._handle_connect, ("self", "eio_sid", "namespace", "data"))
    _source("server-connect", S._handle_connect, "packet.CONNECT_ERROR",
            "await self.manager.disconnect(sid, namespace")
    _source("server-connect", socketio.base_server.BaseServer.__init__,
            "engineio_options['async_handlers'] = False")
    _has("server-connect", socketio.AsyncManager, "sid_from_eio_sid")


def _manager_rooms() -> None:
    m = socketio.AsyncManager
    _params("manager-rooms", m.basic_enter_room, ("self", "sid", "namespace", "room", "eio_sid"))
    _params("manager-rooms", m.basic_leave_room, ("self", "sid", "namespace", "room"))
    _params("manager-rooms", m.get_participants, ("self", "namespace", "room"))
    _source("manager-rooms", m.basic_enter_room, "self.rooms[namespace][room][sid] = eio_sid")
    # FastEmitManager's own get_rooms, pre_disconnect and basic_disconnect do what these do
    _params("manager-rooms", m.basic_disconnect, ("self", "sid", "namespace", "kwargs"))
    _source("manager-rooms", m.basic_disconnect, "if sid in room:",
            "self.basic_leave_room(sid, namespace, room)", "del self.callbacks[sid]",
            "self.pending_connect[namespace].remove(sid)",
            "self.pending_disconnect[namespace].remove(sid)")
    _params("manager-rooms", m.pre_disconnect, ("self", "sid", "namespace"))
    _source("manager-rooms", m.pre_disconnect, "self.pending_disconnect[namespace].append(sid)",
            "return self.rooms[namespace][None].get(sid)")
    _source("manager-rooms", m.is_connected, "sid in self.pending_disconnect[namespace]")
    _source("manager-rooms", m.get_rooms, "if room_name is not None and sid in room:")


def _msgpack_packet() -> None:
    p = msgpack_packet.MsgPackPacket
    _has("msgpack-packet", p, "dumps_default", "decode", "encode")
    _params("msgpack-packet", p.decode, ("self", "encoded_packet"))
    _source("msgpack-packet", p.encode, "default=self.__class__.dumps_default")


def _engine_websocket_driver() -> None:
    _source("engine-websocket-driver", AsyncSocket._upgrade_websocket,
            "self.server._async['websocket'](", "self._websocket_handler, self.server)")
    table = getattr(eio_aiohttp, "_async", None)
    if not isinstance(table, dict) or table.get("websocket") is not eio_aiohttp.WebSocket:
        raise SeamMoved("engine-websocket-driver", "aiohttp driver table has no websocket")


def _engine_queue() -> None:
    _params("engine-queue", E.create_queue, ("self", "args", "kwargs"))
    _params("engine-queue", E.send_packet, ("self", "sid", "pkt"))
    _source("engine-queue", AsyncSocket.send, "self.queue.put(pkt)")


def _engine_sockets() -> None:
    _source("engine-sockets", eio_server.AsyncServer._handle_connect,
            "s = async_socket.AsyncSocket(self, sid)", "self.sockets[sid] = s")


def _engine_connect() -> None:
    _params("engine-connect", E._handle_connect, ("self", "environ", "transport", "jsonp_index"))
    _source("engine-connect", E._handle_connect, "self._trigger_event('connect', sid, environ",
            "if ret is not None and ret is not True:")
    _source("engine-connect", E.handle_request, "r = await self._handle_connect(environ",
            "return await self._make_response(r, environ)")
    _source("engine-connect", E._bad_request, "'status':", "'headers':", "'response':")
    _source("engine-connect", AsyncSocket.close, "'disconnect', self.sid")


def _engine_socket() -> None:
    _params("engine-socket", AsyncSocket._websocket_handler, ("self", "ws"))
    _params("engine-socket", AsyncSocket.schedule_ping, ("self",))
    _params("engine-socket", AsyncSocket.send, ("self", "pkt"))
    _params("engine-socket", AsyncSocket.handle_get_request, ("self", "environ"))
    _params("engine-socket", AsyncSocket.handle_post_request, ("self", "environ"))
    _params("engine-socket", AsyncSocket.close, ("self", "wait", "abort", "reason"))
    _source("engine-socket", AsyncSocket.schedule_ping, "if self.last_ping:")
    _source("engine-socket", AsyncSocket._websocket_handler, "self.upgrading = True",
            "self.upgraded = True", "self.connected = True", "await self.receive(")
    init = inspect.getsource(AsyncSocket.__mro__[1].__init__)
    for name in ("last_ping", "connected", "upgrading", "upgraded", "closing", "closed", "queue"):
        if f"self.{name} = " not in init:
            raise SeamMoved("engine-socket", f"engineio sockets no longer set `{name}`")


def _engine_ok() -> None:
    _params("engine-ok", E._ok, ("self", "packets", "headers", "jsonp_index"))
    _source("engine-ok", E._ok, "'response'")


def _aiohttp_request() -> None:
    _source("aiohttp-request", eio_aiohttp.translate_request, "'aiohttp.request': request")


def _aiohttp_upgrade() -> None:
    name, handler = "aiohttp-upgrade", web_protocol.RequestHandler
    _params(name, handler.connection_lost, ("self", "exc"))
    _source(name, handler.connection_lost, "self._manager.connection_lost(self, exc)",
            "self.force_close()", "handler_cancellation = self._manager.handler_cancellation",
            "if handler_cancellation and self._task_handler")
    _source(name, handler.force_close, "if self.transport is not None:")
    _source(name, handler.data_received, "self._message_tail = tail")
    _source(name, handler.finish_response, "await resp.write_eof()")
    _source(name, web_ws.WebSocketResponse._pre_start,
            "transport = request._protocol.transport")
    if "_message_tail" not in getattr(handler, "__slots__", ()):
        raise SeamMoved(name, "RequestHandler has no _message_tail")


def _wsproto_frames() -> None:
    name = "wsproto-frames"
    _source(name, frame_protocol.FrameProtocol.__init__,
            "self._frame_decoder = FrameDecoder(")
    _source(name, frame_protocol.FrameDecoder.__init__, "self.buffer = Buffer()",
            "self.header: Header | None = None")
    _has(name, frame_protocol.Buffer, "__len__")


def _redis_connection() -> None:
    _params("redis-connection", ConnectionPool.make_connection, ("self",))
    _has("redis-connection", AbstractConnection, "connect")
    _source("redis-connection", Connection._connect, "self._writer = writer")


def _redis_sentinel_connection() -> None:
    name, conn = "redis-sentinel-connection", SentinelManagedConnection
    _params(name, conn.connect, ("self",))
    _source(name, conn._connect_retry, "self.connection_pool.is_master",
            "self.connect_to(await self.connection_pool.get_master_address())")
    _source(name, conn.connect_to, "self.host, self.port = address")
    _source(name, SentinelConnectionPool.__init__, "self.sentinel_manager = sentinel_manager",
            "super().__init__(**kwargs)")


def _redis_resp() -> None:
    from .redis_backend.pipeline import pack_command

    args: list[bytes | str | int] = [3, b"k\r\n1", "cl\u00e9", "", 0, -7]
    try:
        theirs = b"".join(Connection().pack_command("EVALSHA", "abc", *args))
    except Exception as exc:
        raise SeamMoved("redis-resp", f"Connection.pack_command failed: {exc!r}") from None
    if pack_command((b"EVALSHA", b"abc"), *args) != theirs:
        raise SeamMoved("redis-resp", "redis-py packs commands differently")


def _jwt_segments() -> None:
    name = "jwt-segments"
    _params(name, PyJWS._decode_base64url_segment, ("segment", "name"))
    _source(name, PyJWS._decode_base64url_segment, "padding > 2",
            "if padding and len(segment) % 4 != 0", "len(stripped) % 4 == 1",
            "character not in _BASE64URL_ALPHABET", "base64url_encode(decoded) != stripped")
    _source(name, PyJWS._load, "self._decode_base64url_segment(header_segment",
            "self._decode_base64url_segment(payload_segment",
            "self._decode_base64url_segment(crypto_segment")
    _source(name, PyJWT.__init__, "self._jws = PyJWS(options=self._get_sig_options())")
    _source(name, PyJWT.decode_complete, "self._jws.decode_complete(")


SEAMS: tuple[Seam, ...] = (
    Seam("server-engine-class", S, "_engineio_server_class", _server_engine_class),
    Seam("server-send-packet", S, "_send_packet", _server_send_packet),
    Seam("server-eio-message", S, "_handle_eio_message", _server_eio_message),
    Seam("server-event", S, "_handle_event_internal", _server_event),
    Seam("server-trigger", S, "_trigger_event", _server_trigger),
    Seam("server-connect", S, "_handle_connect", _server_connect),
    Seam("manager-rooms", socketio.AsyncManager, "basic_enter_room", _manager_rooms),
    Seam("msgpack-packet", msgpack_packet.MsgPackPacket, "decode", _msgpack_packet),
    Seam("engine-websocket-driver", AsyncSocket, "_upgrade_websocket",
         _engine_websocket_driver),
    Seam("engine-queue", E, "create_queue", _engine_queue),
    Seam("engine-sockets", eio_server.AsyncServer, "_handle_connect", _engine_sockets),
    Seam("engine-connect", E, "_handle_connect", _engine_connect),
    Seam("engine-socket", AsyncSocket, "_websocket_handler", _engine_socket),
    Seam("engine-ok", E, "_ok", _engine_ok),
    Seam("aiohttp-request", eio_aiohttp, "translate_request", _aiohttp_request),
    Seam("aiohttp-upgrade", web_protocol.RequestHandler, "connection_lost", _aiohttp_upgrade),
    Seam("wsproto-frames", frame_protocol.FrameProtocol, "__init__", _wsproto_frames),
    Seam("redis-connection", ConnectionPool, "make_connection", _redis_connection),
    Seam("redis-sentinel-connection", SentinelManagedConnection, "_connect_retry",
         _redis_sentinel_connection),
    Seam("redis-resp", Connection, "pack_command", _redis_resp),
    Seam("jwt-segments", PyJWS, "_decode_base64url_segment", _jwt_segments),
)


def versions() -> dict[str, str]:
    """The installed versions of the libraries the seams were read from."""
    return {name: importlib.metadata.version(name) for name in PINNED}


_checked = False


def check() -> None:
    """Raise `SeamMoved` naming the first seam a library moved; warn when a library
    is not the version the seams were read from (every seam still holding). Once per
    process: the libraries do not change under it."""
    global _checked
    if _checked:
        return
    for seam in SEAMS:
        seam.check()
    drift = {k: v for k, v in versions().items() if v != PINNED[k]}
    if drift:
        log.warning("libraries differ from the pinned versions; every seam still holds",
                    extra={"versions": drift})
    _checked = True


# -- the reaches that are not overrides ---------------------------------------------
async def taken_over(pool: ConnectionPool) -> tuple[AbstractConnection, asyncio.Transport]:
    """A new connection that redis-py opens (URL, TLS, AUTH, SELECT, client name; from a
    sentinel pool, to the current primary) and whose transport the caller then drives
    itself (`transport.set_protocol`). Keep `conn` (and a sentinel pool) referenced while
    the transport is in use: redis-py closes the transport when its connection object is
    collected. Seams `redis-connection`, `redis-sentinel-connection`."""
    conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
    await conn.connect()  # type: ignore[no-untyped-call]
    writer: Any = conn._writer  # redis-py's StreamWriter
    transport: asyncio.Transport = writer.transport
    return conn, transport


def take_over_upgraded(request: web.BaseRequest, protocol: asyncio.Protocol) -> None:
    """The connection of `request`, a WebSocket upgrade not yet answered, delivers its
    bytes to `protocol` from now on (first those aiohttp read past the request's head);
    aiohttp can still write the answer through it. Seam `aiohttp-upgrade`."""
    handler: Any = request.protocol
    if handler._manager.handler_cancellation:
        # release_upgraded's connection_lost would then cancel the request mid-upgrade
        raise RuntimeError("WebSocket take-over needs aiohttp's handler_cancellation=False")
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("connection lost")
    tail: bytes = handler._message_tail
    handler._message_tail = b""
    transport.set_protocol(protocol)
    protocol.connection_made(transport)
    if tail:
        protocol.data_received(tail)


def release_upgraded(request: web.BaseRequest) -> None:
    """aiohttp lets go of the connection of `request` (answered and taken over): its
    handler writes to and closes nothing more, the server stops counting it, and the
    request (with its handler's task) ends when the request handler returns. Seam
    `aiohttp-upgrade`."""
    handler: Any = request.protocol
    handler.transport = None
    handler.connection_lost(None)


def frames_idle(parser: frame_protocol.FrameProtocol) -> bool:
    """`parser` holds no part of a frame (it may be dropped if no message is partly
    read either). Seam `wsproto-frames`."""
    decoder: Any = parser._frame_decoder
    return decoder.header is None and not len(decoder.buffer)


def use_websocket_driver(engine: Any, driver: type) -> None:
    """This Engine.IO server (only) serves WebSockets with `driver`. Seam
    `engine-websocket-driver`: the driver table is module-level and shared by every
    server, so the server gets a copy."""
    table: dict[str, Any] = engine._async
    engine._async = {**table, "websocket": driver}


class _SocketTable(dict[str, Any]):
    """engineio's `sockets` table, whose sockets are filed as `cls`."""

    cls: type = AsyncSocket

    def __setitem__(self, sid: str, sock: Any) -> None:
        if type(sock) is AsyncSocket:
            sock.__class__ = self.cls
        super().__setitem__(sid, sock)


def adopt_sockets(engine: Any, cls: type) -> None:
    """The sockets this Engine.IO server makes are `cls` (a subclass of `AsyncSocket`
    adding no state of its own to `__init__`). Seam `engine-sockets`: engineio makes
    `AsyncSocket(self, sid)` and files it in `self.sockets`, the one place to catch it."""
    if not issubclass(cls, AsyncSocket):
        raise TypeError("adopted sockets must extend engineio's AsyncSocket")
    table = _SocketTable(engine.sockets)
    table.cls = cls
    engine.sockets = table
