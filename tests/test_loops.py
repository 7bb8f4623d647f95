"""Background loops (live/loops.py): capped backoff, and they stop when cancelled even
if a step swallows the cancellation (Python 3.11's timeouts can turn a cancel that
arrives as they expire into a TimeoutError, seen as a 120 s hang at shutdown)."""

from __future__ import annotations

import asyncio

import pytest

from live.loops import Backoff, every


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    b = Backoff(0.2, 1.0)
    assert [b.failed() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    b.reset()
    assert b.failed() == 0.2
    with pytest.raises(ValueError):
        Backoff(0, 1)


async def test_every_retries_failures_with_backoff() -> None:
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def step() -> None:
        calls.append(loop.time())
        if len(calls) < 4:
            raise RuntimeError("down")

    task = asyncio.create_task(every(0.01, step, name="test", cap=0.04))
    while len(calls) < 5:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[1] >= 0.019 and gaps[2] >= 0.039  # 0.01, 0.02, 0.04 after failures


async def test_a_swallowed_cancellation_still_stops_the_loop() -> None:
    entered = asyncio.Event()

    async def swallowing_step() -> None:
        entered.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise TimeoutError("a timeout that expired as the cancel came") from None

    task = asyncio.create_task(every(0.05, swallowing_step, name="test", cap=0.05))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_stopping_the_service_cancels_a_stubborn_task_again() -> None:
    from live.app import _stop, build
    from live.config import Config

    from .support import SECRET

    svc = build(Config(jwt_secret=SECRET))
    started = asyncio.Event()

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(30)  # swallows the first cancellation

    svc.tasks.append(asyncio.create_task(stubborn(), name="stubborn"))
    await started.wait()
    await asyncio.wait_for(_stop(svc), 10)
    assert all(t.done() for t in svc.tasks)
