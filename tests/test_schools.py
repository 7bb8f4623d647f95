"""Schools in view (issue #11 part 6): the school badge in member lists, notices to the
teachers of a pupil's own school whoever acted (both stores, and across two processes),
pupils' cameras seen by teachers only in a new room."""

from __future__ import annotations

from typing import Any

from .support import Client, Running, ServiceProcess, connect


async def joined(url: str, room: str, **tok: Any) -> Client:
    c = await connect(url, **tok)
    ack = await c.call("join", {"room": room})
    assert ack["ok"], ack
    return c


async def test_members_carry_their_school(server: Running, clients: Any) -> None:
    t = await clients(server.url, role="teacher", sub="t1", school="school-a")
    assert (await t.call("join", {"room": "r"}))["ok"]
    ana = await clients(server.url, sub="ana", school="school-b")
    ack = await ana.call("join", {"room": "r"})
    assert {m["id"]: m.get("school") for m in ack["members"]} == {"t1": "school-a",
                                                                  "ana": "school-b"}
    assert ack["you"]["school"] == "school-b"
    seen = await t.wait_for("presence:join")
    assert seen["member"]["school"] == "school-b"
    nobody = await clients(server.url, sub="vis", role="visitor")
    ack = await nobody.call("join", {"room": "r"})
    assert "school" not in ack["you"]  # no claim, no badge


async def test_a_pupils_own_teachers_hear_of_a_mute_and_a_kick(server: Running,
                                                               clients: Any) -> None:
    acting = await clients(server.url, role="teacher", sub="tb", school="school-b")
    own = await clients(server.url, role="teacher", sub="ta", school="school-a")
    other = await clients(server.url, role="teacher", sub="tc", school="school-c")
    ana = await clients(server.url, sub="ana", school="school-a", name="Ana")
    for c in (acting, ana):
        assert (await c.call("join", {"room": "r"}))["ok"]
    for c in (own, other):  # elsewhere in the space
        assert (await c.call("join", {"room": "other"}))["ok"]
    ack = await acting.call("mod:mute", {"room": "r", "user": "ana", "what": "chat",
                                         "muted": True})
    assert ack["ok"]
    notice = await own.wait_for("school:notice")
    assert notice["room"] == "r" and notice["action"] == "mute"
    assert notice["user"] == {"id": "ana", "name": "Ana", "role": "student",
                              "school": "school-a"}
    assert notice["by"] == {"id": "tb", "name": "Tb", "role": "teacher"}
    assert (await acting.call("mod:kick", {"room": "r", "user": "ana", "ban_minutes": 5}))["ok"]
    banned = await own.wait_for("school:notice", lambda n: n["action"] == "ban")
    assert banned["user"]["id"] == "ana"
    for c in (other, acting):
        await c.round_trip()
        assert c.events["school:notice"] == []  # another school's; the one who acted


async def test_a_pupils_own_teachers_hear_of_a_report(server: Running, clients: Any) -> None:
    own = await clients(server.url, role="teacher", sub="ta", school="school-a")
    other = await clients(server.url, role="teacher", sub="tc", school="school-c")
    ana = await clients(server.url, sub="ana", school="school-a", name="Ana")
    bo = await clients(server.url, sub="bo", school="school-c", name="Bo")
    for c in (ana, bo):
        assert (await c.call("join", {"room": "r"}))["ok"]
    for c in (own, other):  # elsewhere in the space
        assert (await c.call("join", {"room": "other"}))["ok"]
    msg = (await ana.call("chat:send", {"room": "r", "text": "go away", "cid": "1"}))["message"]
    assert (await bo.call("chat:report", {"room": "r", "id": msg["id"]}))["ok"]
    notice = await own.wait_for("school:notice")
    assert notice["room"] == "r" and notice["action"] == "report"
    assert notice["user"]["id"] == "ana" and notice["by"]["id"] == "bo"
    assert "go away" not in str(notice)
    for c in (other, bo, ana):
        await c.round_trip()
        assert c.events["school:notice"] == []  # another school's; the reporter; the pupil


async def test_school_notices_cross_processes(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    a, b = two
    own = await joined(a.url, "lobby", role="teacher", sub="ta", school="school-a")
    acting = await joined(b.url, "r", role="teacher", sub="tb", school="school-b")
    ana = await joined(b.url, "r", sub="ana", school="school-a")
    try:
        ack = await acting.call("mod:kick", {"room": "r", "user": "ana"})
        assert ack["ok"]
        notice = await own.wait_for("school:notice")
        assert notice["action"] == "kick" and notice["user"]["id"] == "ana"
    finally:
        for c in (own, acting, ana):
            await c.close()


async def test_new_rooms_show_pupils_cameras_to_teachers_only(live: Running,
                                                              clients: Any) -> None:
    t = await clients(live.url, role="teacher", sub="t1")
    ack = await t.call("join", {"room": "fresh"})
    assert ack["media"]["pupil_cameras_teachers_only"] is True
    changed = await t.call("rtc:settings", {"room": "fresh",
                                            "pupil_cameras_teachers_only": False})
    assert changed["ok"] and changed["settings"]["pupil_cameras_teachers_only"] is False
