"""Contract §3: messages leave history and Redis entirely after the retention."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from .support import ServiceProcess, connect

SECRET_WORD = "zebra-pancake-7319"


async def test_expired_messages_leave_history_and_redis(redis_url: str) -> None:
    days = 0.00003  # 2.6 seconds
    proc = ServiceProcess(redis_url, env={"LIVE_HISTORY_DAYS": str(days), "LIVE_RATE_LIMITS": "off"})
    await proc.start()
    r = Redis.from_url(redis_url)
    try:
        a = await connect(proc.url, sub="a")
        await a.call("join", {"room": "r"})
        for i in range(3):
            assert (await a.call("chat:send", {"room": "r", "text": f"{SECRET_WORD} {i}",
                                                "cid": str(i)}))["ok"]
        assert await _texts_in_redis(r) >= 3
        # the room's keys carry an expiry
        for k in await r.keys("*"):
            assert await r.pttl(k) > 0, k
        await asyncio.sleep(days * 86_400 + 0.3)
        # past the retention, history shows nothing, even before the sweep ran
        assert (await a.call("chat:history", {"room": "r"}))["messages"] == []
        await a.call("leave", {"room": "r"})
        await a.close()
        # the sweeper (and key expiry) remove every trace: scan all of Redis
        deadline = asyncio.get_running_loop().time() + 10
        while await _texts_in_redis(r) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        assert await _texts_in_redis(r) == 0
        assert [k async for k in r.scan_iter("live:{space1/r}:*")] == []
        late = await connect(proc.url, sub="late")
        assert (await late.call("join", {"room": "r"}))["messages"] == []
        await late.close()
    finally:
        await r.aclose()
        proc.stop()


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
