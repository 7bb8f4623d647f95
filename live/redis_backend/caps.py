"""Connection caps counted in Redis, across every process (issue #14 item 4).

Why: `live.caps.ConnectionCaps` counts in one process, so with N processes a user (or
an address) could hold N times its cap. Here each user's and each address's
connections are a Redis hash, process id -> connections held there
(`keys.caps_user`, `keys.caps_address`). One Lua script admits a connection: it sums
the hash and refuses at the cap, else counts one more for this process; another
releases it. Each process lists the hashes it counts in (`keys.proc_caps`).

A process that dies holds its counts until the store's reaper (store.py `heartbeat`,
the same lock and the same dead-process rule as presence) removes its field from every
hash it listed. Until then the admit script already skips the counts of a process
whose heartbeat (`keys.PROCS`) is older than `PROC_DEAD_MS`, so the tabs of a crashed
process reconnecting elsewhere are not refused for long.

On a Redis error the connection is counted in this process instead (fail open, as the
rate limits do: a teacher whose class cannot sign in during an outage would rather see
`unavailable` from the store than a cap); a release that fails is retried with the
next admit or release (each missed release once, however many retry at the same time), so
no count is left behind by an outage.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.clock import Clock
from rooms.identity import Identity

from ..caps import CapReached, ConnectionCaps, client_address
from . import keys

log = logging.getLogger(__name__)

# KEYS user hash, address hash, live:procs, this process's list; ARGV proc, per user,
# per address, heartbeats older than this (ms) are of dead processes.
# Returns 0 admitted, 1 user cap reached, 2 address cap reached.
ADMIT = """
local function held(key)
  local total = 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local proc = fields[i]
    local seen = redis.call('ZSCORE', KEYS[3], proc)
    if proc == ARGV[1] or not seen or tonumber(seen) >= tonumber(ARGV[4]) then
      total = total + tonumber(fields[i + 1])
    end
  end
  return total
end
if tonumber(ARGV[2]) > 0 and held(KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
if tonumber(ARGV[3]) > 0 and held(KEYS[2]) >= tonumber(ARGV[3]) then return 2 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('SADD', KEYS[4], KEYS[1], KEYS[2])
return 0
"""

# KEYS user hash, address hash, this process's list; ARGV proc.
RELEASE = """
for i = 1, 2 do
  if redis.call('HINCRBY', KEYS[i], ARGV[1], -1) <= 0 then
    redis.call('HDEL', KEYS[i], ARGV[1])
    redis.call('SREM', KEYS[3], KEYS[i])
  end
end
return 0
"""


class RedisConnectionCaps(ConnectionCaps):
    """`ConnectionCaps` counted in Redis for every process on it."""

    def __init__(self, redis: Redis, clock: Clock, proc_id: str, dead_ms: int,
                 per_user: int, per_address: int, trusted_proxies: list[str] | None = None,
                 enabled: bool = True) -> None:
        super().__init__(per_user, per_address, trusted_proxies, enabled)
        self._r = redis
        self._clock = clock
        self.proc_id = proc_id
        self._dead_ms = dead_ms
        self._admit = redis.register_script(ADMIT)
        self._release = redis.register_script(RELEASE)
        self._shared: dict[str, tuple[str, str]] = {}  # sid -> the hashes it is counted in
        self._unreleased: list[tuple[str, str]] = []  # releases Redis missed, retried
        self.fallbacks = 0

    async def admit(self, sid: str, who: Identity, environ: dict[str, Any]) -> None:
        if not self.enabled or not (self.per_user or self.per_address):
            return
        user, address = f"{who.space}\x00{who.sub}", client_address(environ, self.trusted)
        held = (keys.caps_user(user), keys.caps_address(address))
        try:
            await self._retry_releases()
            refused = await self._admit(
                keys=[*held, keys.PROCS, keys.proc_caps(self.proc_id)],
                args=[self.proc_id, self.per_user, self.per_address,
                      self._clock.now_ms() - self._dead_ms])
        except RedisError as exc:
            self.fallbacks += 1
            log.warning("connection counted in this process only: Redis unreachable",
                        extra={"conn": sid, "error": type(exc).__name__})
            self.admit_here(sid, user, address)
            return
        if refused:
            self.refused += 1
            cap = (f"at most {self.per_user} connections per user" if refused == 1
                   else f"at most {self.per_address} connections per address")
            raise CapReached(cap)
        self._shared[sid] = held

    async def release(self, sid: str) -> None:
        held = self._shared.pop(sid, None)
        if held is None:
            self.release_here(sid)
            return
        self._unreleased.append(held)
        try:
            await self._retry_releases()
        except RedisError as exc:
            log.warning("connection release deferred: Redis unreachable",
                        extra={"conn": sid, "error": type(exc).__name__})

    async def _retry_releases(self) -> None:
        """Release what Redis missed. Each entry is taken off the list before its await
        (and put back if Redis fails again), so admits and releases retrying at the same
        time release each entry once."""
        while self._unreleased:
            held = self._unreleased.pop(0)
            try:
                await self._release(keys=[*held, keys.proc_caps(self.proc_id)],
                                    args=[self.proc_id])
            except BaseException:
                self._unreleased.insert(0, held)
                raise

    async def close(self) -> None:
        await self._r.aclose()
