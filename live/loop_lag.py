"""How late this process's event loop runs what is due: the operator's sign of a full process.

A process at classroom pace reaches its limit by its latency tail, not by a busy core: in
`run.py capacity` a process failed the 25 ms p99 at 74–87 % of its core
(loadtests/README.md, "A new boot"). What a member waits for on top of the work of their
own message is the event loop being busy with others' work; `watch_lag` measures exactly
that: it sleeps `period` again and again and observes, each time, how much later than asked
the loop woke it (`live_event_loop_lag_seconds`, a histogram). One process at classroom
pace: 160 rooms of 30 (p99 12 ms) had 0.2 % of its samples over 5 ms; 320 rooms (p99 36 ms,
over the limit) 7.0 % over 5 ms and 1.0 % over 10 ms. Add processes when more than ~1 % of a
process's samples are over 5 ms (docs/protocol.md). Node.js services export the same
signal (prom-client's `nodejs_eventloop_lag_seconds`).

Cost: one timer and one wake-up per `period` (50 ms: 20 samples a second, so that a scrape
every 15 s holds 300 and a tail of a few percent of the time shows), one histogram
observation each; ~15 µs of CPU per wake-up, 0.03 % of a core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PERIOD_S = 0.05
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


async def watch_lag(observe: Callable[[float], None], period: float = PERIOD_S,
                    clock: Callable[[], float] | None = None) -> None:
    """Observe, every `period` seconds, how late the loop woke a sleep of `period` (in
    seconds, never below 0), forever. `clock` is the running loop's by default: the clock
    its timers are scheduled on."""
    if period <= 0:
        raise ValueError("the period must be positive")
    now = clock or asyncio.get_running_loop().time
    while True:
        asked = now()
        await asyncio.sleep(period)
        observe(max(0.0, now() - asked - period))
