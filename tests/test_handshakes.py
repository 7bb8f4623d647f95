"""Sessions that never sign in are closed (issue #14 item 2, contract v2 §1).

A transport whose CONNECT was refused is closed once its `connect_error` is out; one
that has not completed a valid CONNECT by its deadline (10 s; shorter here through
`Config.connect_timeout_s`) is closed; and an address has at most
`max_connections_per_address` sessions signing in at once, over WebSocket and
long-polling alike. Raw clients (tests/rawsock.py, HTTP by hand) send what a
misbehaving client would; real Socket.IO clients show what a normal one sees.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import msgpack
import pytest
import socketio
import websockets

from live.config import Config

from .rawsock import RawClient
from .support import connect, eventually, run_server, token

WAIT = 5.0  # upper bound of any wait for the service


class Polling:
    """An Engine.IO v4 long-polling session written by hand; msgpack packets are sent
    and received base64'd (`b...`), as socket.io-client does over polling."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.base = url + "/socket.io/?EIO=4&transport=polling"
        self.sid = ""

    async def open(self) -> int:
        """The handshake; its status (200: a session, with `sid`)."""
        async with self.http.get(self.base) as r:
            body = await r.text()
            if r.status == 200:
                assert body.startswith("0"), body
                self.sid = json.loads(body[1:])["sid"]
            else:
                self.refusal = json.loads(body)
            return r.status

    async def post(self, **packet: Any) -> int:
        body = "b" + base64.b64encode(msgpack.packb(packet)).decode()
        async with self.http.post(f"{self.base}&sid={self.sid}", data=body) as r:
            return r.status

    async def get(self) -> tuple[int, list[Any]]:
        """One poll: its status and packets (Socket.IO packets decoded, Engine.IO ones as
        their type digit)."""
        async with asyncio.timeout(WAIT), self.http.get(f"{self.base}&sid={self.sid}") as r:
            body = await r.text()
        if r.status != 200:
            return r.status, []
        packets: list[Any] = []
        for p in body.split("\x1e"):
            if p.startswith("b"):
                packets.append(msgpack.unpackb(base64.b64decode(p[1:]), strict_map_key=False))
            else:
                packets.append(p[:1])
        return r.status, packets

    async def until_ended(self) -> list[Any]:
        """Poll until the service ends the session (a poll answered 400); what came."""
        got: list[Any] = []
        while True:
            status, packets = await self.get()
            if status == 400:
                return got
            got += packets


async def test_a_refused_connect_ends_its_websocket() -> None:
    async with run_server() as srv:
        assert srv.svc is not None
        eio = srv.svc.sio.eio
        c = await RawClient.unsigned(srv.url)
        await c.send_packet(type=0, nsp="/", data={"token": "not-a-token"})
        refused = await c.recv_packet()
        assert refused["type"] == 4, refused  # CONNECT_ERROR first, then the close
        assert refused["data"]["data"]["code"] == "unauthorized", refused
        assert await c.closed(WAIT), "the refused transport stayed open"
        await eventually(lambda: not eio.sockets and not len(eio.handshakes))


async def test_a_refused_connect_ends_its_long_polling_session() -> None:
    async with run_server() as srv, aiohttp.ClientSession() as http:
        p = Polling(http, srv.url)
        assert await p.open() == 200
        assert await p.post(type=0, nsp="/", data={"token": token(ttl=-60)}) == 200
        got = await p.until_ended()
        errors = [x for x in got if isinstance(x, dict)]
        assert [e["type"] for e in errors] == [4], got
        assert errors[0]["data"]["data"]["code"] == "expired", errors


async def test_a_refused_long_polling_client_that_stops_polling_is_still_dropped() -> None:
    async with run_server(connect_timeout_s=0.5) as srv, aiohttp.ClientSession() as http:
        assert srv.svc is not None
        eio = srv.svc.sio.eio
        p = Polling(http, srv.url)
        assert await p.open() == 200
        assert await p.post(type=0, nsp="/", data={"token": "not-a-token"}) == 200
        # it never fetches its connect_error: the session ends at its deadline all the same
        await eventually(lambda: not eio.sockets and not len(eio.handshakes)
                         and not eio._ending)
        assert (await p.get())[0] == 400


