"""Moderation and chat that hold through a bus hiccup (issue #14, items 5-7).

The bus is made to fail for real: a Redis ACL user of the process's own loses the right to
subscribe (its subscription connection is refused, everything else works), or loses the
right to read a stream (replay fails), or redis-server is paused (SIGSTOP) mid-leave.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest

from live.redis_backend import client as redis_client
from live.redis_backend.store import RedisStore
from rooms.clock import SystemClock
from rooms.identity import RoomRef
from rooms.presence import Departure, Member

from .support import RedisServer, Running, ServiceProcess, connect, eventually, run_server

USER = "proc2"  # the ACL user of the process whose bus is made to fail


def acl_user(redis: RedisServer, *rules: str) -> str:
    """(Re)define the ACL user; the URL the process connects with."""
    redis.cli("ACL", "SETUSER", USER, "on", ">pw", "~*", "&*", "+@all", *rules)
    return f"redis://{USER}:pw@127.0.0.1:{redis.port}/0"


async def readyz(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as r:
        return r.status


async def until_ready(url: str, status: int, within: float = 20) -> None:
    """Wait for /readyz to answer `status` (a process still starting does not answer)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            got: int | None = await readyz(url)
        except aiohttp.ClientError:
            got = None
        if got == status:
            return
        assert asyncio.get_running_loop().time() < deadline, f"/readyz stayed {got}"
        await asyncio.sleep(0.05)


async def _code(client: Any, event: str, payload: Any) -> str:
    ack = await client.call(event, payload)
    return "ok" if ack["ok"] else str(ack["error"]["code"])


# -- item 7c: teachers are never targets; mutes need a member -----------------------------

async def test_no_teacher_can_be_muted_or_banned_present_or_not(server: Running,
                                                                clients: Any) -> None:
    t = await clients(server.url, sub="t", role="teacher")
    assert (await t.call("join", {"room": "r"}))["ok"]
    t2 = await clients(server.url, sub="t2", role="teacher")
    assert (await t2.call("join", {"room": "other"}))["ok"]  # a teacher of the space
    assert (await t2.call("leave", {"room": "other"}))["ok"]
    for event, payload in (("mod:mute", {"what": "all", "muted": True}),
                           ("mod:mute", {"what": "chat", "muted": True}),
                           ("mod:kick", {"ban_minutes": 60}), ("mod:kick", {})):
        assert await _code(t, event, {"room": "r", "user": "t2", **payload}) == "forbidden"
    assert (await t2.call("join", {"room": "r"}))["ok"]
    assert (await t2.call("chat:send", {"room": "r", "text": "still here", "cid": "1"}))["ok"]
    # muting someone absent is not_found; a ban ahead of an absent pupil is allowed
    assert await _code(t, "mod:mute", {"room": "r", "user": "zed", "what": "chat",
                                       "muted": True}) == "not_found"
    assert await _code(t, "mod:kick", {"room": "r", "user": "zed", "ban_minutes": 5}) == "ok"
    zed = await clients(server.url, sub="zed")
    assert await _code(zed, "join", {"room": "r"}) == "banned"
    # a ban given to the id of a teacher never seen here is not applied to them
    assert await _code(t, "mod:kick", {"room": "r", "user": "t3", "ban_minutes": 5}) == "ok"
    t3 = await clients(server.url, sub="t3", role="teacher")
    assert (await t3.call("join", {"room": "r"}))["ok"]
    assert await _code(t, "mod:mute", {"room": "r", "user": "t3", "what": "chat",
                                       "muted": True}) == "forbidden"


# -- item 5: a mute the process never heard of holds on chat:send -------------------------

