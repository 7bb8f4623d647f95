"""Faults injected for real: Redis restarts, SIGKILL and SIGTERM of service processes,
while clients keep sending. What was acked `ok` is in history afterwards, exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from typing import Any

import aiohttp
import pytest
import socketio
import websockets

from live.cli import SHUTDOWN_GRACE_S

from .rawsock import RawClient
from .support import Client, RedisServer, ServiceProcess, connect, token

pytestmark = pytest.mark.slow  # service processes killed, drained and restarted


class DurableRedis(RedisServer):
    """A redis-server that fsyncs every write, as a deployment with AOF would."""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.dir,
             "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import socket
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port),
                                                                         0.2):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")


class Sender:
    """Sends `chat:send` continuously on one or more lanes; records every answer."""

    def __init__(self, client: Client, name: str, lanes: int = 2, pause: float = 0.01) -> None:
        self.client, self.name, self.lanes, self.pause = client, name, lanes, pause
        self.acked: dict[str, str] = {}  # cid -> message id
        self.codes: dict[str, int] = {}
        self.lost: list[str] = []  # cids without an answer (connection gone)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> Sender:
        self._tasks = [asyncio.create_task(self._lane(k)) for k in range(self.lanes)]
        return self

    async def _lane(self, k: int) -> None:
        i = 0
        while not self._stop.is_set() and self.client.sio.connected:
            cid = f"{self.name}-{k}-{i}"
            i += 1
            try:
                ack = await self.client.call("chat:send",
                                             {"room": "r", "text": cid, "cid": cid}, timeout=3)
            except Exception:
                self.lost.append(cid)
                return
            code = "ok" if ack["ok"] else ack["error"]["code"]
            self.codes[code] = self.codes.get(code, 0) + 1
            if ack["ok"]:
                self.acked[cid] = ack["message"]["id"]
            await asyncio.sleep(self.pause)

    async def until(self, n_acked: int, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.acked) < n_acked:
            assert asyncio.get_running_loop().time() < deadline, (self.name, self.codes)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def full_history(c: Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = "0-0"  # from the oldest, forwards
    while True:
        page = await c.call("chat:history", {"room": "r", "limit": 100, "after": after})
        out += page["messages"]
        if not page["more"]:
            return out
        after = page["messages"][-1]["id"]


def exactly_once(history: list[dict[str, Any]], *senders: Sender) -> None:
    ids = [m["id"] for m in history]
    assert len(ids) == len(set(ids)), "a message is in history twice"
    cids = [m["cid"] for m in history]
    assert len(cids) == len(set(cids)), "a cid was stored twice"
    stored = {m["cid"]: m["id"] for m in history}
    for s in senders:
        for cid, mid in s.acked.items():
            assert stored.get(cid) == mid, f"acked {cid} ({mid}) missing from history"


async def test_sigkill_while_clients_send_nothing_acked_is_lost(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    a, b = await connect(p1.url, sub="a"), await connect(p2.url, sub="b")
    watcher = await connect(p2.url, sub="w")
    try:
        for c in (a, b, watcher):
            assert (await c.call("join", {"room": "r"}))["ok"]
        sa, sb = Sender(a, "a").start(), Sender(b, "b").start()
        await asyncio.gather(sa.until(20), sb.until(20))
        p1.kill(signal.SIGKILL)
        p1.wait()
        await sa.stop()  # a's lanes end as its connection dies
        before = len(sb.acked)
        await sb.until(before + 20)  # b, on the other process, goes on undisturbed
        # a reconnects to the survivor, resends what got no answer (same cid), catches up
        a2 = await connect(p2.url, sub="a")
        try:
            assert (await a2.call("join", {"room": "r"}))["ok"]
            for cid in sa.lost:
                ack = await a2.call("chat:send", {"room": "r", "text": cid, "cid": cid})
                assert ack["ok"]
                sa.acked[cid] = ack["message"]["id"]
            last_seen = a.events["chat:message"][-1]["id"]
            missed = await a2.call("chat:history", {"room": "r", "after": last_seen,
                                                    "limit": 100})
            seen = [m["id"] for m in a.events["chat:message"] + missed["messages"]]
            await sb.stop()
            history = await full_history(a2)
            exactly_once(history, sa, sb)
            # what a saw live plus what it caught up on is a prefix of history, in order
            assert seen == [m["id"] for m in history][:len(seen)]
            assert sb.codes.keys() == {"ok"}
            print(f"SIGKILL: {len(sa.acked)} + {len(sb.acked)} acked messages, "
                  f"{len(sa.lost)} resent after reconnect, {len(history)} in history once each")
        finally:
            await a2.close()
    finally:
        for c in (a, b, watcher):
            await c.close()


async def test_sigterm_drains_and_clients_reconnect_elsewhere(
        two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    reasons: list[str] = []
    a = Client(p1.url, token(sub="a"))
    a.sio.on("disconnect", lambda reason=None: reasons.append(str(reason)))
    await a.connect()
    # a hand-written client pipelines sends and reads every frame up to the close,
    # so each ack the service sent is counted (python-socketio's client may drop acks
    # that arrive just before a close)
    raw = await RawClient.open(p1.url, sub="r")
    sent: dict[int, str] = {}
    acks: dict[int, Any] = {}
    try:
        assert (await a.call("join", {"room": "r"}))["ok"]
        assert (await raw.call("join", {"room": "r"}, ack_id=0))["ok"]

        async def pipeline() -> None:
            i = 1
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    sent[i] = f"r-{i}"
                    await raw.send_packet(type=2, nsp="/", id=i, data=[
                        "chat:send", {"room": "r", "text": sent[i], "cid": sent[i]}])
                    i += 1
                    await asyncio.sleep(0.002)

        async def read_acks() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    p = await raw.recv_packet(timeout=10)
                    if p["type"] == 3:
                        acks[p["id"]] = p["data"][0]

        tasks = [asyncio.create_task(pipeline()), asyncio.create_task(read_acks())]
        while sum(1 for x in acks.values() if x["ok"]) < 50:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        p1.kill(signal.SIGTERM)
        code = await asyncio.get_running_loop().run_in_executor(
            None, p1.wait, SHUTDOWN_GRACE_S + 10)
        took = time.monotonic() - t0
        await asyncio.wait_for(tasks[1], 5)  # read everything up to the close
        tasks[0].cancel()
        assert code == 0
        # nothing was stuck, so it did not wait out the grace period (generous bound)
        assert took < SHUTDOWN_GRACE_S, f"exit took {took:.1f}s"
        assert isinstance(raw.ws.close_code, int) and raw.ws.close_code == 1000
        # the transport was closed, not the Socket.IO session, so clients reconnect
        # (python-socketio calls this "transport error", socket.io-client "transport close";
        # a Socket.IO DISCONNECT would be "server disconnect", with no reconnection)
        assert reasons == ["transport error"], reasons
        # no new connections on the stopped process
        with pytest.raises(socketio.exceptions.ConnectionError):
            await connect(p1.url, sub="late")
        a2 = await connect(p2.url, sub="r")
        try:
            assert (await a2.call("join", {"room": "r"}))["ok"]
            history = await full_history(a2)
            stored = {m["cid"]: m["id"] for m in history}
            assert len(stored) == len(history)
            ok = {sent[i]: x["message"]["id"] for i, x in acks.items() if x["ok"]}
            refused = [x["error"]["code"] for x in acks.values() if not x["ok"]]
            assert set(refused) <= {"unavailable"}
            # every acked message is stored, and every stored one was acked:
            # in-flight events finished and their acks went out before the close
            assert stored == ok
            print(f"SIGTERM: exit in {took:.2f}s; {len(ok)} acked ok, {len(refused)} refused "
                  f"while draining, {len(sent) - len(acks)} unanswered and none of them stored")
        finally:
            await a2.close()
    finally:
        await a.close()
        await raw.close()


async def readyz(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url + "/readyz") as r:
        return r.status


@pytest.mark.redis  # a durable redis-server of its own
async def test_redis_restart_mid_lesson_two_processes() -> None:
    redis = DurableRedis()
    redis.start()
    procs = [ServiceProcess(redis.url, env={"LIVE_RATE_LIMITS": "off"}) for _ in range(2)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        a, b = await connect(procs[0].url, sub="a"), await connect(procs[1].url, sub="b")
        async with aiohttp.ClientSession() as http:
            for c in (a, b):
                assert (await c.call("join", {"room": "r"}))["ok"]
            sa, sb = Sender(a, "a", pause=0.02).start(), Sender(b, "b", pause=0.02).start()
            await asyncio.gather(sa.until(10), sb.until(10))
            redis.stop()  # SIGKILL of redis-server
            for p in procs:
                assert await readyz(http, p.url) == 503
            unavailable = (sa.codes.get("unavailable", 0), sb.codes.get("unavailable", 0))
            deadline = asyncio.get_running_loop().time() + 10
            while (sa.codes.get("unavailable", 0) <= unavailable[0] + 3
                   or sb.codes.get("unavailable", 0) <= unavailable[1] + 3):
                assert asyncio.get_running_loop().time() < deadline, (sa.codes, sb.codes)
                await asyncio.sleep(0.02)
            assert a.sio.connected and b.sio.connected  # nobody was thrown out
            acked_before = (len(sa.acked), len(sb.acked))
            redis.start()
            for p in procs:  # ready again without restarting anything
                deadline = asyncio.get_running_loop().time() + 10
                while await readyz(http, p.url) != 200:
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.05)
            await asyncio.gather(sa.until(acked_before[0] + 10), sb.until(acked_before[1] + 10))
            await sa.stop()
            await sb.stop()
            # messages flow across processes again
            last_b = max(sb.acked.values())
            await a.wait_for("chat:message", lambda m: m["id"] == last_b, timeout=10)
            exactly_once(await full_history(a), sa, sb)
            assert set(sa.codes) | set(sb.codes) <= {"ok", "unavailable"}
            print(f"Redis restart: {len(sa.acked) + len(sb.acked)} acked, "
                  f"{sa.codes.get('unavailable', 0) + sb.codes.get('unavailable', 0)} "
                  "unavailable during the outage, none lost")
        await a.close()
        await b.close()
    finally:
        for p in procs:
            p.stop()
        redis.stop()
