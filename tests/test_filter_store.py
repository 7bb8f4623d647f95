"""The filter's part of the store (rules, held messages, flags): one suite, both stores."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from live.redis_backend import keys
from live.redis_backend.store import RedisStore
from rooms.clock import FakeClock
from rooms.filter import FilterConfig
from rooms.filter_store import Flagged, HeldMessage
from rooms.message import Author
from rooms.store import DAY_MS, Store

from .stores import StoreMaker

ANA = Author("ana", "Ana", "student")


@pytest.fixture
async def store(clock: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(clock, DAY_MS, proc_id="p")


def held(hid: str, room: str, ts: int, expires: int, text: str = "call 0612345678") -> HeldMessage:
    return HeldMessage(hid, room, "c-" + hid, ANA, "school-a", text, ts, ("phone",), expires)


async def test_rules_are_kept_per_space(store: Store) -> None:
    assert await store.filter_config("sp") is None
    cfg = FilterConfig.parse({"actions": {"link": "flag"}, "added": ["banana"]})
    await store.set_filter_config("sp", cfg)
    assert await store.filter_config("sp") == cfg
    assert await store.filter_config("other") is None


async def test_held_messages_are_listed_taken_once_and_expire(store: Store,
                                                              clock: FakeClock) -> None:
    now = clock.now_ms()
    await store.hold("sp", held("h1", "r1", now, now + 60_000))
    await store.hold("sp", held("h2", "r2", now + 1, now + 120_000))
    await store.hold("other", held("h3", "r1", now, now + 60_000))
    assert [h.id for h in await store.held("sp")] == ["h1", "h2"]
    assert [h.id for h in await store.held("sp", "r2")] == ["h2"]
    assert (await store.held("sp"))[0] == held("h1", "r1", now, now + 60_000)
    taken = await asyncio.gather(store.take_held("sp", "h1"), store.take_held("sp", "h1"))
    assert sorted(t is None for t in taken) == [False, True]
    assert await store.take_held("sp", "h3") is None  # another space's
    clock.advance(60.0)
    assert [h.id for h in await store.held("sp")] == ["h2"]
    clock.advance(60.0)
    assert await store.held("sp") == [] and await store.take_held("sp", "h2") is None


async def test_flags_newest_first_within_retention(store: Store, clock: FakeClock) -> None:
    now = clock.now_ms()
    for i, room in enumerate(["r1", "r2", "r1"]):
        await store.add_flagged("sp", Flagged(now + i, room, f"{now + i}-0", "ana", None,
                                              ("words",)))
    assert [f.message for f in await store.flagged("sp", None, 10)] == [
        f"{now + 2}-0", f"{now + 1}-0", f"{now}-0"]
    assert [f.room for f in await store.flagged("sp", "r1", 1)] == ["r1"]
    clock.advance(DAY_MS / 1000 + 1)
    await store.sweep()
    assert await store.flagged("sp", None, 10) == []


async def test_redis_drops_a_held_text_when_the_hold_ends(redis_url: str,
                                                          clock: FakeClock) -> None:
    """The held text lives in a key of its own that Redis expires with the hold."""
    r = Redis.from_url(redis_url)
    s = RedisStore(r, clock, DAY_MS, "p")
    now = clock.now_ms()
    await s.hold("sp", held("h1", "r1", now, now + 60_000, text="secret words"))
    ttl = await r.pttl(keys.space_held("sp", "h1"))
    assert 0 < ttl <= 60_000
    assert b"secret" not in (await r.dump(keys.space_held("sp")) or b"")
    await s.close()
