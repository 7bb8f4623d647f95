"""Optimistic read-modify-write in Redis: WATCH a key, read it, queue the new value in
MULTI/EXEC, and start again if another client changed the key in between (`WatchError`),
a bounded number of times before answering `Unavailable`.

A step gets the pipeline with the key watched; it reads, then either returns None
(nothing to change: the pipeline is reset on the way out, which unwatches) or calls
`p.multi()`, queues its writes, awaits `p.execute()` and returns what it wrote."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import WatchError

from rooms.errors import Unavailable

T = TypeVar("T")


async def rewrite(r: Redis, key: str, tries: int,
                  step: Callable[[Any], Awaitable[T | None]]) -> T | None:
    """What `step` returned on the first try no other client raced; `Unavailable` after
    `tries` races lost. Redis errors pass through to the caller."""
    for _ in range(tries):
        try:
            pipe: Any = r.pipeline(transaction=True)  # (multi() is untyped)
            async with pipe as p:
                await p.watch(key)
                return await step(p)
        except WatchError:
            continue
    raise Unavailable()
