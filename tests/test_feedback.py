"""The classroom feedback bar: presses reach the room's teachers as counts that fade after a
minute (the tally on the injected clock; the events over real Socket.IO clients, on both
stores and across two processes)."""

from __future__ import annotations

from typing import Any

from rooms.clock import FakeClock
from rooms.feedback import FADE_MS, FeedbackTally

from .stores import Backend
from .support import ServiceProcess, connect, run_server

ZERO = {"thumbs": 0, "slower": 0, "lost": 0, "louder": 0}


def test_tally_counts_members_and_fades_after_a_minute() -> None:
    clock = FakeClock()
    tally = FeedbackTally()
    t0 = clock.now_ms()
    tally.press("slower", "ana", t0)
    tally.press("slower", "ben", t0 + 1_000)
    tally.press("slower", "ana", t0 + 2_000)  # again: renews Ana's press, counts once
    tally.press("lost", "ana", t0 + 2_000)
    assert tally.counts(t0 + 2_000) == {**ZERO, "slower": 2, "lost": 1}
    assert tally.next_fade(t0 + 2_000) == t0 + 1_000 + FADE_MS  # Ben's press fades first
    assert tally.counts(t0 + 1_000 + FADE_MS) == {**ZERO, "slower": 1, "lost": 1}
    assert tally.counts(t0 + 2_000 + FADE_MS) == ZERO
    assert tally.next_fade(t0 + 2_000 + FADE_MS) is None and not tally.presses
    # a press heard late (from a slow process) never rolls a newer one back
    tally.press("louder", "cy", t0 + 5_000)
    tally.press("louder", "cy", t0 + 4_000)
    assert tally.next_fade(t0 + 5_000) == t0 + 5_000 + FADE_MS


async def test_teachers_see_counts_that_fade(backend: Backend, clients: Any) -> None:
    clock = FakeClock()
    async with run_server(backend.redis_url, clock=clock, rate_limits=False) as server:
        t = await clients(server.url, sub="t", role="teacher")
        assert (await t.call("join", {"room": "r"}))["feedback"] == ZERO
        a = await clients(server.url, sub="ana")
        b = await clients(server.url, sub="ben")
        for c in (a, b):
            join = await c.call("join", {"room": "r"})
            assert "feedback" not in join  # pupils do not see the counts
        assert (await a.call("feedback", {"room": "r", "kind": "slower"})) == {"ok": True}
        await b.call("feedback", {"room": "r", "kind": "slower"})
        await b.call("feedback", {"room": "r", "kind": "louder"})
        ev = await t.wait_for("feedback:counts", lambda e: e["counts"]["louder"] == 1)
        assert ev == {"room": "r", "counts": {**ZERO, "slower": 2, "louder": 1}}
        await a.round_trip()
        assert a.events["feedback:counts"] == [] and b.events["feedback:counts"] == []
        # a teacher coming in meanwhile gets the counts with the join
        t2 = await clients(server.url, sub="t2", role="teacher")
        assert (await t2.call("join", {"room": "r"}))["feedback"]["slower"] == 2
        # a minute later they have faded
        clock.advance(FADE_MS / 1000)
        assert (await t2.call("join", {"room": "other"}))["feedback"] == ZERO
        assert (await t.call("join", {"room": "r"}))["feedback"] == ZERO


async def test_bad_feedback_is_refused(live: Any, clients: Any) -> None:
    t = await clients(live.url, sub="t", role="teacher")
    await t.call("join", {"room": "r"})
    v = await clients(live.url, sub="v", role="visitor")
    await v.call("join", {"room": "r"})
    a = await clients(live.url, sub="ana")
    await a.call("join", {"room": "r"})

    async def code(c: Any, payload: Any) -> str:
        ack = await c.call("feedback", payload)
        return "ok" if ack["ok"] else str(ack["error"]["code"])

    assert await code(a, {"room": "r", "kind": "faster"}) == "bad_request"
    assert await code(a, {"room": "r"}) == "bad_request"
    assert await code(a, {"room": "nope", "kind": "lost"}) == "not_joined"
    assert await code(v, {"room": "r", "kind": "lost"}) == "forbidden"
    await t.round_trip()
    assert t.events["feedback:counts"] == []


async def test_feedback_across_two_processes(two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher")
    a = await connect(p2.url, sub="ana")
    try:
        await t.call("join", {"room": "r"})
        await a.call("join", {"room": "r"})
        assert (await a.call("feedback", {"room": "r", "kind": "lost"}))["ok"]
        ev = await t.wait_for("feedback:counts")
        assert ev["counts"]["lost"] == 1
    finally:
        await t.close()
        await a.close()
