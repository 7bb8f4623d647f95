"""Moving one member between the groups of a running breakout (`mod:move`, docs/protocol.md
"Breakout rooms"): the store on both stores, the events over real Socket.IO clients on both
stores and across two processes, and every refusal."""

from __future__ import annotations

import asyncio
from typing import Any

from rooms.breakouts import Breakout, Group
from rooms.identity import RoomRef
from rooms.store import Store

from .support import Running, ServiceProcess, connect
from .test_breakouts import MAIN, _class, store  # noqa: F401 (the store fixture)


async def test_store_moves_a_member_and_never_revives_an_ended_breakout(store: Store  # noqa: F811
                                                                        ) -> None:
    b = Breakout(("maths-g1-ab12", "maths-g2-ab12"), (("ana", "ben"), ("cy",)), None, "t")
    assert await store.move_member(MAIN, "ana", "maths-g2-ab12") is None  # none running
    assert await store.start_breakout(MAIN, b)
    after = await store.move_member(MAIN, "ana", "maths-g2-ab12")
    assert after is not None and after.groups == (("ben",), ("cy", "ana"))
    assert await store.breakout(MAIN) == after
    assert await store.group(RoomRef("sp", "maths-g1-ab12")) == Group("maths", ("ben",))
    assert await store.group(RoomRef("sp", "maths-g2-ab12")) == Group("maths", ("cy", "ana"))
    # moves and an end at once: the end wins for good, the groups end up over
    results = await asyncio.gather(store.move_member(MAIN, "ben", "maths-g2-ab12"),
                                   store.end_breakout(MAIN),
                                   store.move_member(MAIN, "cy", "maths-g1-ab12"))
    assert results[1] is not None
    assert await store.breakout(MAIN) is None
    for name in b.rooms:
        group = await store.group(RoomRef("sp", name))
        assert group is not None and group.over


async def test_a_teacher_moves_a_member_and_their_pages_follow(server: Running,
                                                               clients: Any) -> None:
    t, p = await _class(server.url, clients, "ana", "ben", "cy")
    g1, g2 = (await t.call("mod:breakout", {"room": "maths",
                                            "groups": [["ana", "ben"], ["cy"]]}))["rooms"]
    for sub, room in (("ana", g1), ("ben", g1), ("cy", g2)):
        await p[sub].wait_for("room:moved")
        await p[sub].call("leave", {"room": "maths"})
        assert (await p[sub].call("join", {"room": room}))["ok"]
    ack = await t.call("mod:move", {"room": "maths", "user": "ana", "to": g2})
    assert ack == {"ok": True, "breakout": {"rooms": [g1, g2], "groups": [["ben"], ["cy", "ana"]],
                                            "until": None}}
    assert await p["ana"].wait_for("room:moved", lambda e: e["to"] == g2) == {"from": g1,
                                                                              "to": g2}
    await p["ben"].round_trip()
    assert all(e["to"] != g2 for e in p["ben"].events["room:moved"])
    await p["ana"].call("leave", {"room": g1})
    join = await p["ana"].call("join", {"room": g2})
    assert join["ok"] and join["group"] == {"main": "maths", "over": False}
    assert (await p["ana"].call("join", {"room": g1}))["error"]["code"] == "forbidden"
    # from a group's room too; a move to the group one is in changes nothing
    assert (await t.call("join", {"room": g2}))["ok"]
    back = await t.call("mod:move", {"room": g2, "user": "ana", "to": g1})
    assert back["breakout"]["groups"] == [["ben", "ana"], ["cy"]]
    same = await t.call("mod:move", {"room": "maths", "user": "ana", "to": g1})
    assert same["breakout"]["groups"] == [["ben", "ana"], ["cy"]]
    assert (await t.call("join", {"room": "maths"}))["breakout"]["groups"] == [["ben", "ana"],
                                                                              ["cy"]]
    assert server.svc is not None
    audit = [e for e in await server.svc.rooms.audit.read("space1") if e.action == "mod:move"]
    assert [(e.target, e.detail) for e in audit] == [("ana", {"from": g2, "to": g1}),
                                                     ("ana", {"from": g1, "to": g2})]
    # recall brings the moved member back from their new group
    await t.call("mod:recall", {"room": "maths"})
    await p["ana"].wait_for("room:moved", lambda e: e == {"from": g2, "to": "maths"})


async def test_bad_moves_are_refused(server: Running, clients: Any) -> None:
    t, p = await _class(server.url, clients, "ana", "ben", "cy")
    none = await t.call("mod:move", {"room": "maths", "user": "ana", "to": "maths-g1-abcd"})
    assert none["error"]["code"] == "not_found"  # no breakout running
    g1, g2 = (await t.call("mod:breakout", {"room": "maths",
                                            "groups": [["ana"], ["ben"]]}))["rooms"]
    for payload, code in (
            ({"user": "ana", "to": "maths"}, "bad_request"),  # not a group of it
            ({"user": "ana", "to": "other-g1-abcd"}, "bad_request"),
            ({"user": "cy", "to": g1}, "bad_request"),  # in no group
            ({"user": "ana"}, "bad_request"),
            ({"user": 5, "to": g1}, "bad_request")):
        ack = await t.call("mod:move", {"room": "maths", **payload})
        assert ack["error"]["code"] == code, payload
    refused = await p["cy"].call("mod:move", {"room": "maths", "user": "ana", "to": g2})
    assert refused["error"]["code"] == "forbidden"
    unjoined = await t.call("mod:move", {"room": "elsewhere", "user": "ana", "to": g2})
    assert unjoined["error"]["code"] == "not_joined"
    assert (await t.call("join", {"room": "maths"}))["breakout"]["groups"] == [["ana"], ["ben"]]
    await t.call("mod:recall", {"room": "maths"})
    over = await t.call("mod:move", {"room": "maths", "user": "ana", "to": g2})
    assert over["error"]["code"] == "not_found"


async def test_move_across_two_processes(two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher", name="Ms T")
    ana = await connect(p2.url, sub="ana", name="Ana")
    ben = await connect(p2.url, sub="ben", name="Ben")
    try:
        for c in (t, ana, ben):
            assert (await c.call("join", {"room": "maths"}))["ok"]
        g1, g2 = (await t.call("mod:breakout", {"room": "maths",
                                                "groups": [["ana"], ["ben"]]}))["rooms"]
        await ana.wait_for("room:moved")
        # ana's page is still in the main room: it is told to go to the new group
        assert (await t.call("mod:move", {"room": "maths", "user": "ana", "to": g2}))["ok"]
        await ana.wait_for("room:moved", lambda e: e == {"from": "maths", "to": g2})
        await ana.call("leave", {"room": "maths"})
        assert (await ana.call("join", {"room": g2}))["ok"]
        assert (await ana.call("join", {"room": g1}))["error"]["code"] == "forbidden"
    finally:
        for c in (t, ana, ben):
            await c.close()
