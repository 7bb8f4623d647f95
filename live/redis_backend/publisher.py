"""The bus's room publishes (SPUBLISH), sent on one connection of their own, pipelined.

Why: through redis-py a publish cost this process about 90 µs of CPU here (a pool
checkout, the command packed through its encoders, the reply read through a
StreamReader and a task switch), and a reconnect storm publishes about one held batch
of `presence:join` per join. Here the publishes made in one turn of the event loop go
out in one write at its end, and the replies are parsed (hiredis) in the connection's
`data_received`, which settles the callers' futures: no task stands between Redis and
the callers. redis-py opens the connection (URL, TLS, AUTH, SELECT; with Sentinel, the
current primary: seam `redis-connection`), then this module drives its transport (a
`pipeline.Link`, as the script pipeline's).

Order: one connection, written in the order `spublish` was called, and Redis answers in
that order; a call returns once Redis answered all of its frames, as redis-py's did, so
what the caller does next (an APPEND on another connection, say) comes after.

Failure: a publish is at most once (never sent again: a lost `presence:join` costs
less than a doubled one, and the members of other processes catch up from the store).
A call fails with `ConnectionError` if the connection is lost or cannot be made before
Redis answered it, `TimeoutError` if no reply came for `reply_timeout_s` (the connection
is then dropped: its late replies could not be matched), `ResponseError` if Redis
refused one of its frames; the next call connects again. The bus logs the failure
(live/redis_backend/bus.py).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rooms.eventloop import running_loop

from .pipeline import Link, LinkHolder, open_link, pack_command, settle

REPLY_TIMEOUT_S = 2.0


@dataclass(slots=True)
class _Waiter:
    """One `spublish` call: its future and the replies it still waits for."""

    fut: asyncio.Future[None]
    left: int
    error: RedisError | None = None


class Publisher(LinkHolder):
    def __init__(self, redis: Redis, reply_timeout_s: float = REPLY_TIMEOUT_S) -> None:
        super().__init__()
        self._redis = redis
        self._timeout = reply_timeout_s
        self._unsent: list[bytes] = []  # commands not written yet
        self._unsent_waiters: list[_Waiter] = []
        self._due: deque[_Waiter] = deque()  # written on `_link`, replies awaited
        self._soon = False  # a flush is due at the end of this turn of the event loop
        self._timer: asyncio.TimerHandle | None = None
        self._replies = 0  # replies read (the reply timer looks for progress)
        self._closed = False
        self.writes = 0  # writes to Redis (for tests)

    async def spublish(self, channel: str, frames: Sequence[bytes]) -> None:
        """Each frame on `channel`, in order; returns once Redis answered them all."""
        if self._closed:
            raise ConnectionError("the publisher is closed")
        if not frames:
            return
        loop = running_loop()
        waiter = _Waiter(loop.create_future(), len(frames))
        head = (b"SPUBLISH", channel.encode())
        self._unsent += [pack_command(head, f) for f in frames]
        self._unsent_waiters.append(waiter)
        if not self._soon:  # at the end of this turn, with the publishes made in it
            self._soon = True
            loop.call_soon(self._flush_soon)
        await waiter.fut

    def _flush_soon(self) -> None:
        self._soon = False
        self._flush()

    def _flush(self) -> None:
        if not self._unsent:
            return
        link = self._usable_link()
        if link is None:
            return
        link.transport.write(b"".join(self._unsent))
        self.writes += 1
        self._due.extend(self._unsent_waiters)
        self._unsent, self._unsent_waiters = [], []
        if self._timer is None:
            self._arm(link)

    def _arm(self, link: Link) -> None:
        self._timer = running_loop().call_later(self._timeout, self._check, link, self._replies)

    def _check(self, link: Link, replies_then: int) -> None:
        """The reply timer: no reply for a whole timeout while some were due fails
        what waits on `link`, and drops it."""
        self._timer = None
        if link is not self._link or not self._due:
            return
        if self._replies != replies_then:  # replies came meanwhile: wait on
            self._arm(link)
            return
        self._link = None
        self._fail_due(RedisTimeoutError("no reply from Redis"))
        link.transport.abort()

    def on_reply(self, link: Link, reply: object) -> bool:
        """One reply read on `link`; false if none was awaited (the link is then cut)."""
        if link is not self._link or not self._due:
            return False
        self._replies += 1
        waiter = self._due[0]
        if isinstance(reply, ResponseError) and waiter.error is None:
            waiter.error = reply
        waiter.left -= 1
        if waiter.left == 0:
            self._due.popleft()
            settle(waiter.fut, waiter.error)
        return True

    def on_lost(self, link: Link) -> None:
        """`link` closed: what was written on it and not answered fails (maybe sent,
        maybe not: never sent twice); what is still to be written goes on a new one."""
        if link is not self._link:
            return
        self._link = None
        self._fail_due(ConnectionError("lost the connection to Redis"))
        self._flush()

    def _fail_due(self, error: RedisError) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due, self._due = self._due, deque()
        for waiter in due:
            settle(waiter.fut, error)

    def _fail_unsent(self, error: RedisError) -> None:
        waiters = self._unsent_waiters
        self._unsent, self._unsent_waiters = [], []
        for waiter in waiters:
            settle(waiter.fut, error)

    async def _connect(self) -> None:
        try:
            link = await open_link(self, self._redis, self._timeout)
            if self._closed:
                link.transport.close()
                return
            self._link = link
        except RedisError as exc:
            # nobody may wait for ever: what waits fails now; the next call tries again
            self._fail_unsent(exc)
        finally:
            self._connecting = None
        if self._closed:
            return
        self._flush()

    async def aclose(self) -> None:
        self._closed = True
        link, self._link = self._link, None
        closing = ConnectionError("the publisher is closed")
        self._fail_due(closing)
        self._fail_unsent(closing)
        if self._connecting is not None:
            self._connecting.cancel()
        if link is not None:
            link.transport.close()
