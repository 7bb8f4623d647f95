"""A member's messages (private messages, votes) are stored in the order sent (rooms/line.py),
also when Redis stalls while the space's message filter is being read again
(rooms/screening.py) or while the rate-limit bucket in Redis is asked: the events waiting
for a read or a bucket must not overtake one another, and one refused must not hold up
the ones after it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from live.limits import kind_of
from rooms.clock import FakeClock
from rooms.identity import RoomRef
from rooms.ratelimit import DEFAULT_RATES
from rooms.screening import REFRESH_MS

from .support import RedisServer, connect, eventually, run_server


async def _history(store: Any, room: RoomRef) -> list[Any]:
    out: list[Any] = []
    after = "0-0"
    while True:  # the whole history, oldest first
        page = await store.history(room, after=after, limit=100)
        if not page.messages:
            return out
        out += page.messages
        after = page.messages[-1].id


@pytest.mark.parametrize("stall_s", [1.0, 3.0])
async def test_sends_waiting_for_a_filter_read_keep_their_order(
        own_redis: RedisServer, clock: FakeClock, stall_s: float) -> None:
    """Four pupils send every 4 ms; Redis stops while the filter cache turns stale, so the
    sends read the filter again and wait. Stopped 1 s, the reads end late and in any order;
    stopped 3 s, some fail (`unavailable`) and the sends after them still go on. Either
    way no message is stored after a later one of its sender (before the fix: about 700
    of 1200 were)."""
    assert own_redis.proc is not None
    pid = own_redis.proc.pid
    async with run_server(own_redis.url, clock=clock, rate_limits=False) as srv:
        assert srv.svc is not None
        pupils = [await connect(srv.url, sub=f"p{k}") for k in range(4)]
        try:
            for p in pupils:
                assert (await p.call("join", {"room": "r"}))["ok"]
            acks: list[Any] = []

            async def send(k: int) -> None:
                for i in range(300):
                    await pupils[k].sio.emit(
                        "chat:send", {"room": "r", "text": f"m {i}", "cid": f"{k}.{i}"},
                        callback=acks.append)
                    await asyncio.sleep(0.004)

            async def stall() -> None:
                await asyncio.sleep(0.3)
                os.kill(pid, signal.SIGSTOP)
                try:
                    clock.advance(REFRESH_MS / 1000 + 1)  # the next send reads the filter again
                    await asyncio.sleep(stall_s)
                finally:
                    os.kill(pid, signal.SIGCONT)

            await asyncio.gather(stall(), *(send(k) for k in range(len(pupils))))
            await eventually(lambda: len(acks) == 300 * len(pupils), timeout=15)
            stored = await _history(srv.svc.store, RoomRef("space1", "r"))
            assert any(a.get("ok") for a in acks)
            if stall_s > 2:  # the reply timeout: reads failed, and the sends waiting on them
                assert any(a["error"]["code"] == "unavailable"
                           for a in acks if not a.get("ok"))
            last: dict[str, int] = {}
            overtaken = []
            for m in stored:
                seq = int(m.text.split()[1])
                if seq < last.get(m.user.id, -1):
                    overtaken.append((m.user.id, seq))
                last[m.user.id] = max(seq, last.get(m.user.id, -1))
            assert not overtaken, f"{len(overtaken)} of {len(stored)} stored after a later one"
        finally:
            for p in pupils:
                await p.close()


async def _three_sends_across_a_stall(redis: RedisServer, limiter: Any,
                                      emit: Callable[[int], Awaitable[None]]) -> None:
    """Emits events 0, 1 and 2 of one connection while Redis is stopped, timed so that
    the rate-limit bucket (in Redis) answers 2 before 1: 0's take times out (the reply
    timeout, then its one retry) and fails open to this process's buckets; 1, emitted
    0.5 s after 0, is still waiting for Redis then; 2, emitted once 0 failed open, is
    answered from this process's buckets at once (the limiter asks Redis again only
    `RETRY_S` later, and the test's clock stands still). Redis goes on 0.2 s after 2."""
    assert redis.proc is not None
    pid = redis.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await emit(0)
        await asyncio.sleep(0.5)
        await emit(1)
        await eventually(lambda: limiter.fallbacks >= 1, timeout=15)
        await emit(2)
        await asyncio.sleep(0.2)
    finally:
        os.kill(pid, signal.SIGCONT)


