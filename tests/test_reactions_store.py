"""Reactions in the store: one suite, both stores (in memory and a real redis-server)."""

from __future__ import annotations

import asyncio

import pytest

from live.redis_backend import keys
from live.redis_backend.store import RedisStore
from rooms.clock import FakeClock, SystemClock
from rooms.identity import RoomRef
from rooms.reactions import HEART, ReactionSet, Reactor
from rooms.store import Store

from .stores import StoreMaker

R = RoomRef("sp", "room")
ANA, BEN = Reactor("ana", "Ana"), Reactor("ben", "Ben")
UP, LAUGH = "\U0001f44d", "\U0001f602"


@pytest.fixture
def clock() -> FakeClock:
    """Now: Redis expires keys at the instant given, on its own clock."""
    return FakeClock(SystemClock().now_ms())


@pytest.fixture
async def store(clock: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(clock, 60_000)


async def test_toggle_counts_and_who(store: Store, clock: FakeClock) -> None:
    until = clock.now_ms() + 60_000
    after = await store.toggle_reaction(R, "1-0", UP, ANA, until)
    assert after.counts() == {UP: 1} and after.mine("ana") == [UP]
    after = await store.toggle_reaction(R, "1-0", UP, BEN, until)
    after = await store.toggle_reaction(R, "1-0", HEART, BEN, until)
    assert after.counts() == {UP: 2, HEART: 1}
    assert after.who_wire() == {UP: [{"id": "ana", "name": "Ana"}, {"id": "ben", "name": "Ben"}],
                                HEART: [{"id": "ben", "name": "Ben"}]}
    assert after.mine("ben") == [UP, HEART]
    # a second toggle takes it back
    after = await store.toggle_reaction(R, "1-0", UP, ANA, until)
    assert after.counts() == {UP: 1, HEART: 1} and after.mine("ana") == []
    found = await store.reactions(R, ["1-0", "2-0"])
    assert list(found) == ["1-0"] and found["1-0"] == after
    # other rooms and spaces see nothing of it
    assert await store.reactions(RoomRef("other", "room"), ["1-0"]) == {}
    assert await store.reactions(RoomRef("sp", "room2"), ["1-0"]) == {}


async def test_last_reaction_taken_back_leaves_nothing(store: Store, clock: FakeClock) -> None:
    until = clock.now_ms() + 60_000
    await store.toggle_reaction(R, "1-0", LAUGH, ANA, until)
    assert not await store.toggle_reaction(R, "1-0", LAUGH, ANA, until)
    assert await store.reactions(R, ["1-0"]) == {}
    if isinstance(store, RedisStore):
        assert await store._r.exists(keys.reactions(R.key, "1-0")) == 0


async def test_reactions_expire_with_their_message(store: Store, clock: FakeClock) -> None:
    await store.toggle_reaction(R, "1-0", UP, ANA, clock.now_ms() + 300)
    await store.toggle_reaction(R, "2-0", UP, ANA, clock.now_ms() + 60_000)
    clock.advance(0.4)

    # Redis drops the key at the instant given, on its own clock: wait for it (no event says so)
    left: list[str] = []

    async def read() -> None:
        left[:] = list(await store.reactions(R, ["1-0", "2-0"]))

    for _ in range(250):
        await read()
        if left == ["2-0"]:
            break
        await asyncio.sleep(0.02)
    assert left == ["2-0"]
    if isinstance(store, RedisStore):  # no key left behind, the other one expires too
        assert not await store._r.exists(keys.reactions(R.key, "1-0"))
        assert 0 < await store._r.pttl(keys.reactions(R.key, "2-0")) <= 60_000


async def test_drop_reactions(store: Store, clock: FakeClock) -> None:
    until = clock.now_ms() + 60_000
    await store.toggle_reaction(R, "1-0", UP, ANA, until)
    await store.toggle_reaction(R, "1-0", HEART, BEN, until)
    await store.drop_reactions(R, "1-0")
    assert await store.reactions(R, ["1-0"]) == {}
    await store.drop_reactions(R, "9-9")  # nothing there: harmless
    assert await store.toggle_reaction(R, "1-0", UP, ANA, until) == ReactionSet.of([(UP, ANA)])
