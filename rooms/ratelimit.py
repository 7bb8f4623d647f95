"""Per-member token buckets: people are never limited, floods are.

`Limiter` is what the edge takes a bucket from; `Buckets` keeps them in this process
(the memory backend, one process). With several processes the buckets must be shared,
or a user's rate multiplies with processes: the Redis backend's limiter
(live/redis_backend/limiter.py) keeps them in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .clock import Clock
from .errors import RateLimited


@dataclass(frozen=True, slots=True)
class Rate:
    burst: float  # bucket size
    per_second: float  # refill


# Tuned so that typing fast, clicking, reconnecting are never limited;
# a script sending in a loop is after a short burst.
DEFAULT_RATES: dict[str, Rate] = {
    "chat": Rate(20, 3),
    "typing": Rate(30, 5),
    "hand": Rate(20, 2),
    "join": Rate(30, 3),
    "read": Rate(60, 10),  # history pages
    "vote": Rate(30, 3),
    "delete": Rate(30, 3),  # a teacher clearing a burst of spam, one by one
    "report": Rate(5, 0.1),  # a pupil reporting a few messages at once, not a script
    "moderate": Rate(60, 10),
    "media": Rate(30, 3),  # publish, subscribe
    "signal": Rate(60, 10),  # the rest of rtc:* (an answer per subscription)
    "other": Rate(30, 3),  # any event without a kind of its own (live/limits.py)
    "api": Rate(30, 2),  # a teacher's calls to the HTTP API (live/api.py), exports included
}


class Limiter(Protocol):
    """Token buckets keyed by (who, kind); a disabled limiter never limits."""

    enabled: bool

    async def take(self, who: str, kind: str) -> None:
        """One token of `who`'s `kind` bucket, or `RateLimited`."""
        ...

    async def close(self) -> None: ...


class Buckets:
    """Token buckets keyed by (who, kind) in this process; a disabled instance never limits."""

    def __init__(
        self, clock: Clock, rates: dict[str, Rate] | None = None, enabled: bool = True
    ) -> None:
        self._clock = clock
        self._rates = rates or DEFAULT_RATES
        self.enabled = enabled
        self._state: dict[tuple[str, str], tuple[float, float]] = {}

    async def take(self, who: str, kind: str) -> None:
        self.take_now(who, kind)

    async def close(self) -> None:
        self._state.clear()

    def take_now(self, who: str, kind: str) -> None:
        """`take`, without waiting for anything."""
        if not self.enabled:
            return
        rate = self._rates[kind]
        now = self._clock.monotonic()
        tokens, at = self._state.get((who, kind), (rate.burst, now))
        tokens = min(rate.burst, tokens + (now - at) * rate.per_second)
        if tokens < 1:
            self._state[(who, kind)] = (tokens, now)
            raise RateLimited()
        self._state[(who, kind)] = (tokens - 1, now)

        if len(self._state) > 50_000:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled: they hold nothing worth keeping."""
        for key, (tokens, at) in list(self._state.items()):
            rate = self._rates[key[1]]
            if tokens + (now - at) * rate.per_second >= rate.burst:
                del self._state[key]
