"""WebSocket connections served outside aiohttp's request (live/websocket.py).

Frames are written by hand over a real TCP connection to the real service, so the
cases no client library would send (unmasked, reserved bits, bad UTF-8, oversized,
fragmented, frames sent with the upgrade request) reach the service as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import socket
from typing import Any

import aiohttp
import msgpack
import websockets
from aiohttp import web_protocol
from wsproto.frame_protocol import FrameProtocol

from live.websocket import INBOX_PAUSE, WebSocketConnection, plain_frames

from .rawsock import RawClient, read_frame, ws_url
from .support import eventually, run_server, token

HANDSHAKE = ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {host}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n\r\n")


def frame(payload: bytes, opcode: int = 0x2, fin: bool = True, masked: bool = True,
          rsv: int = 0) -> bytes:
    """One client frame (RFC 6455 §5.2), masked unless told otherwise."""
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        size = bytes([bit | n])
    elif n < 1 << 16:
        size = bytes([bit | 126]) + n.to_bytes(2, "big")
    else:
        size = bytes([bit | 127]) + n.to_bytes(8, "big")
    head = bytes([(0x80 if fin else 0) | rsv | opcode]) + size
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def connect_packet() -> bytes:
    return msgpack.packb({"type": 0, "nsp": "/", "data": {"token": token(sub="raw")}})


class Raw:
    """A WebSocket client written by hand: what it sends is exactly what it is told."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, with_head: bytes = b"") -> Raw:
        """Upgrade (offering permessage-deflate, as browsers do; sending `with_head` in the
        same write as the request) and read the 101 and the Engine.IO OPEN."""
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        request = HANDSHAKE.format(host=host).replace(
            "\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate; "
            "client_max_window_bits\r\n\r\n")
        writer.write(request.encode() + with_head)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-extensions" not in head.lower(), head  # no deflate, as before
        c = cls(reader, writer)
        opcode, opened = await c.frame()
        assert opcode == 0x1 and opened.startswith(b"0"), opened
        return c

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def frame(self, within: float = 5) -> tuple[int, bytes]:
        """The next frame from the service: (opcode, payload), within `within` seconds."""
        async with asyncio.timeout(within):
            return await read_frame(self.reader)

    async def packet(self) -> dict[str, Any]:
        """The next Socket.IO packet (Engine.IO pings answered on the way)."""
        while True:
            opcode, payload = await self.frame()
            if opcode == 0x1 and payload == b"2":
                self.send(frame(b"3", opcode=0x1))
            elif opcode == 0x2:
                return dict(msgpack.unpackb(payload, strict_map_key=False))

    async def closed_with(self) -> int | None:
        """The code of the CLOSE the service sends (frames before it are skipped), once the
        service has also closed the TCP connection."""
        code = None
        while True:
            try:
                opcode, payload = await self.frame()
            except (asyncio.IncompleteReadError, ConnectionResetError):
                return code
            if opcode == 0x8:
                code = int.from_bytes(payload[:2], "big")

    def close(self) -> None:
        self.writer.close()


async def test_an_idle_member_holds_no_task_and_no_aiohttp_request() -> None:
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        first = await RawClient.open(srv.url, sub="first")  # everything started once
        await first.call("join", {"room": "r"})
        await asyncio.sleep(0.2)
        gc.collect()
        tasks = len(asyncio.all_tasks())
        handlers = sum(isinstance(o, web_protocol.RequestHandler) for o in gc.get_objects())
        members = [await RawClient.open(srv.url, sub=f"m{i}") for i in range(5)]
        try:
            for m in members:
                assert (await m.call("join", {"room": "r"}))["ok"]
            await asyncio.sleep(0.2)
            gc.collect()
            assert len(asyncio.all_tasks()) == tasks
            assert sum(isinstance(o, web_protocol.RequestHandler)
                       for o in gc.get_objects()) == handlers
            # and they are served: a message reaches every one of them
            ack = await first.call("chat:send", {"room": "r", "text": "hello", "cid": "1"}, 2)
            assert ack["ok"]
            for m in members:
                while (p := await m.recv_packet())["data"][0] != "chat:message":
                    pass
                assert p["data"][1]["text"] == "hello"
        finally:
            for c in (first, *members):
                await c.close()
        await eventually(lambda: not srv.svc.sio.eio.sockets)  # type: ignore[union-attr]