@pytest.mark.parametrize("event", ["chat:send", "chat:private", "poll:vote"])
async def test_a_late_rate_limit_answer_does_not_reorder_a_connection(
        own_redis: RedisServer, event: str) -> None:
    """Rate limits on, buckets in Redis: a connection's three messages (private messages,
    votes) are stored in the order sent although the bucket answers the third before the
    second (`_three_sends_across_a_stall`); each gets one ack. The limit was awaited
    before the connection took its place in line (before the fix: stored 0, 2, 1; the
    vote kept was the second)."""
    clock = FakeClock(int(time.time() * 1000))  # (Redis expires votes by the wall clock)
    async with run_server(own_redis.url, clock=clock) as srv:
        assert srv.svc is not None
        store = srv.svc.rooms.store
        t = await connect(srv.url, sub="t", role="teacher")
        p = await connect(srv.url, sub="p")
        try:
            for c in (t, p):
                assert (await c.call("join", {"room": "r"}))["ok"]
            sender, payload = p, {"room": "r"}
            if event == "chat:private":
                sender, payload = t, {"room": "r", "to": "p"}
            elif event == "poll:vote":
                created = await t.call("poll:create", {"room": "r", "question": "Q",
                                                       "options": ["a", "b", "c"]})
                assert created["ok"], created
                payload = {"room": "r", "poll": created["poll"]["id"]}
            acks: dict[int, list[Any]] = {0: [], 1: [], 2: []}

            async def emit(i: int) -> None:
                data = {**payload, "choices": [i]} if event == "poll:vote" else {
                    **payload, "text": f"m {i}", "cid": f"c{i}"}
                await sender.sio.emit(event, data, callback=acks[i].append)

            await _three_sends_across_a_stall(own_redis, srv.svc.rooms.buckets, emit)
            await eventually(lambda: all(acks.values()), timeout=15)
            await sender.round_trip()
            assert [len(a) for a in acks.values()] == [1, 1, 1], acks  # one ack each
            assert all(a[0]["ok"] for a in acks.values()), acks
            ref = RoomRef("space1", "r")
            if event == "chat:send":
                stored = [m.cid for m in await _history(store, ref)]
                assert stored == ["c0", "c1", "c2"]
            elif event == "chat:private":
                page = await store.private_page("space1", "r")
                assert [m.cid for m in page.messages] == ["c0", "c1", "c2"]
            else:
                poll = await store.poll(ref, payload["poll"])
                assert poll is not None and poll.counts() == [0, 0, 1]  # the last one sent
        finally:
            for c in (t, p):
                await c.close()


@pytest.mark.parametrize("event", ["chat:send", "chat:private", "poll:vote"])
async def test_a_refused_event_does_not_hold_up_the_ones_after_it(clock: FakeClock,
                                                                 event: str) -> None:
    """Sent back to back without waiting for acks: bad input and a rate-limited one
    between good ones. Each is answered, and the good ones after them go on (in order)."""
    async with run_server(clock=clock) as srv:  # rate limits on
        assert srv.svc is not None
        t = await connect(srv.url, sub="t", role="teacher")
        p = await connect(srv.url, sub="p")
        try:
            for c in (t, p):
                assert (await c.call("join", {"room": "r"}))["ok"]
            sender, good, bad = p, {"room": "r"}, {"room": "r", "text": "x", "cid": ""}
            if event == "chat:private":
                sender, good, bad = t, {"room": "r", "to": "p"}, {"room": "r", "to": "nobody",
                                                                  "text": "x", "cid": "x"}
            elif event == "poll:vote":
                created = await t.call("poll:create", {"room": "r", "question": "Q",
                                                       "options": ["a", "b", "c"]})
                good = {"room": "r", "poll": created["poll"]["id"]}
                bad = {**good, "choices": [7]}
            burst = int(DEFAULT_RATES[kind_of(event)].burst)
            # the bucket has 3 tokens left: good, bad, good, then rate limited, then one more
            # token (the clock moves once the third is answered)
            for i in range(burst - 3):
                data = {**good, "choices": [0]} if event == "poll:vote" else {
                    **good, "text": "warm-up", "cid": f"w{i}"}
                assert (await sender.call(event, data))["ok"]
            acks: list[list[Any]] = [[] for _ in range(4)]

            def data(i: int) -> dict[str, Any]:
                if event == "poll:vote":
                    return {**good, "choices": [i % 3]}
                return {**good, "text": f"m {i}", "cid": f"c{i}"}

            for i, payload in enumerate([data(0), bad, data(2), data(3)]):
                await sender.sio.emit(event, payload, callback=acks[i].append)
            await eventually(lambda: all(acks), timeout=10)
            clock.advance(1)  # one token more
            last = await sender.call(event, data(4))
            codes = ["ok" if a[0]["ok"] else a[0]["error"]["code"] for a in acks]
            assert codes[:3] == ["ok", "not_found" if event == "chat:private" else
                                 "bad_request", "ok"]
            assert codes[3] == "rate_limited" and last["ok"], (codes, last)
            store, ref = srv.svc.rooms.store, RoomRef("space1", "r")
            if event == "chat:send":
                stored = [m.cid for m in await _history(store, ref)]
                assert stored[-3:] == ["c0", "c2", "c4"]
            elif event == "chat:private":
                page = await store.private_page("space1", "r", limit=100)
                assert [m.cid for m in page.messages][-3:] == ["c0", "c2", "c4"]
            else:
                poll = await store.poll(ref, good["poll"])
                assert poll is not None and poll.counts() == [0, 1, 0]  # 4 % 3
        finally:
            for c in (t, p):
                await c.close()
