"""The broadcast fast path (live/fanout.py): every member once, in order."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio

from live.fanout import FastEmitManager, RoomEmit, ws_frame

from .support import (
    Client,
    Running,
    ServiceProcess,
    connect,
    eventually,
    open_rooms,
    run_server,
    token,
)


def test_seams_are_where_the_fast_path_expects_them() -> None:
    # the fan-out is python-socketio's local client manager (no pub/sub in between)
    assert FastEmitManager.__mro__[1] is socketio.AsyncManager
    import inspect

    from engineio.async_socket import AsyncSocket
    src = inspect.getsource(AsyncSocket._websocket_handler)
    assert "await self.poll()" in src and "await ws.send(pkt.encode())" in src


def test_ws_frame_lengths() -> None:
    assert ws_frame(b"ab") == b"\x82\x02ab"
    assert ws_frame("é") == b"\x81\x02\xc3\xa9"
    big = ws_frame(b"x" * 300)
    assert big[:4] == b"\x82\x7e\x01\x2c" and len(big) == 304
    huge = ws_frame(b"x" * 70000)
    assert huge[:2] == b"\x82\x7f" and int.from_bytes(huge[2:10], "big") == 70000


async def test_fast_path_delivers_once_in_order_to_every_member(server: Running) -> None:
    await open_rooms(server.url, "big")
    members = [await connect(server.url, sub=f"m{i}") for i in range(25)]
    try:
        for m in members:
            await m.call("join", {"room": "big"})
        sender = members[0]
        acks = await asyncio.gather(*[
            sender.call("chat:send", {"room": "big", "text": f"n{i}", "cid": str(i)})
            for i in range(60)])
        assert all(a["ok"] for a in acks)
        # a last message is the barrier: a duplicate of any of the 60 would come before it
        assert (await sender.call("chat:send", {"room": "big", "text": "end", "cid": "end"}))["ok"]
        for m in members:
            await m.wait_for("chat:message", lambda g: g["text"] == "end")
            assert m.texts() == [f"n{i}" for i in range(60)] + ["end"]
        assert server.svc is not None
        manager: Any = server.svc.sio.manager
        assert isinstance(manager, FastEmitManager)
        assert manager.direct_writes > 0
    finally:
        for m in members:
            await m.close()


async def test_polling_clients_get_the_same_stream() -> None:
    """A client that stays on HTTP long-polling takes the queued path, same order."""
    poller = socketio.AsyncClient(serializer="msgpack", reconnection=False)
    got: list[str] = []
    poller.on("chat:message", lambda m: got.append(m["text"]))
    try:
        async with run_server(rate_limits=False) as srv:
            ws = await connect(srv.url, sub="ws")
            await poller.connect(srv.url, auth={"token": token(sub="poll")},
                                 transports=["polling"])
            try:
                await ws.call("join", {"room": "r"})
                assert (await poller.call("join", {"room": "r"}))["ok"]
                for i in range(20):
                    await ws.call("chat:send", {"room": "r", "text": f"p{i}", "cid": str(i)})
                await ws.call("chat:send", {"room": "r", "text": "end", "cid": "end"})
                # the last message is the barrier: a duplicate would have come before it
                await eventually(lambda: "end" in got)
                assert got == [f"p{i}" for i in range(20)] + ["end"]
            finally:
                await ws.close()
    finally:
        # after the service stopped: a long-polling client's own disconnect waits for its
        # pending GET, which engineio answers only at the next ping (20 s); the service
        # going down ends it at once
        await poller.disconnect()


@pytest.mark.slow  # two service processes
async def test_fast_path_across_processes(redis_url: str) -> None:
    procs = [ServiceProcess(redis_url, env={"LIVE_RATE_LIMITS": "off"}) for _ in range(2)]
    await asyncio.gather(*(p.start() for p in procs))
    members = []
    try:
        for i in range(10):
            members.append(await connect(procs[i % 2].url, sub=f"x{i}"))
        for m in members:
            await m.call("join", {"room": "r"})
        await asyncio.gather(*[
            members[0].call("chat:send", {"room": "r", "text": f"a{i}", "cid": f"a{i}"})
            for i in range(30)],
            *[members[1].call("chat:send", {"room": "r", "text": f"b{i}", "cid": f"b{i}"})
              for i in range(30)])
        orders = [[g["id"] for g in await m.wait_count("chat:message", 60)] for m in members]
        assert all(o == orders[0] for o in orders) and len(set(orders[0])) == 60
    finally:
        for m in members:
            await m.close()
        for p in procs:
            p.stop()


async def test_acks_take_the_direct_write_too() -> None:
    """An ack to an idle connection is written straight to its transport, in order with
    the room's events (the sender sees its own message and its ack, each once)."""
    async with run_server(rate_limits=False) as srv:
        a = await connect(srv.url, sub="a")
        try:
            await a.call("join", {"room": "r"})
            assert srv.svc is not None
            manager: Any = srv.svc.sio.manager
            before = manager.direct_writes
            for i in range(10):
                ack = await a.call("chat:send", {"room": "r", "text": f"s{i}", "cid": str(i)})
                assert ack["ok"] and ack["message"]["text"] == f"s{i}"
            got = await a.wait_count("chat:message", 10)
            assert [g["text"] for g in got] == [f"s{i}" for i in range(10)]
            # 10 acks and 10 deliveries, nearly all direct on an idle connection
            assert manager.direct_writes - before >= 15
        finally:
            await a.close()


