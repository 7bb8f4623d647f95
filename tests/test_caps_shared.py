"""Connection caps per user and per address across processes (issue #14 item 4): with
the Redis backend a user's connections are counted in Redis, so spreading them over
processes does not multiply the cap; a dead process's counts are skipped, then reaped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio

from live.redis_backend import keys
from live.redis_backend.caps import RedisConnectionCaps
from live.redis_backend.store import PROC_DEAD_MS, RedisStore
from rooms.clock import FakeClock
from rooms.errors import RateLimited
from rooms.identity import Identity

from .support import ServiceProcess, token


class Opened:
    def __init__(self) -> None:
        self.clients: list[socketio.AsyncClient] = []

    async def refused(self, url: str, tok: str) -> str | None:
        """None if the connection is accepted (and kept open), else its connect_error code."""
        c = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        errors: list[Any] = []
        c.on("connect_error", errors.append)
        try:
            await c.connect(url, auth={"token": tok}, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            await c.disconnect()
            return str(errors[0]["data"]["code"])
        self.clients.append(c)
        return None


@pytest.fixture
async def opened() -> AsyncIterator[Opened]:
    o = Opened()
    yield o
    for c in o.clients:
        await c.disconnect()


@pytest.mark.slow
async def test_a_users_connections_are_capped_across_processes(
        redis_url: str, opened: Opened) -> None:
    env = {"LIVE_MAX_CONNECTIONS_PER_USER": "3", "LIVE_MAX_CONNECTIONS_PER_ADDRESS": "50"}
    procs = [ServiceProcess(redis_url, env=env) for _ in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    a, b = procs
    try:
        tok = token(sub="u")
        # before: 3 on each process (6 in all) were admitted
        assert [await opened.refused(a.url, tok), await opened.refused(b.url, tok),
                await opened.refused(a.url, tok)] == [None, None, None]
        assert await opened.refused(b.url, tok) == "rate_limited"
        assert await opened.refused(a.url, tok) == "rate_limited"
        assert await opened.refused(b.url, token(sub="other")) is None  # another user
        # a closed connection (on a) frees a place (on b)
        await opened.clients.pop(0).disconnect()
        r = aioredis.Redis.from_url(redis_url)
        try:
            for _ in range(200):  # the release runs as the server sees the close
                held = await r.hgetall(keys.caps_user("space1\x00u"))
                if sum(int(v) for v in held.values()) == 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await r.aclose()
        assert await opened.refused(b.url, tok) is None
    finally:
        for p in procs:
            p.stop()


def who(sub: str) -> Identity:
    return Identity(space="s", sub=sub, role="student", name=sub)


async def test_a_dead_processs_connections_stop_counting_and_are_reaped(redis_url: str) -> None:
    clock = FakeClock()
    r = aioredis.Redis.from_url(redis_url)
    environ: dict[str, Any] = {}  # no request: the address is "?"
    dead = RedisConnectionCaps(r, clock, "dead", PROC_DEAD_MS, per_user=2, per_address=0)
    alive = RedisConnectionCaps(r, clock, "alive", PROC_DEAD_MS, per_user=2, per_address=0)
    store = RedisStore(aioredis.Redis.from_url(redis_url), clock, 60_000, "alive")
    try:
        await r.zadd(keys.PROCS, {"dead": clock.now_ms()})
        await dead.admit("c1", who("a:b"), environ)
        await dead.admit("c2", who("a:b"), environ)
        with pytest.raises(RateLimited):  # the cap holds on the other process
            await alive.admit("c3", who("a:b"), environ)
        await alive.admit("c4", who("a"), environ)  # another user (a prefix of the first)
        clock.advance(PROC_DEAD_MS / 1000 + 1)  # "dead" stops heart-beating
        await alive.admit("c3", who("a:b"), environ)  # its counts are skipped at once
        await store.heartbeat()  # and reaped
        assert await r.hgetall(keys.caps_user("s\x00a:b")) == {b"alive": b"1"}
        assert not await r.exists(keys.proc_caps("dead"))
        await alive.release("c3")
        await alive.release("c4")
        assert not await r.exists(keys.caps_user("s\x00a:b"), keys.caps_user("s\x00a"))
    finally:
        await store.close()
        await r.aclose()


async def test_a_redis_outage_counts_connections_in_this_process() -> None:
    r = aioredis.Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    caps = RedisConnectionCaps(r, FakeClock(), "p", PROC_DEAD_MS, per_user=1, per_address=0)
    try:
        await caps.admit("c1", who("u"), {})
        with pytest.raises(RateLimited):
            await caps.admit("c2", who("u"), {})
        assert caps.fallbacks == 2
        await caps.release("c1")
        await caps.admit("c3", who("u"), {})
    finally:
        await r.aclose()


class ScriptRights:
    """Caps on a Redis user of their own, whose right to run scripts a test takes away and
    gives back: a real refusal from Redis."""

    def __init__(self, redis_url: str, user: str) -> None:
        self.user = user
        self.admin = aioredis.Redis.from_url(redis_url)
        self.r = aioredis.Redis.from_url(redis_url.replace("redis://", f"redis://{user}:x@"))
        self.caps = RedisConnectionCaps(self.r, FakeClock(), "p", PROC_DEAD_MS, per_user=1,
                                        per_address=0)

    async def refuse(self) -> None:
        await self.admin.execute_command("ACL", "SETUSER", self.user, "-evalsha", "-eval")

    async def allow(self) -> None:
        await self.admin.execute_command("ACL", "SETUSER", self.user, "+evalsha", "+eval")


@pytest.fixture
async def rights(redis_url: str) -> AsyncIterator[ScriptRights]:
    r = ScriptRights(redis_url, "caps")
    await r.admin.execute_command("ACL", "SETUSER", r.user, "on", "nopass", "~*", "+@all")
    try:
        yield r
    finally:
        await r.admin.execute_command("ACL", "DELUSER", r.user)
        await r.admin.aclose()
        await r.r.aclose()


async def test_a_release_redis_missed_is_retried(rights: ScriptRights) -> None:
    caps, r = rights.caps, rights.r
    await caps.admit("c1", who("u"), {})
    await rights.refuse()
    await caps.release("c1")  # refused by Redis: kept for later
    assert await r.hgetall(keys.caps_user("s\x00u")) == {b"p": b"1"}
    await rights.allow()
    await caps.admit("c2", who("u"), {})  # the missed release first, so this fits
    assert await r.hgetall(keys.caps_user("s\x00u")) == {b"p": b"1"}


async def test_missed_releases_retried_at_once_are_each_released_once(
        rights: ScriptRights) -> None:
    # two admits (or disconnects) retrying the missed releases at the same time must not
    # both release the first one and drop the second: each user's count comes back once
    caps, r = rights.caps, rights.r
    await caps.admit("c1", who("u1"), {})
    await caps.admit("c2", who("u2"), {})
    await rights.refuse()
    await caps.release("c1")  # refused by Redis: both kept for later
    await caps.release("c2")
    await rights.allow()
    # each user comes back on a new connection, at the same time
    await asyncio.gather(caps.admit("c3", who("u1"), {}), caps.admit("c4", who("u2"), {}))
    assert await r.hgetall(keys.caps_user("s\x00u1")) == {b"p": b"1"}
    assert await r.hgetall(keys.caps_user("s\x00u2")) == {b"p": b"1"}