async def test_a_packet_before_connect_ends_the_session() -> None:
    async with run_server() as srv:
        c = await RawClient.unsigned(srv.url)
        await c.send_packet(type=2, nsp="/", id=1, data=["join", {"room": "r"}])
        assert await c.closed(WAIT)


async def test_a_session_that_never_connects_is_closed_at_its_deadline() -> None:
    deadline = 0.5
    async with run_server(connect_timeout_s=deadline) as srv, \
            aiohttp.ClientSession() as http:
        assert srv.svc is not None
        eio = srv.svc.sio.eio
        loop = asyncio.get_running_loop()
        # a real client signs in at once and is not touched by its deadline
        member = await connect(srv.url, sub="m")
        try:
            await eventually(lambda: len(eio.handshakes) == 0)  # signed in: nothing pending
            t0 = loop.time()
            silent = await RawClient.unsigned(srv.url)  # answers nothing, sends nothing
            assert await silent.closed(WAIT)
            assert loop.time() - t0 >= deadline * 0.9
            p = Polling(http, srv.url)
            t0 = loop.time()
            assert await p.open() == 200
            await p.until_ended()
            assert loop.time() - t0 >= deadline * 0.9
            assert eio.handshakes.expired == 2
            # the deadlines of both came after the member's: it is still connected
            await member.round_trip()
            assert member.sio.connected
        finally:
            await member.close()


def test_the_deadline_is_ten_seconds_by_default() -> None:
    assert Config().connect_timeout_s == 10.0
    assert Config.from_env({}).connect_timeout_s == 10.0


async def ws_status(url: str) -> int:
    """101 if a websocket handshake opens a session, else the HTTP status refusing it."""
    try:
        c = await RawClient.unsigned(url)
    except websockets.exceptions.InvalidStatus as refused:
        return int(refused.response.status_code)
    OPENED.append(c)
    return 101


OPENED: list[RawClient] = []


@pytest.fixture(autouse=True)
async def close_opened() -> Any:
    yield
    while OPENED:
        await OPENED.pop().close()


async def test_sessions_signing_in_are_capped_per_address() -> None:
    async with run_server(max_connections_per_address=3) as srv, \
            aiohttp.ClientSession() as http:
        assert srv.svc is not None
        eio = srv.svc.sio.eio
        assert [await ws_status(srv.url) for _ in range(2)] == [101, 101]
        p = Polling(http, srv.url)
        assert await p.open() == 200  # the third, over long-polling
        # the fourth is refused, whatever its transport
        assert await ws_status(srv.url) == 429
        q = Polling(http, srv.url)
        assert await q.open() == 429
        assert q.refusal["code"] == "rate_limited" and "per address" in q.refusal["message"]
        for transports in (["websocket"], ["polling"]):
            real = socketio.AsyncClient(serializer="msgpack", reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await real.connect(srv.url, auth={"token": token()}, transports=transports,
                                   wait_timeout=5)
            await real.disconnect()
        assert eio.handshakes.refused == 4
        # one of them signs in: its place is free for the next
        first = OPENED[0]
        await first.send_packet(type=0, nsp="/", data={"token": token(sub="first")})
        assert (await first.recv_packet())["type"] == 0
        await eventually(lambda: len(eio.handshakes) == 2)
        member = await connect(srv.url, sub="member")
        try:
            assert member.sio.connected
        finally:
            await member.close()


async def test_rate_limits_off_lifts_the_cap_but_not_the_deadline() -> None:
    async with run_server(rate_limits=False, max_connections_per_address=2,
                          connect_timeout_s=0.5) as srv:
        assert srv.svc is not None
        assert [await ws_status(srv.url) for _ in range(4)] == [101] * 4
        for c in OPENED:
            assert await c.closed(WAIT)
        assert srv.svc.sio.eio.handshakes.expired == 4
