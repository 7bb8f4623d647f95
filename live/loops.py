"""Background loops: retried with capped exponential backoff, in one place.

Every loop of the service that can fail (a periodic step such as the heartbeat,
the retention sweep or the media placement refresh; a connection that must
come back, such as the bus listener) waits between attempts with a `Backoff`:
it doubles after each failure up to a cap and is reset by a success. Loops
re-raise `CancelledError` and log anything else with the names given, never a
message's content.

A loop also stops when its task is being cancelled although the step it was in
raised something else (`rooms.tasks.stop_if_cancelled`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.tasks import stop_if_cancelled

log = logging.getLogger(__name__)


class Backoff:
    """Delays between attempts: `first`, doubled after each failure, at most `cap`."""

    def __init__(self, first: float, cap: float) -> None:
        if first <= 0 or cap < first:
            raise ValueError("backoff needs 0 < first <= cap")
        self.first = first
        self.cap = cap
        self.delay = first

    def failed(self) -> float:
        """The delay to wait after a failure; the next one is longer, up to the cap."""
        delay = self.delay
        self.delay = min(self.delay * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.delay = self.first


async def every(period: float, step: Callable[[], Awaitable[Any]], *, name: str,
                cap: float, extra: dict[str, Any] | None = None) -> None:
    """Run `step` now and then every `period` seconds, forever; after a failure wait with
    a backoff that starts at `period` and doubles up to `cap`."""
    backoff = Backoff(period, max(cap, period))
    while True:
        try:
            await step()
            backoff.reset()
            delay = period
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_if_cancelled()
            delay = backoff.failed()
            log.warning("background step failed", extra={"step": name, "retry_s": delay,
                                                          **(extra or {})})
        await asyncio.sleep(delay)
