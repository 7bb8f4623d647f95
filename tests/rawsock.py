"""A raw Engine.IO websocket client, for frames no well-behaved client would send."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

from .support import token


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next unmasked frame a server wrote: (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


class RawClient:
    """Speaks Engine.IO v4 + Socket.IO v5 msgpack by hand over a websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, tok: str | None = None, rcvbuf: int | None = None,
                   **tok_claims: Any) -> RawClient:
        sock = None
        if rcvbuf is not None:  # a small window: the kernel stops taking data early
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            host, port = url.removeprefix("http://").split(":")
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        ws = await websockets.connect(ws_url(url), max_size=None, sock=sock,
                                      max_queue=1 if rcvbuf else 16, ping_interval=None)
        c = cls(ws)
        opened = await ws.recv()
        assert isinstance(opened, str) and opened.startswith("0"), opened
        await c.send_packet(type=0, nsp="/", data={"token": tok or token(**tok_claims)})
        ack = await c.recv_packet()
        assert ack["type"] == 0, ack
        return c

    @classmethod
    async def unsigned(cls, url: str) -> RawClient:
        """A session that has had its Engine.IO OPEN and nothing else: no CONNECT yet."""
        ws = await websockets.connect(ws_url(url), max_size=None, ping_interval=None)
        opened = await ws.recv()
        assert isinstance(opened, str) and opened.startswith("0"), opened
        return cls(ws)

    async def send_packet(self, **packet: Any) -> None:
        await self.ws.send(msgpack.packb(packet))

    async def recv_packet(self, timeout: float = 5) -> dict[str, Any]:
        """The next Socket.IO packet (Engine.IO pings are answered on the way)."""
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            if frame == "2":
                await self.ws.send("3")
                continue
            if isinstance(frame, bytes):
                return dict(msgpack.unpackb(frame, strict_map_key=False))

    async def call(self, event: str, data: Any, ack_id: int = 1) -> Any:
        await self.send_packet(type=2, nsp="/", id=ack_id, data=[event, data])
        while True:
            p = await self.recv_packet()
            if p["type"] == 3 and p.get("id") == ack_id:
                return p["data"][0]

    async def call_or_closed(self, event: str, data: Any, ack_id: int = 1) -> Any:
        """The ack, or None if the service ends the connection instead."""
        try:
            return await self.call(event, data, ack_id)
        except websockets.ConnectionClosed:
            return None

    async def closed(self, timeout: float = 5) -> bool:
        """True once the service has closed this connection (frames meanwhile are dropped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except websockets.ConnectionClosed:
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)


class StalledClient:
    """A websocket client written by hand that, once joined, never reads again.

    Client libraries keep reading into their own buffers; this one leaves the
    bytes in a small kernel buffer, so the service sees a shut TCP window.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def join(cls, url: str, room: str, **tok_claims: Any) -> StalledClient:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        c = cls(reader, writer)
        writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await reader.readuntil(b"\r\n\r\n")
        await c.frame()  # Engine.IO OPEN
        c.send(msgpack.packb({"type": 0, "nsp": "/", "data": {"token": token(**tok_claims)}}))
        await c.frame()  # Socket.IO CONNECT
        c.send(msgpack.packb({"type": 2, "nsp": "/", "id": 1, "data": ["join", {"room": room}]}))
        while True:
            ack = await c.frame()
            if isinstance(ack, bytes) and msgpack.unpackb(ack, strict_map_key=False)["type"] == 3:
                return c

    def send(self, payload: bytes) -> None:
        mask = b"\x01\x02\x03\x04"
        n = len(payload)
        head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126
                                else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + body)

    async def frame(self) -> bytes | str:
        opcode, data = await read_frame(self.reader)
        return data.decode() if opcode == 1 else data

    def close(self) -> None:
        self.writer.transport.abort()