async def test_a_batch_skipping_different_members_reaches_each_the_rest_in_order() -> None:
    """Several joiners' announcements in one batch, each skipping its own joiner: every
    member gets the batch in order, without the events that skip it."""
    async with run_server(rate_limits=False) as srv:
        names = ["a", "b", "c", "d"]
        members = [await connect(srv.url, sub=n) for n in names]
        try:
            for m in members:
                await m.call("join", {"room": "r"})
            assert srv.svc is not None
            manager: Any = srv.svc.sio.manager
            room_key = "space1/r"
            sids = list(manager.rooms["/"][room_key])
            assert len(sids) == 4
            who = {}
            for sid in sids:  # which sid is whose: the service's sessions know
                who[srv.svc.edge.sessions[sid].who.sub] = sid
            manager.deliver([
                RoomEmit("typing", [{"room": "r", "n": 1}], "/", room_key, who["b"]),
                RoomEmit("typing", [{"room": "r", "n": 2}], "/", room_key, [who["c"], who["b"]]),
                RoomEmit("typing", [{"room": "r", "n": 3}], "/", room_key, None),
            ])
            want = {"a": [1, 2, 3], "b": [3], "c": [1, 3], "d": [1, 2, 3]}
            for name, m in zip(names, members, strict=True):
                await m.wait_for("typing", lambda e: e.get("n") == 3)
                assert [e["n"] for e in m.events["typing"] if "n" in e] == want[name]
        finally:
            for m in members:
                await m.close()


async def test_the_shared_frame_follows_who_is_in_the_room(server: Running) -> None:
    """A room's recipients are listed once per change of its membership (fanout.py): a
    member who joins gets what follows, one who leaves or disconnects gets nothing more,
    and a skipped connection (the typist's own `typing`) is skipped on the shared path."""
    await open_rooms(server.url, "r")
    a, b, c, d = [await connect(server.url, sub=s) for s in ("a", "b", "c", "d")]
    try:
        for m in (a, b, d):
            assert (await m.call("join", {"room": "r"}))["ok"]

        async def say(text: str) -> None:
            assert (await a.call("chat:send", {"room": "r", "text": text, "cid": text}))["ok"]

        await say("one")
        assert (await c.call("join", {"room": "r"}))["ok"]
        await say("two")
        assert (await b.call("leave", {"room": "r"}))["ok"]
        await d.close()
        await say("three")
        assert (await c.call("typing", {"room": "r", "typing": True}))["ok"]
        await say("end")
        for m in (a, c):
            await m.wait_for("chat:message", lambda g: g["text"] == "end")
        await a.wait_for("typing", lambda g: g["user"]["id"] == "c")
        assert a.texts() == ["one", "two", "three", "end"]
        assert c.texts() == ["two", "three", "end"]  # from its join on
        assert b.texts() == ["one", "two"]  # nothing after its leave
        assert not c.events["typing"]  # its own typing skipped
        assert d.texts() == ["one", "two"]
        manager: Any = server.svc.sio.manager if server.svc is not None else None
        assert isinstance(manager, FastEmitManager) and manager.direct_writes > 0
    finally:
        for m in (a, b, c):
            await m.close()


@contextlib.asynccontextmanager
async def two_on_redis(redis_url: str) -> AsyncIterator[tuple[Client, Client, Any]]:
    """Members `a` and `b` in room `r` of one service process on Redis, and the transport
    of that process's bus subscription (a test pauses its reading: the bus lags)."""
    async with run_server(redis_url) as server:
        await open_rooms(server.url, "r")
        a, b = await connect(server.url, sub="a"), await connect(server.url, sub="b")
        try:
            for m in (a, b):
                assert (await m.call("join", {"room": "r"}))["ok"]
            assert server.svc is not None
            bus: Any = server.svc.bus  # the Redis bus
            yield a, b, bus._ps._transport
        finally:
            for m in (a, b):
                await m.close()


async def test_a_send_is_acked_once_this_process_has_handed_it_to_the_room(
        redis_url: str) -> None:
    """On Redis the stored message comes back to the sender's process on the room's
    channel (the APPEND script publishes it). Its ack waits for that: a member of the
    same process who leaves (or a newcomer who joins) right after the ack still has it
    (or does not get it live), whatever the subscription's lag. The subscription's
    reading is paused here to make that lag long (seen in CI as a member who left just
    after the ack missing the message)."""
    async with two_on_redis(redis_url) as (a, b, transport):
        transport.pause_reading()
        resumed = asyncio.get_running_loop().call_later(0.3, transport.resume_reading)
        try:
            ack = await a.call("chat:send", {"room": "r", "text": "x", "cid": "x"})
            assert ack["ok"]
            assert (await b.call("leave", {"room": "r"}))["ok"]
        finally:
            resumed.cancel()
            transport.resume_reading()
        await a.wait_for("chat:message", lambda g: g["text"] == "x")
        assert b.texts() == ["x"]


