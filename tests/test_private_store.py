"""One suite, both stores: supervised private messages (issue #11 part 4).

Kept per room with the space's retention, paged like history, swept, purged at once by a
shorter policy, erased with their sender or their recipient, exported. On Redis, nothing of
a removed message's text is left in any key.
"""

from __future__ import annotations

import pytest

from rooms.clock import FakeClock
from rooms.errors import BadRequest
from rooms.message import Author
from rooms.private_store import PrivateIds, PrivateMessage, new_private_id, parse_private_id
from rooms.store import DAY_MS, Store

from .stores import StoreMaker

SP = "sp"
ANA = Author("ana", "Ana", "student")
BO = Author("bo", "Bo", "student")
TEA = Author("t", "Ms T", "teacher")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start_ms=1_800_000_000_000)


@pytest.fixture
async def store(clock: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(clock, 90 * DAY_MS)


async def pm(store: Store, clock: FakeClock, frm: Author, to: Author, text: str,
             room: str = "maths", space: str = SP, cid: str | None = None) -> PrivateMessage:
    clock.advance(0.001)  # each its own ms: ids sort in send order
    message = PrivateMessage(new_private_id(clock.now_ms()), room, cid or text, frm, to, text,
                             clock.now_ms())
    kept = await store.keep_private(space, message)
    assert kept.created and kept.message == message
    return message


async def texts(store: Store, room: str = "maths", space: str = SP, **cursor: str) -> list[str]:
    return [m.text for m in (await store.private_page(space, room, **cursor)).messages]


async def test_kept_and_paged_like_history(store: Store, clock: FakeClock) -> None:
    sent = [await pm(store, clock, ANA if i % 2 else TEA, BO if i % 2 else ANA, f"m{i}")
            for i in range(7)]
    await pm(store, clock, ANA, BO, "other room", room="art")
    await pm(store, clock, ANA, BO, "other space", space="elsewhere")
    page = await store.private_page(SP, "maths", limit=3)
    assert [m.text for m in page.messages] == ["m4", "m5", "m6"] and page.more
    assert page.messages[0] == sent[4]  # everything kept as sent: from, to, cid, ts
    older = await store.private_page(SP, "maths", before=sent[4].id, limit=3)
    assert [m.text for m in older.messages] == ["m1", "m2", "m3"] and older.more
    oldest = await store.private_page(SP, "maths", before=sent[1].id, limit=3)
    assert [m.text for m in oldest.messages] == ["m0"] and not oldest.more
    newer = await store.private_page(SP, "maths", after=sent[1].id, limit=4)
    assert [m.text for m in newer.messages] == ["m2", "m3", "m4", "m5"] and newer.more
    last = await store.private_page(SP, "maths", after=sent[5].id, limit=4)
    assert [m.text for m in last.messages] == ["m6"] and not last.more
    assert await texts(store, "art") == ["other room"]
    assert await texts(store, "maths", "elsewhere") == ["other space"]
    assert await texts(store, "art", "elsewhere") == []
    assert await texts(store, "nothing-here") == []
    # wire form: a chat message plus `to`
    assert sent[1].to_wire() == {"id": sent[1].id, "room": "maths", "cid": "m1",
                                 "user": ANA.to_wire(), "to": BO.to_wire(), "text": "m1",
                                 "ts": sent[1].ts}


async def test_swept_with_the_space_retention(store: Store, clock: FakeClock) -> None:
    old = await pm(store, clock, ANA, BO, "old")
    clock.advance(DAY_MS / 1000)
    await pm(store, clock, ANA, BO, "new")
    await pm(store, clock, ANA, BO, "elsewhere", space="other")
    clock.advance((89 * DAY_MS) / 1000)  # `old` is past 90 days, `new` is not
    assert await texts(store) == ["new"]  # gone from reads before any sweep
    await store.sweep()
    assert await texts(store) == ["new"]
    assert [m.text for m in await store.user_private(SP, "ana")] == ["new"]
    assert await store.private_page(SP, "maths", after=old.id) == await store.private_page(
        SP, "maths")
    # a school's shorter limit purges at once, in its space only
    await store.set_policy(SP, "school-a", 1)
    assert await texts(store) == []
    assert await texts(store, "maths", "other") == ["elsewhere"]
    clock.advance(DAY_MS / 1000)
    await store.sweep()
    assert await texts(store, "maths", "other") == []
    redis = getattr(store, "_r", None)
    if redis is not None:  # every key of them gone but ids: users' indexes, cids
        left = [k for k in await redis.keys("*") if b"pm" in k or k == b"live:private"]
        # (cid keys expire on Redis's own clock, which this test does not move)
        assert {k for k in left if b":pmuser:" not in k} == {
            b"live:{sp/maths}:pmcid:3:ana:old", b"live:{sp/maths}:pmcid:3:ana:new",
            b"live:{other/maths}:pmcid:3:ana:elsewhere"}
        for key in left:
            if b":pmuser:" in key:
                assert all(m.decode().startswith("maths:pm-")
                           for m in await redis.zrange(key, 0, -1))
            else:
                assert (await redis.get(key)).startswith(b"pm-")


async def test_erasure_and_export_cover_sent_and_received(store: Store,
                                                          clock: FakeClock) -> None:
    await pm(store, clock, ANA, BO, "ana to bo")
    await pm(store, clock, TEA, ANA, "teacher to ana", room="art")
    await pm(store, clock, BO, TEA, "bo to teacher")
    await pm(store, clock, ANA, BO, "ana elsewhere", space="other")
    mine = await store.user_private(SP, "ana")
    assert [m.text for m in mine] == ["ana to bo", "teacher to ana"]
    assert [m.text for m in await store.user_private(SP, "bo")] == ["ana to bo",
                                                                    "bo to teacher"]
    assert await store.erase_private(SP, "ana") == 2
    assert await store.user_private(SP, "ana") == []
    assert await texts(store) == ["bo to teacher"]
    assert await texts(store, "art") == []
    assert [m.text for m in await store.user_private(SP, "bo")] == ["bo to teacher"]
    assert await texts(store, "maths", "other") == ["ana elsewhere"]
    assert await store.erase_private(SP, "ana") == 0
    redis = getattr(store, "_r", None)
    if redis is not None:  # no copy of an erased text in any string, hash or zset
        for key in await redis.keys("*"):
            if (await redis.type(key)) == b"string":
                value = await redis.get(key)
                assert b"ana to bo" not in value and b"teacher to ana" not in value, key


def test_ids_sort_in_send_order_and_bad_ids_are_refused() -> None:
    assert new_private_id(999) < new_private_id(1000) < new_private_id(1_800_000_000_000)
    good = new_private_id(1_800_000_000_000)
    assert parse_private_id(good) == good
    for bad in ("", "pm-1-abcd", "1800000000000-0", good + "0", good.upper(), None, 5):
        with pytest.raises(BadRequest):
            parse_private_id(bad)
    with pytest.raises(ValueError):
        PrivateMessage("x", "r", "c", ANA, BO, "t", 1)


async def test_keeping_is_idempotent_on_the_senders_cid(store: Store, clock: FakeClock) -> None:
    first = await pm(store, clock, ANA, BO, "hello", cid="c1")
    clock.advance(1)
    again = PrivateMessage(new_private_id(clock.now_ms()), "maths", "c1", ANA, TEA, "other",
                           clock.now_ms())
    kept = await store.keep_private(SP, again)
    assert not kept.created and kept.message == first
    assert await texts(store) == ["hello"]
    # the same cid of another sender, or in another room, is another message
    await pm(store, clock, BO, ANA, "bo's", cid="c1")
    await pm(store, clock, ANA, BO, "art", room="art", cid="c1")
    assert await texts(store) == ["hello", "bo's"]
    # erased since: nothing comes back, nothing new is kept
    await store.erase_private(SP, "ana")
    gone = await store.keep_private(SP, again)
    assert not gone.created and gone.message == again
    assert await texts(store) == []


def test_ids_keep_send_order_within_a_ms_and_when_the_clock_steps_back() -> None:
    ids = PrivateIds()
    made = [ids.next(1_800_000_000_000) for _ in range(300)]
    made += [ids.next(1_799_999_999_000)]  # the clock stepped back
    made += [ids.next(1_800_000_000_001)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(parse_private_id(i) == i for i in made)
