from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any

import pytest
from playwright.async_api import Browser

from rooms.clock import FakeClock

from .browser import build_pages, chromium
from .stores import STORE_KINDS, Backend, StoreMaker
from .support import Client, RedisServer, Running, ServiceProcess, connect, run_server

# Markers follow from what a test uses, so they cannot drift from it: a redis-server
# (one of these fixtures, or `backend` on its "redis" side), headless
# Chromium, or `slow` things: several service processes, real WebRTC media (aiortc peers
# encoding and forwarding frames in real time). Tests that start these themselves, and
# the network-namespace tests (`media`), are marked where they are written.
REDIS_FIXTURES = {"redis_server", "redis_url", "own_redis", "two"}
SLOW_FIXTURES = {"two", "peers", "media"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """CPython 3.11.7: a finalizer run by the garbage collector in the middle of an
    `ast.parse` (pytest and hypothesis parse a test's source to show a failure or an xfail)
    can trip "AST constructor recursion depth mismatch" (python/cpython#106905), which ends
    the whole run. So before such a report, collect, and keep the collector off while it
    is made."""
    if call.excinfo is None:
        return (yield)
    gc.collect()
    gc.disable()
    try:
        return (yield)
    finally:
        gc.enable()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = list(callspec.params.values()) if callspec is not None else []
        if used & REDIS_FIXTURES or any(p == "redis" for p in params):
            item.add_marker(pytest.mark.redis)
        if "browser" in used:
            item.add_marker(pytest.mark.browser)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def pages_built() -> None:
    """The pages served are the build of the static/src in front of the reader."""
    build_pages()


@pytest.fixture(autouse=True)
def _current_pages(request: pytest.FixtureRequest) -> None:
    """Every Chromium test first rebuilds static/dist if its sources changed (once a session)."""
    if request.node.get_closest_marker("browser") is not None:
        request.getfixturevalue("pages_built")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session; flushed before each test that uses it."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.cli("FLUSHALL")
    return redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that kill or restart it."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=STORE_KINDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each test that uses it (itself or through `make_store` or `server`) runs on each
    store in turn: in memory, then Redis (the session's redis-server, flushed for it)."""
    if request.param == "memory":
        return Backend("memory", None)
    return Backend("redis", request.getfixturevalue("redis_url"))


@pytest.fixture
async def make_store(backend: Backend) -> AsyncIterator[StoreMaker]:
    """`make_store(clock, retention_ms, bus=..., proc_id=...)`: a store on the test's
    backend (tests/stores.py); the Redis ones are closed after the test."""
    maker = StoreMaker(backend)
    yield maker
    await maker.close()


@pytest.fixture
async def server(backend: Backend) -> AsyncIterator[Running]:
    """The service in this process, on each store in turn."""
    async with run_server(backend.redis_url, rate_limits=False) as running:
        yield running


@pytest.fixture
async def clients() -> AsyncIterator[Any]:
    """`await clients(url, sub=..., role=..., space=...)` opens a client closed after the test."""
    opened: list[Client] = []

    async def open_client(url: str, **tok: Any) -> Client:
        c = await connect(url, **tok)
        opened.append(c)
        return c

    yield open_client
    for c in opened:
        await c.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium, closed after the test."""
    async with chromium() as b:
        yield b


@pytest.fixture
async def live() -> AsyncIterator[Running]:
    """The service in this process (in-memory store, no rate limits) for page tests."""
    async with run_server(rate_limits=False) as running:
        yield running


@pytest.fixture
async def two(redis_url: str) -> AsyncIterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two service processes on one Redis (rate limits off)."""
    procs = [ServiceProcess(redis_url, env={"LIVE_RATE_LIMITS": "off"}) for _ in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    yield procs[0], procs[1]
    for p in procs:
        p.stop()
