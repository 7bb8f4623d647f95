"""The teacher endpoints for a room's polls (live/polls_api.py) on both stores: the JSON
list, one poll as JSON or CSV (with CSV-injection safety), names only for named polls, and
who may call them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from .support import Running, token
from .test_api import Spec, _get

TEACHER = token(sub="t", role="teacher")
PUPIL = token(sub="ana")


@pytest.fixture
async def spec(server: Running) -> Spec:
    status, _, body = await _get(server.url + "/api/openapi.json")
    assert status == 200
    return Spec(json.loads(body))


async def _csv(url: str) -> list[list[str]]:
    status, headers, body = await _get(url, TEACHER, format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(body)))


async def test_poll_results_as_csv(server: Running, clients: Any, spec: Spec) -> None:
    base = server.url
    t = await clients(base, sub="t", role="teacher")
    await t.call("join", {"room": "r"})
    a = await clients(base, sub="ana", name="=Ana")
    b = await clients(base, sub="ben", name="Ben")
    for c in (a, b):
        await c.call("join", {"room": "r"})
    quiz = (await t.call("poll:create", {"room": "r", "question": "+2?", "kind": "quiz",
                                         "options": ["=1+1", "4"], "correct": [1]}))["poll"]
    anon = (await t.call("poll:create", {"room": "r", "question": "Mood", "anonymous": True,
                                         "options": ["good", "bad"]}))["poll"]
    text = (await t.call("poll:create", {"room": "r", "question": "Why?", "kind": "text",
                                         "anonymous": True}))["poll"]
    await a.call("poll:vote", {"room": "r", "poll": quiz["id"], "choices": [1]})
    await b.call("poll:vote", {"room": "r", "poll": quiz["id"], "choices": [0]})
    await a.call("poll:vote", {"room": "r", "poll": anon["id"], "choices": [0]})
    await b.call("poll:vote", {"room": "r", "poll": anon["id"], "choices": [1]})
    ack = await a.call("poll:vote", {"room": "r", "poll": text["id"], "text": "-because"})
    assert ack["ok"], ack
    await t.call("poll:close", {"room": "r", "poll": anon["id"]})

    listed = spec.check("/api/rooms/{room}/polls", *await _get(base + "/api/rooms/r/polls",
                                                                TEACHER))
    by_id = {p["id"]: p for p in listed["polls"]}
    assert set(by_id) == {quiz["id"], anon["id"], text["id"]}
    assert by_id[quiz["id"]]["correct"] == [1] and by_id[anon["id"]]["open"] is False
    one = spec.check("/api/rooms/{room}/polls/{poll}",
                     *await _get(f"{base}/api/rooms/r/polls/{quiz['id']}", TEACHER))
    assert one["counts"] == [1, 1] and one["voters"][1] == [{"id": "ana", "name": "=Ana"}]

    rows = await _csv(f"{base}/api/rooms/r/polls/{quiz['id']}")
    assert rows == [
        ["row", "option", "text", "count", "correct", "user_id", "user_name"],
        ["question", "", "'+2?", "2", "", "", ""],
        ["option", "1", "'=1+1", "1", "no", "", ""],
        ["option", "2", "4", "1", "yes", "", ""],
        ["vote", "2", "4", "", "yes", "ana", "'=Ana"],
        ["vote", "1", "'=1+1", "", "no", "ben", "Ben"]]
    rows = await _csv(f"{base}/api/rooms/r/polls/{anon['id']}")
    assert [r[0] for r in rows[1:]] == ["question", "option", "option"]
    assert "ana" not in repr(rows) and "Ben" not in repr(rows)
    rows = await _csv(f"{base}/api/rooms/r/polls/{text['id']}")
    assert rows[2] == ["answer", "", "'-because", "", "", "", ""]


async def test_poll_endpoints_refuse_and_check(server: Running, clients: Any,
                                               spec: Spec) -> None:
    base = server.url
    t = await clients(base, sub="t", role="teacher")
    await t.call("join", {"room": "r"})
    pid = (await t.call("poll:create", {"room": "r", "question": "Q",
                                        "options": ["x", "y"]}))["poll"]["id"]
    url = f"{base}/api/rooms/r/polls/{pid}"
    assert (await _get(url, PUPIL, format="csv"))[0] == 403
    assert (await _get(url, None, format="csv"))[0] == 401
    assert (await _get(base + "/api/rooms/r/polls", PUPIL))[0] == 403
    bad = await _get(url, TEACHER, format="xml")
    assert spec.check("/api/rooms/{room}/polls/{poll}", *bad)["error"]["code"] == "bad_request"
    missing = await _get(f"{base}/api/rooms/r/polls/abc123", TEACHER, format="csv")
    assert spec.check("/api/rooms/{room}/polls/{poll}", *missing)["error"]["code"] == "not_found"
    assert (await _get(f"{base}/api/rooms/r/polls/a-b", TEACHER))[0] == 400
    # another space's teacher does not find it
    other = token(sub="t", role="teacher", space="space2")
    assert (await _get(url, other, format="csv"))[0] == 404
    assert json.loads((await _get(base + "/api/rooms/r/polls", other))[2]) == {"polls": []}