async def test_a_send_is_acked_even_when_its_message_is_slow_to_come_back(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait for the stored message to come back is bounded (`HANDED_WAIT_S`): a
    subscription that stalls delays the ack by that much, not more, and the message
    reaches the room once the subscription reads again."""
    monkeypatch.setattr("live.redis_backend.bus.HANDED_WAIT_S", 0.2)
    async with two_on_redis(redis_url) as (a, b, transport):
        transport.pause_reading()
        try:
            ack = await asyncio.wait_for(
                a.call("chat:send", {"room": "r", "text": "x", "cid": "x"}), 2.0)
            assert ack["ok"]
            assert b.texts() == []  # acked while the subscription still stalls
        finally:
            transport.resume_reading()
        await b.wait_for("chat:message", lambda g: g["text"] == "x")
        assert b.texts() == ["x"]


async def test_a_connections_rooms_are_the_ones_python_socketio_would_find(
        server: Running) -> None:
    """`FastEmitManager` keeps each connection's rooms itself (python-socketio looks in
    every room of the namespace): `get_rooms` gives the rooms the library's own look-up
    finds on the same table (in the order entered), and a disconnect, mid-way or finished, leaves exactly its rooms."""
    from socketio.base_manager import BaseManager

    await open_rooms(server.url, "r1", "r2")
    a, b, c = [await connect(server.url, sub=s) for s in ("a", "b", "c")]
    try:
        for m, rooms in ((a, ("r1", "r2")), (b, ("r1",)), (c, ("r2", "r1"))):
            for r in rooms:
                assert (await m.call("join", {"room": r}))["ok"]
        assert server.svc is not None
        manager: Any = server.svc.sio.manager
        conn = {s.who.sub: s.conn for s in server.svc.edge.sessions.values()}

        def same_as_the_library() -> None:
            for sid in conn.values():
                assert sorted(manager.get_rooms(sid, "/")) == sorted(
                    BaseManager.get_rooms(manager, sid, "/"))

        same_as_the_library()
        assert len(manager.get_rooms(conn["a"], "/")) == 3  # its own room, r1, r2
        assert (await b.call("leave", {"room": "r1"}))["ok"]
        same_as_the_library()

        # a disconnect, as python-socketio's server makes it: pending, then done
        eio_sid = manager.pre_disconnect(conn["c"], "/")
        assert eio_sid == manager.rooms["/"][None][conn["c"]]
        assert not manager.is_connected(conn["c"], "/")
        assert manager.is_connected(conn["a"], "/")
        await manager.disconnect(conn["c"], "/")
        assert all(conn["c"] not in room for room in manager.rooms["/"].values())
        assert manager.get_rooms(conn["c"], "/") == []
        assert "/" not in manager.pending_disconnect
        same_as_the_library()
        await a.close()  # and through the server
        await eventually(lambda: all(conn["a"] not in room
                                     for room in manager.rooms["/"].values()))
        assert manager.get_rooms(conn["a"], "/") == [] and not manager._rooms_of.get(
            ("/", conn["a"]))
        same_as_the_library()
    finally:
        for m in (a, b, c):
            await m.close()


async def test_the_connections_in_a_room_are_those_whose_session_has_it(
        server: Running) -> None:
    """`Edge.in_room` (the notices about one room: private messages, lesson end, feedback
    counts, breakout moves) finds from the fan-out's room table the same connections as a
    look at every connection of the process, through joins, leaves and disconnects."""
    await open_rooms(server.url, "r1", "r2")
    a, b, c = [await connect(server.url, sub=s) for s in ("a", "b", "c")]
    assert server.svc is not None
    edge = server.svc.edge
    keys = ["space1/r1", "space1/r2", "space1/nowhere"]

    def same_as_a_full_look() -> None:
        for key in keys:
            assert sorted(s.conn for s in edge.in_room(key)) == sorted(
                s.conn for s in edge.sessions.values() if key in s.rooms), key

    try:
        same_as_a_full_look()
        for m, rooms in ((a, ("r1", "r2")), (b, ("r1",)), (c, ("r2",))):
            for r in rooms:
                assert (await m.call("join", {"room": r}))["ok"]
        same_as_a_full_look()
        assert len(edge.in_room("space1/r1")) == 2
        assert (await a.call("leave", {"room": "r1"}))["ok"]
        same_as_a_full_look()
        await b.close()
        await eventually(lambda: len(edge.sessions) == 2)
        same_as_a_full_look()
        assert [s.who.sub for s in edge.in_room("space1/r1")] == []
        assert sorted(s.who.sub for s in edge.in_room("space1/r2")) == ["a", "c"]
    finally:
        for m in (a, b, c):
            await m.close()
