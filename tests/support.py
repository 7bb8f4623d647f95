"""Test helpers: real redis-servers, real service processes, real clients.

Nothing here stands in for the thing under test: servers listen on loopback
ephemeral ports, clients speak Socket.IO v5 with the msgpack serializer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from live.app import Service, build
from live.config import Config
from live.tokens import mint
from rooms.clock import Clock
from rooms.identity import RoomRef

ROOT = Path(__file__).resolve().parent.parent
SECRET = "test-secret-" + "x" * 32
EVENTS = (
    "chat:message", "chat:deleted", "presence:join", "presence:leave", "presence:update",
    "typing", "poll:created", "poll:results", "poll:closed", "mod:muted", "mod:kicked",
    "room:locked", "rtc:stream", "rtc:ended", "rtc:paused", "mod:permissions", "chat:private",
    "room:settings", "room:resync", "auth:expired", "chat:reactions", "feedback:counts",
    "room:moved",
    "report:new", "report:resolved", "lobby:waiting", "lobby:done", "room:admitted",
    "room:refused", "room:ended", "room:lobby", "room:teacher_present",
    "filter:held", "filter:resolved", "filter:flagged", "filter:decided", "school:notice",
    "poll:voters", "poll:revealed", "poll:published",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def token(space: str = "space1", role: str = "student", sub: str = "u1", name: str | None = None,
          ttl: int = 3600, **extra: Any) -> str:
    return mint(SECRET, space=space, role=role, name=name or sub.title(), sub=sub, ttl=ttl,
                **extra)


class RedisServer:
    """A private redis-server on a free port; tests may stop and restart it."""

    def __init__(self, *args: str) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (scripts/bootstrap installs it)")
        self.exe = exe
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="live-redis-")
        self.args = args  # more options, e.g. ("--replicaof", "127.0.0.1", "6379")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "no", *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_listening(self.port, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str) -> str:
        import redis

        r = redis.Redis(port=self.port)
        try:
            return str(r.execute_command(*args))
        finally:
            r.close()

    def info(self, section: str) -> dict[str, Any]:
        import redis

        r = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            return dict(r.info(section))
        finally:
            r.close()


def _wait_listening(port: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not start")


class SentinelServer(RedisServer):
    """`redis-server --sentinel` on a free port, watching the primary `master` at
    127.0.0.1:`primary_port`: down after 500 ms, quorum 2 (of three), quick failovers."""

    def __init__(self, primary_port: int, master: str = "mymaster") -> None:
        super().__init__()
        self.master = master
        self.conf = Path(self.dir) / "sentinel.conf"  # sentinel rewrites it: one each
        self.conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode no\ndir {self.dir}\n"
            f"sentinel monitor {master} 127.0.0.1 {primary_port} 2\n"
            f"sentinel down-after-milliseconds {master} 500\n"
            f"sentinel failover-timeout {master} 3000\n"
            f"sentinel parallel-syncs {master} 1\n")

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, str(self.conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_listening(self.port, "redis-sentinel")

    def master_state(self) -> dict[str, Any]:
        """What this sentinel knows of the primary (`SENTINEL MASTER`)."""
        import redis

        r = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        try:
            return dict(r.sentinel_master(self.master))
        finally:
            r.close()


@dataclass
class RedisHA:
    """A primary, one replica and three sentinels, all on 127.0.0.1."""

    primary: RedisServer
    replica: RedisServer
    sentinels: list[SentinelServer]
    master: str = "mymaster"

    @classmethod
    def start(cls, master: str = "mymaster") -> RedisHA:
        primary = RedisServer("--repl-diskless-sync-delay", "0")
        replica = RedisServer("--repl-diskless-sync-delay", "0",
                              "--replicaof", "127.0.0.1", str(primary.port))
        ha = cls(primary, replica, [SentinelServer(primary.port, master) for _ in range(3)],
                 master)
        try:
            for server in [primary, replica, *ha.sentinels]:
                server.start()
        except BaseException:
            ha.stop()
            raise
        return ha

    @property
    def addresses(self) -> str:
        """The sentinels as `LIVE_REDIS_SENTINELS` names them."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def url(self) -> str:
        return f"redis+sentinel://{self.addresses}/{self.master}/0"

    async def settled(self, within: float = 30) -> None:
        """The replica is in sync and every sentinel knows it and the two others (a
        failover needs both)."""
        def ready() -> bool:
            if self.replica.info("replication").get("master_link_status") != "up":
                return False
            for s in self.sentinels:
                state = s.master_state()
                if int(state.get("num-slaves", 0)) < 1 or \
                        int(state.get("num-other-sentinels", 0)) < 2:
                    return False
            return True

        await eventually(ready, within, every=0.1)

    def named(self) -> tuple[RedisServer, RedisServer]:
        """(primary, replica) as the first sentinel names them now."""
        port = int(self.sentinels[0].master_state()["port"])
        if port == self.replica.port:
            return self.replica, self.primary
        return self.primary, self.replica

    def stop(self) -> None:
        for server in [*self.sentinels, self.replica, self.primary]:
            server.stop()


@dataclass
class Running:
    """A service under test: its base URL and, in process, its parts."""

    url: str
    svc: Service | None = None


OPENED = ("r",)  # the room most tests use, opened by a teacher before the test starts


