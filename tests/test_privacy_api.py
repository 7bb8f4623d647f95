"""The privacy endpoints (contract v2 §3, §4) on both stores, and across two processes:
policy, purge receipts, attendance, erasure and export."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import aiohttp
import pytest

from .support import Running, ServiceProcess, connect, token
from .test_api import Spec, _get

TEACHER_A = token(sub="t", role="teacher", school="school-a")
TEACHER_B = token(sub="t2", role="teacher", school="school-b")
NO_SCHOOL = token(sub="t3", role="teacher")
PUPIL = token(sub="ana", school="school-a")


async def _send(url: str, method: str, tok: str | None, body: Any = None,
                raw: bytes | None = None) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with aiohttp.ClientSession() as http, http.request(
            method, url, headers=headers, data=data) as r:
        return r.status, dict(r.headers), await r.text()


@pytest.fixture
async def spec(server: Running) -> Spec:
    status, _, body = await _get(server.url + "/api/openapi.json")
    assert status == 200
    return Spec(json.loads(body))


async def test_policy_is_set_per_school_and_purges_at_once(server: Running, clients: Any,
                                                           spec: Spec) -> None:
    base = server.url
    got = spec.check("/api/policy", *await _get(base + "/api/policy", TEACHER_A))
    assert got == {"history_days": 90.0, "schools": {}}
    a = await clients(base, sub="ana", school="school-a")
    t = await clients(base, sub="t", role="teacher", school="school-a")
    await t.call("join", {"room": "r"})
    await a.call("join", {"room": "r"})
    assert (await a.call("chat:send", {"room": "r", "text": "hello", "cid": "1"}))["ok"]
    put = spec.check("/api/policy", *await _send(base + "/api/policy", "PUT", TEACHER_B,
                                                 {"history_days": 30}), method="put")
    assert put == {"history_days": 30.0, "schools": {"school-b": 30.0}}
    put = spec.check("/api/policy", *await _send(base + "/api/policy", "PUT", TEACHER_A,
                                                 {"history_days": 0.5}), method="put")
    assert put == {"history_days": 0.5, "schools": {"school-a": 0.5, "school-b": 30.0}}
    assert spec.check("/api/policy", *await _get(base + "/api/policy", TEACHER_B)) == put
    # nothing was old enough: no purge, no receipt
    assert spec.check("/api/purges", *await _get(base + "/api/purges", TEACHER_A)) == []


@pytest.mark.parametrize(("tok", "body", "status", "code"), [
    (NO_SCHOOL, {"history_days": 10}, 403, "forbidden"),
    (PUPIL, {"history_days": 10}, 403, "forbidden"),
    (None, {"history_days": 10}, 401, "unauthorized"),
    (TEACHER_A, {"history_days": 0}, 400, "bad_request"),
    (TEACHER_A, {"history_days": -1}, 400, "bad_request"),
    (TEACHER_A, {"history_days": "10"}, 400, "bad_request"),
    (TEACHER_A, {"history_days": True}, 400, "bad_request"),
    (TEACHER_A, {}, 400, "bad_request"),
    (TEACHER_A, [10], 400, "bad_request"),
])
async def test_a_bad_policy_call_is_refused_and_changes_nothing(
        server: Running, spec: Spec, tok: str | None, body: Any, status: int,
        code: str) -> None:
    got = await _send(server.url + "/api/policy", "PUT", tok, body)
    assert got[0] == status
    assert spec.check("/api/policy", *got, method="put")["error"]["code"] == code
    assert json.loads((await _get(server.url + "/api/policy", TEACHER_A))[2])["schools"] == {}


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b"1e999", b"x" * 5000])
async def test_a_policy_body_that_is_not_a_json_object_is_a_bad_request(
        server: Running, raw: bytes) -> None:
    status, _, body = await _send(server.url + "/api/policy", "PUT", TEACHER_A, raw=raw)
    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"


async def test_attendance_lists_visits_as_json_and_csv(server: Running, clients: Any,
                                                       spec: Spec) -> None:
    base = server.url
    t = await clients(base, sub="t", role="teacher", school="school-a", name="Tom")
    await t.call("join", {"room": "r"})
    a = await clients(base, sub="ana", school="school-b", name="=Ana")
    await a.call("join", {"room": "r"})
    await a.call("leave", {"room": "r"})
    await t.wait_for("presence:leave")
    visits = spec.check("/api/rooms/{room}/attendance",
                        *await _get(base + "/api/rooms/r/attendance", TEACHER_A))
    assert [(v["user"], v["name"], v["role"], v["school"]) for v in visits] == [
        ("t", "Tom", "teacher", "school-a"), ("ana", "=Ana", "student", "school-b")]
    assert visits[0]["left"] is None
    assert visits[1]["left"] is not None and visits[1]["left"] >= visits[1]["joined"]
    status, headers, body = await _get(base + "/api/rooms/r/attendance", TEACHER_A,
                                       format="csv")
    spec.check("/api/rooms/{room}/attendance", status, headers, body)
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["user", "name", "role", "school", "joined", "left", "minutes"]
    assert [r[:4] for r in rows[1:]] == [["t", "Tom", "teacher", "school-a"],
                                         ["ana", "'=Ana", "student", "school-b"]]
    assert rows[1][5] == "" and float(rows[2][6]) >= 0
    bad = await _get(base + "/api/rooms/r/attendance", TEACHER_A, format="xml")
    assert spec.check("/api/rooms/{room}/attendance", *bad)["error"]["code"] == "bad_request"
    assert (await _get(base + "/api/rooms/R!/attendance", TEACHER_A))[0] == 400
    assert (await _get(base + "/api/rooms/r/attendance", PUPIL))[0] == 403
    # another space sees none of it
    other = token(sub="t", role="teacher", space="space2")
    assert json.loads((await _get(base + "/api/rooms/r/attendance", other))[2]) == []


async def test_erasure_and_export_of_a_user(server: Running, clients: Any, spec: Spec) -> None:
    base = server.url
    t = await clients(base, sub="t", role="teacher")
    a = await clients(base, sub="ana")
    for room in ("r", "s"):
        await t.call("join", {"room": room})
        await a.call("join", {"room": room})
        await a.call("chat:send", {"room": room, "text": f"ana in {room}", "cid": room})
        await t.call("chat:send", {"room": room, "text": f"teacher in {room}", "cid": room})
    await t.call("mod:mute", {"room": "r", "user": "ana", "what": "chat", "muted": True})
    export = spec.check("/api/users/{sub}/export",
                        *await _get(base + "/api/users/ana/export", TEACHER_A))
    assert export["user"] == "ana"
    assert [m["text"] for m in export["messages"]] == ["ana in r", "ana in s"]
    assert sorted(v["room"] for v in export["visits"]) == ["r", "s"]
    assert [e["action"] for e in export["audit"]] == ["mod:mute"]
    status, headers, body = await _send(base + "/api/users/ana/messages", "DELETE", TEACHER_A)
    assert spec.check("/api/users/{sub}/messages", status, headers, body,
                      method="delete") == {"deleted": 2}
    # members see them go; only the teacher's messages are left
    await t.wait_for("chat:deleted", lambda d: d["room"] == "s")
    for room in ("r", "s"):
        page = await t.call("chat:history", {"room": room})
        assert [m["text"] for m in page["messages"]] == [f"teacher in {room}"]
    receipts = spec.check("/api/purges", *await _get(base + "/api/purges", TEACHER_A))
    assert sorted((r["room"], r["count"], r["reason"]) for r in receipts) == [
        ("r", 1, "erasure"), ("s", 1, "erasure")]
    only_s = json.loads((await _get(base + "/api/purges", TEACHER_A, room="s"))[2])
    assert [r["room"] for r in only_s] == ["s"]
    assert "text" not in json.dumps(receipts)
    again = await _send(base + "/api/users/ana/messages", "DELETE", TEACHER_A)
    assert json.loads(again[2]) == {"deleted": 0}
    assert (await _send(base + "/api/users/ana/messages", "DELETE", PUPIL))[0] == 403
    assert json.loads((await _get(base + "/api/users/ana/export", TEACHER_A))[2])[
        "messages"] == []


async def test_erasure_takes_reports_and_held_copies_and_export_lists_reports(
        server: Running, clients: Any, spec: Spec) -> None:
    base = server.url
    t = await clients(base, sub="t", role="teacher")
    a = await clients(base, sub="ana")
    b = await clients(base, sub="bo")
    for c in (t, a, b):
        await c.call("join", {"room": "r"})
    sent = (await a.call("chat:send", {"room": "r", "text": "you are mean", "cid": "1"})
            )["message"]
    bos = (await b.call("chat:send", {"room": "r", "text": "no you", "cid": "1"}))["message"]
    assert (await b.call("chat:report", {"room": "r", "id": sent["id"], "reason": "r1"}))["ok"]
    assert (await a.call("chat:report", {"room": "r", "id": bos["id"]}))["ok"]
    held = await a.call("chat:send", {"room": "r", "text": "see www.coolgames.com", "cid": "2"})
    assert held["error"]["code"] == "waiting"
    # bo's export holds the report bo made, not the one about bo's message
    export = spec.check("/api/users/{sub}/export",
                        *await _get(base + "/api/users/bo/export", TEACHER_A))
    assert [(r["by"]["id"], r["message"]["id"], r["reason"]) for r in export["reports"]] == [
        ("bo", sent["id"], "r1")]
    # ana's erasure: her message, bo's report of it and her held message
    status, headers, body = await _send(base + "/api/users/ana/messages", "DELETE", TEACHER_A)
    assert spec.check("/api/users/{sub}/messages", status, headers, body,
                      method="delete") == {"deleted": 3}
    status, _, body = await _get(base + "/api/reports", TEACHER_A)
    left = json.loads(body)["reports"]
    assert [r["message"]["id"] for r in left] == [bos["id"]]  # ana's report of bo stays
    assert "you are mean" not in body and "coolgames" not in body
    status, _, body = await _get(base + "/api/held", TEACHER_A)
    assert status == 200 and json.loads(body)["held"] == []
    again = await _send(base + "/api/users/ana/messages", "DELETE", TEACHER_A)
    assert json.loads(again[2]) == {"deleted": 0}


async def test_policy_and_erasure_hold_across_two_processes(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    a = await connect(p1.url, sub="ana")
    t = await connect(p2.url, sub="t", role="teacher", school="school-a")
    try:
        await t.call("join", {"room": "r"})
        await a.call("join", {"room": "r"})
        assert (await a.call("chat:send", {"room": "r", "text": "one", "cid": "1"}))["ok"]
        # a policy set on one process is the policy on the other
        got = await _send(p1.url + "/api/policy", "PUT", TEACHER_B, {"history_days": 7})
        assert got[0] == 200
        assert json.loads((await _get(p2.url + "/api/policy", TEACHER_A))[2]) == {
            "history_days": 7.0, "schools": {"school-b": 7.0}}
        # an erasure asked on process 2 reaches the member on process 1
        status, _, body = await _send(p2.url + "/api/users/ana/messages", "DELETE",
                                      TEACHER_A)
        assert (status, json.loads(body)) == (200, {"deleted": 1})
        await a.wait_for("chat:deleted")
        assert (await a.call("chat:history", {"room": "r"}))["messages"] == []
        receipts = json.loads((await _get(p1.url + "/api/purges", TEACHER_A))[2])
        assert [(r["room"], r["reason"]) for r in receipts] == [("r", "erasure")]
    finally:
        await a.close()
        await t.close()
