"""A broadcast fast path for python-socketio rooms over WebSocket.

Why: stock python-socketio sends a room emit by creating one asyncio task per
recipient, each of which queues the packet for that socket's Engine.IO writer
task, which wakes to encode and write it: three scheduling hops and a logger
call per delivery. A server-to-client WebSocket frame is not masked, so the
same frame bytes can go to every recipient. Here a room emit (without a
callback) encodes the packet once, frames it once, and writes the frame
straight to each recipient's transport.

Order is kept: a frame is written directly only when the socket's Engine.IO
queue is empty and its writer is idle (waiting on the queue), so nothing sent
earlier is still pending; otherwise the packet is queued behind what is
there, as python-socketio would. A recipient whose transport buffer passes the
engine's `max_send_buffer` (a client that stopped reading) is dropped instead
of buffering without bound (`live/guards.py`).

`FastEmitManager.emit` is the local delivery of both the in-memory manager and
the Redis manager (`LiveRedisManager` puts it under `AsyncPubSubManager` in
its MRO). The WebSocket driver that records each connection's transport is
`guards.GuardedWebSocket`. `tests/test_fanout.py` fails if python-socketio or
engineio move these seams.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER = 1 << 20  # bytes waiting in one connection's transport


def ws_frame(payload: bytes | str) -> bytes:
    """One unmasked, final WebSocket frame (RFC 6455 §5.2) carrying `payload`."""
    if isinstance(payload, str):
        opcode, body = 0x81, payload.encode()
    else:
        opcode, body = 0x82, payload
    n = len(body)
    if n < 126:
        head = bytes((opcode, n))
    elif n < 1 << 16:
        head = bytes((opcode, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((opcode, 127)) + n.to_bytes(8, "big")
    return head + body


class FastEmitManager(socketio.AsyncManager):  # type: ignore[misc]
    """Room emits write one pre-built frame to every recipient's transport."""

    direct_writes = 0  # frames written straight to a transport (for tests and metrics)
    queued_writes = 0  # packets that went through engineio's queue to keep order

    async def emit(self, event: str, data: Any, namespace: str, room: Any = None,
                   skip_sid: Any = None, callback: Any = None, to: Any = None,
                   **kwargs: Any) -> None:
        room = to or room
        if callback is not None or room is None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, **kwargs)
            return
        if isinstance(data, tuple):
            args = list(data)
        elif data is not None:
            args = [data]
        else:
            args = []
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                           data=[event, *args]).encode()
        if isinstance(encoded, list):  # binary attachments (JSON serializer): stock path
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)
            return
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        # the Engine.IO v4 WebSocket form of a MESSAGE; not `pkt.encode()`, which would cache
        # that form on the packet and break it for long-polling recipients (base64 there)
        frame = ws_frame(encoded if isinstance(encoded, bytes) else "4" + encoded)
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        engine = self.server.eio
        limit = getattr(engine, "max_send_buffer", DEFAULT_MAX_BUFFER)
        sockets = engine.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            if self._write_now(sock, frame, limit):
                self.direct_writes += 1
            else:
                self.queued_writes += 1
                await engine.send_packet(eio_sid, pkt)

    def send_direct(self, eio_sid: str, pkt: Any) -> bool:
        """Write one Engine.IO MESSAGE (an ack, an event to one client) straight to the
        client's transport when its writer is idle; false: use the queue as usual."""
        if pkt.packet_type != eio_packet.MESSAGE:
            return False
        engine = self.server.eio
        sock = engine.sockets.get(eio_sid)
        if sock is None or sock.closed:
            return False
        data = pkt.data
        frame = ws_frame(data if isinstance(data, bytes) else "4" + str(data))
        if self._write_now(sock, frame, getattr(engine, "max_send_buffer", DEFAULT_MAX_BUFFER)):
            self.direct_writes += 1
            return True
        return False

    def _write_now(self, sock: Any, frame: bytes, limit: int) -> bool:
        ws = getattr(sock, "live_ws", None)
        transport = getattr(ws, "transport", None)
        if transport is None or not sock.upgraded or transport.is_closing():
            return False
        queue = sock.queue
        # the writer is idle, with nothing sent before still pending, only while it
        # waits on an empty queue
        if not queue.empty() or not queue._getters:
            return False
        transport.write(frame)
        if transport.get_write_buffer_size() > limit:
            drop = getattr(self.server.eio, "drop", None)
            if drop is not None:
                asyncio.ensure_future(drop(sock.sid, "slow consumer"))
            else:
                transport.abort()
        return True
