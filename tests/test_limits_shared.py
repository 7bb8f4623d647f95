"""Limits per user, not per process (issue #14 item 4): several service processes on one
Redis take one user's buckets from Redis, so a user sending through two processes (a
balancer, or a client picking its backend) gets one user's rate, not two.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from live.redis_backend import keys
from live.redis_backend.limiter import RETRY_S, RedisLimiter
from rooms.clock import FakeClock
from rooms.errors import RateLimited
from rooms.ratelimit import DEFAULT_RATES, Rate

from .support import ServiceProcess, connect

pytestmark = pytest.mark.slow


@pytest.fixture
async def two_limited(redis_url: str) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two service processes on one Redis, rate limits on (as in production)."""
    procs = [ServiceProcess(redis_url) for _ in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    yield procs[0], procs[1]
    for p in procs:
        p.stop()


async def test_one_user_flooding_two_processes_gets_one_users_rate(
        two_limited: tuple[ServiceProcess, ServiceProcess]) -> None:
    a, b = two_limited
    rate = DEFAULT_RATES["hand"]
    ca = await connect(a.url, sub="flooder")
    cb = await connect(b.url, sub="flooder")
    try:
        started = time.monotonic()
        acks = await asyncio.gather(*(
            c.call("hand", {"room": "r", "up": True})
            for _ in range(int(rate.burst) + 10) for c in (ca, cb)))
        elapsed = time.monotonic() - started
        passed = sum(1 for a_ in acks if a_["ok"] or a_["error"]["code"] != "rate_limited")
        # before: each process had its own bucket, 2 x burst passed
        assert passed >= rate.burst
        assert passed <= rate.burst + math.ceil(elapsed * rate.per_second) + 1
        assert passed < 2 * rate.burst
    finally:
        await ca.close()
        await cb.close()


async def test_redis_limiter_buckets_refill_and_keep_users_apart(redis_url: str) -> None:
    clock = FakeClock()
    r = aioredis.Redis.from_url(redis_url)
    limiter = RedisLimiter(r, clock, {"x": Rate(2, 1)})
    try:
        await limiter.take("s\x00a:b", "x")
        await limiter.take("s\x00a:b", "x")
        with pytest.raises(RateLimited):
            await limiter.take("s\x00a:b", "x")
        await limiter.take("s\x00a", "x")  # another user (a prefix of the first): own bucket
        clock.advance(1.0)
        await limiter.take("s\x00a:b", "x")  # one token back after a second
        with pytest.raises(RateLimited):
            await limiter.take("s\x00a:b", "x")
        ttl = await r.pttl(keys.rate("s\x00a:b", "x"))
        assert 0 < ttl <= 4000  # the key goes once the bucket would be full again
    finally:
        await r.aclose()


async def test_a_redis_outage_falls_back_to_this_processs_buckets(redis_url: str) -> None:
    # fail open to the per-process buckets: no spurious "slow down" during an outage
    # (the handler answers `unavailable` itself), and a flood is still limited here
    clock = FakeClock()
    r = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    limiter = RedisLimiter(r, clock, {"x": Rate(2, 1)})
    try:
        await limiter.take("u", "x")
        await limiter.take("u", "x")
        with pytest.raises(RateLimited):
            await limiter.take("u", "x")
        assert limiter.fallbacks == 3
    finally:
        await r.aclose()


async def test_after_a_redis_error_redis_is_asked_again_a_second_later(redis_url: str) -> None:
    # a real refusal: the limiter's own Redis user loses the right to run scripts
    clock = FakeClock()
    admin = aioredis.Redis.from_url(redis_url)
    await admin.execute_command("ACL", "SETUSER", "limits", "on", "nopass", "~*", "+@all",
                                "-evalsha", "-eval")
    r = aioredis.Redis.from_url(redis_url.replace("redis://", "redis://limits:x@"))
    limiter = RedisLimiter(r, clock, {"x": Rate(1, 1)})
    try:
        await limiter.take("u", "x")  # refused by Redis: this process's bucket
        await admin.execute_command("ACL", "SETUSER", "limits", "+evalsha", "+eval")
        with pytest.raises(RateLimited):  # within RETRY_S: still the local bucket (empty)
            await limiter.take("u", "x")
        assert limiter.fallbacks == 2 and not await r.exists(keys.rate("u", "x"))
        clock.advance(RETRY_S)  # (the local bucket refills too; Redis's is untouched)
        await limiter.take("u", "x")
        assert await r.exists(keys.rate("u", "x"))  # Redis again
        with pytest.raises(RateLimited):
            await limiter.take("u", "x")
        assert limiter.fallbacks == 2
    finally:
        await admin.execute_command("ACL", "DELUSER", "limits")
        await admin.aclose()
        await r.aclose()


async def test_disabled_limiter_never_limits(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    limiter = RedisLimiter(r, FakeClock(), {"x": Rate(1, 1)}, enabled=False)
    try:
        for _ in range(5):
            await limiter.take("u", "x")
        assert await r.dbsize() == 0
    finally:
        await r.aclose()
