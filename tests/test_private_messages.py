"""Supervised private messages (issue #11 part 4) over Socket.IO and HTTP, on both stores
and across two processes: every teacher in the room sees each private message as it is
sent, the space's teachers read them later (`GET /api/private`), pupils never read
others' messages, erasure and export cover them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .support import RedisServer, Running, ServiceProcess, connect, run_server, token
from .test_api import Spec, _get
from .test_privacy_api import _send

TEACHER = token(sub="t", role="teacher")
OTHER_SPACE_TEACHER = token(sub="t", role="teacher", space="space2")


@pytest.fixture
async def spec(server: Running) -> Spec:
    status, _, body = await _get(server.url + "/api/openapi.json")
    assert status == 200
    return Spec(json.loads(body))


async def _pm(c: Any, to: str, text: str, cid: str, room: str = "r") -> Any:
    ack = await c.call("chat:private", {"room": room, "to": to, "text": text, "cid": cid})
    assert ack["ok"], ack
    return ack["message"]


async def test_every_teacher_in_the_room_sees_private_messages(server: Running,
                                                               clients: Any,
                                                               spec: Spec) -> None:
    url = server.url
    t = await clients(url, sub="t", role="teacher", name="Ms T")
    assert (await t.call("join", {"room": "r"}))["ok"]
    t2 = await clients(url, sub="t2", role="teacher", name="Mr U")
    ana, bo, cy = [await clients(url, sub=s, name=s.title()) for s in ("ana", "bo", "cy")]
    for c in (t2, ana, bo, cy):
        assert (await c.call("join", {"room": "r"}))["ok"]
    # teacher -> pupil: the other teacher sees it too; other pupils do not
    first = await _pm(t, "ana", "see me after class", "1")
    assert first["id"].startswith("pm-") and first["to"]["id"] == "ana"
    for c in (ana, t, t2):
        assert (await c.wait_for("chat:private"))["id"] == first["id"]
    # pupil <-> pupil once allowed
    assert (await t.call("mod:permissions", {"room": "r", "pupils_to_pupils": True}))["ok"]
    second = await _pm(ana, "bo", "homework?", "2")
    for c in (bo, ana, t, t2):
        await c.wait_for("chat:private", lambda m: m["id"] == second["id"])
    # barrier: cy's first private message is the one written to cy
    marker = await _pm(t2, "cy", "marker", "3")
    await cy.wait_for("chat:private")
    assert [m["id"] for m in cy.events["chat:private"]] == [marker["id"]]
    assert [m["id"] for m in bo.events["chat:private"]] == [second["id"]]
    # never in the room's history
    assert (await cy.call("chat:history", {"room": "r"}))["messages"] == []
    # a resend of the same cid is the first message, delivered and kept once
    assert await _pm(ana, "bo", "homework?", "2") == second
    # reporting takes room messages only
    report = await bo.call("chat:report", {"room": "r", "id": second["id"]})
    assert report["error"]["code"] == "bad_request"
    await bo.round_trip()
    assert [m["id"] for m in bo.events["chat:private"]] == [second["id"]]
    # afterwards: the space's teachers read them, oldest first, paged
    got = spec.check("/api/private", *await _get(url + "/api/private", TEACHER, room="r"))
    assert [m["id"] for m in got["messages"]] == [first["id"], second["id"], marker["id"]]
    assert got["messages"][1] == second and got["more"] is False
    page = spec.check("/api/private", *await _get(url + "/api/private", TEACHER, room="r",
                                                  limit="2"))
    assert [m["text"] for m in page["messages"]] == ["homework?", "marker"] and page["more"]
    older = spec.check("/api/private", *await _get(url + "/api/private", TEACHER, room="r",
                                                   before=second["id"]))
    assert [m["text"] for m in older["messages"]] == ["see me after class"]
    assert not older["more"]
    newer = spec.check("/api/private", *await _get(url + "/api/private", TEACHER, room="r",
                                                   after=first["id"], limit="1"))
    assert [m["text"] for m in newer["messages"]] == ["homework?"] and newer["more"]
    # another space's teacher, with the same room name, reads nothing of them
    elsewhere = await _get(url + "/api/private", OTHER_SPACE_TEACHER, room="r")
    assert spec.check("/api/private", *elsewhere)["messages"] == []


@pytest.mark.parametrize(("tok", "params", "status", "code"), [
    (None, {"room": "r"}, 401, "unauthorized"),
    ("not-a-token", {"room": "r"}, 401, "unauthorized"),
    (token(sub="ana"), {"room": "r"}, 403, "forbidden"),
    (token(sub="v", role="visitor"), {"room": "r"}, 403, "forbidden"),
    (token(sub="ana"), {}, 403, "forbidden"),  # the role first, whatever the query
    (TEACHER, {}, 400, "bad_request"),
    (TEACHER, {"room": "Bad Room"}, 400, "bad_request"),
    (TEACHER, {"room": "r", "before": "1-0"}, 400, "bad_request"),
    (TEACHER, {"room": "r", "after": "pm-x"}, 400, "bad_request"),
    (TEACHER, {"room": "r", "before": "pm-1800000000000-0000abcdef01",
               "after": "pm-1800000000000-0000abcdef01"}, 400, "bad_request"),
    (TEACHER, {"room": "r", "limit": "0"}, 400, "bad_request"),
    (TEACHER, {"room": "r", "limit": "101"}, 400, "bad_request"),
])
async def test_a_bad_call_for_private_messages_is_refused(
        server: Running, clients: Any, spec: Spec, tok: str | None, params: dict[str, str],
        status: int, code: str) -> None:
    t = await clients(server.url, sub="t", role="teacher")
    ana = await clients(server.url, sub="ana")
    for c in (t, ana):
        assert (await c.call("join", {"room": "r"}))["ok"]
    await _pm(t, "ana", "secret words", "1")
    got = await _get(server.url + "/api/private", tok, **params)
    assert got[0] == status
    body = spec.check("/api/private", *got)
    assert body["error"]["code"] == code and "secret words" not in got[2]


async def test_erasure_and_export_cover_private_messages(server: Running,
                                                         clients: Any) -> None:
    url = server.url
    t = await clients(url, sub="t", role="teacher")
    ana, bo = await clients(url, sub="ana"), await clients(url, sub="bo")
    for c in (t, ana, bo):
        assert (await c.call("join", {"room": "r"}))["ok"]
    await t.call("mod:permissions", {"room": "r", "pupils_to_pupils": True})
    await _pm(ana, "bo", "from ana", "1")
    await _pm(t, "ana", "to ana", "2")
    await _pm(t, "bo", "to bo", "4")
    held = await bo.call("chat:private", {"room": "r", "to": "ana", "cid": "5",
                                          "text": "see www.coolgames.com"})
    assert held["error"]["code"] == "waiting"  # the filter holds it: ana's too
    status, _, body = await _get(url + "/api/users/ana/export", TEACHER)
    assert status == 200
    assert [m["text"] for m in json.loads(body)["private"]] == ["from ana", "to ana"]
    status, _, body = await _send(url + "/api/users/ana/messages", "DELETE", TEACHER)
    assert status == 200 and json.loads(body) == {"deleted": 3}
    assert json.loads((await _get(url + "/api/held", TEACHER))[2])["held"] == []
    status, _, body = await _get(url + "/api/private", TEACHER, room="r")
    assert [m["text"] for m in json.loads(body)["messages"]] == ["to bo"]
    status, _, body = await _get(url + "/api/users/ana/export", TEACHER)
    assert json.loads(body)["private"] == []


@pytest.mark.slow  # two service processes
async def test_a_teacher_on_one_process_sees_pupils_private_messages_on_the_other(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    a, b = two
    t = await connect(a.url, sub="t", role="teacher")
    opened = [t]
    try:
        assert (await t.call("join", {"room": "r"}))["ok"]
        assert (await t.call("mod:permissions", {"room": "r", "pupils_to_pupils": True}))["ok"]
        ana, bo, cy = [await connect(b.url, sub=s) for s in ("ana", "bo", "cy")]
        opened += [ana, bo, cy]
        for c in (ana, bo, cy):
            assert (await c.call("join", {"room": "r"}))["ok"]
        sent = await _pm(ana, "bo", "psst bo", "1")
        assert (await t.wait_for("chat:private"))["id"] == sent["id"]
        await bo.wait_for("chat:private")
        marker = await _pm(t, "cy", "marker", "2")  # through the same bus, after ana's
        await cy.wait_for("chat:private")
        assert [m["id"] for m in cy.events["chat:private"]] == [marker["id"]]
        # read back on either process
        for proc in (a, b):
            status, _, body = await _get(proc.url + "/api/private", TEACHER, room="r")
            assert status == 200
            assert [m["text"] for m in json.loads(body)["messages"]] == ["psst bo", "marker"]
    finally:
        for c in opened:
            await c.close()


async def test_a_private_message_the_store_cannot_keep_is_refused_and_not_delivered(
        own_redis: RedisServer, clients: Any) -> None:
    async with run_server(own_redis.url, rate_limits=False) as srv:
        t = await clients(srv.url, sub="t", role="teacher")
        ana = await clients(srv.url, sub="ana")
        for c in (t, ana):
            assert (await c.call("join", {"room": "r"}))["ok"]
        own_redis.cli("CONFIG", "SET", "min-replicas-to-write", "1")  # reads only
        ack = await t.call("chat:private", {"room": "r", "to": "ana", "text": "lost",
                                            "cid": "1"})
        assert ack["error"]["code"] == "unavailable"
        own_redis.cli("CONFIG", "SET", "min-replicas-to-write", "0")
        kept = await _pm(t, "ana", "kept", "2")
        await ana.wait_for("chat:private")
        assert [m["id"] for m in ana.events["chat:private"]] == [kept["id"]]
        status, _, body = await _get(srv.url + "/api/private", TEACHER, room="r")
        assert [m["text"] for m in json.loads(body)["messages"]] == ["kept"]
