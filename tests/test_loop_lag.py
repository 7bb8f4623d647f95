"""The event loop's lag (live/loop_lag.py): how late the loop runs what is due, the sign
of a process at its limit; observed on a real loop, and exported by the real service."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from live.loop_lag import watch_lag
from tests.support import connect, free_port, run_server


class Seen:
    """The observations, and a wait for the n-th."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._more = asyncio.Event()

    def __call__(self, lag: float) -> None:
        self.lags.append(lag)
        self._more.set()

    async def until(self, n: int) -> None:
        while len(self.lags) < n:
            self._more.clear()
            await asyncio.wait_for(self._more.wait(), 5)


async def test_a_blocked_loop_is_observed_as_lag_and_a_free_one_is_not() -> None:
    seen = Seen()
    watcher = asyncio.create_task(watch_lag(seen, period=0.02))
    try:
        await seen.until(3)  # a few periods of a loop with nothing else to do
        quiet = list(seen.lags)
        asyncio.get_running_loop().call_soon(time.sleep, 0.15)  # holds the loop 150 ms
        await seen.until(len(quiet) + 2)
    finally:
        watcher.cancel()
    blocked = seen.lags[len(quiet)]
    assert 0.12 <= blocked < 1.0, seen.lags  # the 150 ms, less what was left of the period
    assert min(quiet) >= 0.0
    assert min(quiet) < 0.12, quiet  # (a machine this busy would fail the tests anyway)


async def test_the_clock_can_be_given_and_lag_is_never_negative() -> None:
    # a clock that runs slower than the loop's: the sleep looks shorter than asked
    loop = asyncio.get_running_loop()
    seen = Seen()
    watcher = asyncio.create_task(
        watch_lag(seen, period=0.02, clock=lambda: loop.time() / 2))
    try:
        await seen.until(2)
    finally:
        watcher.cancel()
    assert seen.lags[:2] == [0.0, 0.0]


async def test_a_period_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError):
        await watch_lag(lambda _: None, period=0)


async def test_the_service_exports_its_loop_lag() -> None:
    metrics_port = free_port()
    async with run_server(metrics_port=metrics_port) as srv, aiohttp.ClientSession() as http:
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            body = ""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the first observation comes after 50 ms
                async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                    assert r.status == 200
                    body = await r.text()
                if "live_event_loop_lag_seconds_count 0.0" not in body:
                    break
                await asyncio.sleep(0.1)
        finally:
            await a.close()
    assert 'live_event_loop_lag_seconds_bucket{le="0.001"}' in body
    assert 'live_event_loop_lag_seconds_bucket{le="+Inf"}' in body
    count = next(line for line in body.splitlines()
                 if line.startswith("live_event_loop_lag_seconds_count"))
    assert float(count.split()[1]) >= 1, body