async def test_pings_fragments_and_frames_sent_with_the_upgrade_are_served() -> None:
    async with run_server(rate_limits=False) as srv:
        # a CONNECT sent in the same write as the upgrade request
        c = await Raw.open(srv.url, with_head=frame(connect_packet()))
        try:
            ack = await c.packet()
            assert ack["type"] == 0 and "sid" in ack["data"]
            c.send(frame(b"are you there", opcode=0x9))  # a WebSocket PING
            assert await c.frame() == (0xA, b"are you there")
            # an event in three frames, a PING between two of them
            p = msgpack.packb({"type": 2, "nsp": "/", "id": 7, "data": ["join", {"room": "r"}]})
            c.send(frame(p[:5], fin=False) + frame(p[5:9], opcode=0x0, fin=False)
                   + frame(b"", opcode=0x9) + frame(p[9:], opcode=0x0))
            assert await c.frame() == (0xA, b"")
            while (ack := await c.packet())["type"] != 3:
                pass
            assert ack["id"] == 7 and ack["data"][0]["ok"]
        finally:
            c.close()


async def test_frames_that_break_the_protocol_close_with_its_code() -> None:
    cases = {
        "unmasked": (frame(b"2", opcode=0x1, masked=False), 1002),
        "reserved bit (no extension was negotiated)": (frame(b"x", rsv=0x40), 1002),
        "unknown opcode": (frame(b"x", opcode=0x3), 1002),
        "fragmented control frame": (frame(b"", opcode=0x9, fin=False), 1002),
        "continuation without a start": (frame(b"x", opcode=0x0), 1002),
        "text that is not UTF-8": (frame(b"4\xff\xfe", opcode=0x1), 1007),
        "bad close code": (frame((999).to_bytes(2, "big"), opcode=0x8), 1002),
        "a message past the limit": (frame(b"4" + b"x" * 5000), 1009),
        "a message past the limit in fragments":
            (frame(b"x" * 3000, fin=False) + frame(b"x" * 3000, opcode=0x0), 1009),
        "not Engine.IO": (frame(b"?", opcode=0x1), 1000),
    }
    async with run_server(rate_limits=False, max_frame_bytes=4096) as srv:
        assert srv.svc is not None
        for what, (data, code) in cases.items():
            c = await Raw.open(srv.url)
            c.send(frame(connect_packet()))
            assert (await c.packet())["type"] == 0, what
            c.send(data)
            assert await c.closed_with() == code, what
            c.close()
            await eventually(lambda: not srv.svc.sio.eio.sockets)  # type: ignore[union-attr]
            assert not srv.svc.edge.sessions, what


async def test_a_close_or_a_dropped_connection_ends_the_session() -> None:
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        c = await Raw.open(srv.url)
        c.send(frame(connect_packet()))
        assert (await c.packet())["type"] == 0
        assert srv.svc.edge.sessions
        c.send(frame((1000).to_bytes(2, "big") + b"bye", opcode=0x8))
        assert await c.closed_with() == 1000
        c.close()
        await eventually(lambda: not srv.svc.sio.eio.sockets)  # type: ignore[union-attr]
        assert not srv.svc.edge.sessions

        c = await Raw.open(srv.url)
        c.send(frame(connect_packet()))
        assert (await c.packet())["type"] == 0
        c.writer.transport.abort()  # no CLOSE, no FIN: a reset
        await eventually(lambda: not srv.svc.sio.eio.sockets)  # type: ignore[union-attr]
        assert not srv.svc.edge.sessions


