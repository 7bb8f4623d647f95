"""Rate limits come first (issue #14 item 3): every event takes its bucket before any
store read, and a connection has at most so many events running at once.

The clock is a `FakeClock` that never moves, so a bucket never refills during a test:
exactly `burst` events of a kind get through, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from live.limits import EVENT_KINDS, OTHER, kind_of
from rooms.clock import FakeClock
from rooms.ratelimit import DEFAULT_RATES

from .support import RedisServer, connect, run_server

MISSING_ID = "1700000000000-0"  # a well-formed message id no message has


def codes(acks: list[Any]) -> list[str]:
    return ["ok" if a["ok"] else a["error"]["code"] for a in acks]


# event, payload, the error it gets while its bucket lasts, who sends it
FLOODS = [
    ("chat:delete", {"room": "r", "id": MISSING_ID}, "not_found", "student"),
    ("poll:vote", {"room": "r", "poll": "nosuchpoll", "choices": [0]}, "not_found", "student"),
    ("chat:private", {"room": "r", "to": "nobody", "text": "hi", "cid": "c"}, "not_found",
     "student"),
    ("mod:kick", {"room": "r", "user": "nobody"}, "not_found", "teacher"),
    ("poll:close", {"room": "r", "poll": "nosuchpoll"}, "not_found", "teacher"),
]


@pytest.mark.parametrize(("event", "payload", "error", "role"), FLOODS,
                         ids=[f[0] for f in FLOODS])
async def test_a_flood_is_limited_even_when_each_event_fails(
        event: str, payload: dict[str, Any], error: str, role: str) -> None:
    # before: these read the store (or had no bucket at all) and answered `not_found`
    # for ever; now the bucket is taken first
    burst = int(DEFAULT_RATES[kind_of(event)].burst)
    async with run_server(clock=FakeClock()) as srv:  # rate limits on, as in production
        teacher = await connect(srv.url, sub="t", role="teacher")
        c = teacher if role == "teacher" else await connect(srv.url, sub="p", role=role)
        try:
            assert (await teacher.call("join", {"room": "r"}))["ok"]
            if c is not teacher:
                assert (await c.call("join", {"room": "r"}))["ok"]
            acks = [await c.call(event, payload) for _ in range(burst + 5)]
            assert codes(acks) == [error] * burst + ["rate_limited"] * 5
        finally:
            await teacher.close()
            if c is not teacher:
                await c.close()


async def test_votes_on_a_missing_poll_stop_reaching_the_store(redis_url: str) -> None:
    # watched on Redis itself (MONITOR): once the bucket is empty, a vote reads nothing
    burst = int(DEFAULT_RATES["vote"].burst)
    seen: list[str] = []
    marker = "i14-limits-marker"
    watcher = aioredis.Redis.from_url(redis_url)
    other = aioredis.Redis.from_url(redis_url)
    async with run_server(redis_url, clock=FakeClock()) as srv:
        teacher = await connect(srv.url, sub="t", role="teacher")
        pupil = await connect(srv.url, sub="p")
        try:
            for c in (teacher, pupil):
                assert (await c.call("join", {"room": "r"}))["ok"]
            async with watcher.monitor() as monitor:
                changed = asyncio.Event()

                async def watch() -> None:
                    async for cmd in monitor.listen():
                        seen.append(str(cmd.get("command", "")))
                        changed.set()

                watching = asyncio.create_task(watch())

                async def marked(n: int) -> None:  # MONITOR shows commands in order run
                    await other.get(f"{marker}-{n}")
                    while True:
                        changed.clear()
                        if any(f"{marker}-{n}" in c for c in seen):
                            return
                        await asyncio.wait_for(changed.wait(), 10)

                await marked(0)
                vote = {"room": "r", "poll": "nosuchpoll", "choices": [0]}
                first = [await pupil.call("poll:vote", vote) for _ in range(burst)]
                await marked(1)
                reads_while_allowed = sum("nosuchpoll" in c for c in seen)
                later = [await pupil.call("poll:vote", vote) for _ in range(10)]
                await marked(2)
                reads_in_all = sum("nosuchpoll" in c for c in seen)
                watching.cancel()
            assert codes(first) == ["not_found"] * burst
            assert codes(later) == ["rate_limited"] * 10
            assert reads_while_allowed >= burst  # the poll was read for each allowed vote
            assert reads_in_all == reads_while_allowed, "a limited vote read the store"
        finally:
            await teacher.close()
            await pupil.close()
            await watcher.aclose()
            await other.aclose()


async def test_events_in_flight_on_one_connection_are_capped(own_redis: RedisServer) -> None:
    # Redis stalls (CLIENT PAUSE): the first 4 history reads wait on it; the 5th and 6th
    # are answered `rate_limited` at once, without running
    async with run_server(own_redis.url, max_events_in_flight=4) as srv:
        assert srv.svc is not None
        limits = srv.svc.edge.limits
        c = await connect(srv.url, sub="p")
        try:
            assert (await c.call("join", {"room": "r"}))["ok"]
            own_redis.cli("CLIENT", "PAUSE", "1500", "ALL")
            calls = [asyncio.create_task(c.call("chat:history", {"room": "r"}))
                     for _ in range(6)]
            refused = await asyncio.gather(*calls[4:])
            assert codes(refused) == ["rate_limited"] * 2
            assert "waiting for an answer" in refused[0]["error"]["message"]
            assert not any(t.done() for t in calls[:4])  # still waiting on Redis
            assert codes(await asyncio.gather(*calls[:4])) == ["ok"] * 4
            assert limits.refused == 2
            assert limits.running(next(iter(srv.svc.edge.sessions))) == 0
        finally:
            await c.close()
    # LIVE_RATE_LIMITS=off lifts the cap (benchmarks keep many messages in flight)
    async with run_server(own_redis.url, rate_limits=False, max_events_in_flight=4) as srv:
        c = await connect(srv.url, sub="p")
        try:
            assert (await c.call("join", {"room": "r"}))["ok"]
            own_redis.cli("CLIENT", "PAUSE", "500", "ALL")
            acks = await asyncio.gather(*(c.call("chat:history", {"room": "r"})
                                          for _ in range(6)))
            assert codes(acks) == ["ok"] * 6
        finally:
            await c.close()


async def test_every_event_the_service_handles_has_a_bucket() -> None:
    async with run_server() as srv:
        assert srv.svc is not None
        for event in srv.svc.edge.events:
            assert kind_of(event) in DEFAULT_RATES, event
        # the table names only events the service handles (no stale entries)
        assert set(EVENT_KINDS) <= set(srv.svc.edge.events)
    # an event added later is limited too: by its prefix, else as `other`
    assert kind_of("mod:lobby") == "moderate"
    assert kind_of("rtc:answer") == "signal"
    assert kind_of("auth:renew") == OTHER
    assert kind_of("chat:delete") == "delete"