async def open_rooms(url: str, *rooms: str, space: str = "space1",
                     supervised: bool = False) -> None:
    """Open rooms as a teacher does (`LIVE_ROOMS=teachers`): a teacher joins each and leaves.
    Unless `supervised`, the teacher also lifts the teacher-present rule for the room
    (`mod:supervised` off), so tests about other things may have pupils write alone."""
    c = await connect(url, space=space, role="teacher", sub="opener", name="Opener")
    try:
        for room in rooms:
            assert (await c.call("join", {"room": room}))["ok"]
            if not supervised:
                assert (await c.call("mod:supervised", {"room": room, "on": False}))["ok"]
            assert (await c.call("leave", {"room": room}))["ok"]
    finally:
        await c.close()


@contextlib.asynccontextmanager
async def run_server(redis_url: str | None = None, clock: Clock | None = None,
                     opened: Sequence[str] = OPENED,
                     **cfg_fields: Any) -> AsyncIterator[Running]:
    """The real service in this process, on 127.0.0.1 and an ephemeral port (no metrics
    port unless the test gives one: tests run side by side), with the rooms `opened`
    (`room` of `space1`, or `space/room`) opened as by a teacher who then lifted the
    teacher-present rule: written to the store as that teacher's join and `mod:supervised`
    would, without a member coming and going or an audit entry, which tests about other
    things do not expect."""
    cfg_fields.setdefault("metrics_port", 0)
    cfg = Config(jwt_secret=SECRET, redis_url=redis_url, port=0, **cfg_fields)
    svc = build(cfg, clock)
    runner = web.AppRunner(svc.app, handle_signals=False, access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        if cfg.rooms == "teachers":
            for name in opened:  # what a teacher's join and `mod:supervised` off store
                space, _, room = name.rpartition("/")
                ref = RoomRef(space or "space1", room)
                await svc.rooms.store.open_room(ref)
                await svc.rooms.store.set_flag(ref, "supervised", False)
        yield Running(f"http://127.0.0.1:{port}", svc)
    finally:
        await runner.cleanup()


async def wait_ready(proc: subprocess.Popen[bytes], url: str, output: Callable[[], str],
                     within: float) -> None:
    """Until the service `proc` started answers 200 on `url`/readyz; its `output()` in the
    error if it exits or is not ready `within` seconds."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"service exited: {output()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"service did not become ready: {output()}")


class ServiceProcess:
    """`twinspace-live serve` as a child process (for kills and restarts); no metrics port
    unless `env` or `args` give one. Once ready, the rooms `opened` are opened by a teacher
    (`open_rooms`; again at each start, which changes nothing)."""

    def __init__(self, redis_url: str | None, env: dict[str, str] | None = None,
                 args: list[str] | None = None, opened: Sequence[str] = OPENED) -> None:
        self.redis_url = redis_url
        self.opened = tuple(opened)
        self.port = free_port()
        self.env = {**os.environ, "LIVE_JWT_SECRET": SECRET, "LIVE_METRICS_PORT": "0",
                    **(env or {})}
        self.args = list(args or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="live-proc-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        args = [sys.executable, "-m", "live.cli", "serve", "--port", str(self.port)]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        args += self.args
        self.proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        await wait_ready(self.proc, self.url, self.output, within=20)
        if self.opened and self.env.get("LIVE_ROOMS", "teachers") != "open":
            await open_rooms(self.url, *self.opened)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Client:
    """A Socket.IO client that records every server event it receives.

    Waits fail after 10 s by default: long enough for a loaded machine, as they only
    detect what never comes; what must NOT come is asserted behind `round_trip` or a
    marker event, never after a fixed sleep."""

    url: str
    tok: str
    sio: socketio.AsyncClient = field(init=False)
    events: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        for name in EVENTS:
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            self.events[name].append(data)
            self._changed.set()
        return record

    async def connect(self) -> Client:
        await self.sio.connect(self.url, auth={"token": self.tok}, transports=["websocket"],
                               wait_timeout=5)
        return self

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def wait_for(self, event: str, pred: Any = None, timeout: float = 10) -> Any:
        """The first recorded `event` payload matching `pred` (waits for it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for item in self.events[event]:
                if pred is None or pred(item):
                    return item
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no {event} matching within {timeout}s: {self.events[event]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_count(self, event: str, n: int, timeout: float = 10) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events[event]) < n:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"{len(self.events[event])} of {n} {event} within {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return self.events[event]

    async def round_trip(self) -> None:
        """One call answered on this connection. A connection's frames arrive in the order
        they were written, so whatever the service wrote to it before answering has
        arrived by now: a barrier for asserting that an event did NOT come."""
        ack = await self.call("leave", {"room": "round-trip"})
        assert ack["ok"] is False and ack["error"]["code"] == "not_joined", ack

    def texts(self, event: str = "chat:message") -> list[str]:
        return [m["text"] for m in self.events[event]]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()
        # let python-socketio close its http session
        await asyncio.sleep(0)


async def connect(url: str, **tok: Any) -> Client:
    return await Client(url, token(**tok)).connect()


async def eventually(cond: Any, timeout: float = 5, every: float = 0.02) -> None:
    """Wait for a state the service exposes no event for (e.g. a socket being reaped)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)
