"""Rooms teachers open, reports, the lobby, teacher present and the end of a lesson, over
real Socket.IO clients: on both stores and, for the lobby and the end, across processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from live.config import Config
from rooms.clock import FakeClock
from rooms.store import DAY_MS

from .stores import Backend
from .support import Running, ServiceProcess, connect, run_server, token


@pytest.fixture
async def server(backend: Backend) -> AsyncIterator[Running]:
    """The service on each store, no room opened beforehand (the default `teachers` mode)."""
    async with run_server(backend.redis_url, rate_limits=False, opened=()) as running:
        yield running


async def _code(client: Any, event: str, payload: Any) -> str:
    ack = await client.call(event, payload)
    return str(ack["error"]["code"]) if not ack["ok"] else "ok"


async def _api(url: str, path: str) -> Any:
    headers = {"Authorization": f"Bearer {token(role='teacher', sub='t')}"}
    async with aiohttp.ClientSession() as http, http.get(url + path, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def _audit(server: Running) -> list[Any]:
    assert server.svc is not None
    return [e.to_wire() for e in await server.svc.rooms.audit.read("space1")]


# -- rooms teachers open ----------------------------------------------------------
async def test_only_a_teacher_opens_a_room(server: Running, clients: Any) -> None:
    pupil = await clients(server.url, sub="ana")
    visitor = await clients(server.url, sub="vi", role="visitor")
    for c in (pupil, visitor):
        ack = await c.call("join", {"room": "r"})
        assert ack["error"]["code"] == "not_found"
        assert ack["error"]["message"] == "no such room"  # as for any room that is not there
    assert await _code(pupil, "chat:send", {"room": "r", "text": "hi", "cid": "1"}) == "not_joined"
    rooms = await _api(server.url, "/api/rooms")
    assert rooms == {"rooms": []}
    teacher = await clients(server.url, sub="t", role="teacher")
    assert (await teacher.call("join", {"room": "r"}))["ok"]
    assert (await teacher.call("leave", {"room": "r"}))["ok"]
    # the room stays open once its teacher left; pupils of another space see nothing of it
    assert (await pupil.call("join", {"room": "r"}))["ok"]
    assert (await visitor.call("join", {"room": "r"}))["ok"]
    other = await clients(server.url, sub="ana", space="space2")
    assert await _code(other, "join", {"room": "r"}) == "not_found"
    # the console lists every opened room, empty ones too
    await teacher.call("join", {"room": "empty"})
    await teacher.call("leave", {"room": "empty"})
    listed = {r["room"]: r for r in (await _api(server.url, "/api/rooms"))["rooms"]}
    assert listed["empty"] == {"room": "empty", "members": [], "opened": True}
    assert [m["id"] for m in listed["r"]["members"]] == ["ana", "vi"]


async def test_an_opening_ends_with_the_rooms_history(clients: Any) -> None:
    clock = FakeClock()
    async with run_server(clock=clock, rate_limits=False, history_days=1, opened=()) as server:
        teacher = await clients(server.url, sub="t", role="teacher")
        await teacher.call("join", {"room": "quiet"})
        await teacher.call("join", {"room": "busy"})
        await teacher.call("chat:send", {"room": "busy", "text": "hello", "cid": "1"})
        await teacher.call("leave", {"room": "quiet"})
        await teacher.call("leave", {"room": "busy"})
        clock.advance(DAY_MS / 1000 - 60)
        await teacher.call("join", {"room": "busy"})  # opened again: a day from now
        await teacher.call("leave", {"room": "busy"})
        clock.advance(120)
        pupil = await clients(server.url, sub="ana")
        assert await _code(pupil, "join", {"room": "quiet"}) == "not_found"
        assert await _code(pupil, "join", {"room": "busy"}) == "ok"


def test_live_rooms_is_teachers_or_open() -> None:
    assert Config.from_env({}).rooms == "teachers"
    assert Config.from_env({"LIVE_ROOMS": " Open "}).rooms == "open"
    with pytest.raises(ValueError, match="LIVE_ROOMS must be teachers or open"):
        Config.from_env({"LIVE_ROOMS": "anyone"})


async def test_live_rooms_open_lets_anyone_open_a_room(clients: Any) -> None:
    async with run_server(rate_limits=False, rooms="open") as server:
        pupil = await clients(server.url, sub="ana")
        ack = await pupil.call("join", {"room": "new"})
        assert ack["ok"] and ack["teacher_present"] is False
        assert (await pupil.call("chat:send", {"room": "new", "text": "hi", "cid": "1"}))["ok"]


# -- reports ------------------------------------------------------------------------
async def _class(url: str, clients: Any, *pupils: str, room: str = "r",
                 **tok: Any) -> tuple[Any, list[Any]]:
    teacher = await clients(url, sub="t", role="teacher")
    assert (await teacher.call("join", {"room": room}))["ok"]
    out = []
    for sub in pupils:
        c = await clients(url, sub=sub, **tok)
        assert (await c.call("join", {"room": room}))["ok"]
        out.append(c)
    return teacher, out


async def test_a_report_keeps_the_message_for_teachers(server: Running, clients: Any) -> None:
    t, (ana, bo) = await _class(server.url, clients, "ana", "bo")
    before = (await bo.call("chat:send", {"room": "r", "text": "hi all", "cid": "0"}))["message"]
    msg = (await ana.call("chat:send", {"room": "r", "text": "you are stupid", "cid": "1"})
           )["message"]
    after = (await bo.call("chat:send", {"room": "r", "text": "stop", "cid": "2"}))["message"]
    ack = await bo.call("chat:report", {"room": "r", "id": msg["id"], "reason": "bullying"})
    assert ack["ok"] and ack["report"].startswith("rep-")
    new = await t.wait_for("report:new")
    assert new["room"] == "r"
    rep = new["report"]
    assert rep["message"] == msg and rep["reason"] == "bullying" and rep["id"] == ack["report"]
    assert rep["by"] == {"id": "bo", "name": "Bo", "role": "student"} and rep["resolved"] is None
    # pupils never hear of reports
    await ana.round_trip()
    await bo.round_trip()
    assert not ana.events["report:new"] and not bo.events["report:new"]
    # reporting again is the same report
    again = await bo.call("chat:report", {"room": "r", "id": msg["id"]})
    assert again == {"ok": True, "report": rep["id"]}
    # the author deletes it: gone from history, kept as evidence
    assert (await ana.call("chat:delete", {"room": "r", "id": msg["id"]}))["ok"]
    history = (await t.call("chat:history", {"room": "r"}))["messages"]
    assert msg["id"] not in [m["id"] for m in history]
    reports = (await _api(server.url, "/api/reports?room=r"))["reports"]
    assert [r["id"] for r in reports] == [rep["id"]]
    assert reports[0]["message"]["text"] == "you are stupid"
    assert reports[0]["context"] == {"before": [before], "after": [after]}
    assert (await _api(server.url, "/api/reports?room=other"))["reports"] == []


async def test_bad_reports_change_nothing(server: Running, clients: Any) -> None:
    t, (ana, vi) = await _class(server.url, clients, "ana", "vi")
    vis = await clients(server.url, sub="vis", role="visitor")
    await vis.call("join", {"room": "r"})
    mine = (await ana.call("chat:send", {"room": "r", "text": "mine", "cid": "1"}))["message"]
    theirs = (await t.call("chat:send", {"room": "r", "text": "x", "cid": "1"}))["message"]
    assert await _code(ana, "chat:report", {"room": "r", "id": mine["id"]}) == "bad_request"
    assert await _code(vis, "chat:report", {"room": "r", "id": theirs["id"]}) == "forbidden"
    assert await _code(ana, "chat:report", {"room": "r", "id": "1-0"}) == "not_found"
    assert await _code(ana, "chat:report", {"room": "r", "id": "nope"}) == "bad_request"
    assert await _code(ana, "chat:report", {"room": "r", "id": theirs["id"],
                                            "reason": "x" * 501}) == "bad_request"
    assert await _code(ana, "chat:report", {"room": "r", "id": theirs["id"],
                                            "reason": 5}) == "bad_request"
    assert await _code(ana, "chat:report", {"room": "other", "id": theirs["id"]}) == "not_joined"
    assert (await _api(server.url, "/api/reports"))["reports"] == []
    assert not t.events["report:new"]


@pytest.mark.parametrize("action", ["delete", "mute", "dismiss"])
async def test_a_teacher_resolves_a_report(server: Running, clients: Any, action: str) -> None:
    t, (ana, bo) = await _class(server.url, clients, "ana", "bo")
    t2 = await clients(server.url, sub="t2", role="teacher")
    await t2.call("join", {"room": "r"})
    msg = (await ana.call("chat:send", {"room": "r", "text": "mean", "cid": "1"}))["message"]
    rid = (await bo.call("chat:report", {"room": "r", "id": msg["id"]}))["report"]
    assert await _code(bo, "report:resolve", {"report": rid, "action": "dismiss"}) == "forbidden"
    assert await _code(t, "report:resolve", {"report": rid, "action": "ban"}) == "bad_request"
    assert await _code(t, "report:resolve", {"report": "rep-x", "action": action}) == "not_found"
    assert await _code(t, "report:resolve", {"report": "x", "action": action}) == "bad_request"
    ack = await t.call("report:resolve", {"report": rid, "action": action})
    assert ack["ok"] and ack["report"]["resolved"]["action"] == action
    assert ack["report"]["resolved"]["by"]["id"] == "t"
    # every teacher's console learns it was dealt with
    assert (await t2.wait_for("report:resolved"))["report"]["id"] == rid
    assert await _code(t2, "report:resolve", {"report": rid, "action": action}) == "bad_request"
    if action == "delete":
        assert await bo.wait_for("chat:deleted") == {"room": "r", "id": msg["id"]}
    elif action == "mute":
        await ana.wait_for("mod:muted")
        assert await _code(ana, "chat:send", {"room": "r", "text": "x", "cid": "2"}) == "muted"
    else:
        assert (await ana.call("chat:send", {"room": "r", "text": "x", "cid": "2"}))["ok"]
    entry = (await _audit(server))[0]
    assert entry["action"] == "report:resolve" and entry["target"] == "ana"
    assert entry["detail"] == {"report": rid, "resolution": action}
    assert "mean" not in str(entry)  # no message text in the audit
    reports = (await _api(server.url, "/api/reports"))["reports"]
    assert reports[0]["resolved"]["action"] == action
    assert reports[0]["message"]["text"] == "mean"  # still evidence after a delete


async def test_a_teachers_message_is_never_muted_through_a_report(server: Running,
                                                                  clients: Any) -> None:
    t, (ana,) = await _class(server.url, clients, "ana")
    t2 = await clients(server.url, sub="t2", role="teacher")
    await t2.call("join", {"room": "r"})
    msg = (await t2.call("chat:send", {"room": "r", "text": "homework", "cid": "1"}))["message"]
    rid = (await ana.call("chat:report", {"room": "r", "id": msg["id"]}))["report"]
    assert await _code(t, "report:resolve", {"report": rid, "action": "mute"}) == "forbidden"
    assert (await t.call("report:resolve", {"report": rid, "action": "dismiss"}))["ok"]


async def test_reports_are_rate_limited(clients: Any) -> None:
    async with run_server(opened=()) as server:
        t, (ana,) = await _class(server.url, clients, "ana")
        ids = [(await t.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)})
                )["message"]["id"] for i in range(7)]
        codes = [await _code(ana, "chat:report", {"room": "r", "id": i}) for i in ids]
        assert codes[:5] == ["ok"] * 5 and "rate_limited" in codes[5:]


async def test_evidence_ends_with_the_messages_retention(clients: Any) -> None:
    clock = FakeClock()
    async with run_server(clock=clock, rate_limits=False, history_days=1, opened=()) as server:
        t, (ana,) = await _class(server.url, clients, "ana")
        msg = (await t.call("chat:send", {"room": "r", "text": "x", "cid": "1"}))["message"]
        await ana.call("chat:report", {"room": "r", "id": msg["id"]})
        clock.advance(DAY_MS / 1000 - 1)
        assert len((await _api(server.url, "/api/reports"))["reports"]) == 1
        clock.advance(2)
        assert (await _api(server.url, "/api/reports"))["reports"] == []


# -- the lobby ------------------------------------------------------------------------
async def test_the_lobby_holds_pupils_until_a_teacher_admits_them(server: Running,
                                                                  clients: Any) -> None:
    t, _ = await _class(server.url, clients)
    assert await _code(t, "mod:lobby", {"room": "r", "on": True}) == "ok"
    ana = await clients(server.url, sub="ana", school="s1")
    ack = await ana.call("join", {"room": "r"})
    assert ack["error"]["code"] == "waiting"
    waiting = await t.wait_for("lobby:waiting")
    assert waiting == {"room": "r", "member": {"id": "ana", "name": "Ana", "role": "student",
                                               "school": "s1", "at": waiting["member"]["at"]}}
    # a teacher arriving later sees who waits; teachers are never held
    t2 = await clients(server.url, sub="t2", role="teacher")
    joined = await t2.call("join", {"room": "r"})
    assert joined["lobby"] is True and [w["id"] for w in joined["waiting"]] == ["ana"]
    # pupils cannot let themselves in
    assert await _code(ana, "mod:admit", {"room": "r", "user": "ana", "allow": True}) == \
        "not_joined"
    assert await _code(t, "mod:admit", {"room": "r", "allow": True}) == "bad_request"
    assert await _code(t, "mod:admit", {"room": "r", "user": "x", "school": "s1",
                                        "allow": True}) == "bad_request"
    assert await _code(t, "mod:admit", {"room": "r", "user": "nobody", "allow": True}) == \
        "not_found"
    assert (await t.call("mod:admit", {"room": "r", "user": "ana", "allow": True})) == {
        "ok": True, "users": ["ana"]}
    assert await ana.wait_for("room:admitted") == {"room": "r"}
    assert (await t2.wait_for("lobby:done")) == {"room": "r", "users": ["ana"], "allow": True}
    assert (await ana.call("join", {"room": "r"}))["ok"]
    assert (await _audit(server))[0]["action"] == "mod:admit"


async def test_refused_pupils_and_whole_schools(server: Running, clients: Any) -> None:
    t, _ = await _class(server.url, clients)
    pupil = await clients(server.url, sub="p")
    await pupil.call("join", {"room": "r"})  # the room is open, the lobby off
    assert await _code(pupil, "mod:lobby", {"room": "r", "on": True}) == "forbidden"
    await t.call("mod:lobby", {"room": "r", "on": True})
    assert (await pupil.wait_for("room:lobby")) == {"room": "r", "on": True}
    cs = {}
    for sub, school in (("a1", "s1"), ("a2", "s1"), ("b1", "s2"), ("c1", "s3")):
        cs[sub] = await clients(server.url, sub=sub, school=school)
        assert await _code(cs[sub], "join", {"room": "r"}) == "waiting"
    await t.wait_count("lobby:waiting", 4)
    ack = await t.call("mod:admit", {"room": "r", "school": "s1", "allow": True})
    assert sorted(ack["users"]) == ["a1", "a2"]
    await cs["a1"].wait_for("room:admitted")
    await cs["a2"].wait_for("room:admitted")
    assert (await t.call("mod:admit", {"room": "r", "user": "b1", "allow": False}))["ok"]
    assert await cs["b1"].wait_for("room:refused") == {"room": "r"}
    assert await _code(cs["b1"], "join", {"room": "r"}) == "waiting"  # may ask again
    # the lobby off: everyone waiting comes in
    await t.call("mod:lobby", {"room": "r", "on": False})
    await cs["b1"].wait_for("room:admitted")
    await cs["c1"].wait_for("room:admitted")
    for c in cs.values():
        assert (await c.call("join", {"room": "r"}))["ok"]


async def test_everyone_admitted_at_once_and_leavers_leave_the_list(server: Running,
                                                                    clients: Any) -> None:
    t, _ = await _class(server.url, clients)
    await t.call("mod:lobby", {"room": "r", "on": True})
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    gone = await clients(server.url, sub="gone")
    for c in (a, b, gone):
        await c.call("join", {"room": "r"})
    await t.wait_count("lobby:waiting", 3)
    await gone.close()
    assert await t.wait_for("lobby:done", lambda e: e["users"] == ["gone"]) == {
        "room": "r", "users": ["gone"], "allow": None}
    ack = await t.call("mod:admit", {"room": "r", "all": True, "allow": True})
    assert sorted(ack["users"]) == ["a", "b"]
    assert (await b.call("join", {"room": "r"}))["ok"]


# -- teacher present -------------------------------------------------------------
async def test_pupils_write_only_while_a_teacher_is_in(server: Running, clients: Any) -> None:
    t, (ana, bo) = await _class(server.url, clients, "ana", "bo")
    assert (await ana.call("chat:send", {"room": "r", "text": "hi", "cid": "1"}))["ok"]
    await t.call("mod:permissions", {"room": "r", "pupils_to_pupils": True})
    await t.call("leave", {"room": "r"})
    await ana.wait_for("presence:leave")
    no_teacher = {"code": "forbidden", "message":
                  "pupils can write and share only while a teacher is in the room"}
    ack = await ana.call("chat:send", {"room": "r", "text": "alone", "cid": "2"})
    assert ack["error"] == no_teacher
    ack = await ana.call("chat:private", {"room": "r", "to": "bo", "text": "psst", "cid": "p"})
    assert ack["error"] == no_teacher
    ack = await ana.call("rtc:publish", {"room": "r", "source": "camera", "sdp": "v=0"})
    assert ack["error"] == no_teacher
    assert [m["text"] for m in (await ana.call("chat:history", {"room": "r"}))["messages"]] == [
        "hi"]
    await t.call("join", {"room": "r"})
    assert (await ana.call("chat:send", {"room": "r", "text": "back", "cid": "2"}))["ok"]
    # a teacher may lift the rule for the room
    assert await _code(ana, "mod:supervised", {"room": "r", "on": False}) == "forbidden"
    assert (await t.call("mod:supervised", {"room": "r", "on": False}))["ok"]
    assert await ana.wait_for("room:teacher_present") == {"room": "r", "on": False}
    await t.call("leave", {"room": "r"})
    assert (await ana.call("chat:send", {"room": "r", "text": "ok now", "cid": "3"}))["ok"]


# -- the end of a lesson ------------------------------------------------------------
async def test_the_end_of_a_lesson(server: Running, clients: Any) -> None:
    t, (ana, vi) = await _class(server.url, clients, "ana", "vi")
    vis = await clients(server.url, sub="vis", role="visitor")
    await vis.call("join", {"room": "r"})
    t2 = await clients(server.url, sub="t2", role="teacher")
    await t2.call("join", {"room": "r"})
    ended: list[str] = []

    async def hook(room_key: str) -> None:
        ended.append(room_key)

    assert server.svc is not None
    server.svc.rooms.lesson.end_hooks.append(hook)
    poll = (await t.call("poll:create", {"room": "r", "question": "Q?", "options": ["a", "b"]})
            )["poll"]
    await ana.call("hand", {"room": "r", "raised": True})
    await t.call("mod:lobby", {"room": "r", "on": True})
    late = await clients(server.url, sub="late")
    assert await _code(late, "join", {"room": "r"}) == "waiting"
    assert await _code(ana, "mod:end", {"room": "r"}) == "forbidden"
    assert (await t.call("mod:end", {"room": "r"})) == {"ok": True}
    for c in (ana, vi, vis):
        assert await c.wait_for("room:ended") == {"room": "r"}
        assert await _code(c, "chat:send", {"room": "r", "text": "x", "cid": "9"}) == "not_joined"
    assert (await t2.wait_for("poll:closed"))["poll"]["id"] == poll["id"]
    assert (await t2.wait_for("room:locked")) == {"room": "r", "locked": True}
    lowered = await t2.wait_for("presence:update", lambda e: e["member"]["id"] == "ana"
                                and not e["member"]["hand"])
    assert lowered["room"] == "r"
    await t2.wait_for("presence:leave", lambda e: e["user"] == "vis")
    assert ended == ["space1/r"]
    # teachers stay; the room is locked; the lobby forgot who waited
    members = (await t2.call("join", {"room": "r"}))
    assert sorted(m["id"] for m in members["members"]) == ["t", "t2"]
    assert members["waiting"] == [] and members["polls"] == []
    assert await _code(ana, "join", {"room": "r"}) == "room_locked"
    assert await _code(late, "join", {"room": "r"}) == "room_locked"
    await t.round_trip()
    assert not t.events["room:ended"] and not t2.events["room:ended"]
    assert (await _audit(server))[0]["action"] == "mod:end"


# -- across processes ----------------------------------------------------------------
@pytest.mark.slow
async def test_lobby_reports_and_end_across_processes(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher")
    ana = await connect(p2.url, sub="ana", school="s1")
    bo = await connect(p2.url, sub="bo", school="s2")
    try:
        assert await _code(ana, "join", {"room": "lesson"}) == "not_found"
        assert (await t.call("join", {"room": "lesson"}))["ok"]
        assert (await bo.call("join", {"room": "lesson"}))["ok"]
        await t.call("mod:lobby", {"room": "lesson", "on": True})
        assert await _code(ana, "join", {"room": "lesson"}) == "waiting"
        assert (await t.wait_for("lobby:waiting"))["member"]["school"] == "s1"
        await t.call("mod:admit", {"room": "lesson", "school": "s1", "allow": True})
        await ana.wait_for("room:admitted")
        assert (await ana.call("join", {"room": "lesson"}))["ok"]
        sent = await bo.call("chat:send", {"room": "lesson", "text": "mean", "cid": "1"})
        msg = sent["message"]
        await ana.call("chat:report", {"room": "lesson", "id": msg["id"]})
        assert (await t.wait_for("report:new"))["report"]["message"]["text"] == "mean"
        await t.call("mod:end", {"room": "lesson"})
        await ana.wait_for("room:ended")
        await bo.wait_for("room:ended")
        await t.wait_for("presence:leave", lambda e: e["user"] == "ana")
        assert await _code(bo, "join", {"room": "lesson"}) == "room_locked"
    finally:
        for c in (t, ana, bo):
            await c.close()
