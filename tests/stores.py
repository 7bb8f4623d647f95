"""Both stores, one way to get them: what the `backend` and `make_store` fixtures hand out.

Every store suite runs once on the in-memory store and once on Redis (a real redis-server,
the session's, flushed for the test). The two sides differed only in the clock, the
retention and, on memory, the bus a test gives, so one factory takes those and builds the
store of the side the test runs on; the suites keep a three-line `store` fixture of their
own that says which clock and retention they need. Tests of a whole service take
`backend.redis_url` (None on memory) to `run_server`.

The Redis stores a test made are closed after it, in the order they were made; a store
that fails to close fails the test's teardown, and the ones after it stay open until the
process ends (the server is flushed before the next test anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from redis.asyncio import Redis

from live.redis_backend.store import RedisStore
from rooms.bus import Bus, LocalBus
from rooms.clock import Clock
from rooms.memory_store import MemoryStore
from rooms.store import Store

StoreKind = Literal["memory", "redis"]
STORE_KINDS: tuple[StoreKind, ...] = ("memory", "redis")  # also the test ids: [memory], [redis]


@dataclass(frozen=True)
class Backend:
    """The side a both-stores test runs on: `redis_url` is None on memory."""

    kind: StoreKind
    redis_url: str | None


@dataclass
class StoreMaker:
    """`make_store(clock, retention_ms)`: a store of the backend's kind. `bus` is the
    in-memory store's bus (a fresh LocalBus unless given; Redis stores publish through
    Redis); `proc_id` names the Redis store's process."""

    backend: Backend
    made: list[RedisStore] = field(default_factory=list)

    def __call__(self, clock: Clock, retention_ms: int, *, bus: Bus | None = None,
                 proc_id: str = "proc-a") -> Store:
        if self.backend.redis_url is None:
            return MemoryStore(clock, bus if bus is not None else LocalBus(), retention_ms)
        store = RedisStore(Redis.from_url(self.backend.redis_url), clock, retention_ms, proc_id)
        self.made.append(store)
        return store

    async def close(self) -> None:
        for store in self.made:
            await store.close()
