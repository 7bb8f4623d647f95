"""One WebSocket connection, served by the service itself once aiohttp has answered
its upgrade.

Why: aiohttp serves a WebSocket inside the request that opened it, so for the
socket's whole life it keeps the parsed upgrade request, its `RequestHandler`, two
tasks (the connection's and the request's), and the `WebSocketResponse` with its
reader, queue and writer: about 11 KB per idle member of a big event
(loadtests/README.md, "Idle members"). Here aiohttp still checks and answers the
upgrade (`WebSocketResponse.prepare` writes the 101), but the TCP connection is
taken over first (`seam.take_over_upgraded`: from then on its bytes come here,
none reach aiohttp's reader), and aiohttp's request then ends
(`seam.release_upgraded`). An idle connection is this object (slots) and its
transport; a frame parser (wsproto's `FrameProtocol`, RFC 6455 checks) exists only
while a frame or a fragmented message is partly read, a task only while messages
are being handed over. Plain frames (complete, final, masked text or binary, what
clients send for Engine.IO packets) are read by `plain_frames` without a parser.

Order: frames are parsed as they arrive; complete messages go to the consumer one
at a time, in that order: `wait()` gives them in turn (pull, the Engine.IO upgrade
exchange), then `serve(on_message, on_end)` hands each to `on_message`, awaited
before the next (push, the connection's life). Past `INBOX_PAUSE` messages waiting,
the transport stops reading until they are handled. Writes go to the transport in
the order they are made (`send`, `close`; live/fanout.py writes frames to
`transport` directly and keeps its own order).

Failure: a frame that breaks RFC 6455 (unmasked, reserved bits set: no extension is
negotiated, a fragmented or long control frame, a bad close code, text that is not
UTF-8) or a message past `max_message` gets a CLOSE with the matching code, and the
transport is closed. Then, as when the client closes or the TCP connection drops,
`on_end` runs once, after the messages that came before (`wait()` raises OSError).
A message the consumer refuses (`accept`, or `on_message` answering False) ends the
connection the same way. A client that stops reading makes `send` wait for the
transport to drain (flow control); what the connection's Engine.IO queue then holds
is bounded by live/engine.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed

from rooms.eventloop import running_loop

from . import seam
from .fanout import ws_frame

log = logging.getLogger(__name__)

INBOX_PAUSE = 16  # complete messages waiting for the consumer before reading pauses

Message = bytes | str
OnMessage = Callable[[Message], Awaitable[bool]]
OnEnd = Callable[[], Awaitable[None]]


class _End:
    """Queued after the last message: the connection is over."""


END = _End()


def control_frame(opcode: Opcode, payload: bytes = b"") -> bytes:
    """An unmasked control frame (RFC 6455 §5.5: at most 125 bytes of payload)."""
    payload = payload[:125]
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int) -> bytes:
    return control_frame(Opcode.CLOSE, code.to_bytes(2, "big"))


def plain_frames(data: bytes, limit: int) -> tuple[list[Message], int]:
    """The plain frames at the start of `data`, and where the first other one starts.

    Plain: complete, final, no reserved bit, text or binary, masked, its length under
    64 KB, minimally encoded and at most `limit`, its text valid UTF-8: what every
    client sends for an Engine.IO packet. Anything else (a control frame, a fragment,
    a partial frame, a frame that breaks RFC 6455), and all that follows it, is left to
    wsproto, which puts messages together and refuses what breaks the protocol. One
    frame costs here about what aiohttp's compiled reader spent on it; wsproto's
    pure-Python parser, several times that.
    """
    out: list[Message] = []
    i, n = 0, len(data)
    while n - i >= 6:
        head, size = data[i], data[i + 1] ^ 0x80  # (the mask bit: set)
        at = i + 2
        if head not in (0x81, 0x82) or size > 126:
            break
        if size == 126:
            size = int.from_bytes(data[at:at + 2], "big")
            at += 2
            if size < 126:
                break
        if size > limit or n - at < 4 + size:
            break
        mask = data[at:at + 4]
        at += 4
        # unmasked byte j = masked byte j XOR mask[j % 4], for all bytes at once
        payload = (int.from_bytes(data[at:at + size], "little")
                   ^ int.from_bytes((mask * (size // 4 + 1))[:size], "little")
                   ).to_bytes(size, "little")
        if head == 0x81:
            try:
                out.append(payload.decode("utf-8"))
            except UnicodeDecodeError:
                break
        else:
            out.append(payload)
        i = at + size
    return out, i


class WebSocketConnection(asyncio.Protocol):
    """The protocol of a TCP connection taken over after a WebSocket upgrade."""

    __slots__ = ("transport", "max_message", "_parser", "_parts", "_size", "_inbox",
                 "_waiter", "_task", "_on_message", "_on_end", "_ended", "_closing",
                 "_drained")

    def __init__(self, max_message: int) -> None:
        self.transport: asyncio.Transport | None = None  # once taken over
        self.max_message = max_message
        self._parser: FrameProtocol | None = None  # only while a frame is partly read
        self._parts: list[Any] | None = None  # a message whose last frame is still to come
        self._size = 0  # of those parts
        self._inbox: deque[Message | _End] | None = None  # complete messages, then END
        self._waiter: asyncio.Future[None] | None = None  # wait(), for the next message
        self._task: asyncio.Task[None] | None = None  # handing messages to on_message
        self._on_message: OnMessage | None = None
        self._on_end: OnEnd | None = None
        self._ended = False  # END is queued: nothing more comes in
        self._closing = False  # a CLOSE was sent
        self._drained: asyncio.Future[None] | None = None  # writing paused: resumed

    # -- the consumer's side --------------------------------------------------------
    def accept(self, message: Message) -> bool:
        """Whether `message` may go to the consumer; False ends the connection."""
        return True

    async def wait(self) -> Message:
        """The next message; OSError once the connection is over."""
        while not self._inbox:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._inbox[0]
        if isinstance(item, _End):
            raise OSError("websocket closed")
        self._take()
        return item

    def serve(self, on_message: OnMessage, on_end: OnEnd) -> None:
        """From now on hand every message to `on_message` (False: end the connection),
        then run `on_end` once when the connection is over."""
        self._on_message = on_message
        self._on_end = on_end
        if self._inbox:
            self._start()

    @property
    def serving(self) -> bool:
        """`serve` was called."""
        return self._on_message is not None

    async def send(self, message: Message) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("websocket closed")
        transport.write(ws_frame(message))
        if self._drained is not None:  # the client is not reading: wait until it does
            await self._drained

    async def close(self) -> None:
        """Send a CLOSE (1000), then close the transport once what is buffered is sent."""
        self._close(CloseReason.NORMAL_CLOSURE)

    def abort(self) -> None:
        """Drop the TCP connection now, discarding whatever is buffered for it."""
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # (uvloop's does not subclass it)

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return
        parser = self._parser
        if parser is None:
            messages, used = plain_frames(data, self.max_message)
            for message in messages:
                self._data(message, True)
                if self._ended:
                    return
            if used == len(data):
                return
            data = data[used:]
            parser = self._parser = FrameProtocol(client=False, extensions=[])
        parser.receive_bytes(data)
        try:
            for frame in parser.received_frames():
                if self._ended:
                    return
                opcode, payload = frame.opcode, frame.payload
                if opcode is Opcode.PING:
                    assert isinstance(payload, bytes | bytearray)
                    self._write(control_frame(Opcode.PONG, bytes(payload)))
                elif opcode is Opcode.CLOSE:
                    self._close(CloseReason.NORMAL_CLOSURE)
                    return
                elif opcode is not Opcode.PONG:
                    assert isinstance(payload, bytes | str)
                    self._data(payload, frame.message_finished)
        except ParseFailed as bad:
            log.info("websocket protocol error", extra={"code": int(bad.code)})
            self._close(bad.code)
            return
        if self._parts is None and seam.frames_idle(parser):
            self._parser = None  # between messages: nothing to keep

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    # -- inside ----------------------------------------------------------------------
    def _data(self, payload: Message, finished: bool) -> None:
        self._size += len(payload)
        if self._size > self.max_message:
            log.info("websocket message too large", extra={"size": self._size})
            self._close(CloseReason.MESSAGE_TOO_BIG)
            return
        parts = self._parts
        if not finished:
            if parts is None:
                self._parts = parts = []
            parts.append(payload)
            return
        if parts is not None:
            parts.append(payload)
            payload = "".join(parts) if isinstance(payload, str) else b"".join(parts)
            self._parts = None
        self._size = 0
        if not self.accept(payload):
            self._close(CloseReason.NORMAL_CLOSURE)
            return
        self._queue(payload)

    def _queue(self, item: Message | _End) -> None:
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(item)
        if len(inbox) == INBOX_PAUSE and self.transport is not None:
            self.transport.pause_reading()  # resumed when the consumer has caught up
        if self._on_message is None:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif self._task is None:
            self._start()

    def _take(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        inbox.popleft()
        if not inbox:
            self._inbox = None
            transport = self.transport
            if transport is not None and not self._ended and not transport.is_reading():
                transport.resume_reading()

    def _start(self) -> None:
        self._task = running_loop().create_task(self._hand_over())

    async def _hand_over(self) -> None:
        on_message, on_end = self._on_message, self._on_end
        assert on_message is not None and on_end is not None
        try:
            while self._inbox:
                item = self._inbox[0]
                if isinstance(item, _End):
                    self._on_end = None  # once
                    await on_end()
                    return
                self._take()
                if not await on_message(item):
                    self._close(CloseReason.NORMAL_CLOSURE, discard=True)
        finally:
            self._task = None

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _close(self, code: int, discard: bool = False) -> None:
        """Send a CLOSE with `code` (once), close the transport, end what comes in
        (`discard`: and what is queued)."""
        if not self._closing:
            self._closing = True
            self._write(close_frame(int(code)))
        if self.transport is not None:
            self.transport.close()
        self._end(discard)

    def _end(self, discard: bool = False) -> None:
        """Nothing more comes in: END goes after the messages already queued (`discard`:
        instead of them)."""
        if self._ended:
            if discard and self._inbox:
                self._inbox = deque([END])
            return
        self._ended = True
        self._parser = self._parts = None
        if discard:
            self._inbox = None
        self._queue(END)
