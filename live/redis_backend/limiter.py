"""Rate-limit buckets in Redis, shared by every process (issue #14 item 4).

Why: `rooms.ratelimit.Buckets` lives in one process, so with N processes behind a
balancer a user had N times the rate (and a client picking its backend could use
them all). Here one user's bucket of a kind is one Redis hash, `keys.rate(who, kind)`
(`t` tokens, `at` ms of the last take), updated by one Lua script per take: refill by
the time since `at`, take a token if there is one, and expire the key once the bucket
would be full again (a full bucket and no key are the same thing). One round trip per
event; the script is atomic, so two processes taking at once cannot both get the last
token. Time comes from the injected clock (wall-clock ms, the same on every host that
keeps NTP); a clock behind `at` refills nothing, never goes back.

On a Redis error the take fails open to this process's own `Buckets`: a Redis outage
already answers `unavailable` for whatever needs the store, and a teacher expects that
answer, not a "slow down" for something they did not do. Meanwhile a flood is still
limited per process (as before this module), and the in-flight cap per connection
still holds. After a failure Redis is asked again only `RETRY_S` later, so during an
outage an event does not wait for a connect timeout first. The fallbacks are counted
(`fallbacks`) and logged once per outage.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.errors import RateLimited
from rooms.ratelimit import DEFAULT_RATES, Buckets, Rate

from . import keys

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after a Redis error, this process's buckets alone for so long

# KEYS[1] the bucket; ARGV burst, tokens per second, now (ms). Returns 1: taken, 0: empty.
TAKE = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(held[1])
local at = tonumber(held[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return taken
"""


class RedisLimiter:
    """Token buckets keyed by (who, kind) in Redis; a disabled instance never limits."""

    def __init__(self, redis: Redis, clock: Clock, rates: dict[str, Rate] | None = None,
                 enabled: bool = True) -> None:
        self._r = redis
        self._clock = clock
        self._rates = rates or DEFAULT_RATES
        self.enabled = enabled
        self._take = redis.register_script(TAKE)
        self.local = Buckets(clock, self._rates, enabled)  # while Redis is unreachable
        self.fallbacks = 0
        self._failing = False
        self._retry_at = 0.0  # monotonic: while failing, Redis is not asked before this

    async def take(self, who: str, kind: str) -> None:
        if not self.enabled:
            return
        rate = self._rates[kind]
        if self._failing and self._clock.monotonic() < self._retry_at:
            self.fallbacks += 1
            self.local.take_now(who, kind)
            return
        try:
            taken = await self._take(keys=[keys.rate(who, kind)],
                                     args=[rate.burst, rate.per_second, self._clock.now_ms()])
        except RedisError as exc:
            self.fallbacks += 1
            self._retry_at = self._clock.monotonic() + RETRY_S
            if not self._failing:
                self._failing = True
                log.warning("rate limits held per process: Redis unreachable",
                            extra={"kind": kind, "error": type(exc).__name__})
            self.local.take_now(who, kind)
            return
        if self._failing:
            self._failing = False
            log.info("rate limits shared again through Redis")
        if not taken:
            raise RateLimited()

    async def close(self) -> None:
        await self._r.aclose()
