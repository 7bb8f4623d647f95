"""A broadcast fast path for python-socketio rooms over WebSocket.

Why: stock python-socketio sends a room emit by creating one asyncio task per
recipient, each of which queues the packet for that socket's Engine.IO writer
task, which wakes to encode and write it: three scheduling hops and a logger
call per delivery. A server-to-client WebSocket frame is not masked, so the
same frame bytes can go to every recipient. Here a room emit (without a
callback) encodes the packet once, frames it once, and writes the frame
straight to each recipient's transport.

Per recipient, the first fan-out of a turn of the event loop does one thing:
`transport.write` of the same bytes object (the frame, or a burst of frames),
with the room's recipients listed once per change of its membership, not once
per message (`_fanout_targets`). No packet, dict, task or future is made per
recipient; at one message at a time (a classroom's pace) that is all the Python
work a delivery costs besides the kernel's send. The recipients are all checked
before the first write (`_write_all`): a write runs the kernel's loopback send,
which leaves the interpreter's caches cold for whatever Python runs next.

Batches: `deliver` takes several emits at once (the bus hands over what Redis
wrote together), so a busy room's members get a burst in one write. What else is
written to a connection later in the same turn (an ack, a second fan-out in the
turn, as the in-memory bus makes one per publish) is corked (`_write_now`) and
leaves in one write at the end of the turn (`_uncork`), after what went before.

Order is kept: a frame is written directly only when the socket's Engine.IO
queue is empty and no writer is sending from it (`engine.SendQueue.idle`), so
nothing sent earlier is still pending; otherwise the packet is queued behind
what is there, as python-socketio would. A recipient whose transport buffer passes the
engine's `max_send_buffer` (a client that stopped reading) is dropped instead
of buffering without bound (`live/engine.py`).

`FastEmitManager` is python-socketio's client manager (its documented
extension point), local to this process: it holds which connections are in
which room (`rooms.bus.Connections`) and delivers what the room bus hands it
(`deliver_events`, bound with `Bus.bind`). Between processes, events travel on
the room bus (`rooms/bus.py`), never through python-socketio's pub/sub. The
WebSocket driver that records each connection's transport is
`engine.GuardedWebSocket`. `tests/test_fanout.py` fails if python-socketio or
engineio move these seams.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from rooms.bus import RoomEvent
from rooms.eventloop import running_loop

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER = 1 << 20  # bytes waiting in one connection's transport


class RoomEmit(NamedTuple):
    event: str
    args: list[Any]
    namespace: str
    room: Any
    skip_sid: Any = None


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
    writes = 0  # transport writes (several frames of one batch go in one write)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # transport -> (socket, frames) written this turn of the event loop, not yet sent
        self._corked: dict[Any, tuple[Any, list[bytes]]] = {}
        # (namespace, room) -> its members' (sid, eio sid), listed on the first emit after
        # a change of the room's membership (entering and leaving drop the entry)
        self._fanout_targets: dict[tuple[str, Any], list[tuple[str, str]]] = {}
        self._fanout_wrote = False  # a fan-out wrote directly in this turn of the loop
        # (namespace, sid) -> the rooms it is in, in the order it entered them
        self._rooms_of: dict[tuple[str, str], dict[Any, None]] = {}

    # -- python-socketio's room table: every change of a room's members goes through
    # these two (connect, enter_room, leave_room, close_room, disconnect)
    def basic_enter_room(self, sid: str, namespace: str, room: Any,
                         eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid)
        self._rooms_of.setdefault((namespace, sid), {})[room] = None
        self._fanout_targets.pop((namespace, room), None)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._rooms_of[(namespace, sid)]
        self._fanout_targets.pop((namespace, room), None)

    # -- a connection's rooms, from the index above. python-socketio finds them by
    # looking into every room of the namespace (each connection's own room included),
    # and keeps the connections being disconnected in a list: each disconnect cost time
    # in proportion to the connections of the process, so when a school's network
    # dropped 10,000 members at once the process was busy for 38 s (loadtests/README.md,
    # "All dropped at once"). The same rooms (`get_rooms` in the order entered), the same
    # effects (seam `manager-rooms`).
    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms_of.get((namespace, sid), ()) if r is not None]

    def pre_disconnect(self, sid: str, namespace: str) -> str | None:
        # a dict, not python-socketio's list: `is_connected` asks `sid in` it
        self.pending_disconnect.setdefault(namespace, {})[sid] = None
        eio_sid: str | None = self.rooms[namespace][None].get(sid)
        return eio_sid

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        connecting = self.pending_connect.get(namespace)
        if connecting is not None and sid in connecting:
            connecting.remove(sid)
            if not connecting:
                del self.pending_connect[namespace]
        leaving = self.pending_disconnect.get(namespace)
        if leaving is not None and sid in leaving:
            del leaving[sid]
            if not leaving:
                del self.pending_disconnect[namespace]

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
        if not self.deliver([RoomEmit(event, args, namespace, room, skip_sid)]):
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)

    # -- rooms.bus.Connections: this process's connections in rooms ------------
    def enter(self, conn: str, room_key: str) -> None:
        self.basic_enter_room(conn, "/", room_key)

    def leave(self, conn: str, room_key: str) -> bool:
        self.basic_leave_room(conn, "/", room_key)
        return not self.rooms.get("/", {}).get(room_key)

    def conns_in(self, room_key: str) -> list[str]:
        """This process's connections that entered the room (and have not left it)."""
        return list(self.rooms.get("/", {}).get(room_key, ()))

    def deliver_events(self, events: Sequence[RoomEvent]) -> None:
        """What the room bus hands over: room events for this process's members."""
        self.deliver([RoomEmit(e.event, [e.payload], "/", e.room_key, e.skip) for e in events])

    def deliver(self, emits: Sequence[RoomEmit]) -> bool:
        """Deliver room emits to this process's members, in order, without awaiting:
        each member gets all the frames meant for it in one write. False (and nothing
        done) when a packet needs binary attachments (the JSON serializer)."""
        frames: list[tuple[bytes, Any, RoomEmit]] = []
        for e in emits:
            encoded = self.server.packet_class(sio_packet.EVENT, namespace=e.namespace,
                                               data=[e.event, *e.args]).encode()
            if isinstance(encoded, list):
                return False
            # the Engine.IO v4 WebSocket form of a MESSAGE; not `pkt.encode()`, which would
            # cache that form on the packet and break it for long-polling recipients
            frames.append((ws_frame(encoded if isinstance(encoded, bytes) else "4" + encoded),
                           encoded, e))
        engine = self.server.eio
        limit = getattr(engine, "max_send_buffer", DEFAULT_MAX_BUFFER)
        sockets = engine.sockets
        first = frames[0][2]
        one_room = all(e.room == first.room and e.namespace == first.namespace
                       for _, _, e in frames[1:])
        if one_room and any(e.skip_sid != first.skip_sid for _, _, e in frames[1:]):
            self._deliver_skipping(frames, limit)
            return True
        if one_room:
            # one emit, or a busy room's burst: the same bytes for every member
            data = frames[0][0] if len(frames) == 1 else b"".join([f[0] for f in frames])
            encodeds = [f[1] for f in frames]
            recipients = self._recipients(first)
            if self._fanout_wrote:
                # a second fan-out in this turn: behind the first, and leaving with it
                for eio_sid in recipients:
                    sock = sockets.get(eio_sid)
                    if sock is not None and not sock.closed:
                        self._send(sock, data, encodeds, limit)
            else:
                self._fanout_wrote = True
                running_loop().call_soon(self._fanout_turn_end)
                self._write_all(recipients, sockets, data, encodeds, limit)
            return True
        # several rooms, or skips: gather each member's frames, in order
        per_sock: dict[str, list[tuple[bytes, Any]]] = {}
        for frame, encoded, e in frames:
            for eio_sid in self._recipients(e):
                got = per_sock.get(eio_sid)
                if got is None:
                    per_sock[eio_sid] = [(frame, encoded)]
                else:
                    got.append((frame, encoded))
        for eio_sid, parts in per_sock.items():
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            data = parts[0][0] if len(parts) == 1 else b"".join(p[0] for p in parts)
            self._send(sock, data, [p[1] for p in parts], limit)
        return True

    def _deliver_skipping(self, frames: Sequence[tuple[bytes, Any, RoomEmit]],
                          limit: int) -> None:
        """One room's batch whose events skip different connections (the announcements
        of several joiners, none echoed to its own joiner): the batch's bytes are joined
        once for every member no event skips; only the skipped few get their own."""
        skipped: dict[Any, set[int]] = {}  # sid -> indexes of the frames it does not get
        for i, (_, _, e) in enumerate(frames):
            skip = e.skip_sid
            if skip is not None:
                for sid in skip if isinstance(skip, list) else (skip,):
                    skipped.setdefault(sid, set()).add(i)
        data = b"".join([f[0] for f in frames])
        encodeds = [f[1] for f in frames]
        sockets = self.server.eio.sockets
        first = frames[0][2]
        for sid, eio_sid in self.get_participants(first.namespace, first.room):
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            drop = skipped.get(sid)
            if drop is None:
                self._send(sock, data, encodeds, limit)
                continue
            parts = [f for i, f in enumerate(frames) if i not in drop]
            if parts:
                self._send(sock, b"".join([p[0] for p in parts]), [p[1] for p in parts], limit)

    def _recipients(self, e: RoomEmit) -> list[str]:
        if isinstance(e.room, str):
            key = (e.namespace, e.room)
            members = self._fanout_targets.get(key)
            if members is None:
                members = list(self.get_participants(e.namespace, e.room))
                if members:  # (a room nobody is in is not kept)
                    self._fanout_targets[key] = members
        else:  # several rooms at once (python-socketio's API allows it; we never do)
            members = list(self.get_participants(e.namespace, e.room))
        skip = e.skip_sid
        if skip is None:
            return [eio_sid for _, eio_sid in members]
        skips = set(skip) if isinstance(skip, list) else {skip}
        return [eio_sid for sid, eio_sid in members if sid not in skips]

    def _fanout_turn_end(self) -> None:
        self._fanout_wrote = False

    def _write_all(self, recipients: list[str], sockets: dict[str, Any], data: bytes,
                   encoded: Sequence[Any], limit: int) -> None:
        """The first fan-out of a turn: `data` written straight to each recipient's
        transport (one syscall each), or appended to what is corked for it this turn.
        A connection with an ack due (`LiveServer` is handling an event of its) is
        corked, so that a sender's own message and its ack leave in one write; one
        whose writer is busy gets the packets in engineio's queue.

        In two passes: the checks first, for every recipient, then the writes alone.
        Each write runs the kernel's loopback send (and the receiver's TCP input), which
        evicts what the interpreter had in cache; checks made between writes paid for it
        once per recipient."""
        corked = self._corked
        ready: list[Any] = []
        for eio_sid in recipients:
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            ws = sock.live_ws
            transport = ws.transport if ws is not None else None
            if (transport is None or sock.live_acks_due or not sock.upgraded
                    or transport.is_closing() or not sock.queue.idle()):
                # an ack is due (the sender's own message): corked, to leave with the ack;
                # a busy writer: engineio's queue, in order
                self._send(sock, data, encoded, limit)
                continue
            if corked:
                held = corked.get(transport)
                if held is not None:  # an ack written earlier in this turn: after it
                    held[1].append(data)
                    self.direct_writes += len(encoded)
                    continue
            ready.append((transport, sock))
        for transport, _ in ready:
            transport.write(data)
        for transport, sock in ready:
            if transport.get_write_buffer_size() > limit:
                self._drop_slow(sock)
        self.direct_writes += len(ready) * len(encoded)
        self.writes += len(ready)

    def _send(self, sock: Any, data: bytes, encoded: Sequence[Any], limit: int) -> None:
        if self._write_now(sock, data, limit):
            self.direct_writes += len(encoded)
            return
        # behind what the writer has pending: engineio's queue (what `AsyncSocket.send`
        # does, without awaiting, so the order of this batch is kept)
        queue = sock.queue
        for enc in encoded:
            queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, enc))
        self.queued_writes += len(encoded)
        # a client that stopped reading, with its writer stuck: dropped, not buffered
        # without bound (as `engine.GuardedEngine.send_packet` does on the stock path)
        if getattr(queue, "bytes", 0) > limit:
            self._drop_slow(sock)

    def _drop_slow(self, sock: Any) -> None:
        drop = getattr(self.server.eio, "drop", None)
        if drop is not None:
            asyncio.ensure_future(drop(sock.sid, "slow consumer"))
        else:
            transport = getattr(sock.live_ws, "transport", None)
            if transport is not None:
                transport.abort()

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
        """Write `frame` to the socket's transport, after what was written before, when
        nothing is pending in engineio's queue; false: the caller queues it there.

        Frames written in one turn of the event loop leave together at its end, one
        syscall per connection: a member who sends gets its message back and the ack
        of it in one segment; a busy room's members get every frame of that turn."""
        ws = sock.live_ws
        transport = getattr(ws, "transport", None)
        if transport is None or not sock.upgraded or transport.is_closing():
            return False
        # nothing sent before is still pending only while engineio's queue is empty and
        # no writer is sending from it
        if not sock.queue.idle():
            return False
        corked = self._corked
        held = corked.get(transport)
        if held is not None:
            held[1].append(frame)
            return True
        if not corked:
            running_loop().call_soon(self._uncork, limit)
        corked[transport] = (sock, [frame])
        return True

    def _uncork(self, limit: int) -> None:
        # runs before any writer task started this turn (they were scheduled after it),
        # so what engineio's queue sends next still comes after these frames
        corked, self._corked = self._corked, {}
        for transport, (sock, frames) in corked.items():
            if transport.is_closing():
                continue
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            self.writes += 1
            if transport.get_write_buffer_size() > limit:
                self._drop_slow(sock)
