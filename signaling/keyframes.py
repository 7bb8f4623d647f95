"""Keyframe requests upstream, rate-limited and coalesced.

Subscribers ask for keyframes (their PLI/FIR, a new subscriber, a video that
resumes after mute or last-N). Each request reaches the publisher at most once
per `interval`; a request inside the interval is not lost but sent when it ends,
so the subscriber that asked still gets its keyframe soon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from rooms.clock import Clock

logger = logging.getLogger(__name__)


class Keyframer:
    def __init__(
        self,
        send: Callable[[], Awaitable[None]],
        *,
        clock: Clock,
        interval: float,
        label: str,
    ) -> None:
        self._send = send
        self._clock = clock
        self._interval = interval
        self._label = label
        self._last: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.sent = 0

    def request(self) -> None:
        if self._closed or self._timer is not None:
            return
        now = self._clock.monotonic()
        if self._last is None or now - self._last >= self._interval:
            self._fire()
        else:
            delay = self._interval - (now - self._last)
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._last = self._clock.monotonic()
        self.sent += 1
        task = asyncio.ensure_future(self._run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        try:
            await self._send()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Keyframer(%s) request failed", self._label)

    async def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
