"""The bus's room publisher (live/redis_backend/publisher.py), on a real redis-server:
pipelined SPUBLISH in order, and each way a publish fails (refused, lost, silent)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from live.redis_backend.client import connect
from live.redis_backend.publisher import Publisher

from .support import RedisServer

pytestmark = pytest.mark.redis


class Listener:
    """A subscriber of shard channels (SSUBSCRIBE), collecting what it hears."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)
        self.ps = self.redis.pubsub()
        self.heard: list[tuple[str, bytes]] = []

    async def start(self, *channels: str) -> None:
        await self.ps.ssubscribe(*channels)
        for _ in channels:  # the subscriptions' confirmations
            await self.ps.get_message(timeout=2.0)

    async def until(self, count: int) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(5):
            while len(self.heard) < count:
                m = await self.ps.get_message(timeout=1.0)
                if m and m["type"] == "smessage":
                    self.heard.append((m["channel"].decode(), m["data"]))
        return self.heard

    async def close(self) -> None:
        await self.ps.aclose()
        await self.redis.aclose()


@pytest.fixture
async def listener(redis_url: str) -> AsyncIterator[Listener]:
    heard = Listener(redis_url)
    await heard.start("{r1}:ch", "{r2}:ch", "denied:ch")
    yield heard
    await heard.close()


async def test_the_publishes_of_one_turn_go_in_one_write_in_order(
        redis_url: str, listener: Listener) -> None:
    pub = Publisher(connect(redis_url))
    try:
        await asyncio.gather(pub.spublish("{r1}:ch", [b"a1", b"a2"]),
                             pub.spublish("{r2}:ch", [b"b1"]),
                             pub.spublish("{r1}:ch", [b"a3", b"a4", b"a5"]))
        assert pub.writes == 1
        await pub.spublish("{r2}:ch", [b"b2"])
        await pub.spublish("{r2}:ch", [])  # nothing to send: returns at once
        assert pub.writes == 2
        assert await listener.until(7) == [
            ("{r1}:ch", b"a1"), ("{r1}:ch", b"a2"), ("{r2}:ch", b"b1"), ("{r1}:ch", b"a3"),
            ("{r1}:ch", b"a4"), ("{r1}:ch", b"a5"), ("{r2}:ch", b"b2")]
    finally:
        await pub.aclose()


async def test_a_refused_frame_fails_its_own_call_only(
        redis_server: RedisServer, listener: Listener) -> None:
    """A user allowed `{…}` channels only: the call with a frame on another channel is
    refused (NOPERM), the calls in the same write go through."""
    redis_server.cli("ACL", "SETUSER", "roomsonly", "on", ">pw", "~*", "resetchannels",
                     "&{*", "+@all")
    try:
        pub = Publisher(connect(f"redis://roomsonly:pw@127.0.0.1:{redis_server.port}/0"))
        try:
            results = await asyncio.gather(pub.spublish("{r1}:ch", [b"ok1"]),
                                           pub.spublish("denied:ch", [b"no"]),
                                           pub.spublish("{r2}:ch", [b"ok2"]),
                                           return_exceptions=True)
            assert results[0] is None and results[2] is None
            assert isinstance(results[1], ResponseError) and "NOPERM" in str(results[1])
            assert pub.writes == 1
            assert await listener.until(2) == [("{r1}:ch", b"ok1"), ("{r2}:ch", b"ok2")]
            await pub.spublish("{r1}:ch", [b"ok3"])  # the connection serves on
            assert (await listener.until(3))[-1] == ("{r1}:ch", b"ok3")
        finally:
            await pub.aclose()
    finally:
        redis_server.cli("ACL", "DELUSER", "roomsonly")


async def test_a_lost_connection_fails_what_it_carried_and_the_next_publish_reconnects(
        own_redis: RedisServer) -> None:
    pub = Publisher(connect(own_redis.url))
    try:
        await pub.spublish("{r1}:ch", [b"first"])  # connected
        assert own_redis.proc is not None
        os.kill(own_redis.proc.pid, signal.SIGSTOP)  # written, never answered
        sent = asyncio.ensure_future(pub.spublish("{r1}:ch", [b"lost"]))
        await asyncio.sleep(0.2)
        assert not sent.done()
        own_redis.stop()  # killed while stopped: the connection drops, never answered
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(sent, 5)
        own_redis.start()  # same port
        heard = Listener(own_redis.url)
        await heard.start("{r1}:ch")
        try:
            await pub.spublish("{r1}:ch", [b"again"])  # on a new connection
            assert await heard.until(1) == [("{r1}:ch", b"again")]
        finally:
            await heard.close()
    finally:
        await pub.aclose()


async def test_no_answer_within_the_timeout_fails_the_call_and_drops_the_connection(
        own_redis: RedisServer) -> None:
    pub = Publisher(connect(own_redis.url), reply_timeout_s=0.3)
    assert own_redis.proc is not None
    pid = own_redis.proc.pid
    try:
        await pub.spublish("{r1}:ch", [b"first"])
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(pub.spublish("{r1}:ch", [b"late"]), 5)
        finally:
            os.kill(pid, signal.SIGCONT)
        heard = Listener(own_redis.url)
        await heard.start("{r1}:ch")
        try:
            await pub.spublish("{r1}:ch", [b"next"])  # a new connection, in step
            heard_now = await heard.until(1)
            # "late" reached Redis before it froze: it may be heard (published once,
            # never twice), before "next"
            assert heard_now[-1] == ("{r1}:ch", b"next")
        finally:
            await heard.close()
    finally:
        await pub.aclose()


async def test_a_publish_with_no_redis_to_connect_to_fails_and_a_closed_one_refuses() -> None:
    pub = Publisher(Redis.from_url("redis://127.0.0.1:1/0"))
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(pub.spublish("{r1}:ch", [b"x"]), 5)
    await pub.aclose()
    with pytest.raises(ConnectionError):
        await pub.spublish("{r1}:ch", [b"y"])
