"""Redis failover (issue #14, item 9): `ok: true` on chat:send means stored, on a
replica too when the primary has one, and the service follows the primary the
sentinels name.

Real servers only: a primary, a replica (`--replicaof`) and three sentinels
(`redis-server --sentinel`) on free loopback ports, service processes pointed at
the sentinels, Socket.IO clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import socketio
from redis.asyncio import Redis

from live.app import BACKENDS, open_backend
from live.config import Config
from live.redis_backend import client, keys, pipeline
from live.redis_backend.bus import RedisBus
from live.redis_backend.store import RedisStore
from rooms.clock import SystemClock
from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.message import Author
from rooms.store import DAY_MS

from .support import Client, RedisHA, RedisServer, ServiceProcess, connect, eventually

ROOM = RoomRef("space1", "r")
AUTHOR = Author("u1", "U1", "student")


# -- configuration --------------------------------------------------------------------
def test_the_sentinel_url_names_sentinels_primary_and_db() -> None:
    t = client.SentinelTarget.parse("redis+sentinel://:s3cret@a:26379,b:26380,[::1]:26381/main/2")
    assert t.sentinels == (("a", 26379), ("b", 26380), ("::1", 26381))
    assert (t.master, t.db, t.username, t.password) == ("main", 2, None, "s3cret")
    assert t.url() == "redis+sentinel://a:26379,b:26380,[::1]:26381/main/2"
    assert client.SentinelTarget.parse("redis+sentinel://a:1/m").db == 0
    for bad, says in [("redis+sentinel://a:1", "no primary"),
                      ("redis+sentinel:///m/0", "no sentinel"),
                      ("redis+sentinel://a/m/0", "host:port"),
                      ("redis+sentinel://a:x/m/0", "host:port"),
                      ("redis+sentinel://a:1/m/zero", "number")]:
        with pytest.raises(ValueError, match=says):
            client.SentinelTarget.parse(bad)


def test_sentinels_from_the_environment() -> None:
    cfg = Config.from_env({"LIVE_REDIS_SENTINELS": "s1:26379, s2:26379,s3:26379"})
    assert cfg.redis_url == "redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0"
    cfg = Config.from_env({"LIVE_REDIS_SENTINELS": "s1:26379", "LIVE_REDIS_MASTER": "live"})
    assert cfg.redis_url == "redis+sentinel://s1:26379/live/0"
    with pytest.raises(ValueError, match="not both"):
        Config.from_env({"LIVE_REDIS_SENTINELS": "s1:26379", "LIVE_REDIS_URL": "redis://r"})
    with pytest.raises(ValueError, match="host:port"):
        Config.from_env({"LIVE_REDIS_SENTINELS": "s1"})
    assert BACKENDS["redis+sentinel"] is BACKENDS["redis"]


def test_the_cli_refuses_a_sentinel_url_without_a_primary() -> None:
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "twinspace-live"
    done = subprocess.run([str(exe), "serve", "--port", "0", "--redis", "redis+sentinel://a:1"],
                          env={**os.environ, "LIVE_JWT_SECRET": "x" * 32}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "names no primary" in done.stderr


def test_replicas_in_sync_and_heard_from_count() -> None:
    info = ("# Replication\r\nrole:master\r\nconnected_slaves:3\r\n"
            "slave0:ip=10.0.0.2,port=6379,state=online,offset=10,lag=0\r\n"
            "slave1:ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=0\r\n"
            "slave2:ip=10.0.0.4,port=6379,state=online,offset=10,lag=11\r\n"
            "master_failover_state:no-failover\r\n")
    assert pipeline.online_replicas(info.encode()) == 1
    assert pipeline.online_replicas("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n") == 0


# -- acks wait for a replica ----------------------------------------------------------
@pytest.fixture
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica (no sentinels)."""
    primary = RedisServer("--repl-diskless-sync-delay", "0")
    primary.start()
    replica = RedisServer("--repl-diskless-sync-delay", "0",
                          "--replicaof", "127.0.0.1", str(primary.port))
    try:
        replica.start()
        yield primary, replica
    finally:
        if replica.proc is not None and replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGCONT)
        replica.stop()
        primary.stop()


