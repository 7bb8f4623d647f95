"""Sessions end with their token (contract v2 §1): `auth:expired`, `auth:renew`.

The service runs with no token leeway, so a connection ends at its token's `exp`;
tokens live a few seconds (whole seconds: `iat` is rounded down, so a 3 s token
may have a little over 2 s left when it is used).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
import websockets

from live.config import Config
from live.expiry import Deadlines
from rooms.clock import FakeClock

from .rawsock import RawClient
from .support import SECRET, Client, Running, eventually, run_server, token

SHORT_TTL = 3


@pytest.fixture
async def strict() -> AsyncIterator[Running]:
    """The service in this process with no clock leeway on tokens."""
    async with run_server(rate_limits=False, token_leeway_s=0) as running:
        yield running


def exp_of(tok: str) -> int:
    return int(jwt.decode(tok, options={"verify_signature": False})["exp"])


async def open_client(url: str, opened: list[Client], **tok: Any) -> Client:
    c = await Client(url, token(**tok)).connect()
    opened.append(c)
    return c


@pytest.fixture
async def opened() -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for c in clients:
        await c.close()


async def test_a_connection_ends_at_its_token_exp(strict: Running, opened: list[Client]) -> None:
    assert strict.svc is not None
    c = await open_client(strict.url, opened, sub="p", ttl=SHORT_TTL)
    assert (await c.call("join", {"room": "r"}))["ok"] is True
    assert await c.wait_for("auth:expired", timeout=SHORT_TTL + 10) == {}
    assert time.time() >= exp_of(c.tok)
    await eventually(lambda: not c.sio.connected)
    assert strict.svc.edge.sessions == {} and len(strict.svc.edge.deadlines) == 0


async def test_an_expired_connection_is_closed_and_gets_no_more_room_events(
        strict: Running, opened: list[Client]) -> None:
    """A client that ignores the DISCONNECT still loses its transport, and leaves the room."""
    teacher = await open_client(strict.url, opened, sub="t", role="teacher")
    assert (await teacher.call("join", {"room": "r"}))["ok"] is True
    raw = await RawClient.open(strict.url, sub="p", ttl=SHORT_TTL)
    try:
        assert (await raw.call("join", {"room": "r"}))["ok"] is True
        await teacher.wait_for("presence:join", lambda e: e["member"]["id"] == "p")
        before = await teacher.call("chat:send", {"room": "r", "text": "before", "cid": "b1"})
        assert before["ok"] is True
        events = []
        while True:  # until the expiry, the room's events reach it
            packet = await raw.recv_packet(timeout=SHORT_TTL + 10)
            if packet["type"] == 2:
                events.append(packet["data"][0])
            if events[-1:] == ["auth:expired"]:
                break
        assert packet["data"][1] == {} and "chat:message" in events, events
        # the teacher speaks right after; nothing of it may reach the expired connection
        sent = await teacher.call("chat:send", {"room": "r", "text": "after", "cid": "a1"})
        assert sent["ok"] is True
        after = []
        with pytest.raises(websockets.ConnectionClosed):  # the service closes the websocket
            while True:
                after.append(await raw.recv_packet(timeout=10))
        assert [p["type"] for p in after] == [1], after  # only the DISCONNECT
        await teacher.wait_for("presence:leave", lambda e: e["user"] == "p")
    finally:
        await raw.close()


async def test_renewal_moves_the_end(strict: Running, opened: list[Client]) -> None:
    assert strict.svc is not None
    c = await open_client(strict.url, opened, sub="p", ttl=SHORT_TTL)
    assert (await c.call("join", {"room": "r"}))["ok"] is True
    fresh = token(sub="p", ttl=3600, name="Pia Renamed")
    ack = await c.call("auth:renew", {"token": fresh})
    assert ack == {"ok": True, "exp": exp_of(fresh), "ice_servers": []}  # no TURN configured
    (session,) = strict.svc.edge.sessions.values()
    assert session.who.exp == exp_of(fresh) and session.who.name == "P"  # the name it joined with
    old_end = exp_of(c.tok)
    await eventually(lambda: time.time() > old_end + 1, timeout=SHORT_TTL + 5)
    await c.round_trip()
    assert c.sio.connected and c.events["auth:expired"] == []
    sent = await c.call("chat:send", {"room": "r", "text": "still here", "cid": "c1"})
    assert sent["ok"] is True


@pytest.mark.parametrize("other", [{"sub": "q"}, {"space": "space2"}, {"role": "teacher"}])
async def test_renewal_with_another_identity_is_forbidden(strict: Running, opened: list[Client],
                                                          other: dict[str, str]) -> None:
    assert strict.svc is not None
    c = await open_client(strict.url, opened, sub="p", ttl=600)
    claims = {"sub": "p", "ttl": 3600, **other}
    ack = await c.call("auth:renew", {"token": token(**claims)})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    (session,) = strict.svc.edge.sessions.values()
    assert strict.svc.edge.deadlines.deadline(session.conn) == exp_of(c.tok)
    assert session.who.exp == exp_of(c.tok)


@pytest.mark.parametrize(("payload", "code"), [
    ({"token": jwt.encode({"sub": "p"}, SECRET, algorithm="HS256")}, "forbidden"),
    ({"token": jwt.encode({"sub": "p", "name": "P", "role": "student", "space": "space1",
                           "aud": "twinspace-live", "iat": 1, "exp": 2}, SECRET,
                          algorithm="HS256")}, "forbidden"),  # expired
    ({"token": token(sub="p").rsplit(".", 1)[0] + ".c2lnbmF0dXJl"}, "forbidden"),
    ({"token": 42}, "bad_request"),
    ({}, "bad_request"),
    ({"token": "x" * 9000}, "bad_request"),
])
async def test_renewal_with_a_bad_token_is_refused(strict: Running, opened: list[Client],
                                                   payload: dict[str, Any], code: str) -> None:
    assert strict.svc is not None
    c = await open_client(strict.url, opened, sub="p", ttl=600)
    ack = await c.call("auth:renew", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    (session,) = strict.svc.edge.sessions.values()
    assert strict.svc.edge.deadlines.deadline(session.conn) == exp_of(c.tok)


async def test_the_leeway_keeps_a_connection_a_little_past_exp() -> None:
    async with run_server(rate_limits=False, token_leeway_s=2) as srv:
        assert srv.svc is not None
        c = await Client(srv.url, token(sub="p", ttl=SHORT_TTL)).connect()
        try:
            assert await c.wait_for("auth:expired", timeout=SHORT_TTL + 10) == {}
            assert time.time() >= exp_of(c.tok) + 2
        finally:
            await c.close()


def test_the_leeway_is_at_most_five_seconds() -> None:
    async def never(_: str) -> None:
        raise AssertionError("not due")

    with pytest.raises(ValueError, match="leeway"):
        Deadlines(never, leeway_s=6)


async def test_deadlines_from_one_timer_follow_their_clock() -> None:
    clock = FakeClock()
    ended: list[str] = []
    done = asyncio.Event()

    async def on_expired(conn: str) -> None:
        ended.append(conn)
        done.set()

    d = Deadlines(on_expired, leeway_s=1, now=lambda: clock.now_ms() / 1000)
    now = clock.now_ms() / 1000
    d.watch("a", now + 10)
    d.watch("b", now + 20)
    d.watch("c", now + 5)
    d.forget("c")  # disconnected
    d.watch("b", now + 3600)  # renewed
    assert d.due() == [] and len(d) == 2
    clock.advance(11)  # a is due (10 + 1 s leeway)
    d.rearm()  # the timer reads the clock again and fires at once
    await asyncio.wait_for(done.wait(), 5)
    assert ended == ["a"] and d.deadline("b") == now + 3601 and len(d) == 1
    clock.advance(3600)
    assert d.due() == ["b"]
    d.close()


async def test_pages_name_the_allowed_origins_they_talk_to_about_tokens() -> None:
    async with run_server(allowed_origins=["https://school.example", "https://b.example"]) as srv, \
            aiohttp.ClientSession() as http:
        for path in ("/embed/chat?room=r", "/room/r", "/console"):
            async with http.get(srv.url + path) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/html")
                body = await r.text()
                assert ('<meta name="twinspace-live-origins" '
                        'content="https://b.example https://school.example">') in body, path


def test_the_leeway_comes_from_the_environment() -> None:
    assert Config.from_env({}).token_leeway_s == 5
    assert Config.from_env({"LIVE_TOKEN_LEEWAY": "0.5"}).token_leeway_s == 0.5
    for bad in ("6", "-1", "soon"):
        with pytest.raises(ValueError, match="LIVE_TOKEN_LEEWAY"):
            Config.from_env({"LIVE_TOKEN_LEEWAY": bad})
