"""Contract §3: messages leave history and Redis entirely after the retention.

Two clocks are at work. The service's (`rooms.clock`) decides what history shows and what
the sweeper removes: it is a FakeClock here, so three months pass when the test says so.
Redis stamps stream ids and expires keys on its own clock, which no test can move: the last
test waits for it, briefly, with a retention of a second and a half.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.asyncio import Redis

from live.redis_backend import keys
from rooms.clock import FakeClock

from .support import connect, run_server

SECRET_WORD = "zebra-pancake-7319"
ROOM_KEYS = "live:{space1/r}:*"


def advance_to(clock: FakeClock, ms: int) -> None:
    clock.advance((ms - clock.now_ms() + 0.5) / 1000)
    assert clock.now_ms() == ms


async def test_expired_messages_leave_history_and_redis(redis_url: str) -> None:
    # Redis stamps messages with its time: the fake clock starts there, then only moves
    # when told to. The retention is the default, 90 days, so the sweeper's loop runs at
    # start and then waits a minute: nothing below is its doing but the sweep called here.
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    r = Redis.from_url(redis_url)
    async with run_server(redis_url, clock=clock, rate_limits=False, opened=()) as srv:
        assert srv.svc is not None
        retention_ms = srv.svc.cfg.retention_ms
        assert retention_ms == 90 * 86_400_000
        a = await connect(srv.url, sub="a", role="teacher")  # opens the room
        try:
            await a.call("join", {"room": "r"})
            acks = [await a.call("chat:send", {"room": "r", "text": f"{SECRET_WORD} {i}",
                                               "cid": str(i)}) for i in range(3)]
            assert all(ack["ok"] for ack in acks)
            ts = [ack["message"]["ts"] for ack in acks]
            assert await _texts_in_redis(r) == 3
            # every key carries an expiry, none later than the retention
            for k in await r.keys("*"):
                assert 0 < await r.pttl(k) <= retention_ms, k
            # a millisecond before the oldest message is 90 days old, all are shown
            advance_to(clock, ts[0] + retention_ms - 1)
            page = await a.call("chat:history", {"room": "r"})
            assert [m["text"] for m in page["messages"]] == [f"{SECRET_WORD} {i}"
                                                             for i in range(3)]
            # once the newest is 90 days old, history shows nothing, before any sweep:
            # the text is still in Redis, hidden by the horizon alone
            advance_to(clock, ts[-1] + retention_ms)
            assert (await a.call("chat:history", {"room": "r"}))["messages"] == []
            assert await _texts_in_redis(r) == 3
            await a.call("leave", {"room": "r"})
        finally:
            await a.close()
        # the sweep (what the service's retention loop runs) removes every trace of the
        # text: scan all of Redis
        assert await srv.svc.store.sweep() == 3
        assert await _texts_in_redis(r) == 0
        assert await r.zcard("live:retention") == 0
        # what is left of the room holds no text and goes on Redis's clock within the
        # retention: the idempotency keys (message ids by cid)
        left = [k.decode() async for k in r.scan_iter(ROOM_KEYS)]
        assert sorted(left) == [keys.cid("space1/r", "a", str(i)) for i in range(3)]
        for k in left:
            assert 0 < await r.pttl(k) <= retention_ms, k
        late = await connect(srv.url, sub="late", role="teacher")
        pupil = await connect(srv.url, sub="pupil")
        try:
            # its history gone, the room is no longer open to pupils
            assert (await pupil.call("join", {"room": "r"}))["error"]["code"] == "not_found"
            assert (await late.call("join", {"room": "r"}))["messages"] == []
        finally:
            await late.close()
            await pupil.close()
    await r.aclose()


async def test_redis_expires_every_key_of_a_room_on_its_own_clock(redis_url: str) -> None:
    # The service's clock stands still, so its horizon never moves and its sweeper never
    # removes anything: whatever disappears here, Redis's own expiries removed.
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    r = Redis.from_url(redis_url)
    days = 1.5 / 86_400  # a retention of 1.5 s
    async with run_server(redis_url, clock=clock, rate_limits=False,
                          history_days=days) as srv:
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            for i in range(3):
                assert (await a.call("chat:send", {"room": "r", "text": f"{SECRET_WORD} {i}",
                                                    "cid": str(i)}))["ok"]
            await a.call("leave", {"room": "r"})
        finally:
            await a.close()
        # a real wait, on Redis's clock (it cannot be advanced): every key of the room
        # expires, and no text is left anywhere in Redis
        deadline = asyncio.get_running_loop().time() + 15
        while [k async for k in r.scan_iter(ROOM_KEYS)] or await _texts_in_redis(r):
            assert asyncio.get_running_loop().time() < deadline, "Redis kept the room's keys"
            await asyncio.sleep(0.1)
        assert await r.exists("live:retention") == 0
    await r.aclose()


async def _texts_in_redis(r: Any) -> int:
    """Count values anywhere in Redis that hold the secret word."""
    found = 0
    async for key in r.scan_iter("*"):
        kind = (await r.type(key)).decode()
        blobs: list[bytes] = []
        if kind == "string":
            blobs = [await r.get(key) or b""]
        elif kind == "stream":
            blobs = [b"".join(v for f in fields.items() for v in f)
                     for _, fields in await r.xrange(key)]
        elif kind == "hash":
            blobs = list((await r.hgetall(key)).values())
        elif kind == "set":
            blobs = list(await r.smembers(key))
        elif kind == "zset":
            blobs = list(await r.zrange(key, 0, -1))
        elif kind == "list":
            blobs = list(await r.lrange(key, 0, -1))
        found += sum(SECRET_WORD.encode() in b for b in blobs)
    return found
