"""Calls of one Lua script, sent to Redis in pipelines.

Why: a round trip per stored message costs a pool checkout, a write and a
read each (about 0.2 ms of this process's CPU with redis-py), and Redis
answers each on its own. Here the first call goes out at once, and the calls
made while a pipeline is in flight wait for it and then go together in the
next one: no added wait when the room is quiet, one write and one read for a
whole burst when it is busy (and Redis publishes the burst's messages in one
write to every subscribed process, which the fan-out then writes to each
member at once).

Order: calls are sent in the order they were made, on one connection, one
pipeline at a time, so Redis runs them in that order. A call enqueues before
its first suspension, so a caller that starts calls A then B (even without
awaiting A) gets A stored before B.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

Arg = bytes | str | int

MAX_BATCH = 256  # calls per pipeline


class ScriptPipeline:
    def __init__(self, redis: Redis, script: str) -> None:
        self._redis = redis
        self._script = redis.register_script(script)  # its sha, and SCRIPT LOAD
        self._pending: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]] = []
        self._running = False
        self.pipelines = 0  # sent (for tests)

    async def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((keys, args, fut))
        if not self._running:
            self._running = True
            asyncio.ensure_future(self._run())
        return await fut

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    results = await self._send(batch)
                except (RedisError, OSError) as exc:
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                except BaseException as exc:  # cancelled: nobody may wait forever
                    for _, _, fut in batch:
                        if not fut.done():
                            fut.set_exception(RedisError(repr(exc)))
                    raise
                for (_, _, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._running = False

    async def _send(
        self, batch: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]]
    ) -> list[Any]:
        results = await self._execute(batch)
        if any(isinstance(r, NoScriptError) for r in results):
            # Redis lost its scripts (a restart, SCRIPT FLUSH): a call that got NOSCRIPT
            # did not run, so loading the script and sending those again is safe
            await self._redis.script_load(self._script.script)
            again = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            redone = await self._execute([batch[i] for i in again])
            for i, r in zip(again, redone, strict=True):
                results[i] = r
        return results

    async def _execute(
        self, batch: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]]
    ) -> list[Any]:
        self.pipelines += 1
        sha = self._script.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        return results
