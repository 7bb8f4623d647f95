"""ICE servers in the acks, one subscription per stream, and the caps on PeerConnections, over
real Socket.IO clients and aiortc peers on loopback (docs/protocol.md "Videoconference")."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms.clock import FakeClock
from signaling.turn import credential
from tests.media.mediapeers import EncodedVideoTrack, Publisher

from .support import ROOT, SECRET, Client, Running, connect, run_server, token

ROOM = "class"


class Peers:
    def __init__(self) -> None:
        self.all: list[Publisher] = []

    async def publish(self, c: Client, source: str = "screen") -> str:
        pub = Publisher(video=EncodedVideoTrack(160, 120), audio=None)
        self.all.append(pub)
        ack = await c.call("rtc:publish", {"room": ROOM, "source": source,
                                           "sdp": await pub.offer()}, timeout=15)
        assert ack["ok"], ack
        await pub.accept(ack["sdp"])
        await c.wait_for("rtc:stream", lambda e: e["stream"] == ack["stream"], timeout=15)
        return str(ack["stream"])

    async def subscribe(self, c: Client, stream: str) -> dict[str, Any]:
        """The ack of `rtc:subscribe`; left unanswered, the leg stays until its connect
        timeout (30 s), long past the test: counted as any other."""
        ack: dict[str, Any] = await c.call("rtc:subscribe", {"room": ROOM, "stream": stream},
                                           timeout=15)
        return ack

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self.all), return_exceptions=True)


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    p = Peers()
    yield p
    await p.close()


async def joined(url: str, **tok: Any) -> Client:
    c = await connect(url, **tok)
    ack = await c.call("join", {"room": ROOM})
    assert ack["ok"], ack
    return c


def error(ack: dict[str, Any]) -> dict[str, Any]:
    assert ack["ok"] is False, ack
    return dict(ack["error"])


async def test_join_and_renew_acks_carry_turn_credentials_from_the_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TURN_URLS", "stun:turn.example.org,turns:turn.example.org:443")
    monkeypatch.setenv("LIVE_TURN_SECRET", "north-wind")
    monkeypatch.setenv("LIVE_TURN_TTL", "7200")
    clock = FakeClock()
    async with run_server(rate_limits=False, media_addresses=["127.0.0.1"], opened=(ROOM,),
                          clock=clock) as live:
        c = await joined(live.url, sub="pupil-42")
        expiry = clock.now_ms() // 1000 + 7200
        ack = await c.call("join", {"room": ROOM})
        assert ack["ice_servers"] == [
            {"urls": ["stun:turn.example.org"]},
            {"urls": ["turns:turn.example.org:443"], "username": f"{expiry}:pupil-42",
             "credential": credential("north-wind", f"{expiry}:pupil-42")},
        ]
        # hours into the lesson, a renewed token brings credentials for the legs made now
        clock.advance(3 * 3600)
        renewed = await c.call("auth:renew", {"token": token(sub="pupil-42")})
        assert renewed["ok"] and renewed["exp"] > 0
        assert renewed["ice_servers"][1]["username"] == f"{expiry + 3 * 3600}:pupil-42"
        # a refused renewal gives nothing
        refused = await c.call("auth:renew", {"token": token(sub="someone-else")})
        assert error(refused)["code"] == "forbidden" and "ice_servers" not in refused
        await c.close()


async def test_without_turn_the_join_ack_lists_no_ice_servers() -> None:
    async with run_server(rate_limits=False, media_addresses=["127.0.0.1"], opened=(ROOM,)) as live:
        c = await connect(live.url, sub="t", role="teacher")
        assert (await c.call("join", {"room": ROOM}))["ice_servers"] == []
        assert error(await c.call("join", {"room": "Bad Name"}))["code"] == "bad_request"
        await c.close()


def test_a_bad_turn_setting_stops_the_start_with_a_clear_message() -> None:
    for env, says in [
        ({"LIVE_TURN_URLS": "turn://turn.example.org"}, "LIVE_TURN_URLS: 'turn://turn.example.org'"),
        ({"LIVE_TURN_URLS": "turn:turn.example.org"}, "set LIVE_TURN_SECRET"),
        ({"LIVE_TURN_URLS": "turn:t.example", "LIVE_TURN_SECRET": "s", "LIVE_TURN_TTL": "60"},
         "LIVE_TURN_TTL must be"),
        ({"LIVE_MEDIA_DENIED_NETS": "10.0.0.0/40"}, "LIVE_MEDIA_DENIED_NETS: '10.0.0.0/40'"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "live.cli", "serve", "--port", "0"], cwd=ROOT,
            env={**os.environ, "LIVE_JWT_SECRET": SECRET, "LIVE_METRICS_PORT": "0", **env},
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (env, done.stderr[-2000:])
        assert says in done.stderr, (env, done.stderr[-2000:])


@pytest.fixture
async def capped(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    monkeypatch.setenv("LIVE_MEDIA_MAX_LEGS_PER_MEMBER", "2")
    monkeypatch.setenv("LIVE_MEDIA_MAX_LEGS", "5")
    async with run_server(rate_limits=False, media_addresses=["127.0.0.1"], opened=(ROOM,)) as running:
        yield running


async def test_one_subscription_per_stream_and_caps_on_legs(capped: Running, peers: Peers) -> None:
    assert capped.svc is not None and capped.svc.media is not None
    media = capped.svc.media
    teacher = await joined(capped.url, sub="t", role="teacher")
    ana = await joined(capped.url, sub="ana")
    ben = await joined(capped.url, sub="ben")
    screen = await peers.publish(teacher, "screen")  # legs: 1
    camera = await peers.publish(teacher, "camera")  # 2: the teacher's cap

    # a second subscription to the same stream is refused, naming the first
    first = await peers.subscribe(ana, screen)  # 3
    assert first["ok"]
    again = error(await peers.subscribe(ana, screen))
    assert again == {"code": "bad_request", "message": "you already receive this stream",
                     "sub": first["sub"]}
    assert media.stats()["subscriptions"] == 1
    # after letting it go, the stream may be received again
    assert await ana.call("rtc:unsubscribe", {"sub": first["sub"]}) == {"ok": True}
    assert (await peers.subscribe(ana, screen))["ok"]  # 3
    assert (await peers.subscribe(ana, camera))["ok"]  # 4: Ana's cap

    # a member at the cap: rate_limited; publishing again in place of a stream is no new leg
    at_cap = error(await peers.subscribe(teacher, screen))
    assert at_cap["code"] == "rate_limited" and "at most 2" in at_cap["message"]
    assert error(await ana.call("rtc:publish", {"room": ROOM, "source": "screen",
                                                "sdp": "v=0"}))["code"] == "rate_limited"
    replaced = await peers.publish(teacher, "screen")  # still 4: the old screen ends
    await ana.wait_for("rtc:ended", lambda e: e["stream"] == screen)
    assert media.stats() == {"rooms": 1, "streams": 2, "subscriptions": 1}

    # the process at its cap: unavailable for anyone, until a leg ends
    assert (await peers.subscribe(ben, replaced))["ok"]  # 4
    assert (await peers.subscribe(ben, camera))["ok"]  # 5: the process's cap
    carl = await joined(capped.url, sub="carl")
    full = error(await peers.subscribe(carl, camera))
    assert full["code"] == "unavailable" and "full" in full["message"]
    assert error(await carl.call("rtc:publish", {"room": ROOM, "source": "camera",
                                                 "sdp": "v=0"}))["code"] == "unavailable"
    (ana_sub,) = [s for r in media._rooms.values() for s in r.subs.values() if s.who.sub == "ana"]
    assert await ana.call("rtc:unsubscribe", {"sub": ana_sub.id}) == {"ok": True}
    assert (await peers.subscribe(carl, camera))["ok"]
    # nobody else was disturbed: the teacher still talks to the room
    sent = await teacher.call("chat:send", {"room": ROOM, "text": "still here", "cid": "c1"})
    assert sent["ok"]
    for c in (teacher, ana, ben, carl):
        await c.close()
