"""The Socket.IO server of the service: python-socketio's, with five changes.

Each override is a seam in `live/seam.py`:
- acks and packets to one client take the fan-out's direct write when the
  connection's writer is idle (`_send_packet`; live/fanout.py keeps the order);
- a Socket.IO packet that a client may not send (`wire.MalformedPacket`) ends
  that client's connection, as socket.io's own server does; nobody else notices
  (`_handle_eio_message`);
- an event nobody handles is answered `bad_request`;
- a session's first packet must be a CONNECT that succeeds: once a refused
  CONNECT's `connect_error` (or the answer to anything else) is queued, the
  transport is closed (`_handle_eio_message`, with live/handshakes.py, which also
  closes a session that has not signed in within its deadline);
- `drain` (SIGTERM) lets in-flight events finish and flush their acks, then
  closes every transport: socket.io-client treats a closed transport as
  "transport close" and reconnects (to another process behind the balancer),
  whereas a Socket.IO DISCONNECT would make it stay disconnected
  (`_handle_event_internal` counts events in flight and refuses new ones);
- an event's handler is run as python-socketio runs it, but whether it is a
  coroutine function is asked once per handler, not once per event
  (`_trigger_event`: `inspect.iscoroutinefunction` is a dozen Python calls).
Besides, `start_background_task` (public API; each event's task) finds the loop
without the system call Python 3.11 makes for it (rooms/eventloop.py).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from rooms.errors import BadRequest, Unavailable
from rooms.eventloop import running_loop

from .acks import error_ack
from .engine import GuardedEngine
from .handshakes import Handshakes
from .wire import MalformedPacket

log = logging.getLogger(__name__)


class LiveServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server: fast acks, malformed packets, unknown events, draining."""

    def __init__(self, *args: Any, max_send_buffer: int = 1 << 20,
                 handshakes: Handshakes | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.eio.max_send_buffer = max_send_buffer
        if handshakes is not None:  # the sessions not signed in (deadline, cap per address)
            self.eio.use_handshakes(handshakes)
        self.inflight = 0
        self.draining = False
        self.malformed = 0
        self._idle = asyncio.Event()
        self._coroutine: dict[Any, bool] = {}  # handler -> is a coroutine function
        self.on("*", self._unknown_event)

    def start_background_task(self, target: Any, *args: Any, **kwargs: Any) -> Any:
        # what engineio does (`asyncio.ensure_future`), each event's task included, with
        # the loop found without a system call (rooms/eventloop.py)
        return running_loop().create_task(target(*args, **kwargs))

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        # acks and single-client packets take the broadcast fast path's direct write too
        # (live/fanout.py: only while the connection's writer is idle, so order is kept)
        encoded = pkt.encode()
        if not isinstance(encoded, bytes):  # text or attachments: the stock path
            await super()._send_packet(eio_sid, pkt)
            return
        send_direct = getattr(self.manager, "send_direct", None)
        if send_direct is None or not send_direct(
                eio_sid, eio_packet.Packet(eio_packet.MESSAGE, encoded)):
            await self.eio.send(eio_sid, encoded)

    async def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        # the handler registered for this very event (python-socketio's first choice),
        # run as python-socketio runs a coroutine handler; anything else (a reserved
        # event, a catch-all, a namespace class, a plain function) goes the stock way
        handlers = self.handlers.get(namespace)
        handler = handlers.get(event) if handlers is not None else None
        if handler is None or event in self.reserved_events:
            return await super()._trigger_event(event, namespace, *args)
        coroutine = self._coroutine.get(handler)
        if coroutine is None:
            coroutine = self._coroutine[handler] = inspect.iscoroutinefunction(handler)
        if not coroutine:
            return await super()._trigger_event(event, namespace, *args)
        try:
            return await handler(*args)
        except asyncio.CancelledError:
            return None

    def _engineio_server_class(self) -> type[GuardedEngine]:
        return GuardedEngine

    async def _unknown_event(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        return error_ack(BadRequest("unknown event"))

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            if not data or not isinstance(data, bytes | bytearray):
                # python-socketio skips decoding an empty frame and sees an EVENT without data
                raise MalformedPacket("empty or text frame")
            await super()._handle_eio_message(eio_sid, data)
        except MalformedPacket as bad:
            self.malformed += 1
            log.info("malformed packet: closing the connection",
                     extra={"eio": eio_sid, "why": str(bad)})
            await self.eio.drop(eio_sid, "malformed packet")
            return
        handshakes = self.eio.handshakes
        if handshakes.pending(eio_sid):  # the packet came before the session signed in
            if self.manager.sid_from_eio_sid(eio_sid, "/") is not None:
                handshakes.signed_in(eio_sid)  # (packets are handled one at a time)
            else:
                # a refused CONNECT, or anything but a CONNECT first: its answer is queued
                # (python-socketio sent it before returning); flushed, then closed
                log.info("not signed in: closing the transport", extra={"eio": eio_sid})
                self.eio.end_unsigned(eio_sid)

    async def _handle_event_internal(self, server: Any, sid: str, eio_sid: str, data: Any,
                                     namespace: str, id: int | None) -> None:
        if self.draining:  # stopping: nothing new is stored that could miss its ack
            if id is not None:
                busy = Unavailable("the service is restarting, reconnect and try again")
                await self._send_packet(eio_sid, self.packet_class(
                    sio_packet.ACK, namespace=namespace, id=id, data=[error_ack(busy)]))
            return
        self.inflight += 1
        self._idle.clear()
        # an ack is due: the fan-out corks what the room sends this connection meanwhile,
        # so its own message and the ack leave together (fanout.FastEmitManager._write_all)
        sock = self.eio.sockets.get(eio_sid) if id is not None else None
        if sock is not None:
            sock.live_acks_due += 1
        try:
            await super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        finally:
            if sock is not None:
                sock.live_acks_due -= 1
            self.inflight -= 1
            if not self.inflight:
                self._idle.set()

    async def drain(self, grace: float) -> None:
        """Finish in-flight events, flush their acks, close every transport (SIGTERM)."""
        self.draining = True
        running = self.inflight
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        if self.inflight:
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except TimeoutError:
                log.warning("drain: events still running", extra={"inflight": self.inflight})
        sids = list(self.eio.sockets)
        for sid in sids:
            await self.eio.close_transport(sid)
        # engineio has no event for a socket leaving `sockets`: look every 50 ms
        while self.eio.sockets and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        log.info("drained", extra={"finished": running, "closed": len(sids),
                                   "left": len(self.eio.sockets)})
