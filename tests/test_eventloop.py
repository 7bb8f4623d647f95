"""The running loop found without a system call (rooms/eventloop.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rooms.eventloop import running_loop


async def test_it_is_the_running_loop_and_asked_for_once() -> None:
    assert running_loop() is asyncio.get_running_loop()
    assert running_loop() is asyncio.get_running_loop()


def test_a_later_loop_and_another_threads_loop_are_their_own() -> None:
    async def found() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        return running_loop(), asyncio.get_running_loop()

    for _ in range(2):  # one loop after the other in this thread: the second is not the first
        mine, theirs = asyncio.run(found())
        assert mine is theirs
    seen: list[bool] = []

    async def in_thread(outer: asyncio.AbstractEventLoop) -> None:
        # the outer loop is still running, in the other thread: not this thread's loop
        seen.append(running_loop() is asyncio.get_running_loop() and running_loop() is not outer)

    async def outer() -> None:
        loop = asyncio.get_running_loop()
        assert running_loop() is loop
        t = threading.Thread(target=lambda: asyncio.run(in_thread(loop)))
        t.start()
        await asyncio.to_thread(t.join)
        assert running_loop() is loop

    asyncio.run(outer())
    assert seen == [True]


def test_no_loop_running_is_an_error_as_asyncio_says() -> None:
    with pytest.raises(RuntimeError):
        running_loop()
