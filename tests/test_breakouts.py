"""Breakout rooms (contract v2 §2 `mod:breakout`, `mod:recall`, `room:moved`): the store on
both stores, the events over real Socket.IO clients on both stores and across two processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rooms.breakouts import Breakout, Group, check_groups, group_room_names
from rooms.clock import FakeClock, SystemClock
from rooms.errors import BadRequest
from rooms.identity import RoomRef
from rooms.store import DAY_MS, Store

from .stores import StoreMaker
from .support import Running, ServiceProcess, connect, run_server

MAIN = RoomRef("sp", "maths")


@pytest.fixture
async def store(make_store: StoreMaker) -> Store:
    return make_store(SystemClock(), DAY_MS)


async def test_store_keeps_one_breakout_per_room_and_ends_it_once(store: Store) -> None:
    b = Breakout(("maths-g1-ab12", "maths-g2-ab12"), (("ana", "ben"), ("cy",)), None, "t")
    assert await store.group(RoomRef("sp", "maths-g1-ab12")) is None
    assert await store.start_breakout(MAIN, b)
    assert await store.breakout(MAIN) == b
    assert not await store.start_breakout(MAIN, Breakout(("x",), (("z",),), None, "t2"))
    assert await store.breakout(MAIN) == b
    assert await store.group(RoomRef("sp", "maths-g2-ab12")) == Group("maths", ("cy",))
    assert await store.group(RoomRef("other", "maths-g2-ab12")) is None
    ended = await asyncio.gather(*(store.end_breakout(MAIN) for _ in range(5)))
    assert [e for e in ended if e is not None] == [b]
    assert await store.breakout(MAIN) is None
    assert await store.group(RoomRef("sp", "maths-g1-ab12")) == Group("maths", ("ana", "ben"),
                                                                      over=True)
    assert await store.start_breakout(MAIN, b)  # a new breakout may start


def test_groups_are_checked_and_rooms_named() -> None:
    assert check_groups([["a", "b"], ["c"]]) == (("a", "b"), ("c",))
    for bad in ([], [[]], [["a"], ["a"]], "a", [["a", 1]], [["a"]] * 51, [["x" * 129]]):
        with pytest.raises(BadRequest):
            check_groups(bad)
    names = group_room_names("m" * 64, 50)
    assert len(set(names)) == 50 and all(len(n) <= 64 for n in names)
    for n in names:
        RoomRef.parse("sp", n)  # valid room names


async def _class(url: str, clients: Any, *pupils: str) -> tuple[Any, dict[str, Any]]:
    t = await clients(url, sub="t", role="teacher", name="Ms T")
    assert (await t.call("join", {"room": "maths"}))["ok"]
    out = {}
    for sub in pupils:
        c = await clients(url, sub=sub, name=sub.title())
        assert (await c.call("join", {"room": "maths"}))["ok"]
        out[sub] = c
    return t, out


async def test_breakout_moves_members_guards_group_rooms_and_recalls(
        server: Running, clients: Any) -> None:
    t, p = await _class(server.url, clients, "ana", "ben", "cy", "dan")
    ack = await t.call("mod:breakout", {"room": "maths", "groups": [["ana", "ben"], ["cy"]]})
    assert ack["ok"] and len(ack["rooms"]) == 2
    g1, g2 = ack["rooms"]
    assert g1.startswith("maths-g1-") and g2.startswith("maths-g2-")
    assert await p["ana"].wait_for("room:moved") == {"from": "maths", "to": g1}
    assert await p["cy"].wait_for("room:moved") == {"from": "maths", "to": g2}
    await p["dan"].round_trip()
    await t.round_trip()
    assert p["dan"].events["room:moved"] == [] and t.events["room:moved"] == []
    # the pages follow: leave the main room, join the group's
    for sub, room in (("ana", g1), ("ben", g1), ("cy", g2)):
        await p[sub].call("leave", {"room": "maths"})
        join = await p[sub].call("join", {"room": room})
        assert join["ok"] and join["group"] == {"main": "maths", "over": False}
    # others are refused; teachers may visit
    assert (await p["dan"].call("join", {"room": g1}))["error"]["code"] == "forbidden"
    assert (await p["cy"].call("join", {"room": g1}))["error"]["code"] == "forbidden"
    assert (await t.call("join", {"room": g2}))["ok"]
    # the joins of the main room say where one belongs (teachers: the whole breakout)
    main = await t.call("join", {"room": "maths"})
    assert main["breakout"]["rooms"] == [g1, g2]
    assert main["breakout"]["groups"] == [["ana", "ben"], ["cy"]]
    assert (await p["dan"].call("join", {"room": "maths"})).get("breakout") is None
    # group chat stays in the group
    await p["ana"].call("chat:send", {"room": g1, "text": "our idea", "cid": "1"})
    await p["ben"].wait_for("chat:message", lambda m: m["text"] == "our idea")
    await p["cy"].call("chat:send", {"room": g2, "text": "alone", "cid": "2"})
    await t.wait_for("chat:message", lambda m: m["text"] == "alone")
    assert all(m["text"] != "alone" for m in p["ben"].events["chat:message"])
    # a second breakout before the recall is refused
    again = await t.call("mod:breakout", {"room": "maths", "groups": [["dan"]]})
    assert again["error"]["code"] == "bad_request"
    # recall (from a group's room works too): everyone in the groups goes back
    assert (await t.call("mod:recall", {"room": g2})) == {"ok": True}
    for sub, room in (("ana", g1), ("ben", g1), ("cy", g2)):
        ev = await p[sub].wait_for("room:moved", lambda e: e["to"] == "maths")
        assert ev == {"from": room, "to": "maths"}
    await t.wait_for("room:moved", lambda e: e == {"from": g2, "to": "maths"})
    assert (await t.call("mod:recall", {"room": "maths"}))["error"]["code"] == "not_found"
    # afterwards the pupils may not go back into the group rooms; teachers may read them
    await p["ana"].call("leave", {"room": g1})
    assert (await p["ana"].call("join", {"room": g1}))["error"]["code"] == "forbidden"
    hist = await t.call("join", {"room": g1})
    assert [m["text"] for m in hist["messages"]] == ["our idea"] and hist["group"]["over"]
    assert server.svc is not None
    audit = await server.svc.rooms.audit.read("space1")
    assert [e.action for e in audit if e.action.startswith("mod:")][:2] == [
        "mod:recall", "mod:breakout"]


async def test_bad_breakouts_are_refused(server: Running, clients: Any) -> None:
    t, p = await _class(server.url, clients, "ana")

    async def code(c: Any, event: str, payload: Any) -> str:
        ack = await c.call(event, payload)
        return "ok" if ack["ok"] else str(ack["error"]["code"])

    assert await code(p["ana"], "mod:breakout", {"room": "maths", "groups": [["ana"]]}) == \
        "forbidden"
    assert await code(p["ana"], "mod:recall", {"room": "maths"}) == "forbidden"
    for bad in ({"room": "maths"}, {"room": "maths", "groups": []},
                {"room": "maths", "groups": [["ana"], ["ana"]]},
                {"room": "maths", "groups": [["ana"]], "minutes": 0},
                {"room": "maths", "groups": [["ana"]], "minutes": 999}):
        assert await code(t, "mod:breakout", bad) == "bad_request"
    assert await code(t, "mod:breakout", {"room": "art", "groups": [["ana"]]}) == "not_joined"
    assert await code(t, "mod:recall", {"room": "maths"}) == "not_found"
    rooms = (await t.call("mod:breakout", {"room": "maths", "groups": [["ana"]]}))["rooms"]
    assert (await t.call("join", {"room": rooms[0]}))["ok"]
    # a group's room is not split again
    assert await code(t, "mod:breakout", {"room": rooms[0], "groups": [["ana"]]}) == \
        "bad_request"


async def test_the_timer_brings_everyone_back(clients: Any) -> None:
    clock = FakeClock(SystemClock().now_ms())
    async with run_server(clock=clock, rate_limits=False) as server:
        t, p = await _class(server.url, clients, "ana")
        ack = await t.call("mod:breakout", {"room": "maths", "groups": [["ana"]], "minutes": 1})
        g1 = ack["rooms"][0]
        await p["ana"].wait_for("room:moved")
        await p["ana"].call("join", {"room": g1})
        clock.advance(59)
        await p["ana"].call("chat:send", {"room": g1, "text": "still here", "cid": "1"})
        assert p["ana"].events["room:moved"] == [{"from": "maths", "to": g1}]
        clock.advance(1)  # the minute is up
        assert await p["ana"].wait_for("room:moved", lambda e: e["to"] == "maths") == {
            "from": g1, "to": "maths"}
        assert (await t.call("mod:recall", {"room": "maths"}))["error"]["code"] == "not_found"


async def test_breakout_across_two_processes(two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher")
    a = await connect(p2.url, sub="ana")
    b = await connect(p2.url, sub="ben")
    try:
        for c in (t, a, b):
            assert (await c.call("join", {"room": "maths"}))["ok"]
        rooms = (await t.call("mod:breakout", {"room": "maths",
                                               "groups": [["ana"], ["ben"]]}))["rooms"]
        assert (await a.wait_for("room:moved"))["to"] == rooms[0]
        assert (await b.wait_for("room:moved"))["to"] == rooms[1]
        assert (await a.call("join", {"room": rooms[0]}))["ok"]
        assert (await b.call("join", {"room": rooms[0]}))["error"]["code"] == "forbidden"
        assert (await b.call("join", {"room": rooms[1]}))["ok"]
        assert (await t.call("mod:recall", {"room": "maths"}))["ok"]
        assert (await a.wait_for("room:moved", lambda e: e["to"] == "maths"))["from"] == rooms[0]
        assert (await b.wait_for("room:moved", lambda e: e["to"] == "maths"))["from"] == rooms[1]
    finally:
        for c in (t, a, b):
            await c.close()


async def test_teacher_writes_to_every_group(server: Running, clients: Any) -> None:
    t, p = await _class(server.url, clients, "ana", "ben")
    rooms = (await t.call("mod:breakout", {"room": "maths",
                                           "groups": [["ana"], ["ben"]]}))["rooms"]
    for sub, room in (("ana", rooms[0]), ("ben", rooms[1])):
        await p[sub].wait_for("room:moved")
        assert (await p[sub].call("join", {"room": room}))["ok"]
    msg = {"room": "maths", "text": " Five minutes left ", "cid": "b1"}
    ack = await t.call("mod:broadcast", msg)
    assert [m["room"] for m in ack["messages"]] == rooms
    assert {m["text"] for m in ack["messages"]} == {" Five minutes left "}  # as written
    for sub in ("ana", "ben"):
        got = await p[sub].wait_for("chat:message", lambda m: m["text"] == " Five minutes left ")
        assert got["user"]["id"] == "t"
    again = await t.call("mod:broadcast", msg)  # the same cid: nothing new
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in ack["messages"]]
    assert len((await t.call("join", {"room": rooms[0]}))["messages"]) == 1

    async def code(c: Any, payload: Any) -> str:
        a = await c.call("mod:broadcast", payload)
        return "ok" if a["ok"] else str(a["error"]["code"])

    assert await code(p["ana"], {"room": rooms[0], "text": "hi", "cid": "x"}) == "forbidden"
    assert await code(t, {"room": "maths", "text": "  ", "cid": "x"}) == "bad_request"
    assert await code(t, {"room": "maths", "text": "x" * 2001, "cid": "x"}) == "too_large"
    assert await code(t, {"room": "maths", "text": "hi", "cid": "x" * 61}) == "bad_request"
    assert (await t.call("mod:recall", {"room": "maths"}))["ok"]
    assert await code(t, {"room": "maths", "text": "hi", "cid": "y"}) == "not_found"
