"""Opened rooms, reports and the lobby in the store: one suite, both stores."""

from __future__ import annotations

import pytest

from live.redis_backend.store import RedisStore
from rooms.clock import FakeClock
from rooms.identity import RoomRef
from rooms.message import Author, Message
from rooms.reports import Report, report_id
from rooms.safeguard_store import Waiting
from rooms.store import DAY_MS, Store

from .stores import StoreMaker

R = RoomRef("sp", "room")
RETENTION = DAY_MS


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock(1_700_000_000_000)


@pytest.fixture
async def store(fake: FakeClock, make_store: StoreMaker) -> Store:
    return make_store(fake, RETENTION)


def _ms(clock: FakeClock, ms: int) -> None:
    clock.advance(ms / 1000)


def _report(msg_ts: int, at: int, by: str = "bo", room: str = "room", text: str = "mean") -> Report:
    msg = Message(f"{msg_ts}-0", room, "c1", Author("ana", "Ana", "student"), text, msg_ts)
    return Report(report_id(RoomRef("sp", room), msg.id, by), room, msg,
                  {"id": by, "name": by.title(), "role": "student"}, "rude", at,
                  msg_ts + RETENTION)


async def test_opened_rooms_last_the_retention(store: Store, fake: FakeClock) -> None:
    assert not await store.opened(R)
    assert await store.opened_rooms("sp") == []
    await store.open_room(R)
    _ms(fake, 1000)
    await store.open_room(RoomRef("sp", "a-room"))
    await store.open_room(RoomRef("other", "x"))
    assert await store.opened(R)
    assert not await store.opened(RoomRef("other", "room"))  # spaces never mix
    assert await store.opened_rooms("sp") == ["a-room", "room"]
    _ms(fake, RETENTION - 500)
    assert not await store.opened(R)
    assert await store.opened_rooms("sp") == ["a-room"]
    await store.open_room(R)  # a teacher's join opens it again
    assert await store.opened(R)


async def test_reports_are_kept_once_newest_first_until_their_message_ends(
        store: Store, fake: FakeClock) -> None:
    now = fake.now_ms()
    first = _report(now - 5000, now)
    assert await store.add_report("sp", first)
    assert not await store.add_report("sp", first)  # the same reporter, the same message
    _ms(fake, 10)
    second = _report(now - 1000, now + 10, by="cy", room="other", text="worse")
    assert await store.add_report("sp", second)
    assert [r.id for r in await store.reports("sp", None)] == [second.id, first.id]
    assert [r.id for r in await store.reports("sp", "room")] == [first.id]
    assert await store.reports("elsewhere", None) == []
    got = await store.report("sp", first.id)
    assert got == first and got.message.text == "mean"
    done = first.resolve("dismiss", {"id": "t", "name": "T", "role": "teacher"}, now + 20)
    await store.put_report("sp", done)
    assert (await store.report("sp", first.id)) == done
    # the evidence ends with its message: the first report 4 s before the second
    _ms(fake, RETENTION - 5000)
    assert [r.id for r in await store.reports("sp", None)] == [second.id]
    assert await store.report("sp", first.id) is None
    await store.put_report("sp", done)  # nothing comes back
    assert await store.report("sp", first.id) is None
    await store.sweep()
    _ms(fake, 5000)
    await store.sweep()
    assert await store.reports("sp", None) == []
    if isinstance(store, RedisStore):  # gone from Redis, not only hidden
        assert await store._r.hlen("live:space:sp:reports") == 0
        assert await store._r.zcard("live:reports:until") == 0


async def test_lobby_waits_admits_and_clears(store: Store, fake: FakeClock) -> None:
    t0 = fake.now_ms()
    ana = Waiting("ana", "Ana", "student", "s1", t0)
    assert await store.lobby_add(R, ana)
    _ms(fake, 5)
    assert not await store.lobby_add(R, Waiting("ana", "Ana", "student", "s1", t0 + 5))
    bo = Waiting("bo", "Bo", "visitor", None, t0 + 5)
    assert await store.lobby_add(R, bo)
    assert await store.lobby(R) == [ana, bo]
    assert await store.lobby(RoomRef("sp", "other")) == []
    await store.lobby_remove(R, ["ana"])
    await store.lobby_remove(R, [])
    assert await store.lobby(R) == [bo]
    assert not await store.admitted(R, "ana")
    await store.admit_users(R, ["ana", "cy"])
    await store.admit_users(R, [])
    assert await store.admitted(R, "ana") and await store.admitted(R, "cy")
    assert not await store.admitted(RoomRef("sp", "other"), "ana")
    await store.lobby_clear(R)
    assert await store.lobby(R) == [] and not await store.admitted(R, "ana")
    await store.lobby_add(R, ana)
    await store.admit_users(R, ["bo"])
    _ms(fake, RETENTION + 10)
    assert await store.lobby(R) == [] and not await store.admitted(R, "bo")


async def test_a_shorter_school_limit_ends_the_evidence_at_once(
        store: Store, fake: FakeClock) -> None:
    now = fake.now_ms()
    old = _report(now - 3 * 3_600_000, now)  # its message is 3 h old
    young = _report(now - 1000, now, by="cy")
    assert await store.add_report("sp", old) and await store.add_report("sp", young)
    await store.add_report("other", _report(now - 3 * 3_600_000, now))
    await store.set_policy("sp", "school-a", 2 / 24)  # two hours
    assert [r.id for r in await store.reports("sp", None)] == [young.id]
    assert await store.report("sp", old.id) is None
    assert len(await store.reports("other", None)) == 1  # another space keeps its own
    if isinstance(store, RedisStore):  # gone from Redis, not only hidden
        assert await store._r.hkeys("live:space:sp:reports") == [young.id.encode()]
        assert await store._r.zcard("live:reports:until") == 2
    _ms(fake, 2 * 3_600_000)  # the young one's message passes the two hours
    assert await store.reports("sp", None) == []
    await store.sweep()
    if isinstance(store, RedisStore):
        assert await store._r.hlen("live:space:sp:reports") == 0


async def test_erasing_a_user_removes_reports_of_their_messages(
        store: Store, fake: FakeClock) -> None:
    now = fake.now_ms()
    of_ana = _report(now - 1000, now)
    msg = Message(f"{now - 500}-0", "room", "c2", Author("cy", "Cy", "student"), "x", now - 500)
    of_cy = Report(report_id(R, msg.id, "ana"), "room", msg,
                   {"id": "ana", "name": "Ana", "role": "student"}, "", now, now + RETENTION)
    assert await store.add_report("sp", of_ana) and await store.add_report("sp", of_cy)
    assert await store.erase_reports("sp", "ana") == 1
    assert [r.id for r in await store.reports("sp", None)] == [of_cy.id]  # ana's report stays
    assert await store.erase_reports("sp", "ana") == 0
    assert await store.erase_reports("elsewhere", "cy") == 0
    if isinstance(store, RedisStore):
        assert await store._r.hkeys("live:space:sp:reports") == [of_cy.id.encode()]
        assert await store._r.zcard("live:reports:until") == 1