async def test_a_flood_pauses_reading_until_the_messages_are_taken() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    transport, ws = await loop.create_connection(lambda: WebSocketConnection(1024), sock=ours)
    try:
        n = INBOX_PAUSE + 4
        theirs.sendall(b"".join(frame(str(i).encode(), opcode=0x1) for i in range(n)))
        await eventually(lambda: not transport.is_reading())
        got = [await ws.wait() for _ in range(n)]
        assert got == [str(i) for i in range(n)]
        assert transport.is_reading()
        theirs.close()
        try:
            await asyncio.wait_for(ws.wait(), 5)
        except OSError:
            pass
        else:
            raise AssertionError("wait() after the end must raise OSError")
    finally:
        transport.close()
        theirs.close()


def test_plain_frames_read_as_wsproto_reads_them() -> None:
    rng = random.Random(13)
    sizes = [0, 1, 3, 4, 5, 125, 126, 127, 4095, 65535, 65536]
    frames, want = [], []
    for size in sizes * 3:
        if rng.random() < 0.5:
            text = "".join(rng.choice("aé€😀") for _ in range(size))[:size]
            data = text.encode()[:size]
            want.append(data.decode("utf-8", "ignore"))
            frames.append(frame(want[-1].encode(), opcode=0x1))
        else:
            want.append(rng.randbytes(size))
            frames.append(frame(want[-1]))
    data = b"".join(frames)
    got, used = plain_frames(data, 1 << 20)
    theirs = FrameProtocol(client=False, extensions=[])
    theirs.receive_bytes(data[used:])
    got += [f.payload for f in theirs.received_frames()]  # what plain_frames left (64 KB)
    assert got == want
    # a frame that is not plain stops it, there and not before
    for odd in (frame(b"x", fin=False), frame(b"x", masked=False), frame(b"x", rsv=0x40),
                frame(b"\xff", opcode=0x1), frame(b"", opcode=0x9), frame(b"x" * 70000),
                frame(b"x" * 200)[:100]):
        assert plain_frames(frames[0] + frames[1] + odd + frames[2], 1 << 20) == (
            want[:2], len(frames[0] + frames[1]))
    assert plain_frames(frame(b"x" * 200), 100) == ([], 0)  # past the limit: wsproto's


async def test_an_upgrade_without_the_probe_closes_the_websocket_and_keeps_polling() -> None:
    async with run_server(rate_limits=False) as srv, aiohttp.ClientSession() as http:
        assert srv.svc is not None
        async with http.get(f"{srv.url}/socket.io/?EIO=4&transport=polling") as r:
            sid = json.loads((await r.text())[1:])["sid"]
        async with websockets.connect(
                f"{ws_url(srv.url)}&sid={sid}", ping_interval=None) as ws:
            await ws.send("2notaprobe")
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1000
        sock = srv.svc.sio.eio.sockets[sid]
        assert not sock.upgraded and not sock.closed  # the session goes on, long-polling


async def test_websockets_left_when_the_server_stops_are_dropped() -> None:
    async with run_server(rate_limits=False) as srv:
        svc = srv.svc
        assert svc is not None
        c = await Raw.open(srv.url)
        c.send(frame(connect_packet()))
        assert (await c.packet())["type"] == 0
    # (no drain: the runner's cleanup alone)
    assert await c.closed_with() is None  # dropped, not closed: no CLOSE frame
    assert not svc.sio.eio.sockets and not svc.edge.sessions
    c.close()


async def test_no_take_over_where_aiohttp_would_cancel_the_request() -> None:
    """With aiohttp's `handler_cancellation=True`, letting go of the request after the
    take-over would cancel it mid-upgrade: the upgrade is refused (500) before anything is
    taken over, and the same server keeps serving Engine.IO over polling."""
    from aiohttp import web

    from live.app import build
    from live.config import Config

    from .support import SECRET

    svc = build(Config(jwt_secret=SECRET, port=0, metrics_port=0))
    runner = web.AppRunner(svc.app, handle_signals=False, access_log=None,
                           shutdown_timeout=1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HANDSHAKE.format(host=f"127.0.0.1:{port}").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 500"), head
        writer.close()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling") as r:
                assert r.status == 200
                assert (await r.read()).startswith(b"0{")  # an Engine.IO OPEN
    finally:
        await runner.cleanup()
