"""Contract v2 §3: deleted and expired text is gone from Redis itself, not only from the API.

These tests read what Redis writes: an RDB snapshot (`SAVE`) and the append-only file
after its rewrite, and search the bytes for the texts. The redis-servers are the tests'
own, started with `rdbcompression no`, so a text is found as written whatever its length
(Redis would otherwise compress long strings with LZF); the texts carry random hex too,
so no other bytes can match by chance. Positive controls: the kept texts are found in
the same files, and the purged ones are found before the purge.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from live.redis_backend import keys
from live.redis_backend.store import RedisStore
from rooms.clock import FakeClock
from rooms.identity import RoomRef
from rooms.message import Author
from rooms.private_store import PrivateMessage, new_private_id
from rooms.store import DAY_MS

from .support import RedisServer, connect, run_server

pytestmark = pytest.mark.redis

R = RoomRef("sp", "room")


def secret(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(16)}"


def snapshot(server: RedisServer) -> bytes:
    """What a `SAVE` writes now."""
    server.cli("SAVE")
    return (Path(server.dir) / "dump.rdb").read_bytes()


def aof_bytes(server: RedisServer) -> bytes:
    """Every file of the append-only file as it is on disk now."""
    folder = Path(server.dir) / "appendonlydir"
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file())


@pytest.fixture
def rdb_server() -> Iterator[RedisServer]:
    server = RedisServer("--rdbcompression", "no")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    server = RedisServer("--rdbcompression", "no", "--appendonly", "yes",
                         "--appendfsync", "always")
    server.start()
    yield server
    server.stop()


async def _history(store: RedisStore, redis: Redis) -> tuple[list[str], list[str], str, int]:
    """Old texts, kept ones, one deleted, and the ms the kept ones start at: the old ones
    are past the retention once the service's clock says `start + retention`. (Redis
    stamps ids on its own clock: between the two groups, its clock is awaited to move.)"""
    old_author = Author("old", f"Old-{secrets.token_hex(8)}", "student")
    ana = Author("ana", "Ana", "student")
    old = [secret("old") for _ in range(3)]
    last = 0
    for i, text in enumerate(old):
        appended = await store.append(R, old_author, f"o{i}", text)
        assert appended.created
        last = appended.message.ts
    while True:  # Redis's clock moves a few ms
        seconds, micros = await redis.time()
        if seconds * 1000 + micros // 1000 >= last + 3:
            break
        await asyncio.sleep(0.001)
    kept = [secret("kept") for _ in range(3)]
    start = 0
    for i, text in enumerate(kept):
        appended = await store.append(R, ana, f"k{i}", text)
        assert appended.created
        start = start or appended.message.ts
    deleted = secret("deleted")
    gone = await store.append(R, ana, "d", deleted)
    assert await store.delete(R, gone.message.id)
    return old, kept, deleted, start


def advance_to(clock: FakeClock, ms: int) -> None:
    clock.advance((ms - clock.now_ms() + 0.5) / 1000)


async def test_a_snapshot_holds_no_deleted_or_expired_text(rdb_server: RedisServer) -> None:
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    redis = Redis.from_url(rdb_server.url)
    store = RedisStore(redis, clock, 90 * DAY_MS, "proc-a")
    try:
        old, kept, deleted, start = await _history(store, redis)
        before = snapshot(rdb_server)
        assert all(t.encode() in before for t in old + kept)  # the search finds them
        assert deleted.encode() not in before  # deleted: gone at once
        advance_to(clock, start - 1 + 90 * DAY_MS)  # the old ones are past 90 days
        assert await store.sweep() == 3
        after = snapshot(rdb_server)
        assert all(t.encode() in after for t in kept)
        assert not [t for t in [*old, deleted] if t.encode() in after]
        assert b"Old-" not in after  # nor the name of their author
        # idempotency still holds for kept and deleted messages
        again = await store.append(R, Author("ana", "Ana", "student"), "k1", "other")
        assert not again.created and again.message.text == kept[1]
    finally:
        await store.close()


async def test_the_append_only_file_forgets_after_its_rewrite(aof_server: RedisServer) -> None:
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    redis = Redis.from_url(aof_server.url)
    store = RedisStore(redis, clock, 90 * DAY_MS, "proc-a")
    other = RedisStore(Redis.from_url(aof_server.url), clock, 90 * DAY_MS, "proc-b")
    try:
        assert not await store.compact()  # nothing purged yet: nothing asked
        old, kept, deleted, start = await _history(store, redis)
        advance_to(clock, start - 1 + 90 * DAY_MS)
        assert await store.sweep() == 3
        logged = aof_bytes(aof_server)
        # the AOF logged every write: the purged texts are in it until it is rewritten
        assert all(t.encode() in logged for t in [*old, deleted, *kept])
        assert await store.compact()  # purges happened: a rewrite is asked...
        assert not await other.compact()  # ...by one process only (a lock for the day)

        async def rewritten() -> bool:
            info = await redis.info("persistence")
            return (not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]
                    and info["aof_last_bgrewrite_status"] == "ok"
                    and not [t for t in [*old, deleted] if t.encode() in aof_bytes(aof_server)])

        deadline = asyncio.get_running_loop().time() + 30
        while not await rewritten():
            assert asyncio.get_running_loop().time() < deadline, "the AOF kept purged text"
            await asyncio.sleep(0.1)
        assert all(t.encode() in aof_bytes(aof_server) for t in kept)
        assert not await store.compact()
    finally:
        await store.close()
        await other.close()


async def test_the_service_purges_deleted_and_expired_text_on_its_own(
        rdb_server: RedisServer) -> None:
    # the service's own loops on the real clock: a retention of 3 s, swept every 0.75 s
    async with run_server(rdb_server.url, rate_limits=False, history_days=3 / 86_400) as srv:
        t = await connect(srv.url, sub="t", role="teacher")
        try:
            await t.call("join", {"room": "r"})
            texts = [secret("lesson") for _ in range(3)]
            acks = [await t.call("chat:send", {"room": "r", "text": x, "cid": str(i)})
                    for i, x in enumerate(texts)]
            assert all(a["ok"] for a in acks)
            assert (await t.call("chat:delete", {"room": "r",
                                                 "id": acks[0]["message"]["id"]}))["ok"]
            now = snapshot(rdb_server)
            assert texts[0].encode() not in now and texts[1].encode() in now
            deadline = asyncio.get_running_loop().time() + 20
            while [x for x in texts if x.encode() in snapshot(rdb_server)]:
                assert asyncio.get_running_loop().time() < deadline, "expired text kept"
                await asyncio.sleep(0.25)
            assert (await t.call("chat:history", {"room": "r"}))["messages"] == []
        finally:
            await t.close()


async def test_a_rewrite_already_running_is_asked_again_later(aof_server: RedisServer) -> None:
    # a rewrite that began before the purge may hold the purged text: the compactor does not
    # count it, and asks again at its next check
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    redis = Redis.from_url(aof_server.url)
    store = RedisStore(redis, clock, 90 * DAY_MS, "proc-a")
    try:
        gone = await store.append(R, Author("ana", "Ana", "student"), "1", secret("gone"))
        await redis.config_set("rdb-key-save-delay", "200000")  # 0.2 s per key: a slow child
        await redis.bgrewriteaof()
        assert await store.delete(R, gone.message.id)
        assert (await redis.info("persistence"))["aof_rewrite_in_progress"]
        assert not await store.compact()
        assert await redis.exists(keys.AOF_DIRTY) and not await redis.exists(keys.AOF_LOCK)
        await redis.config_set("rdb-key-save-delay", "0")
        deadline = asyncio.get_running_loop().time() + 30
        while (await redis.info("persistence"))["aof_rewrite_in_progress"]:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)
        assert await store.compact()
    finally:
        await store.close()


async def test_without_an_append_only_file_nothing_is_asked(rdb_server: RedisServer) -> None:
    clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
    store = RedisStore(Redis.from_url(rdb_server.url), clock, 90 * DAY_MS, "proc-a")
    try:
        gone = await store.append(R, Author("ana", "Ana", "student"), "1", secret("gone"))
        assert await store.delete(R, gone.message.id)
        assert not await store.compact()
    finally:
        await store.close()


async def _private(store: RedisStore, clock: FakeClock) -> tuple[list[str], list[str], str]:
    """Private messages (issue #11 part 4): an old one, one to a pupil whose data is
    erased, and kept ones, each sent 1 ms after the last on the service's clock."""
    tea, bo, gone = (Author("t", "Ms T", "teacher"), Author("bo", "Bo", "student"),
                     Author("gone", f"Gone-{secrets.token_hex(8)}", "student"))

    async def send(frm: Author, to: Author, text: str) -> None:
        clock.advance(0.001)
        now = clock.now_ms()
        cid = secrets.token_hex(4)
        await store.keep_private("sp", PrivateMessage(new_private_id(now), "room", cid, frm,
                                                      to, text, now))

    old = secret("pm-old")
    await send(bo, tea, old)
    clock.advance(DAY_MS / 1000)
    erased = secret("pm-erased")
    await send(tea, gone, erased)
    kept = [secret("pm-kept") for _ in range(2)]
    for text in kept:
        await send(bo, tea, text)
    return [old], kept, erased


async def test_private_messages_leave_no_bytes_after_sweep_and_erasure(
        rdb_server: RedisServer, aof_server: RedisServer) -> None:
    for server in (rdb_server, aof_server):
        clock = FakeClock(start_ms=time.time_ns() // 1_000_000)
        redis = Redis.from_url(server.url)
        store = RedisStore(redis, clock, 90 * DAY_MS, "proc-a")
        try:
            old, kept, erased = await _private(store, clock)
            before = snapshot(server)
            assert all(t.encode() in before for t in [*old, *kept, erased])
            clock.advance((89 * DAY_MS + 1) / 1000)  # `old` is past 90 days, the rest not
            await store.sweep()
            assert await store.erase_private("sp", "gone") == 1
            after = snapshot(server)
            assert all(t.encode() in after for t in kept)
            assert not [t for t in [*old, erased] if t.encode() in after]
            assert b"Gone-" not in after  # nor the recipient's name
            if server is aof_server:  # the append-only file forgets after its rewrite
                assert erased.encode() in aof_bytes(server)
                assert await store.compact()
                deadline = asyncio.get_running_loop().time() + 30
                while [t for t in [*old, erased] if t.encode() in aof_bytes(server)]:
                    assert asyncio.get_running_loop().time() < deadline, "AOF kept a PM"
                    await asyncio.sleep(0.1)
                assert all(t.encode() in aof_bytes(server) for t in kept)
        finally:
            await store.close()