async def test_a_mute_holds_on_send_without_its_notice(server: Running, clients: Any) -> None:
    """The mute is written to the store as `mod:mute` writes it, but its notice never comes
    (as when the bus was down): the store refuses the message anyway."""
    t = await clients(server.url, sub="t", role="teacher")
    ana = await clients(server.url, sub="ana")
    for c in (t, ana):
        assert (await c.call("join", {"room": "r"}))["ok"]
    assert server.svc is not None
    await server.svc.store.set_mutes(RoomRef("space1", "r"), "ana", frozenset({"chat"}))
    assert await _code(ana, "chat:send", {"room": "r", "text": "x", "cid": "1"}) == "muted"
    assert (await ana.call("chat:history", {"room": "r"}))["messages"] == []
    # a resend of a message stored before the mute still answers the stored one
    await server.svc.store.set_mutes(RoomRef("space1", "r"), "ana", frozenset())
    first = await ana.call("chat:send", {"room": "r", "text": "before", "cid": "2"})
    await server.svc.store.set_mutes(RoomRef("space1", "r"), "ana", frozenset({"audio"}))
    assert (await ana.call("chat:send", {"room": "r", "text": "audio only", "cid": "3"}))["ok"]
    await server.svc.store.set_mutes(RoomRef("space1", "r"), "ana", frozenset({"chat"}))
    assert await ana.call("chat:send", {"room": "r", "text": "before", "cid": "2"}) == first
    # teachers are never muted, whatever is stored against their id
    await server.svc.store.set_mutes(RoomRef("space1", "r"), "t", frozenset({"chat"}))
    assert (await t.call("chat:send", {"room": "r", "text": "teacher", "cid": "1"}))["ok"]


# -- items 5 and 6 across two processes: the bus of one is down ---------------------------

@pytest.mark.slow  # two service processes
async def test_mutes_bans_and_messages_hold_while_a_bus_is_down(own_redis: RedisServer) -> None:
    p1 = ServiceProcess(own_redis.url, env={"LIVE_RATE_LIMITS": "off"})
    p2 = ServiceProcess(acl_user(own_redis), env={"LIVE_RATE_LIMITS": "off"})
    await asyncio.gather(p1.start(), p2.start())
    opened = []
    try:
        t = await connect(p1.url, sub="t", role="teacher")
        ana, ben, w = [await connect(p2.url, sub=s) for s in ("ana", "ben", "w")]
        opened += [t, ana, ben, w]
        for c in opened:
            assert (await c.call("join", {"room": "r"}))["ok"]
        # process two's bus goes down and stays down: it may not subscribe any more
        acl_user(own_redis, "-subscribe", "-ssubscribe")
        own_redis.cli("CLIENT", "KILL", "USER", USER)
        await until_ready(p2.url, 503)
        assert await readyz(p1.url) == 200
        # moderation on process one, whose notices process two cannot hear
        assert await _code(t, "mod:mute", {"room": "r", "user": "ben", "what": "chat",
                                           "muted": True}) == "ok"
        assert await _code(t, "mod:kick", {"room": "r", "user": "ana", "ban_minutes": 5}) == "ok"
        sent = [(await t.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)}))
                ["message"]["id"] for i in range(3)]
        assert await _code(ben, "chat:send", {"room": "r", "text": "x", "cid": "b1"}) == "muted"
        # the bus comes back: process two resyncs from the store
        acl_user(own_redis)
        await until_ready(p2.url, 200)
        assert await ana.wait_for("mod:kicked", timeout=15) == {"room": "r", "user": "ana"}
        assert await _code(ana, "chat:send", {"room": "r", "text": "x", "cid": "a1"}) \
            == "not_joined"
        assert await _code(ana, "join", {"room": "r"}) == "banned"
        assert await _code(ben, "typing", {"room": "r", "typing": True}) == "muted"
        # what process one stored meanwhile reaches process two's members, once, in order
        await w.wait_for("chat:message", lambda m: m["id"] == sent[-1], timeout=15)
        assert [m["id"] for m in w.events["chat:message"]] == sent
        assert w.events["room:resync"] == []
        marker = await t.call("chat:send", {"room": "r", "text": "live", "cid": "live"})
        await w.wait_for("chat:message", lambda m: m["id"] == marker["message"]["id"])
        assert [m["id"] for m in w.events["chat:message"]] == [*sent, marker["message"]["id"]]
    finally:
        for c in opened:
            await c.close()
        p1.stop()
        p2.stop()


@pytest.mark.slow  # a service process
async def test_start_up_without_a_subscription_is_not_ready(own_redis: RedisServer) -> None:
    """A process whose bus cannot subscribe serves /readyz 503 (and says why in its log)
    until it can; then it comes ready by itself."""
    proc = ServiceProcess(acl_user(own_redis, "-subscribe"), env={"LIVE_RATE_LIMITS": "off"})
    started = asyncio.create_task(proc.start())  # returns once /readyz says 200
    try:
        await eventually(lambda: "bus not subscribed" in proc.output(), timeout=20)
        await until_ready(proc.url, 503)  # serving, and saying it is not ready
        assert not started.done()
        acl_user(own_redis)
        await asyncio.wait_for(started, 25)
    finally:
        started.cancel()
        proc.stop()


