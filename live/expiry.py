"""Connections that end with their token (contract v2 §1), from one timer.

A connection lives until its token's `exp` plus a clock leeway (`leeway_s`, at
most 5 s, the same the token check allows): then `on_expired(conn)` runs (the
edge sends `auth:expired` and closes the transport). `auth:renew` moves the
deadline to the new token's `exp`; a disconnect forgets it.

Cost: a connection holds one entry in a dict and one tuple in a heap of
deadlines; one `loop.call_at` timer waits for the earliest; a task runs only
while due connections are served. Moved or forgotten deadlines stay in the heap
until they come up (or until stale entries outnumber live ones, when the heap
is rebuilt), and are skipped.

Deadlines are wall-clock seconds (a token's `exp`), read from the clock the
token check reads: the system's (pyjwt's `time.time()`), not the service's
injected `rooms.clock.Clock`, which tests move to other years; tests of this
module inject their own `now`. The timer runs on the loop's monotonic clock and,
if the two drift apart, serves nothing early: it arms again for what is left.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

MAX_LEEWAY_S = 5.0
OnExpired = Callable[[str], Awaitable[None]]


class Deadlines:
    """When each connection's token runs out; `on_expired(conn)` at that moment."""

    def __init__(self, on_expired: OnExpired, leeway_s: float = MAX_LEEWAY_S,
                 now: Callable[[], float] = time.time) -> None:
        if not 0 <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"the token leeway must be 0 to {MAX_LEEWAY_S} s")
        self.now = now  # wall-clock seconds since the epoch
        self.leeway_s = leeway_s
        self._on_expired = on_expired
        self._deadline: dict[str, float] = {}  # conn -> wall-clock seconds
        self._heap: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # wall-clock deadline the timer is armed for
        self._task: asyncio.Task[None] | None = None
        self.expired = 0  # connections ended (for tests and logs)

    def __len__(self) -> int:
        return len(self._deadline)

    def deadline(self, conn: str) -> float | None:
        """When `conn` ends (wall-clock seconds), or None if it is not watched."""
        return self._deadline.get(conn)

    def watch(self, conn: str, exp: float) -> None:
        """End `conn` at `exp` (its token's, seconds since the epoch) plus the leeway."""
        at = exp + self.leeway_s
        self._deadline[conn] = at
        heapq.heappush(self._heap, (at, conn))
        if len(self._heap) > 2 * len(self._deadline) + 64:
            self._heap = [(t, c) for t, c in self._heap if self._deadline.get(c) == t]
            heapq.heapify(self._heap)
        self._arm()

    def forget(self, conn: str) -> None:
        """`conn` is gone: nothing happens at its deadline."""
        self._deadline.pop(conn, None)

    def due(self) -> list[str]:
        """The connections whose deadline has passed, taken off the watch."""
        now = self.now()
        out = []
        while self._heap and self._heap[0][0] <= now:
            at, conn = heapq.heappop(self._heap)
            if self._deadline.get(conn) == at:
                del self._deadline[conn]
                out.append(conn)
        return out

    def rearm(self) -> None:
        """Read the clock again (the wall clock jumped, or a test moved it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._arm()

    def close(self) -> None:
        """Stop the timer (the service stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        if self._task is not None:
            return  # serving: it arms the timer when it is done
        while self._heap and self._deadline.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # moved or forgotten
        if not self._heap:
            return
        first = self._heap[0][0]
        if self._timer is not None:
            if self._timer_at <= first:
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = first
        wait = max(0.0, first - self.now())
        self._timer = loop.call_at(loop.time() + wait, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._serve())

    async def _serve(self) -> None:
        try:
            for conn in self.due():
                self.expired += 1
                try:
                    await self._on_expired(conn)
                except Exception:
                    log.exception("ending an expired connection failed", extra={"conn": conn})
        finally:
            self._task = None
            self._arm()