async def _in_sync(primary: RedisServer, replica: RedisServer) -> None:
    await eventually(lambda: replica.info("replication").get("master_link_status") == "up"
                     and primary.info("replication").get("slave0", {}).get("state") == "online",
                     timeout=20, every=0.05)


@contextlib.asynccontextmanager
async def _store(url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(client.connect(url), SystemClock(), DAY_MS, "proc-a")
    try:
        yield store
    finally:
        await store.close()


def _waits(server: RedisServer) -> int:
    return int(server.info("commandstats").get("cmdstat_wait", {}).get("calls", 0))


@pytest.mark.redis
async def test_an_ack_waits_for_the_replica(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    await _in_sync(primary, replica)
    async with _store(primary.url) as store:
        done = await asyncio.gather(*(store.append(ROOM, AUTHOR, f"c{i}", f"m{i}")
                                      for i in range(20)))
        # acked: the replica has every one of them, read from the replica itself
        r = Redis(host="127.0.0.1", port=replica.port)
        try:
            on_replica = await r.xrange(keys.room(ROOM.key, "msgs"))
        finally:
            await r.aclose()
        assert sorted(rid.decode() for rid, _ in on_replica) == sorted(a.message.id for a in done)
        # one WAIT per pipeline (the calls made together went in few pipelines)
        assert 1 <= _waits(primary) == store._append.pipelines < 20
        assert store._append.unconfirmed == 0


@pytest.mark.redis
async def test_one_redis_gets_no_wait(redis_server: RedisServer, redis_url: str) -> None:
    async with _store(redis_url) as store:
        before = _waits(redis_server)
        for i in range(5):
            assert (await store.append(ROOM, AUTHOR, f"c{i}", f"m{i}")).created
        assert _waits(redis_server) == before


@pytest.mark.redis
async def test_a_message_no_replica_confirms_is_not_acked(
        pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    await _in_sync(primary, replica)
    async with _store(primary.url) as store:
        first = await store.append(ROOM, AUTHOR, "c0", "before")
        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)  # attached, but it confirms nothing
        with pytest.raises(Unavailable):
            await store.append(ROOM, AUTHOR, "c1", "unconfirmed")
        assert store._append.unconfirmed == 1
        replica.proc.send_signal(signal.SIGCONT)
        # the client resends with the same cid: the same message, now on the replica too
        again = await store.append(ROOM, AUTHOR, "c1", "unconfirmed")
        assert not again.created
        page = await store.history(ROOM)
        assert [m.cid for m in page.messages] == ["c0", "c1"]
        assert page.messages[0].id == first.message.id
        assert page.messages[1].id == again.message.id


@pytest.mark.redis
async def test_a_replica_silent_too_long_is_not_waited_for(
        pair: tuple[RedisServer, RedisServer], monkeypatch: pytest.MonkeyPatch) -> None:
    primary, replica = pair
    monkeypatch.setattr(pipeline, "REPLICA_MAX_LAG_S", 2)
    monkeypatch.setattr(pipeline, "REPLICAS_CHECK_S", 0.0)  # asked before every pipeline
    await _in_sync(primary, replica)
    async with _store(primary.url) as store:
        await store.append(ROOM, AUTHOR, "c0", "confirmed")
        waits = _waits(primary)
        assert waits >= 1
        assert replica.proc is not None
        replica.proc.send_signal(signal.SIGSTOP)
        # once the primary has not heard from it for longer than the lag allowed, the
        # primary alone acks (Redis's own min-replicas-max-lag idea), without a WAIT
        await eventually(lambda: int(primary.info("replication")["slave0"]["lag"]) > 2,
                         timeout=20, every=0.1)
        assert (await store.append(ROOM, AUTHOR, "c1", "alone")).created
        assert _waits(primary) == waits


@pytest.mark.redis
async def test_a_demoted_primary_is_left(pair: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = pair
    await _in_sync(primary, replica)
    async with _store(primary.url) as store:
        await store.append(ROOM, AUTHOR, "c0", "stored")
        # the primary becomes a replica (what a failover does to a primary that comes
        # back): its answer is READONLY; the pipeline drops the connection and sends the
        # call once more on a new one (with Sentinel: to the new primary; here the same
        # server, which refuses again: unavailable, not a hang)
        replica.cli("REPLICAOF", "NO", "ONE")
        primary.cli("REPLICAOF", "127.0.0.1", str(replica.port))
        await eventually(lambda: primary.info("replication").get("master_link_status") == "up",
                         timeout=20, every=0.05)
        with pytest.raises(Unavailable):
            await store.append(ROOM, AUTHOR, "c1", "refused")
        assert store._append.resent == 1


@pytest.mark.redis
async def test_a_probe_without_an_answer_fails_the_waiting_calls(
        own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "REPLICAS_CHECK_S", 0.0)  # asked before every pipeline
    monkeypatch.setattr(pipeline, "REPLY_TIMEOUT_S", 0.5)
    async with _store(own_redis.url) as store:
        await store.append(ROOM, AUTHOR, "c0", "stored")
        assert own_redis.proc is not None
        own_redis.proc.send_signal(signal.SIGSTOP)  # connected, answering nothing
        try:
            with pytest.raises(Unavailable):
                await store.append(ROOM, AUTHOR, "c1", "waits for the probe")
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        assert (await store.append(ROOM, AUTHOR, "c1", "again")).created


@pytest.mark.redis
async def test_a_server_without_info_acks_on_the_primary_alone() -> None:
    server = RedisServer("--rename-command", "INFO", "INFO-RENAMED")
    server.start()
    try:
        async with _store(server.url) as store:
            assert (await store.append(ROOM, AUTHOR, "c0", "stored")).created
            assert store._append._replicas == 0
    finally:
        server.stop()


@pytest.mark.redis
@pytest.mark.slow  # five redis-servers and a failover: seconds
async def test_every_connection_follows_a_failover() -> None:
    """In this process: the store, its pipeline and the bus (publish client and
    subscription) on a sentinel URL, through a failover the sentinels make."""
    ha = RedisHA.start()
    try:
        await ha.settled()
        store, bus = open_backend(Config(redis_url=ha.url), SystemClock(), "proc-a")
        assert isinstance(store, RedisStore) and isinstance(bus, RedisBus)
        got: list[Any] = []
        bus.bind(got.extend)
        try:
            await bus.start()
            await bus.attach(ROOM.key)
            assert (await store.append(ROOM, AUTHOR, "c0", "before")).created
            old, new = ha.named()
            ha.sentinels[0].cli("SENTINEL", "FAILOVER", ha.master)  # the replica is promoted
            # done once the old primary is a replica: until then it still takes writes, which
            # its demotion then discards (docs/protocol.md, "Redis failover")
            await eventually(lambda: new.info("replication")["role"] == "master"
                             and old.info("replication")["role"] == "slave"
                             and ha.named()[0] is new, timeout=30, every=0.1)

            async def stored(cid: str) -> bool:
                with contextlib.suppress(Unavailable):
                    await store.append(ROOM, AUTHOR, cid, cid)
                    return True
                return False

            deadline = asyncio.get_running_loop().time() + 30
            while not await stored("c1"):  # unavailable while there is no primary
                assert asyncio.get_running_loop().time() < deadline, "never stored after failover"
            r = Redis(host="127.0.0.1", port=new.port)
            try:
                rows = await r.xrange(keys.room(ROOM.key, "msgs"))
            finally:
                await r.aclose()
            assert len(rows) == 2
            await eventually(lambda: any(e.payload.get("cid") == "c1" for e in got), timeout=20)
            assert await store.ping() and await bus.ping()
        finally:
            await bus.close()
            await store.close()
    finally:
        ha.stop()


# -- the whole service through a failover ---------------------------------------------
class Senders:
    """Clients sending continuously, each resending a cid until it is acked."""

    def __init__(self, clients: dict[str, Client]) -> None:
        self.clients = clients
        self.acked: dict[str, dict[str, str]] = {tag: {} for tag in clients}  # cid -> id
        self.refused = 0
        self.changed = asyncio.Condition()
        self.stop = asyncio.Event()

    async def run(self, tag: str) -> None:
        c, i = self.clients[tag], 0
        while not self.stop.is_set():
            cid = f"{tag}{i}"
            try:
                ack = await c.call("chat:send", {"room": "r", "text": cid, "cid": cid},
                                   timeout=10)
            except socketio.exceptions.TimeoutError:
                continue  # not acked: the same cid again
            if ack["ok"]:
                async with self.changed:
                    self.acked[tag][cid] = ack["message"]["id"]
                    self.changed.notify_all()
                i += 1
            else:
                assert ack["error"]["code"] == "unavailable", ack
                self.refused += 1
            await asyncio.sleep(0.01)  # pacing the load, not waiting for anything

    async def until_each(self, n: int, within: float) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: all(len(a) >= n for a in self.acked.values()))


async def _ready(url: str) -> bool:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as r:
        return r.status == 200


async def _history(c: Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before = None
    while True:
        page = await c.call("chat:history", {"room": "r", "limit": 100, "before": before})
        assert "messages" in page, page
        out = page["messages"] + out
        if not page["more"]:
            return out
        before = page["messages"][0]["id"]


@pytest.mark.redis
@pytest.mark.slow
async def test_acked_messages_survive_killing_the_primary() -> None:
    ha = RedisHA.start()
    procs: list[ServiceProcess] = []
    opened: list[Client] = []
    try:
        await ha.settled()
        procs = [ServiceProcess(ha.url, env={"LIVE_RATE_LIMITS": "off"}),
                 ServiceProcess(None, env={"LIVE_RATE_LIMITS": "off",
                                           "LIVE_REDIS_SENTINELS": ha.addresses,
                                           "LIVE_REDIS_MASTER": ha.master})]
        await asyncio.gather(*(p.start() for p in procs))
        pids = [p.proc.pid for p in procs if p.proc is not None]
        a = await connect(procs[0].url, sub="a")
        opened.append(a)
        b = await connect(procs[1].url, sub="b")
        opened.append(b)
        for c in (a, b):
            assert (await c.call("join", {"room": "r"}))["ok"]

        sentinel = Redis(host="127.0.0.1", port=ha.sentinels[0].port)
        switch = sentinel.pubsub()
        await switch.subscribe("+switch-master")
        senders = Senders({"a": a, "b": b})
        tasks = [asyncio.create_task(senders.run(tag)) for tag in ("a", "b")]
        try:
            await senders.until_each(20, within=20)
            primary, _ = ha.named()
            assert primary.proc is not None
            primary.proc.kill()  # SIGKILL, mid-stream
            primary.proc.wait()
            primary.proc = None
            before = {tag: len(acked) for tag, acked in senders.acked.items()}

            async def switched() -> None:
                while True:
                    msg = await switch.get_message(ignore_subscribe_messages=True, timeout=1)
                    if msg is not None:
                        return

            await asyncio.wait_for(switched(), 40)
            # the clients go on, now on the new primary
            await senders.until_each(max(before.values()) + 20, within=30)
            last_a = max(senders.acked["a"], key=lambda cid: int(cid[1:]))
            # the bus follows too: b (on the other process) gets a's latest message
            await b.wait_for("chat:message", lambda m: m["cid"] == last_a, timeout=20)
        finally:
            senders.stop.set()
            await asyncio.gather(*tasks)
            await switch.aclose()
            await sentinel.aclose()

        # no process restarted; readiness came back on its own
        assert [p.proc.poll() if p.proc else "gone" for p in procs] == [None, None]
        assert [p.proc.pid for p in procs if p.proc is not None] == pids
        for p in procs:
            await eventually_async(lambda p=p: _ready(p.url), within=20)

        history = await _history(a)
        by_cid: dict[tuple[str, str], list[str]] = {}
        for m in history:
            by_cid.setdefault((m["user"]["id"], m["cid"]), []).append(m["id"])
        assert all(len(ids) == 1 for ids in by_cid.values()), "a cid stored twice"
        for tag, acked in senders.acked.items():
            for cid, mid in acked.items():
                assert by_cid.get((tag, cid)) == [mid], f"acked {tag}/{cid} is not in history"
        assert sum(len(a) for a in senders.acked.values()) >= 80
        print(f"failover: {sum(len(a) for a in senders.acked.values())} acked, "
              f"{senders.refused} answered unavailable (resent), {len(history)} in history")
    finally:
        for c in opened:
            await c.close()
        for p in procs:
            p.stop()
        ha.stop()


async def eventually_async(cond: Any, within: float, every: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        with contextlib.suppress(aiohttp.ClientError, OSError):
            if await cond():
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not ready within {within}s")
        await asyncio.sleep(every)
