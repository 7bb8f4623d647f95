"""One suite, both stores: the in-memory one and Redis (a real redis-server)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from live.redis_backend.store import RedisStore
from rooms.bus import LocalBus, RoomEvent
from rooms.clock import FakeClock, SystemClock
from rooms.identity import RoomRef
from rooms.memory_store import MemoryStore
from rooms.message import Author
from rooms.presence import Member
from rooms.store import DAY_MS, Store

from .stores import StoreMaker


class Recorder(LocalBus):
    """The in-process bus, remembering what the memory store published."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        self.bind(self._record)

    def _record(self, events: Sequence[RoomEvent]) -> None:
        self.seen += [(e.room_key, e.event, e.payload) for e in events]


R = RoomRef("sp", "room")
ANA = Author("ana", "Ana", "student")


@pytest.fixture
async def store(make_store: StoreMaker) -> Store:
    return make_store(SystemClock(), 90 * DAY_MS, bus=Recorder())


async def test_append_is_idempotent_and_ordered(store: Store) -> None:
    ids = []
    for i in range(5):
        a = await store.append(R, ANA, f"c{i}", f"t{i}")
        assert a.created
        ids.append(a.message.id)
    again = await store.append(R, ANA, "c2", "different text")
    assert not again.created and again.message.id == ids[2] and again.message.text == "t2"
    other_user = await store.append(R, Author("bo", "Bo", "teacher"), "c2", "bo")
    assert other_user.created
    page = await store.history(R)
    assert [m.id for m in page.messages] == ids + [other_user.message.id]
    assert [m.text for m in page.messages][:5] == [f"t{i}" for i in range(5)]
    assert page.messages[0].user == ANA and page.messages[0].room == "room"


async def test_history_pages(store: Store) -> None:
    ids = [(await store.append(R, ANA, str(i), str(i))).message.id for i in range(30)]
    p = await store.history(R, limit=10)
    assert [m.id for m in p.messages] == ids[-10:] and p.more
    p = await store.history(R, before=ids[20], limit=10)
    assert [m.id for m in p.messages] == ids[10:20] and p.more
    p = await store.history(R, before=ids[5], limit=10)
    assert [m.id for m in p.messages] == ids[:5] and not p.more
    p = await store.history(R, after=ids[24], limit=10)
    assert [m.id for m in p.messages] == ids[25:] and not p.more
    p = await store.history(R, after=ids[0], limit=3)
    assert [m.id for m in p.messages] == ids[1:4] and p.more
    assert (await store.history(RoomRef("sp", "empty"))).messages == []
    assert (await store.history(RoomRef("other", "room"))).messages == []


async def test_delete_is_for_good(store: Store) -> None:
    a = await store.append(R, ANA, "1", "one")
    b = await store.append(R, ANA, "2", "two")
    assert await store.get(R, a.message.id) == a.message
    assert await store.delete(R, a.message.id)
    assert not await store.delete(R, a.message.id)
    assert await store.get(R, a.message.id) is None
    assert [m.id for m in (await store.history(R)).messages] == [b.message.id]
    # resending the deleted message's cid does not bring it back
    again = await store.append(R, ANA, "1", "one")
    assert not again.created and again.message.id == a.message.id
    assert [m.id for m in (await store.history(R)).messages] == [b.message.id]


async def test_members_who_enter_in_the_same_millisecond_keep_their_order(
        make_store: StoreMaker) -> None:
    """Joins are fast enough to share a millisecond: the list still follows arrival."""
    store = make_store(FakeClock(), 90 * DAY_MS)  # a clock that does not move
    names = [f"u{i:02d}" for i in range(20)]
    for name in names:
        assert await store.enter(R, f"conn-{name[::-1]}", Member(name, name, "student"))
    assert [m.id for m in await store.members(R)] == names
    assert [m.id for m in (await store.rooms("sp"))["room"]] == names


async def test_presence_one_member_per_user(store: Store) -> None:
    t = Member("t", "T", "teacher")
    s = Member("s", "S", "student")
    assert await store.enter(R, "c1", t)
    assert await store.enter(R, "c2", s)
    assert not await store.enter(R, "c3", t)  # second tab
    assert [m.id for m in await store.members(R)] == ["t", "s"]
    raised = await store.set_hand(R, "s", 123)
    assert raised is not None and raised.hand
    assert {m.id: m.hand for m in await store.members(R)} == {"t": False, "s": True}
    assert await store.set_hand(R, "nobody", 1) is None
    gone = await store.leave(R, "c1")
    assert gone is not None and gone.user == "t" and not gone.last
    gone = await store.leave(R, "c3")
    assert gone is not None and gone.last
    assert await store.leave(R, "c3") is None
    assert await store.rooms("sp") == {"room": [s.with_hand(123)]}
    assert await store.rooms("other") == {}
    await store.leave(R, "c2")
    assert await store.members(R) == [] and await store.rooms("sp") == {}


