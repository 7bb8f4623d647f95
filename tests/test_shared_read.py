"""Joins in flight at once share the room's reads, each read begun after its callers
asked (rooms/shared_read.py)."""

from __future__ import annotations

import asyncio

import pytest

from rooms.shared_read import SharedRead


class Source:
    """A store stand-in for the read function: a version bumped by each writer, a read
    that takes a while and returns the version it began at."""

    def __init__(self) -> None:
        self.version = 0
        self.reads = 0
        self.fail_next = 0
        self.gate: asyncio.Event | None = None

    async def read(self, key: str) -> tuple[str, int]:
        self.reads += 1
        seen = self.version
        if self.gate is not None:
            await self.gate.wait()
        else:
            await asyncio.sleep(0.01)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("store down")
        return key, seen


async def test_callers_in_flight_share_reads_that_began_after_they_asked() -> None:
    src = Source()
    shared = SharedRead(src.read)

    async def join() -> int:
        src.version += 1  # this caller's write (its presence entry)
        mine = src.version
        key, seen = await shared.get("r")
        assert key == "r"
        assert seen >= mine  # the read it got began after its write
        return seen

    got = await asyncio.gather(*[join() for _ in range(50)])
    assert src.reads == 2  # one running, one shared by the 49 that came meanwhile
    assert sorted(set(got)) == [1, 50]
    assert await shared.get("r") == ("r", 50)  # and a quiet caller reads by itself
    assert src.reads == 3


async def test_keys_are_read_apart() -> None:
    src = Source()
    shared = SharedRead(src.read)
    got = await asyncio.gather(shared.get("a"), shared.get("b"))
    assert got == [("a", 0), ("b", 0)]
    assert src.reads == 2


async def test_a_failed_read_fails_its_runner_and_the_sharers_read_by_themselves() -> None:
    src = Source()
    shared = SharedRead(src.read)
    src.gate = asyncio.Event()
    first = asyncio.ensure_future(shared.get("r"))
    await asyncio.sleep(0)
    waiting = [asyncio.ensure_future(shared.get("r")) for _ in range(3)]
    await asyncio.sleep(0)
    src.fail_next = 2  # the running read and the shared next one fail
    src.gate.set()
    with pytest.raises(ConnectionError):
        await first
    results = await asyncio.gather(*waiting, return_exceptions=True)
    # the next read's runner fails with it; the two sharing it read alone and get it
    assert sum(isinstance(r, ConnectionError) for r in results) == 1
    assert [r for r in results if not isinstance(r, BaseException)] == [("r", 0), ("r", 0)]


async def test_a_cancelled_caller_fails_nobody_else() -> None:
    src = Source()
    shared = SharedRead(src.read)
    src.gate = asyncio.Event()
    first = asyncio.ensure_future(shared.get("r"))  # runs the read
    await asyncio.sleep(0)
    second = asyncio.ensure_future(shared.get("r"))  # waits to run the next one
    await asyncio.sleep(0)
    third = asyncio.ensure_future(shared.get("r"))  # shares the next one
    await asyncio.sleep(0)
    second.cancel()  # its connection closed while it waited
    first.cancel()  # and the first one's during the read
    src.gate.set()
    assert await third == ("r", 0)
    for t in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await t
    assert await shared.get("r") == ("r", 0)  # nothing left behind


async def test_a_read_of_ones_own_runs_alone_and_those_coming_meanwhile_share_the_next() -> None:
    src = Source()
    shared = SharedRead(src.read)
    src.gate = asyncio.Event()
    assert shared.idle("r")

    async def own() -> tuple[str, int]:  # a join that enters and reads in one call
        src.version += 1
        return await src.read("r")

    mine = asyncio.ensure_future(shared.run_own("r", own))
    await asyncio.sleep(0)
    assert not shared.idle("r")  # the next join of the room waits for it

    async def join() -> tuple[str, int]:
        src.version += 1
        return await shared.get("r")

    later = [asyncio.ensure_future(join()) for _ in range(3)]
    await asyncio.sleep(0)
    src.gate.set()
    assert await mine == ("r", 1)
    assert await asyncio.gather(*later) == [("r", 4)] * 3  # one read, begun after them
    assert src.reads == 2 and shared.idle("r")


async def test_a_failed_read_of_ones_own_fails_only_its_caller() -> None:
    src = Source()
    shared = SharedRead(src.read)
    src.gate = asyncio.Event()

    async def own() -> tuple[str, int]:
        return await src.read("r")

    mine = asyncio.ensure_future(shared.run_own("r", own))
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(shared.get("r"))
    await asyncio.sleep(0)
    src.fail_next = 1
    src.gate.set()
    with pytest.raises(ConnectionError):
        await mine
    assert await waiting == ("r", 0)
    assert shared.idle("r")
