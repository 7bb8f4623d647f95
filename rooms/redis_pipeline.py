"""Calls of one Lua script, sent to Redis in pipelines.

Why: a round trip per stored message costs a pool checkout, a write and a
read each (about 0.2 ms of this process's CPU with redis-py), and Redis
answers each on its own. Here the first call goes out at once, and the calls
made while a pipeline is in flight wait for it and then go together in the
next one: no added wait when the room is quiet, one write and one read for a
whole burst when it is busy (and Redis publishes the burst's messages in one
write to every subscribed process, which the fan-out then writes to each
member at once).

Order: calls are sent in the order they were made, on the pipeline's own
connection, one pipeline at a time, so Redis runs them in that order. A call enqueues before
its first suspension, so a caller that starts calls A then B (even without
awaiting A) gets A stored before B.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int

MAX_BATCH = 256  # calls per pipeline
READ_SIZE = 1 << 16
REPLY_TIMEOUT_S = 2.0


class ScriptPipeline:
    def __init__(self, redis: Redis, script: str) -> None:
        self._redis = redis
        self._script = redis.register_script(script)  # its sha, and SCRIPT LOAD
        self._pending: list[tuple[Sequence[Arg], Sequence[Arg], asyncio.Future[Any]]] = []
        self._running = False
        self._conn: AbstractConnection | None = None  # this pipeline's own connection
        self._parser = hiredis.Reader()
        self._evalsha = b"EVALSHA", self._script.sha.encode()
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
        head = self._evalsha
        packed = b"".join([pack_command(head, len(keys), *keys, *args) for keys, args, _ in batch])
        try:
            return await self._round_trip(packed, len(batch))
        except (ConnectionError, OSError):
            # a connection gone stale (Redis restarted): the calls are idempotent, so
            # sending them again on a fresh connection is safe
            return await self._round_trip(packed, len(batch))

    async def _round_trip(self, packed: bytes, n: int) -> list[Any]:
        """Send `n` packed commands in one write on this pipeline's own connection and
        read their replies (an error reply is that command's result, not the batch's).
        redis-py opens the connection (URL, TLS, AUTH, SELECT); the replies are parsed
        here with hiredis, a socket read's worth at a time."""
        conn = self._conn
        if conn is None:
            conn = self._redis.connection_pool.make_connection()  # type: ignore[no-untyped-call]
            self._conn, self._parser = conn, hiredis.Reader()
        try:
            async with asyncio.timeout(REPLY_TIMEOUT_S):
                await conn.connect()
                stream: Any = conn._reader  # noqa: SLF001 (redis-py's StreamReader, see tests)
                writer: Any = conn._writer  # noqa: SLF001
                writer.write(packed)
                parser = self._parser
                results: list[Any] = []
                while len(results) < n:
                    reply = parser.gets()
                    if reply is False:
                        data = await stream.read(READ_SIZE)
                        if not data:
                            raise ConnectionError("Redis closed the connection")
                        parser.feed(data)
                    elif isinstance(reply, hiredis.ReplyError):
                        text = str(reply)
                        results.append(NoScriptError(text) if text.startswith("NOSCRIPT")
                                       else ResponseError(text))
                    else:
                        results.append(reply)
                return results
        except BaseException as exc:
            # whatever happened mid-stream, the replies can no longer be matched
            self._conn = None
            with contextlib.suppress(Exception):
                await conn.disconnect()
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError("no reply from Redis") from exc
            raise

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()


def pack_command(head: tuple[bytes, bytes], *args: Arg) -> bytes:
    """One command in RESP (an array of bulk strings), `head` (name and first argument)
    already encoded."""
    parts = [b"*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
             % (len(args) + 2, len(head[0]), head[0], len(head[1]), head[1])]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)
