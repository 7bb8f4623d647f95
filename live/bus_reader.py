"""The bus subscription: one Redis connection, read a socket-read at a time.

Why not redis-py's `PubSub`: it hands over one message per awaited call, so its
reader cannot tell which messages arrived together. When a room is busy, Redis
writes several of its messages to this connection at once; delivered as one
batch, the fan-out can give each member all of them in one write (one syscall,
one TCP segment) instead of one write per message. redis-py still opens the
connection (URL, TLS, AUTH, client name) and packs the commands; this module
only owns the read loop, parsing with hiredis.

Replies on a subscribed connection (RESP2) are arrays: `[b"smessage", channel,
data]`, `[b"message", channel, data]`, `[b"ssubscribe", channel, count]`,
`[b"pong", b""]`... A watchdog pings every `health_s` and closes a connection
that has said nothing for two intervals, so a silently dead Redis is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool

READ_SIZE = 1 << 16

Reply = list[Any]


class BusClosed(ConnectionError):
    """The subscription connection ended."""


class BusReader:
    def __init__(self, conn: AbstractConnection, health_s: float) -> None:
        self._conn = conn
        self._health_s = health_s
        self._parser = hiredis.Reader()
        self._heard = time.monotonic()
        self._watchdog: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, health_s: float = 5.0) -> BusReader:
        pool = ConnectionPool.from_url(url, socket_connect_timeout=2.0, socket_timeout=None)
        conn: AbstractConnection = pool.make_connection()  # type: ignore[no-untyped-call]
        await conn.connect()  # type: ignore[no-untyped-call]
        reader = cls(conn, health_s)
        reader._watchdog = asyncio.ensure_future(reader._watch())
        return reader

    @property
    def connected(self) -> bool:
        return bool(self._conn.is_connected)

    async def subscribe(self, *channels: str) -> None:
        await self._conn.send_command("SUBSCRIBE", *channels)

    async def ssubscribe(self, *channels: str) -> None:
        await self._conn.send_command("SSUBSCRIBE", *channels)

    async def sunsubscribe(self, *channels: str) -> None:
        await self._conn.send_command("SUNSUBSCRIBE", *channels)

    async def batches(self) -> AsyncIterator[list[Reply]]:
        """Every reply, a socket read's worth at a time, in order; ends by raising
        `BusClosed` when the connection does."""
        stream: Any = self._conn._reader  # redis-py's asyncio.StreamReader (see tests)
        if stream is None:
            raise BusClosed()
        parser = self._parser
        while True:
            try:
                data = await stream.read(READ_SIZE)
            except (OSError, AttributeError) as exc:
                raise BusClosed() from exc
            if not data:
                raise BusClosed()
            self._heard = time.monotonic()
            parser.feed(data)
            batch: list[Reply] = []
            while (reply := parser.gets()) is not False:
                if isinstance(reply, list):
                    batch.append(reply)
                elif isinstance(reply, hiredis.ReplyError):
                    raise BusClosed(str(reply))
            if batch:
                yield batch

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._health_s)
            if time.monotonic() - self._heard > 2 * self._health_s:
                await self.aclose()  # the reader then sees the end
                return
            with contextlib.suppress(Exception):
                await self._conn.send_command("PING")

    async def aclose(self) -> None:
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        with contextlib.suppress(Exception):
            await self._conn.disconnect()
