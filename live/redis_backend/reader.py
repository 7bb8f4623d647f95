"""The bus subscription: one Redis connection, its replies handed over as they are read.

Why not redis-py's `PubSub`: it hands over one message per awaited call, so its
reader cannot tell which messages arrived together, and each costs a wake-up of
the listening task. Here the connection's replies are parsed with hiredis in the
transport's `data_received` and handed, a socket read's worth at a time, to a
callback: when a room is busy Redis writes several of its messages at once, and
the fan-out gives each member all of them in one write (one syscall, one TCP
segment) without a task switch in between. redis-py still opens the connection
(URL, TLS, AUTH, client name; with Sentinel, the current primary: `client.pool`); this
module takes its transport over after that.

Replies on a subscribed connection (RESP2) are arrays: `[b"smessage", channel,
data]`, `[b"message", channel, data]`, `[b"ssubscribe", channel, count]`,
`[b"pong", b""]`... A watchdog pings every `health_s` and closes a connection
that has said nothing for two intervals, so a silently dead Redis is noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool

from ..seam import taken_over
from . import client
from .pipeline import pack_command

Reply = list[Any]
OnReplies = Callable[[list[Reply]], None]
OnLost = Callable[[BaseException | None], None]


class BusClosed(ConnectionError):
    """The subscription connection ended."""


class _Protocol(asyncio.Protocol):
    def __init__(self, reader: BusReader) -> None:
        self.reader = reader
        self.parser = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.heard = time.monotonic()
        parser = self.parser
        parser.feed(data)
        batch: list[Reply] = []
        while (reply := parser.gets()) is not False:
            if isinstance(reply, list):
                batch.append(reply)
            elif isinstance(reply, hiredis.ReplyError):
                reader.abort(BusClosed(str(reply)))
                return
        if batch:
            reader.on_replies(batch)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.lost(exc)


class BusReader:
    def __init__(self, pool: ConnectionPool, conn: AbstractConnection,
                 transport: asyncio.Transport, on_replies: OnReplies, on_lost: OnLost,
                 health_s: float) -> None:
        self._pool = pool  # kept: a sentinel pool's connections refer to it weakly
        self._conn = conn  # kept: redis-py closes the transport when it is collected
        self._transport = transport
        self.on_replies = on_replies
        self._on_lost = on_lost
        self._health_s = health_s
        self.heard = time.monotonic()
        self._ended = False
        self._watchdog: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, on_replies: OnReplies, on_lost: OnLost, *,
                   health_s: float = 5.0) -> BusReader:
        """Connect; from then on `on_replies` gets every reply batch and `on_lost` is
        called once when the connection ends (`BusClosed` if it was this side)."""
        pool = client.pool(url, socket_connect_timeout=2.0, socket_timeout=None)
        try:
            conn, transport = await taken_over(pool)
        except BaseException:
            with contextlib.suppress(Exception):
                await pool.aclose()
            raise
        reader = cls(pool, conn, transport, on_replies, on_lost, health_s)
        transport.set_protocol(_Protocol(reader))
        reader._watchdog = asyncio.ensure_future(reader._watch())
        return reader

    @property
    def connected(self) -> bool:
        return not self._ended

    def _send(self, *args: str) -> None:
        if self._ended:
            raise BusClosed()
        self._transport.write(pack_command((args[0].encode(), args[1].encode()), *args[2:]))

    async def subscribe(self, *channels: str) -> None:
        self._send("SUBSCRIBE", *channels)

    async def ssubscribe(self, *channels: str) -> None:
        self._send("SSUBSCRIBE", *channels)

    async def sunsubscribe(self, *channels: str) -> None:
        self._send("SUNSUBSCRIBE", *channels)

    def lost(self, exc: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._on_lost(exc)

    def abort(self, exc: BaseException) -> None:
        self.lost(exc)
        self._transport.abort()

    async def _watch(self) -> None:
        while not self._ended:
            await asyncio.sleep(self._health_s)
            if time.monotonic() - self.heard > 2 * self._health_s:
                self.abort(BusClosed("Redis went silent"))
                return
            with contextlib.suppress(Exception):
                self._transport.write(b"*1\r\n$4\r\nPING\r\n")

    async def aclose(self) -> None:
        self.lost(BusClosed("closed"))
        self._transport.close()
        with contextlib.suppress(Exception):  # (with Sentinel, its sentinel clients too)
            await self._pool.aclose()
