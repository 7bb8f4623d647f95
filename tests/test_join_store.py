"""A join's two reads (`Store.admission`, `Store.snapshot`) and its one write
(`Store.enter` with a visit), and the write and the second read in one step
(`Store.enter_and_snapshot`), both stores; and a join that fails half-way leaves
nothing behind (a real redis-server, killed or holding a key of the wrong type)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from live.redis_backend import keys
from live.redis_backend.store import RedisStore
from rooms.breakouts import Breakout, Group
from rooms.bus import LocalBus
from rooms.clock import SystemClock
from rooms.identity import RoomRef
from rooms.media_rules import MediaSettings
from rooms.media_store import LiveStream
from rooms.memory_store import MemoryStore
from rooms.message import Author
from rooms.polls import Vote, new_poll
from rooms.presence import Member
from rooms.privacy import Visit
from rooms.reactions import Reactor
from rooms.store import DAY_MS, Store

from .support import RedisServer, connect, run_server

R = RoomRef("sp", "room")
ANA = Author("ana", "Ana", "student")
RETENTION = 90 * DAY_MS


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore(SystemClock(), LocalBus(), RETENTION)
        return
    s = RedisStore(Redis.from_url(request.getfixturevalue("redis_url")), SystemClock(),
                   RETENTION, "proc-a")
    yield s
    await s.close()


async def test_an_empty_room_reads_as_nothing(store: Store) -> None:
    found = await store.admission(R, "ana")
    assert not found.opened and found.banned_until is None and found.group is None
    assert not found.admitted and not found.flags["locked"] and not found.flags["lobby"]
    snap = await store.snapshot(R)
    assert snap.members == [] and snap.page.messages == [] and not snap.page.more
    assert (snap.reactions, snap.polls, snap.mutes, snap.streams) == ({}, [], {}, [])
    assert (snap.group, snap.breakout, snap.media_settings) == (None, None, None)
    assert snap == await Store.snapshot(store, R)


async def test_admission_reads_what_the_single_reads_read(store: Store) -> None:
    now = SystemClock().now_ms()
    await store.open_room(R)
    await store.ban(R, "ana", now + 60_000)
    await store.set_flag(R, "locked", True)
    await store.set_flag(R, "lobby", True)
    await store.admit_users(R, ["bo"])
    group_room = RoomRef("sp", "room-g1")
    await store.start_breakout(R, Breakout(("room-g1",), (("bo", "cy"),), None, "tom"))
    ana = await store.admission(R, "ana")
    assert ana.opened and ana.banned_until == now + 60_000 and not ana.admitted
    assert ana.flags["locked"] and ana.flags["lobby"] and ana.group is None
    assert ana == await Store.admission(store, R, "ana")
    bo = await store.admission(R, "bo")
    assert bo.banned_until is None and bo.admitted
    assert bo == await Store.admission(store, R, "bo")
    in_group = await store.admission(group_room, "bo")
    assert in_group.group == Group("room", ("bo", "cy")) and not in_group.opened
    assert in_group == await Store.admission(store, group_room, "bo")


async def test_a_room_with_history_left_is_open(store: Store) -> None:
    assert not (await store.admission(R, "ana")).opened
    await store.append(R, ANA, "c1", "hello")
    assert (await store.admission(R, "ana")).opened


async def test_snapshot_reads_what_the_single_reads_read(store: Store) -> None:
    now = SystemClock().now_ms()
    await store.enter(R, "c1", Member("tom", "Tom", "teacher"))
    await store.enter(R, "c2", ANA_MEMBER)
    await store.enter(R, "c3", Member("bo", "Bo", "student"))
    await store.set_hand(R, "bo", now)
    ids = [(await store.append(R, ANA, f"c{i}", f"t{i}")).message.id for i in range(55)]
    expire = now + RETENTION
    await store.toggle_reaction(R, ids[-1], "👍", Reactor("bo", "Bo"), expire)
    await store.toggle_reaction(R, ids[-1], "❤️", Reactor("tom", "Tom"), expire)
    await store.toggle_reaction(R, ids[2], "👍", Reactor("bo", "Bo"), expire)  # not on the page
    open_poll = new_poll("Q?", ["a", "b"], False, False, "tom", now)
    closed_poll = new_poll("Old?", ["a", "b"], False, False, "tom", now - 1)
    for poll in (open_poll, closed_poll):
        await store.add_poll(R, poll)
    await store.vote(R, open_poll.id, "v-ana", Vote((1,), "Ana"))
    await store.vote(R, closed_poll.id, "v-ana", Vote((0,), "Ana"))
    await store.close_poll(R, closed_poll.id)
    await store.set_mutes(R, "bo", frozenset({"chat", "audio"}))
    await store.set_flag(R, "pm_teachers", True)
    await store.start_breakout(R, Breakout(("room-g1",), (("bo",),), None, "tom"))
    await store.add_stream(R, LiveStream("room", "s1", "tom", "camera", "proc-a"))
    await store.add_stream(R, LiveStream("room", "s2", "bo", "screen", "proc-a"))
    await store.put_media_settings(R, MediaSettings(last_n=3, teachers_only_publish=True))

    snap = await store.snapshot(R)
    assert snap == await Store.snapshot(store, R)
    by_id = {m.id: m for m in snap.members}  # (entries of one millisecond: in any order)
    assert len(snap.members) == 3 and set(by_id) == {"tom", "ana", "bo"}
    assert by_id["bo"].hand_at == now and by_id["ana"].hand_at is None
    assert [m.id for m in snap.page.messages] == ids[5:] and snap.page.more
    assert set(snap.reactions) == {ids[-1]}
    assert snap.reactions[ids[-1]].counts() == {"👍": 1, "❤️": 1}
    assert [p.id for p in snap.polls] == [open_poll.id] and snap.polls[0].open
    assert snap.polls[0].counts() == [0, 1]
    assert snap.mutes == {"bo": frozenset({"chat", "audio"})}
    assert snap.flags["pm_teachers"] and not snap.flags["locked"]
    assert snap.breakout is not None and snap.breakout.rooms == ("room-g1",)
    assert [s.stream for s in snap.streams] == ["s1", "s2"]
    assert snap.media_settings == MediaSettings(last_n=3, teachers_only_publish=True)


ANA_MEMBER = Member("ana", "Ana", "student")


async def test_a_first_connection_begins_a_visit_in_the_same_step(store: Store) -> None:
    now = SystemClock().now_ms()
    visit = Visit("ana", "Ana", "student", "school-a", now)
    assert await store.enter(R, "c1", ANA_MEMBER, visit)
    assert not await store.enter(R, "c2", ANA_MEMBER, Visit("ana", "Ana", "student",
                                                           "school-a", now + 5))
    assert await store.visits(R) == [visit]  # the second tab began none
    assert await store.enter(R, "c3", Member("bo", "Bo", "student"))  # no visit given
    assert await store.visits(R) == [visit]


async def test_the_last_connection_ends_the_visit_in_the_same_step(store: Store) -> None:
    """A leave of the user's last connection in the room ends their visit (`left`, at
    the store's clock), as the first connection's entry began it; an earlier one's does
    not; a second leave of the same connection changes nothing."""
    t0 = SystemClock().now_ms()
    visit = Visit("ana", "Ana", "student", "school-a", t0)
    assert await store.enter(R, "c1", ANA_MEMBER, visit)
    assert not await store.enter(R, "c2", ANA_MEMBER, visit)
    assert await store.enter(R, "c3", Member("bo", "Bo", "student"),
                             Visit("bo", "Bo", "student", None, t0))
    gone = await store.leave(R, "c1")
    assert gone is not None and not gone.last
    assert [v.left for v in await store.visits(R)] == [None, None]
    gone = await store.leave(R, "c2")
    assert gone is not None and gone.last and gone.user == "ana"
    ended = {v.user: v.left for v in await store.visits(R)}
    assert ended["bo"] is None
    assert ended["ana"] is not None and t0 <= ended["ana"] <= SystemClock().now_ms()
    assert await store.leave(R, "c2") is None
    assert {v.user: v.left for v in await store.visits(R)} == ended


async def test_entering_again_counts_a_connection_once(store: Store) -> None:
    """The Redis store's ENTER may be sent twice (its pipeline resends a call whose
    connection was lost): the second changes nothing."""
    visit = Visit("ana", "Ana", "student", None, SystemClock().now_ms())
    assert await store.enter(R, "c1", ANA_MEMBER, visit)
    assert await store.enter(R, "c1", ANA_MEMBER, visit)  # still the user's only one
    assert [m.id for m in await store.members(R)] == ["ana"]
    assert await store.visits(R) == [visit]
    gone = await store.leave(R, "c1")
    assert gone is not None and gone.last and await store.members(R) == []


async def test_entering_and_reading_in_one_step_reads_the_member_who_entered(
        store: Store) -> None:
    """`enter_and_snapshot` (a join into a room no other join is reading): the entry, the
    visit and a snapshot that has the member, as `enter` then `snapshot` would."""
    now = SystemClock().now_ms()
    await store.enter(R, "c1", Member("tom", "Tom", "teacher"))
    await store.append(R, ANA, "c1", "hello")
    visit = Visit("ana", "Ana", "student", None, now)
    first, snap = await store.enter_and_snapshot(R, "c2", ANA_MEMBER, visit)
    assert first and snap == await Store.snapshot(store, R)
    assert sorted(m.id for m in snap.members) == ["ana", "tom"]
    assert [m.text for m in snap.page.messages] == ["hello"]
    assert await store.visits(R) == [visit]
    again, snap = await store.enter_and_snapshot(R, "c2", ANA_MEMBER, visit)  # sent twice
    assert again and sorted(m.id for m in snap.members) == ["ana", "tom"]
    second_tab, snap = await store.enter_and_snapshot(R, "c3", ANA_MEMBER, visit)
    assert not second_tab and sorted(m.id for m in snap.members) == ["ana", "tom"]
    assert await store.visits(R) == [visit]


async def test_a_join_while_redis_is_down_is_unavailable_and_works_after(
        own_redis: RedisServer) -> None:
    async with run_server(own_redis.url, rate_limits=False, rooms="open") as srv:
        assert srv.svc is not None
        c = await connect(srv.url, sub="ana", name="Ana")
        try:
            own_redis.stop()
            ack = await c.call("join", {"room": "r"})
            assert not ack["ok"] and ack["error"]["code"] == "unavailable"
            sent = await c.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
            assert sent["error"]["code"] == "not_joined"  # the failed join left no trace
            own_redis.start()
            ack = await c.call("join", {"room": "r"})
            for _ in range(50):  # the store's connections come back at their next use
                if ack["ok"]:
                    break
                assert ack["error"]["code"] == "unavailable"
                await asyncio.sleep(0.2)
                ack = await c.call("join", {"room": "r"})
            assert ack["ok"] and [m["id"] for m in ack["members"]] == ["ana"]
            members = await srv.svc.rooms.store.members(RoomRef("space1", "r"))
            assert [m.id for m in members] == ["ana"]
        finally:
            await c.close()


async def test_a_join_failing_after_it_entered_leaves_the_room_again(redis_url: str) -> None:
    room = RoomRef("space1", "r")
    async with run_server(redis_url, rate_limits=False, rooms="open") as srv:
        assert srv.svc is not None
        store = srv.svc.rooms.store
        watcher = await connect(srv.url, sub="tom", name="Tom", role="teacher")
        ana = await connect(srv.url, sub="ana", name="Ana")
        r = Redis.from_url(redis_url)
        try:
            assert (await watcher.call("join", {"room": "r"}))["ok"]
            # a key of the wrong type: the admission passes, the room's snapshot fails
            await r.set(keys.room(room.key, "mutes"), "not a hash")
            ack = await ana.call("join", {"room": "r"})
            assert not ack["ok"] and ack["error"]["code"] == "unavailable"
            assert [m.id for m in await store.members(room)] == ["tom"]
            visits = {v.user: v for v in await store.visits(room)}
            assert visits["ana"].left is not None  # its visit began and ended in the step
            await watcher.wait_for("presence:leave", lambda e: e["user"] == "ana")
            sent = await ana.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
            assert sent["error"]["code"] == "not_joined"
            await r.delete(keys.room(room.key, "mutes"))
            again = await ana.call("join", {"room": "r"})
            assert again["ok"] and [m["id"] for m in again["members"]] == ["tom", "ana"]
        finally:
            await r.aclose()
            await ana.close()
            await watcher.close()


async def test_a_join_whose_entry_cannot_be_written_leaves_nothing_behind(
        redis_url: str) -> None:
    """The join's one call (enter and read) fails before writing, and so does the `enter`
    sent after it to make sure: `unavailable`, not in the room, and it can join later."""
    room = RoomRef("space1", "r")
    async with run_server(redis_url, rate_limits=False, rooms="open") as srv:
        assert srv.svc is not None
        ana = await connect(srv.url, sub="ana", name="Ana")
        r = Redis.from_url(redis_url)
        try:
            await r.set(keys.room(room.key, "conns"), "not a hash")  # ENTER's first write
            ack = await ana.call("join", {"room": "r"})
            assert not ack["ok"] and ack["error"]["code"] == "unavailable"
            sent = await ana.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
            assert sent["error"]["code"] == "not_joined"
            assert not srv.svc.rooms.conns.rooms.get("/", {}).get(room.key)  # not hearing it
            assert await srv.svc.rooms.store.visits(room) == []
            await r.delete(keys.room(room.key, "conns"))
            again = await ana.call("join", {"room": "r"})
            assert again["ok"] and [m["id"] for m in again["members"]] == ["ana"]
        finally:
            await r.aclose()
            await ana.close()


async def test_consecutive_snapshots_follow_every_change_of_members_and_history(
        store: Store) -> None:
    """The Redis store decodes only what changed since the room's last snapshot
    (live/redis_backend/decoded.py): each snapshot still reads as the single reads do,
    whatever changed in between (entries added one or several at a time, a second tab,
    a hand, a leave, messages sent and deleted)."""
    now = SystemClock().now_ms()

    async def same() -> None:
        assert await store.snapshot(R) == await Store.snapshot(store, R)

    await same()
    steps = [
        lambda: store.enter(R, "c1", Member("tom", "Tom", "teacher")),
        lambda: store.enter(R, "c2", ANA_MEMBER),
        lambda: store.enter(R, "c3", Member("bo", "Bo", "student", school="s-b")),
        lambda: store.enter(R, "c4", ANA_MEMBER),  # a second tab: no new member
        lambda: store.set_hand(R, "bo", now),
        lambda: store.append(R, ANA, "m1", "one"),
        lambda: store.append(R, ANA, "m2", "two"),
        lambda: store.leave(R, "c2"),  # ana is still there on c4
        lambda: store.set_hand(R, "bo", None),
        lambda: store.leave(R, "c4"),
    ]
    for step in steps:
        await step()
        await same()
    # two entries between snapshots, then one gone and one come in the same interval
    await store.enter(R, "c5", Member("cy", "Cy", "student"))
    await store.enter(R, "c6", Member("dee", "Dee", "visitor"))
    await same()
    await store.leave(R, "c1")
    await store.enter(R, "c7", Member("tom", "Tom", "teacher"))
    await same()
    snap = await store.snapshot(R)
    assert [m.id for m in snap.members] == ["bo", "cy", "dee", "tom"]
    first = snap.page.messages[0]
    assert await store.delete(R, first.id)
    await same()
    assert [m.text for m in (await store.snapshot(R)).page.messages] == ["two"]