async def test_failed_replay_tells_the_room_to_resync(own_redis: RedisServer) -> None:
    """The bus comes back but the messages stored meanwhile cannot be read: the members
    here are told `room:resync`, and catch up from history themselves."""
    url = acl_user(own_redis)
    async with run_server(url, rate_limits=False, opened=("r", "s")) as server:
        w = await connect(server.url, sub="w")
        x = await connect(server.url, sub="x")
        try:
            assert (await w.call("join", {"room": "r"}))["ok"]
            assert (await x.call("join", {"room": "s"}))["ok"]
            sent = await x.call("chat:send", {"room": "s", "text": "hello", "cid": "1"})
            await x.wait_for("chat:message", lambda m: m["id"] == sent["message"]["id"])
            acl_user(own_redis, "-xrange")  # replay pages history with XRANGE
            own_redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
            # every room heard here: a quiet one, and one whose chat was being delivered
            assert await w.wait_for("room:resync", timeout=15) == {"room": "r"}
            assert await x.wait_for("room:resync", timeout=15) == {"room": "s"}
            await w.round_trip()
            assert w.events["room:resync"] == [{"room": "r"}]
        finally:
            await w.close()
            await x.close()


# -- item 7a: a join whose bus attach fails is undone -------------------------------------

async def test_a_join_whose_attach_fails_gets_nothing_of_the_room(own_redis: RedisServer) -> None:
    async with run_server(acl_user(own_redis), rate_limits=False) as server:
        a = await connect(server.url, sub="a")
        b = await connect(server.url, sub="b")
        try:
            acl_user(own_redis, "-ssubscribe")  # the room's subscription is refused
            assert await _code(a, "join", {"room": "r"}) == "unavailable"
            acl_user(own_redis)
            deadline = asyncio.get_running_loop().time() + 20
            while (code := await _code(b, "join", {"room": "r"})) != "ok":
                assert code == "unavailable" and asyncio.get_running_loop().time() < deadline
            sent = await b.call("chat:send", {"room": "r", "text": "after", "cid": "1"})
            await b.wait_for("chat:message", lambda m: m["id"] == sent["message"]["id"])
            await b.call("hand", {"room": "r", "raised": True})
            await a.round_trip()
            assert a.events["chat:message"] == [] and a.events["presence:update"] == []
            assert await _code(a, "chat:send", {"room": "r", "text": "x", "cid": "1"}) \
                == "not_joined"
        finally:
            await a.close()
            await b.close()


# -- item 7b: a leave Redis did not take is not kept alive --------------------------------

async def test_a_leave_during_a_redis_pause_leaves_no_ghost(own_redis: RedisServer) -> None:
    room = RoomRef("sp", "r")
    here = RedisStore(redis_client.connect(own_redis.url), SystemClock(), 60_000, "proc-a")
    other = RedisStore(redis_client.connect(own_redis.url), SystemClock(), 60_000, "proc-b")
    try:
        await here.enter(room, "c1", Member("ana", "Ana", "student"))
        await other.enter(room, "c2", Member("ben", "Ben", "student"))
        assert own_redis.proc is not None
        own_redis.proc.send_signal(signal.SIGSTOP)
        try:
            assert await here.leave(room, "c1") is None  # Redis did not answer in time
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        # the next heartbeat removes the entry and reports the departure
        assert await here.heartbeat() == [Departure(room.key, "ana", True)]
        assert [m.id for m in await other.members(room)] == ["ben"]
        assert await here.heartbeat() == []
        # back in the room on the same connection before the heartbeat retried its leave:
        # one entry, counted once
        assert await here.enter(room, "c1", Member("ana", "Ana", "student"))
        own_redis.proc.send_signal(signal.SIGSTOP)
        try:
            assert await here.leave(room, "c1") is None
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        assert await here.enter(room, "c1", Member("ana", "Ana", "student"))
        assert [m.id for m in await other.members(room)] == ["ben", "ana"]
        assert await here.leave(room, "c1") == Departure(room.key, "ana", True)
        assert await here.heartbeat() == []
        assert [m.id for m in await other.members(room)] == ["ben"]
    finally:
        await here.close()
        await other.close()