async def test_ping(store: Store) -> None:
    assert await store.ping()


async def test_memory_retention_with_an_injected_clock() -> None:
    clock = FakeClock()
    rec = Recorder()
    s = MemoryStore(clock, rec, retention_ms=DAY_MS)
    old = await s.append(R, ANA, "1", "old")
    clock.advance(3600)
    new = await s.append(R, ANA, "2", "new")
    assert [e[1] for e in rec.seen] == ["chat:message", "chat:message"]
    clock.advance(86_400 - 3600 + 1)
    assert [m.id for m in (await s.history(R)).messages] == [new.message.id]
    assert await s.get(R, old.message.id) is None
    assert await s.sweep() == 1
    clock.advance(3600)
    assert await s.sweep() == 1
    assert (await s.history(R)).messages == [] and s._rooms == {}  # nothing left for the room


async def test_redis_presence_of_a_dead_process_is_reaped(redis_url: str) -> None:
    clock = FakeClock(start_ms=SystemClock().now_ms())
    a = RedisStore(Redis.from_url(redis_url), clock, DAY_MS, "proc-a")
    b = RedisStore(Redis.from_url(redis_url), clock, DAY_MS, "proc-b")
    try:
        await a.heartbeat()
        await b.heartbeat()
        await a.enter(R, "a1", Member("ana", "Ana", "student"))
        await b.enter(R, "b1", Member("bo", "Bo", "student"))
        await b.enter(R, "b2", Member("ana", "Ana", "student"))
        clock.advance(20)  # proc-b stops beating
        departures = await a.heartbeat()
        assert sorted((d.user, d.last) for d in departures) == [("ana", False), ("bo", True)]
        assert [m.id for m in await a.members(R)] == ["ana"]
        assert await a.heartbeat() == []
    finally:
        await a.close()
        await b.close()


async def test_redis_keys_all_expire(redis_url: str) -> None:
    r = Redis.from_url(redis_url)
    s = RedisStore(r, SystemClock(), DAY_MS, "proc-a")
    await s.heartbeat()
    await s.append(R, ANA, "1", "x")
    await s.enter(R, "c", Member("ana", "Ana", "student"))
    await s.heartbeat()
    keys = await r.keys("*")
    assert keys
    for k in keys:
        assert await r.pttl(k) > 0, k
    await s.close()


async def test_redis_append_is_atomic_under_concurrency(redis_url: str) -> None:
    s = RedisStore(Redis.from_url(redis_url), SystemClock(), DAY_MS, "p")
    results = await asyncio.gather(*[s.append(R, ANA, "same", "t") for _ in range(20)])
    assert sum(a.created for a in results) == 1
    assert len({a.message.id for a in results}) == 1
    await s.close()


async def test_redis_burst_beyond_the_pool_waits_instead_of_failing(redis_url: str) -> None:
    """More concurrent commands than pooled connections: all succeed (none `unavailable`)."""
    from live.redis_backend.client import MAX_CONNECTIONS, connect

    s = RedisStore(connect(redis_url), SystemClock(), DAY_MS, "p")
    n = MAX_CONNECTIONS * 2
    results = await asyncio.gather(*[s.append(R, ANA, f"c{i}", "t") for i in range(n)])
    assert sum(a.created for a in results) == n
    await s.close()


async def test_new_redis_connections_do_not_read_the_package_metadata(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst that grows the pool: redis-py 8 read its own version from the installed
    package's metadata for every new connection (~2 ms each) unless told it once
    (`DRIVER_INFO`, which it sends in CLIENT SETINFO to a Redis that has it)."""
    import importlib.metadata

    from live.redis_backend.client import DRIVER_INFO, connect

    reads: list[str] = []
    real_version = importlib.metadata.version

    def counted(name: str) -> str:
        reads.append(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", counted)
    r = connect(redis_url)
    try:
        ids = await asyncio.gather(*[r.execute_command("CLIENT", "ID") for _ in range(40)])
    finally:
        await r.aclose()
    assert len(set(ids)) > 1  # the pool made new connections for the burst
    assert reads == []
    assert (DRIVER_INFO.formatted_name, DRIVER_INFO.lib_version) == (
        "redis-py", real_version("redis"))
