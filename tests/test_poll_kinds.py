"""Quiz, open-text, word-cloud and hidden polls over real Socket.IO clients, on both stores
and across two processes (docs/protocol.md "Polls"): what pupils never receive before
the teacher lets them (a quiz's answer, unpublished answers, a hidden poll's counts)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from rooms.identity import RoomRef
from rooms.store import Store

from .support import Running, ServiceProcess, connect
from .test_breakouts import store  # noqa: F401 (the store fixture, on both stores)


async def _room(url: str, clients: Any) -> tuple[Any, Any, Any]:
    t = await clients(url, sub="t", role="teacher", name="Tea")
    assert (await t.call("join", {"room": "r"}))["ok"]
    a = await clients(url, sub="ana", name="Ana")
    b = await clients(url, sub="ben", name="Ben")
    for c in (a, b):
        assert (await c.call("join", {"room": "r"}))["ok"]
    return t, a, b


def _seen(client: Any) -> list[dict[str, Any]]:
    """Every poll wire a client received, in events and join acks alike."""
    return [e["poll"] for name in ("poll:created", "poll:results", "poll:closed",
                                   "poll:revealed", "poll:published")
            for e in client.events[name]]


async def test_quiz_answer_reaches_pupils_only_when_revealed(server: Running,
                                                             clients: Any) -> None:
    t, a, b = await _room(server.url, clients)
    ack = await t.call("poll:create", {"room": "r", "question": "2+2?", "kind": "quiz",
                                       "options": ["3", "4", "5"], "correct": [1]})
    assert ack["ok"] and ack["poll"]["kind"] == "quiz" and ack["poll"]["correct"] == [1]
    pid = ack["poll"]["id"]
    created = await a.wait_for("poll:created")
    assert "correct" not in created["poll"] and created["poll"]["revealed"] is False
    assert "correct" not in (await b.call("join", {"room": "r"}))["polls"][0]
    assert (await t.call("join", {"room": "r"}))["polls"][0]["correct"] == [1]

    assert (await a.call("poll:vote", {"room": "r", "poll": pid, "choices": [1]}))["ok"]
    assert (await b.call("poll:vote", {"room": "r", "poll": pid, "choices": [2]}))["ok"]
    teacher_view = await t.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    assert teacher_view["poll"]["correct"] == [1] and teacher_view["poll"]["counts"] == [0, 1, 1]
    await a.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    for pupil in (a, b):
        assert all("correct" not in p for p in _seen(pupil))
        assert all("voters" not in p for p in _seen(pupil))

    # pupils cannot reveal nor see scores
    for event in ("poll:reveal", "poll:scores"):
        refused = await a.call(event, {"room": "r", "poll": pid})
        assert refused["error"]["code"] == "forbidden"

    revealed = await t.call("poll:reveal", {"room": "r", "poll": pid})
    assert revealed["poll"]["revealed"] is True and revealed["poll"]["open"] is False
    ev = await b.wait_for("poll:revealed")
    assert ev["poll"]["correct"] == [1] and ev["poll"]["counts"] == [0, 1, 1]
    assert "voters" not in ev["poll"]
    again = await b.call("join", {"room": "r"})  # closed: not in the join ack any more
    assert again["polls"] == []
    late = await b.call("poll:vote", {"room": "r", "poll": pid, "choices": [1]})
    assert late["error"]["code"] == "bad_request"

    scores = await t.call("poll:scores", {"room": "r"})
    assert scores["ok"] and [q["id"] for q in scores["quizzes"]] == [pid]
    assert scores["scores"] == [{"id": "ana", "name": "Ana", "right": 1, "answered": 1},
                                {"id": "ben", "name": "Ben", "right": 0, "answered": 1}]
    # a second quiz adds up; an anonymous one is never scored
    q2 = (await t.call("poll:create", {"room": "r", "question": "Capital of Malta?",
                                       "kind": "quiz", "options": ["Valletta", "Mdina"],
                                       "correct": [0]}))["poll"]["id"]
    q3 = (await t.call("poll:create", {"room": "r", "question": "Anon", "kind": "quiz",
                                       "anonymous": True, "options": ["x", "y"],
                                       "correct": [0]}))["poll"]["id"]
    for q in (q2, q3):
        await b.call("poll:vote", {"room": "r", "poll": q, "choices": [0]})
        await t.call("poll:reveal", {"room": "r", "poll": q})
    rows = (await t.call("poll:scores", {"room": "r"}))["scores"]
    assert rows == [{"id": "ana", "name": "Ana", "right": 1, "answered": 1},  # ties by name
                    {"id": "ben", "name": "Ben", "right": 1, "answered": 2}]
    assert (await t.call("poll:reveal", {"room": "r", "poll": pid}))["poll"]["revealed"]


@pytest.mark.parametrize("payload", [
    {"kind": "quiz", "options": ["a", "b"]},  # no correct answer
    {"kind": "quiz", "options": ["a", "b"], "correct": [2]},
    {"kind": "quiz", "options": ["a", "b"], "correct": [0, 1]},  # two, not multiple
    {"kind": "quiz", "options": ["a", "b"], "correct": "0"},
    {"kind": "choice", "options": ["a", "b"], "correct": [0]},
    {"kind": "text", "options": ["a", "b"]},
    {"kind": "cloud", "multiple": True},
    {"kind": "survey", "options": ["a", "b"]},
    {"kind": "choice", "options": ["a", "b"], "hidden": "yes"},
])
async def test_bad_poll_kinds(server: Running, clients: Any, payload: dict[str, Any]) -> None:
    t = await clients(server.url, sub="t", role="teacher")
    await t.call("join", {"room": "r"})
    ack = await t.call("poll:create", {"room": "r", "question": "Q", **payload})
    assert ack["error"]["code"] == "bad_request"
    assert (await t.call("join", {"room": "r"}))["polls"] == []


async def test_open_text_answers_wait_for_the_teacher(server: Running, clients: Any) -> None:
    t, a, b = await _room(server.url, clients)
    poll = (await t.call("poll:create", {"room": "r", "question": "One thing you learnt?",
                                         "kind": "text"}))["poll"]
    assert poll["options"] == [] and poll["answers"] == []
    pid = poll["id"]
    assert (await a.call("poll:vote", {"room": "r", "poll": pid, "text": " Volcanoes "}))["ok"]
    assert (await b.call("poll:vote", {"room": "r", "poll": pid,
                                       "text": "look at example.com"}))["ok"]  # held: a link
    view = await t.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    answers = {x["user"]: x for x in view["poll"]["answers"]}
    assert answers["ana"]["text"] == "Volcanoes" and answers["ana"]["flagged"] is False
    assert answers["ben"]["flagged"] is True and answers["ben"]["name"] == "Ben"
    await a.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    for pupil in (a, b):
        assert all(p["answers"] == [] for p in _seen(pupil))
        assert "Volcanoes" not in repr(pupil.events)
    ajoin = (await a.call("join", {"room": "r"}))["polls"][0]
    assert ajoin["answers"] == [] and ajoin["mine_text"] == "Volcanoes"
    # bad answers: a choice, too long, blocked by the filter, a visitor
    for bad, code in (({"choices": [0]}, "bad_request"), ({"text": "x" * 281}, "bad_request"),
                      ({"text": "mail me at ana@example.org"}, "forbidden"),
                      ({}, "bad_request")):
        ack = await a.call("poll:vote", {"room": "r", "poll": pid, **bad})
        assert ack["error"]["code"] == code, bad
    refused = await a.call("poll:publish", {"room": "r", "poll": pid})
    assert refused["error"]["code"] == "forbidden"
    wrong = await t.call("poll:publish", {"room": "r", "poll": pid, "answers": ["nope"]})
    assert wrong["error"]["code"] == "bad_request"

    # publishing every answer leaves the flagged one out
    ack = await t.call("poll:publish", {"room": "r", "poll": pid})
    assert ack["ok"] and ack["poll"]["answers"][0]["published"] in (True, False)
    ev = await b.wait_for("poll:published")
    assert ev["poll"]["answers"] == ["Volcanoes"] and "ben" not in repr(ev["poll"])
    # the teacher then publishes the flagged one by its id
    ack = await t.call("poll:publish", {"room": "r", "poll": pid,
                                        "answers": [answers["ben"]["id"]]})
    ev = await a.wait_for("poll:published", lambda e: len(e["poll"]["answers"]) == 2)
    assert ev["poll"]["answers"] == ["Volcanoes", "look at example.com"]
    assert (await b.call("join", {"room": "r"}))["polls"][0]["answers"] == ev["poll"]["answers"]


async def test_word_cloud_folds_and_counts(server: Running, clients: Any) -> None:
    t, a, b = await _room(server.url, clients)
    pid = (await t.call("poll:create", {"room": "r", "question": "One word for Europe",
                                        "kind": "cloud", "anonymous": True}))["poll"]["id"]
    assert (await a.call("poll:vote", {"room": "r", "poll": pid, "text": "Café"}))["ok"]
    assert (await b.call("poll:vote", {"room": "r", "poll": pid, "text": " CAFE "}))["ok"]
    assert (await t.call("poll:vote", {"room": "r", "poll": pid, "text": "peace and unity"}))["ok"]
    ev = await a.wait_for("poll:results", lambda e: e["poll"]["voted"] == 3)
    assert ev["poll"]["cloud"] == [["cafe", 2], ["peace and unity", 1]]
    for bad, code in (("one two three four", "bad_request"), ("see example.com", "forbidden"),
                      ("x" * 41, "bad_request")):
        ack = await b.call("poll:vote", {"room": "r", "poll": pid, "text": bad})
        assert ack["error"]["code"] == code, bad
    teacher_view = (await t.call("poll:close", {"room": "r", "poll": pid}))["poll"]
    assert teacher_view["cloud"] == ev["poll"]["cloud"]
    assert "answers" not in teacher_view  # anonymous: no one's words by name
    kept = await server.svc.store.poll(RoomRef("space1", "r"), pid)  # type: ignore[union-attr]
    assert kept is not None and "ana" not in repr(kept.votes) and "ben" not in repr(kept.votes)


async def test_hidden_results_until_closed(server: Running, clients: Any) -> None:
    t, a, b = await _room(server.url, clients)
    pid = (await t.call("poll:create", {"room": "r", "question": "Q", "options": ["x", "y"],
                                        "hidden": True}))["poll"]["id"]
    await a.call("poll:vote", {"room": "r", "poll": pid, "choices": [0]})
    await b.call("poll:vote", {"room": "r", "poll": pid, "choices": [0]})
    live = await t.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    assert live["poll"]["counts"] == [2, 0] and live["poll"]["hidden"] is True
    await b.wait_for("poll:results", lambda e: e["poll"]["voted"] == 2)
    assert all(p["counts"] == [] for p in _seen(a) + _seen(b))
    assert (await a.call("join", {"room": "r"}))["polls"][0]["counts"] == []
    assert (await t.call("join", {"room": "r"}))["polls"][0]["counts"] == [2, 0]
    await t.call("poll:close", {"room": "r", "poll": pid})
    closed = await a.wait_for("poll:closed")
    assert closed["poll"]["counts"] == [2, 0]


async def test_v1_polls_unchanged(server: Running, clients: Any) -> None:
    """A poll made as contract v2 makes it is a choice poll; its fields are all there."""
    t, a, _ = await _room(server.url, clients)
    poll = (await t.call("poll:create", {"room": "r", "question": "Q",
                                         "options": ["x", "y"]}))["poll"]
    assert poll["kind"] == "choice" and poll["hidden"] is False and "correct" not in poll
    created = await a.wait_for("poll:created")
    assert set(created["poll"]) >= {"id", "question", "options", "multiple", "anonymous",
                                    "open", "counts"}
    text = await a.call("poll:vote", {"room": "r", "poll": poll["id"], "text": "x"})
    assert text["error"]["code"] == "bad_request"


async def test_poll_kinds_across_two_processes(two: tuple[ServiceProcess, ServiceProcess]
                                               ) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher", name="Tea")
    a = await connect(p2.url, sub="ana", name="Ana")
    t2 = await connect(p2.url, sub="t2", role="teacher", name="Tia")
    try:
        for c in (t, a, t2):
            assert (await c.call("join", {"room": "r"}))["ok"]
        quiz = (await t.call("poll:create", {"room": "r", "question": "Q", "kind": "quiz",
                                             "options": ["x", "y"], "correct": [1],
                                             "hidden": True}))["poll"]["id"]
        text = (await t.call("poll:create", {"room": "r", "question": "Why?",
                                             "kind": "text"}))["poll"]["id"]
        other = await t2.wait_for("poll:created", lambda e: e["poll"]["id"] == quiz)
        assert other["poll"]["correct"] == [1]  # a teacher on the other process
        await a.wait_for("poll:created", lambda e: e["poll"]["id"] == text)
        await a.call("poll:vote", {"room": "r", "poll": quiz, "choices": [1]})
        await a.call("poll:vote", {"room": "r", "poll": text, "text": "because"})
        res = await t.wait_for("poll:results", lambda e: e["poll"]["id"] == text)
        assert res["poll"]["answers"][0]["text"] == "because"
        hq = await t.wait_for("poll:results", lambda e: e["poll"]["id"] == quiz)
        assert hq["poll"]["counts"] == [0, 1]
        await t.call("poll:publish", {"room": "r", "poll": text})
        await t.call("poll:reveal", {"room": "r", "poll": quiz})
        rev = await a.wait_for("poll:revealed")
        assert rev["poll"]["correct"] == [1] and rev["poll"]["counts"] == [0, 1]
        pub = await a.wait_for("poll:published")
        assert pub["poll"]["answers"] == ["because"]
        before = [p for p in _seen(a) if p["open"]]  # all but the closing and the reveal
        assert [p["id"] for p in before].count(quiz) == 2
        assert all("correct" not in p and p["counts"] == [] for p in before if p["id"] == quiz)
        assert [e["poll"]["answers"] for e in a.events["poll:results"]
                if e["poll"]["id"] == text] == [[]]
        scores = await t2.call("poll:scores", {"room": "r"})
        assert scores["scores"] == [{"id": "ana", "name": "Ana", "right": 1, "answered": 1}]
    finally:
        for c in (t, a, t2):
            await c.close()


async def test_a_users_answers_are_exported_and_erased(server: Running, clients: Any) -> None:
    """The privacy endpoints cover named polls: the export lists a pupil's answers, the
    erasure removes them (and a published copy only they gave); anonymous polls hold
    nothing that links to the pupil."""
    import json

    from .test_api import _get
    from .test_privacy_api import TEACHER_A, _send

    t, a, b = await _room(server.url, clients)
    text = (await t.call("poll:create", {"room": "r", "question": "Why?",
                                         "kind": "text"}))["poll"]["id"]
    choice = (await t.call("poll:create", {"room": "r", "question": "Q",
                                           "options": ["x", "y"]}))["poll"]["id"]
    anon = (await t.call("poll:create", {"room": "r", "question": "A", "anonymous": True,
                                         "options": ["x", "y"]}))["poll"]["id"]
    await a.call("poll:vote", {"room": "r", "poll": text, "text": "ana's reason"})
    await b.call("poll:vote", {"room": "r", "poll": text, "text": "ben's reason"})
    await a.call("poll:vote", {"room": "r", "poll": choice, "choices": [1]})
    await a.call("poll:vote", {"room": "r", "poll": anon, "choices": [0]})
    await t.call("poll:publish", {"room": "r", "poll": text})
    status, _, body = await _get(server.url + "/api/users/ana/export", TEACHER_A)
    assert status == 200
    answers = {x["poll"]: x for x in json.loads(body)["polls"]}
    assert set(answers) == {text, choice}
    assert answers[text]["text"] == "ana's reason" and answers[choice]["choices"] == ["y"]
    status, _, _ = await _send(server.url + "/api/users/ana/messages", "DELETE", TEACHER_A)
    assert status == 200
    published = await b.wait_for("poll:published", lambda e: e["poll"]["answers"] == [
        "ben's reason"])
    assert published["poll"]["voted"] == 1
    await b.wait_for("poll:results", lambda e: e["poll"]["id"] == choice
                     and e["poll"]["counts"] == [0, 0])
    assert json.loads((await _get(server.url + "/api/users/ana/export", TEACHER_A))[2])[
        "polls"] == []
    kept = {p["id"]: p for p in (await t.call("join", {"room": "r"}))["polls"]}
    assert kept[anon]["counts"] == [1, 0]  # anonymous: nothing to find, nothing erased


async def test_named_cloud_names_its_words_to_teachers_only(server: Running,
                                                            clients: Any) -> None:
    t, a, b = await _room(server.url, clients)
    pid = (await t.call("poll:create", {"room": "r", "question": "A word",
                                        "kind": "cloud"}))["poll"]["id"]
    await a.call("poll:vote", {"room": "r", "poll": pid, "text": "Sun"})
    seen = await t.wait_for("poll:results", lambda e: e["poll"]["id"] == pid)
    assert seen["poll"]["answers"][0]["name"] == "Ana"
    assert seen["poll"]["cloud"] == [["sun", 1]]
    theirs = await b.wait_for("poll:results", lambda e: e["poll"]["id"] == pid)
    assert "answers" not in theirs["poll"] and theirs["poll"]["cloud"] == [["sun", 1]]


async def test_scores_cover_the_lesson_since_its_last_end(server: Running, clients: Any) -> None:
    t, a, _ = await _room(server.url, clients)
    quiz = (await t.call("poll:create", {"room": "r", "question": "Q", "kind": "quiz",
                                         "options": ["x", "y"], "correct": [0]}))["poll"]["id"]
    await a.call("poll:vote", {"room": "r", "poll": quiz, "choices": [0]})
    await t.call("poll:reveal", {"room": "r", "poll": quiz})
    row = {"id": "ana", "name": "Ana", "right": 1, "answered": 1}
    assert (await t.call("poll:scores", {"room": "r"}))["scores"] == [row]
    assert (await t.call("mod:end", {"room": "r"}))["ok"]
    after = await t.call("poll:scores", {"room": "r"})
    assert after["scores"] == [] and after["quizzes"] == []
    everything = await t.call("poll:scores", {"room": "r", "all": True})
    assert everything["scores"] == [row]
    bad = await t.call("poll:scores", {"room": "r", "all": "yes"})
    assert bad["error"]["code"] == "bad_request"


async def test_store_applies_concurrent_poll_changes_each_to_the_current_poll(
        store: Store) -> None:  # noqa: F811
    """Two teachers publishing at once: each change applies to the poll as it is, none lost."""
    from rooms.polls import new_poll

    room = RoomRef("sp", "r")
    poll = new_poll("Why?", None, None, None, "t", store._clock.now_ms(), "text")  # type: ignore[attr-defined]
    await store.add_poll(room, poll)

    def adding(text: str) -> Any:
        return lambda p: replace(p, published=(*p.published, text))

    done = await asyncio.gather(*(store.update_poll(room, poll.id, adding(f"a{i}"))
                                  for i in range(10)))
    assert all(d is not None for d in done)
    kept = await store.poll(room, poll.id)
    assert kept is not None and sorted(kept.published) == sorted(f"a{i}" for i in range(10))
    assert await store.update_poll(room, "nope", adding("x")) is None
