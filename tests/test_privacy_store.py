"""One suite, both stores: per-school retention, purge receipts, erasure, attendance.

The service's clock is a FakeClock started at the real time (Redis stamps message ids
with its own clock); the tests move it to put messages past a retention.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio import Redis

from live.redis_backend import keys
from live.redis_backend.store import RedisStore
from rooms.classroom_store import AuditEntry
from rooms.clock import FakeClock
from rooms.identity import RoomRef
from rooms.message import Author
from rooms.polls import Vote, new_poll
from rooms.privacy import Visit
from rooms.store import DAY_MS, Store

from .stores import StoreMaker

R1 = RoomRef("sp", "maths")
R2 = RoomRef("sp", "art")
ELSEWHERE = RoomRef("other", "maths")
ANA = Author("ana", "Ana", "student")
BO = Author("bo", "Bo", "student")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start_ms=time.time_ns() // 1_000_000)


@pytest.fixture
async def store(clock: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(clock, 90 * DAY_MS)


async def after(store: Store, clock: FakeClock, ms: int) -> None:
    """The next message is stamped after `ms` + 2: on the service's clock (memory) and on
    Redis's, which stamps Redis's ids and which no test can move (awaited, a few ms)."""
    clock.advance(max(0, ms + 3 - clock.now_ms()) / 1000)
    redis = getattr(store, "_r", None)
    while redis is not None:
        seconds, micros = await redis.time()
        if seconds * 1000 + micros // 1000 >= ms + 3:
            break
        await asyncio.sleep(0.001)


def advance_to(clock: FakeClock, ms: int) -> None:
    clock.advance((ms - clock.now_ms() + 0.5) / 1000)


async def texts(store: Store, room: RoomRef) -> list[str]:
    return [m.text for m in (await store.history(room, limit=100)).messages]


async def test_a_school_shortens_the_retention_at_once(store: Store, clock: FakeClock) -> None:
    assert (await store.policy("sp")).to_wire() == {"history_days": 90.0, "schools": {}}
    a = await store.append(R1, ANA, "1", "early")
    await after(store, clock, a.message.ts)
    late = await store.append(R1, ANA, "2", "late")
    await store.append(ELSEWHERE, ANA, "1", "another space")
    advance_to(clock, late.message.ts - 1 + int(1.5 * DAY_MS))  # "early" is past 1.5 days
    policy = await store.set_policy("sp", "school-a", 1.5)
    assert policy.to_wire() == {"history_days": 1.5, "schools": {"school-a": 1.5}}
    assert await store.retention_of("sp") == int(1.5 * DAY_MS)
    # the message two days old is gone at once, with a receipt; the other space keeps its
    assert await texts(store, R1) == ["late"]
    assert await store.get(R1, a.message.id) is None
    assert await texts(store, ELSEWHERE) == ["another space"]
    [receipt] = await store.receipts("sp", None)
    assert (receipt.room, receipt.count, receipt.reason) == ("maths", 1, "policy")
    assert receipt.at == clock.now_ms() and receipt.before > a.message.ts
    # the shortest limit wins; none is longer than the service's
    assert (await store.set_policy("sp", "school-b", 400)).to_wire() == {
        "history_days": 1.5, "schools": {"school-a": 1.5, "school-b": 400.0}}
    assert (await store.set_policy("sp", "school-a", 500)).history_days == 90.0
    assert (await store.policy("other")).history_days == 90.0
    assert await store.retention_of("sp") == 90 * DAY_MS
    assert await store.retention_of("other") == 90 * DAY_MS


async def test_the_sweep_keeps_each_space_to_its_own_retention(store: Store,
                                                               clock: FakeClock) -> None:
    await store.set_policy("sp", "school-a", 1)
    await store.append(R1, ANA, "1", "maths")
    await store.append(R2, ANA, "1", "art")
    await store.append(ELSEWHERE, ANA, "1", "kept for 90 days")
    clock.advance(86_400 + 1)
    # past the space's day, history shows nothing even before a sweep
    assert await texts(store, R1) == []
    assert await store.sweep() == 2
    assert await texts(store, ELSEWHERE) == ["kept for 90 days"]
    receipts = await store.receipts("sp", None)
    assert sorted((r.room, r.count, r.reason) for r in receipts) == [
        ("art", 1, "retention"), ("maths", 1, "retention")]
    assert [r.room for r in await store.receipts("sp", "art")] == ["art"]
    assert await store.receipts("other", None) == []
    # new messages follow the policy too
    await store.append(R1, ANA, "2", "new")
    clock.advance(86_400 + 1)
    assert await store.sweep() == 1
    assert [r.at for r in await store.receipts("sp", None)] == sorted(
        [r.at for r in await store.receipts("sp", None)], reverse=True)


async def test_receipts_expire_after_their_own_time(store: Store, clock: FakeClock) -> None:
    await store.append(R1, ANA, "1", "x")
    await store.set_policy("sp", "school-a", 0.001)  # 86.4 s
    clock.advance(100)
    assert await store.sweep() == 1
    assert len(await store.receipts("sp", None)) == 1
    clock.advance(367 * 86_400)
    await store.sweep()
    assert await store.receipts("sp", None) == []


async def test_erasure_removes_every_message_of_a_user_in_the_space(
        store: Store, clock: FakeClock) -> None:
    for room in (R1, R2, ELSEWHERE):
        await store.append(room, ANA, "1", f"ana in {room.key}")
        await store.append(room, BO, "1", f"bo in {room.key}")
    await store.append(R1, ANA, "2", "ana again")
    mine = await store.user_messages("sp", "ana")
    assert sorted(m.text for m in mine) == ["ana again", "ana in sp/art", "ana in sp/maths"]
    erased = await store.erase_user("sp", "ana")
    assert erased.count == 3
    assert sorted(erased.ids) == ["sp/art", "sp/maths"]
    assert await texts(store, R1) == ["bo in sp/maths"]
    assert await texts(store, R2) == ["bo in sp/art"]
    assert await texts(store, ELSEWHERE) == ["ana in other/maths", "bo in other/maths"]
    assert await store.user_messages("sp", "ana") == []
    receipts = await store.receipts("sp", None)
    assert sorted((r.room, r.count, r.reason) for r in receipts) == [
        ("art", 1, "erasure"), ("maths", 2, "erasure")]
    assert (await store.erase_user("sp", "ana")).count == 0  # nothing left, no receipt
    assert len(await store.receipts("sp", None)) == 2
    # what she sends afterwards is hers again; a known cid still answers the first id
    again = await store.append(R1, ANA, "1", "resent")
    assert not again.created
    assert (await store.append(R1, ANA, "3", "after")).created
    assert [m.text for m in await store.user_messages("sp", "ana")] == ["after"]


async def test_an_erasure_skips_messages_deleted_before(store: Store) -> None:
    a = await store.append(R1, ANA, "1", "one")
    await store.append(R1, ANA, "2", "two")
    assert await store.delete(R1, a.message.id)
    assert (await store.erase_user("sp", "ana")).count == 1


async def test_visits_open_close_and_expire(store: Store, clock: FakeClock) -> None:
    t0 = clock.now_ms()
    await store.visit_begin(R1, Visit("ana", "Ana", "student", "school-a", t0))
    await store.visit_begin(R1, Visit("tom", "Tom", "teacher", None, t0))
    await store.visit_begin(R2, Visit("ana", "Ana", "student", "school-a", t0 + 5))
    await store.visit_end(R1, "ana", t0 + 60_000)
    await store.visit_end(R1, "nobody", t0 + 60_000)  # no open visit: nothing
    await store.visit_begin(R1, Visit("ana", "Ana", "student", "school-a", t0 + 70_000))
    visits = [v.to_wire() for v in await store.visits(R1)]
    assert [v["joined"] for v in visits] == [t0, t0, t0 + 70_000]  # oldest first
    assert sorted(visits, key=lambda v: (v["joined"], v["user"])) == [
        {"user": "ana", "name": "Ana", "role": "student", "school": "school-a",
         "joined": t0, "left": t0 + 60_000},
        {"user": "tom", "name": "Tom", "role": "teacher", "school": None, "joined": t0,
         "left": None},
        {"user": "ana", "name": "Ana", "role": "student", "school": "school-a",
         "joined": t0 + 70_000, "left": None}]
    assert sorted((room, v.joined) for room, v in await store.user_visits("sp", "ana")) == [
        ("art", t0 + 5), ("maths", t0), ("maths", t0 + 70_000)]
    assert await store.user_visits("other", "ana") == []
    # visits go with the space's retention
    await store.set_policy("sp", "school-a", 1)
    clock.advance(86_400)
    await store.sweep()
    assert [v.joined for v in await store.visits(R1)] == [t0 + 70_000]
    clock.advance(86_400)
    await store.sweep()
    assert await store.visits(R1) == []
    assert await store.user_visits("sp", "ana") == []


async def test_redis_keeps_no_content_in_the_stream(redis_url: str, clock: FakeClock) -> None:
    store = RedisStore(Redis.from_url(redis_url), clock, 90 * DAY_MS, "proc-a")
    r = Redis.from_url(redis_url)
    try:
        m = (await store.append(R1, ANA, "1", "secret words")).message
        [(_, fields)] = await r.xrange(keys.room(R1.key, "msgs"))
        assert fields == {b"m": b""}
        content = keys.message_prefix(R1.key) + m.id
        assert b"secret words" in await r.get(content)
        assert 0 < await r.pttl(content) <= 90 * DAY_MS
        assert 0 < await r.pttl(keys.user_messages("sp", "ana")) <= 90 * DAY_MS
        await store.set_policy("sp", "school-a", 2)
        m2 = (await store.append(R1, ANA, "2", "later")).message
        ttl = await r.pttl(keys.message_prefix(R1.key) + m2.id)
        assert 0 < ttl <= 2 * DAY_MS  # written with the space's retention
        assert await store.delete(R1, m.id)
        assert await r.exists(content) == 0
    finally:
        await store.close()
        await r.aclose()


async def test_the_sweep_removes_polls_and_audit_past_the_space_retention(
        store: Store, clock: FakeClock) -> None:
    await store.set_policy("sp", "school-a", 1)
    poll = new_poll("Which colour?", ["red", "blue"], False, False, "tom", clock.now_ms())
    await store.add_poll(R1, poll)
    await store.vote(R1, poll.id, "ana", Vote((0,), "Ana"))
    entry = AuditEntry(clock.now_ms(), {"id": "tom", "name": "Tom", "role": "teacher"},
                       "mod:lock", "maths", None)
    await store.audit_add("sp", entry)
    await store.audit_add("other", entry)
    clock.advance(3600)
    assert await store.poll(R1, poll.id) is not None
    assert await store.audit("sp", None, 10) == [entry]
    clock.advance(86_400)
    await store.sweep()
    assert await store.poll(R1, poll.id) is None
    assert await store.open_polls(R1) == []
    assert await store.audit("sp", None, 10) == []
    assert await store.audit("other", None, 10) == [entry]  # 90 days there
    redis = getattr(store, "_r", None)
    if redis is not None:  # nothing of them is left in Redis
        for key in await redis.keys("*"):
            kind = (await redis.type(key)).decode()
            if kind == "hash":
                assert b"Which colour?" not in b"".join(
                    b for kv in (await redis.hgetall(key)).items() for b in kv), key
            assert not key.endswith(b":votes"), key
        assert await redis.zcard(keys.audit("sp")) == 0
