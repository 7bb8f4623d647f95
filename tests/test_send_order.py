"""A member's messages are stored in the order sent, also when Redis stalls while the
space's message filter is being read again (rooms/screening.py): the sends waiting for
that read must not overtake one another."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from rooms.clock import FakeClock
from rooms.identity import RoomRef
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
