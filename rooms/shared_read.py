"""Reads of one key that many callers want at once, done once for all of them.

Why: when a thousand members rejoin a room (a process restarted, a network blip), each
join reads the room's members and its last messages. Read one by one that is N reads of
a list that grows to N: O(N^2) work in the store and in decoding. Joins in flight at the
same time can share a read, provided the read each gets *began after it asked*: a joiner
must find itself in the members it is sent, and nothing stored before it asked may be
missing from the history it gets.

How: per key, at most one read runs. A caller who finds none running starts one and
gets its result. A caller who finds one running cannot use it (it began before this
caller asked); it waits for it to end and then shares the *next* read with every other
caller who arrived meanwhile: under a storm, two reads per round trip instead of one per
caller. The result is shared as is: callers must not mutate it.

A caller whose read cannot be shared (it began with the caller's own write, as a join
that enters and reads the room in one store call) runs it with `run_own` when no read of
the key is under way or promised (`idle`): it counts as the key's running read, so callers
arriving meanwhile wait for it and share the next one.

On failure: the caller who ran the read gets its error; those who were waiting to share
it read again by themselves, so one caller's cancellation (its connection closed) fails
nobody else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedRead(Generic[K, V]):
    def __init__(self, read: Callable[[K], Awaitable[V]]) -> None:
        self._read = read
        self._running: dict[K, asyncio.Future[V]] = {}  # key -> the read under way
        self._next: dict[K, asyncio.Future[V]] = {}  # key -> the read that starts after it

    async def get(self, key: K) -> V:
        shared = self._next.get(key)
        if shared is not None:  # the next read is already promised: share it
            return await self._share(key, shared)
        running = self._running.get(key)
        if running is None:
            return await self._run(key, asyncio.get_running_loop().create_future())
        # a read is under way but began before this caller asked: the next one is ours
        mine: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._next[key] = mine
        try:
            await asyncio.wait((running,))
        except BaseException:
            # this caller was cancelled: someone else (a later caller) may still share
            # `mine`; hand it over as a failed promise so they read by themselves
            if self._next.get(key) is mine:
                del self._next[key]
            _fail(mine, RuntimeError("the read's first caller was cancelled"))
            raise
        if self._next.get(key) is mine:
            del self._next[key]
        return await self._run(key, mine)

    def idle(self, key: K) -> bool:
        """No read of `key` is under way or promised."""
        return key not in self._running and key not in self._next

    async def run_own(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """Run `read`, a read of `key` that only this caller can use, as the key's
        running read (callers arriving meanwhile share the next one); call when `idle`."""
        return await self._run(key, asyncio.get_running_loop().create_future(), read)

    async def _run(self, key: K, fut: asyncio.Future[V],
                   read: Callable[[], Awaitable[V]] | None = None) -> V:
        self._running[key] = fut
        try:
            value = await (self._read(key) if read is None else read())
        except BaseException as exc:
            _fail(fut, exc)
            raise
        finally:
            if self._running.get(key) is fut:
                del self._running[key]
        if not fut.done():
            fut.set_result(value)
        return value

    async def _share(self, key: K, fut: asyncio.Future[V]) -> V:
        await asyncio.wait((fut,))
        if fut.cancelled() or fut.exception() is not None:
            return await self._read(key)  # read alone: its failure is this caller's own
        return fut.result()


def _fail(fut: asyncio.Future[V], exc: BaseException) -> None:
    if fut.done():
        return
    # a cancellation (BaseException) is the runner's own; the sharers just read again
    fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
    fut.exception()  # retrieved here: the sharers read again rather than see it
