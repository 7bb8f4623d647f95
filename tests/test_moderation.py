"""Teacher moderation over real Socket.IO clients: on both stores and across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms.clock import FakeClock
from rooms.identity import RoomRef

from .stores import Backend
from .support import RedisServer, Running, ServiceProcess, connect, run_server


async def _code(client: Any, event: str, payload: Any) -> str:
    """The error code a call is answered with."""
    ack = await client.call(event, payload)
    return str(ack["error"]["code"]) if not ack["ok"] else "ok"


async def _room(url: str, clients: Any, *pupils: str, room: str = "r") -> tuple[Any, list[Any]]:
    teacher = await clients(url, sub="t", role="teacher")
    assert (await teacher.call("join", {"room": room}))["ok"]
    others = []
    for sub in pupils:
        c = await clients(url, sub=sub)
        assert (await c.call("join", {"room": room}))["ok"]
        others.append(c)
    return teacher, others


async def _audit(server: Running) -> list[Any]:
    assert server.svc is not None
    return [e.to_wire() for e in await server.svc.rooms.audit.read("space1")]


async def test_teacher_deletes_any_message(server: Running, clients: Any) -> None:
    t, (a, b) = await _room(server.url, clients, "ana", "ben")
    msg = (await a.call("chat:send", {"room": "r", "text": "rude", "cid": "1"}))["message"]
    assert (await t.call("chat:delete", {"room": "r", "id": msg["id"]})) == {"ok": True}
    assert await b.wait_for("chat:deleted") == {"room": "r", "id": msg["id"]}
    await a.wait_for("chat:deleted")
    assert (await b.call("chat:history", {"room": "r"}))["messages"] == []
    assert server.svc is not None
    assert await server.svc.store.get(RoomRef("space1", "r"), msg["id"]) is None
    entries = await _audit(server)
    assert entries[0]["action"] == "chat:delete" and entries[0]["target"] == "ana"
    assert entries[0]["actor"] == {"id": "t", "name": "T", "role": "teacher"}
    assert entries[0]["room"] == "r" and isinstance(entries[0]["ts"], int)


async def test_mute_chat_holds_across_reconnects(server: Running, clients: Any) -> None:
    t, (a, b) = await _room(server.url, clients, "ana", "ben")
    hooked: list[tuple[str, str, frozenset[str]]] = []

    async def hook(room_key: str, user: str, kinds: frozenset[str]) -> None:
        hooked.append((room_key, user, kinds))

    assert server.svc is not None
    server.svc.rooms.moderation.mute_hooks.append(hook)
    ack = await t.call("mod:mute", {"room": "r", "user": "ana", "what": "chat", "muted": True})
    assert ack == {"ok": True}
    ev = await b.wait_for("mod:muted")
    assert {k: ev[k] for k in ("room", "user", "what", "muted")} == {
        "room": "r", "user": "ana", "what": "chat", "muted": True}
    await a.wait_for("mod:muted")
    sent = await a.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
    assert sent["error"]["code"] == "muted"
    assert await _code(a, "typing", {"room": "r", "typing": True}) == "muted"
    assert (await b.call("chat:send", {"room": "r", "text": "fine", "cid": "1"}))["ok"]
    assert hooked == [("space1/r", "ana", frozenset({"chat"}))]
    # a new connection of the same pupil is muted too, and is told so on join
    a2 = await clients(server.url, sub="ana")
    join = await a2.call("join", {"room": "r"})
    assert join["mutes"] == {"ana": ["chat"]}
    assert await _code(a2, "chat:send", {"room": "r", "text": "hi", "cid": "2"}) == "muted"
    # audio/video mutes leave chat alone; `all` covers everything
    await t.call("mod:mute", {"room": "r", "user": "ben", "what": "audio", "muted": True})
    assert (await b.call("chat:send", {"room": "r", "text": "still", "cid": "2"}))["ok"]
    await t.call("mod:mute", {"room": "r", "user": "ben", "what": "all", "muted": True})
    await b.wait_for("mod:muted", lambda e: e["what"] == "all")
    assert await _code(b, "chat:send", {"room": "r", "text": "x", "cid": "3"}) == "muted"
    assert hooked[-1] == ("space1/r", "ben", frozenset({"chat", "audio", "video"}))
    # unmuting
    await t.call("mod:mute", {"room": "r", "user": "ana", "what": "chat", "muted": False})
    await a.wait_for("mod:muted", lambda e: e["muted"] is False)
    assert (await a.call("chat:send", {"room": "r", "text": "back", "cid": "3"}))["ok"]
    actions = [(e["action"], e["target"]) for e in await _audit(server)]
    assert actions[:3] == [("mod:mute", "ana"), ("mod:mute", "ben"), ("mod:mute", "ben")]


async def test_kick_removes_every_connection_and_rejoin_is_allowed(server: Running,
                                                                   clients: Any) -> None:
    t, (a, b) = await _room(server.url, clients, "ana", "ben")
    a2 = await clients(server.url, sub="ana")
    await a2.call("join", {"room": "r"})
    assert (await t.call("mod:kick", {"room": "r", "user": "ana"})) == {"ok": True}
    for c in (a, a2, b, t):
        assert await c.wait_for("mod:kicked") == {"room": "r", "user": "ana"}
    await b.wait_for("presence:leave", lambda e: e["user"] == "ana")
    assert await _code(a, "chat:send", {"room": "r", "text": "hi", "cid": "1"}) == "not_joined"
    assert await _code(a2, "chat:send", {"room": "r", "text": "hi", "cid": "1"}) == "not_joined"
    members = (await b.call("join", {"room": "r"}))["members"]
    assert "ana" not in [m["id"] for m in members]
    # a kicked connection no longer hears the room
    await b.call("chat:send", {"room": "r", "text": "after", "cid": "9"})
    await t.wait_for("chat:message", lambda m: m["text"] == "after")
    # the room's members got "after" in one emit; had ana's connection still been among
    # them, it would have been written to her before this round trip's answer
    await a.round_trip()
    assert all(m["text"] != "after" for m in a.events["chat:message"])
    # no ban: the pupil may come back
    assert (await a.call("join", {"room": "r"}))["ok"] is True
    assert len(a.events["mod:kicked"]) == 1
    assert [e["action"] for e in await _audit(server)][0] == "mod:kick"


@pytest.fixture
async def clocked(backend: Backend) -> AsyncIterator[tuple[Running, FakeClock]]:
    clock = FakeClock(start_ms=1_900_000_000_000)
    async with run_server(backend.redis_url, clock=clock, rate_limits=False,
                          opened=("r", "other")) as running:
        yield running, clock


async def test_ban_holds_until_it_ends(clocked: tuple[Running, FakeClock], clients: Any) -> None:
    server, clock = clocked
    t, (a,) = await _room(server.url, clients, "ana")
    kick = {"room": "r", "user": "ana", "ban_minutes": 10}
    assert (await t.call("mod:kick", kick)) == {"ok": True}
    await a.wait_for("mod:kicked")
    again = await a.call("join", {"room": "r"})
    assert again["ok"] is False and again["error"]["code"] == "banned"
    fresh = await clients(server.url, sub="ana")
    assert await _code(fresh, "join", {"room": "r"}) == "banned"
    # other rooms are not affected
    assert (await fresh.call("join", {"room": "other"}))["ok"] is True
    clock.advance(9 * 60)
    assert await _code(a, "join", {"room": "r"}) == "banned"
    clock.advance(61)
    assert (await a.call("join", {"room": "r"}))["ok"] is True
    # an absent pupil can be banned ahead
    assert (await t.call("mod:kick", {"room": "r", "user": "zed", "ban_minutes": 1}))["ok"]
    z = await clients(server.url, sub="zed")
    assert await _code(z, "join", {"room": "r"}) == "banned"
    entry = [e for e in await _audit(server) if e["action"] == "mod:kick"][-1]
    assert entry["target"] == "ana" and entry["detail"] == {"ban_minutes": 10}


async def test_lock_keeps_pupils_out_but_not_teachers(server: Running, clients: Any) -> None:
    t, (a,) = await _room(server.url, clients, "ana")
    assert (await t.call("mod:lock", {"room": "r", "locked": True})) == {"ok": True}
    assert await a.wait_for("room:locked") == {"room": "r", "locked": True}
    s = await clients(server.url, sub="ben")
    v = await clients(server.url, sub="vis", role="visitor")
    assert await _code(s, "join", {"room": "r"}) == "room_locked"
    assert await _code(v, "join", {"room": "r"}) == "room_locked"
    t2 = await clients(server.url, sub="t2", role="teacher")
    join = await t2.call("join", {"room": "r"})
    assert join["ok"] is True and join["locked"] is True
    # who is already in stays in
    assert (await a.call("chat:send", {"room": "r", "text": "still here", "cid": "1"}))["ok"]
    await t.call("mod:lock", {"room": "r", "locked": False})
    await a.wait_for("room:locked", lambda e: e["locked"] is False)
    assert (await s.call("join", {"room": "r"}))["locked"] is False
    assert [e["detail"] for e in await _audit(server) if e["action"] == "mod:lock"] == [
        {"locked": False}, {"locked": True}]


async def test_hands_in_raise_order_and_teacher_lowers_any(
        clocked: tuple[Running, FakeClock], clients: Any) -> None:
    server, clock = clocked
    t, (a, b, c) = await _room(server.url, clients, "ana", "ben", "cy")
    for who in (b, c, a):  # not in name order, a second apart
        assert (await who.call("hand", {"room": "r", "raised": True}))["ok"]
        clock.advance(1)
    join = await t.call("join", {"room": "r"})
    assert join["hands"] == ["ben", "cy", "ana"]
    ups = await t.wait_count("presence:update", 3)
    assert [u["member"]["id"] for u in ups] == ["ben", "cy", "ana"]
    assert (await t.call("hand", {"room": "r", "raised": False, "user": "cy"})) == {"ok": True}
    ev = await a.wait_for("presence:update",
                          lambda e: e["member"]["id"] == "cy" and not e["member"]["hand"])
    assert ev["member"]["hand"] is False
    assert (await t.call("join", {"room": "r"}))["hands"] == ["ben", "ana"]
    assert await _code(a, "hand", {"room": "r", "raised": False, "user": "ben"}) == "forbidden"


async def test_private_messages(server: Running, clients: Any) -> None:
    t, (a, b, c) = await _room(server.url, clients, "ana", "ben", "cy")
    # off by default for pupils
    ack = await a.call("chat:private", {"room": "r", "to": "t", "text": "psst", "cid": "1"})
    assert ack["error"]["code"] == "forbidden"
    assert (await a.call("chat:private", {"room": "r", "to": "ben", "text": "psst",
                                          "cid": "1"}))["error"]["code"] == "forbidden"
    # a teacher may always write to a member
    sent = await t.call("chat:private", {"room": "r", "to": "ana", "text": "see me", "cid": "1"})
    assert sent["ok"] and sent["message"]["to"]["id"] == "ana"
    got = await a.wait_for("chat:private")
    assert got["text"] == "see me" and got["user"]["id"] == "t"
    # allow pupil -> teacher
    perms = await t.call("mod:permissions", {"room": "r", "pupils_to_teachers": True})
    assert perms == {"ok": True, "permissions": {"pupils_to_teachers": True,
                                                 "pupils_to_pupils": False}}
    await a.wait_for("mod:permissions")
    assert (await a.call("chat:private", {"room": "r", "to": "t", "text": "ok",
                                          "cid": "2"}))["ok"]
    await t.wait_for("chat:private", lambda m: m["text"] == "ok")
    assert (await a.call("chat:private", {"room": "r", "to": "ben", "text": "psst",
                                          "cid": "3"}))["error"]["code"] == "forbidden"
    # allow pupil -> pupil: the room's teachers see it too, other pupils do not
    await t.call("mod:permissions", {"room": "r", "pupils_to_pupils": True})
    assert (await c.call("join", {"room": "r"}))["permissions"] == {
        "pupils_to_teachers": True, "pupils_to_pupils": True}
    assert (await a.call("chat:private", {"room": "r", "to": "ben", "text": "hey ben",
                                          "cid": "4"}))["ok"]
    await b.wait_for("chat:private", lambda m: m["text"] == "hey ben")
    await t.wait_for("chat:private", lambda m: m["text"] == "hey ben")
    await a.wait_for("chat:private", lambda m: m["text"] == "hey ben")
    # barrier: private messages reach a process in the order they were sent, so a
    # "hey ben" that had gone to cy too would have come before this one
    assert (await t.call("chat:private", {"room": "r", "to": "cy", "text": "marker",
                                          "cid": "m"}))["ok"]
    await c.wait_for("chat:private", lambda m: m["text"] == "marker")
    assert c.texts("chat:private") == ["marker"]
    assert (await a.call("chat:private", {"room": "r", "to": "nobody", "text": "x",
                                          "cid": "5"}))["error"]["code"] == "not_found"
    assert (await a.call("chat:private", {"room": "r", "to": "ana", "text": "x",
                                          "cid": "6"}))["error"]["code"] == "bad_request"
    # never in the room's history
    assert (await c.call("chat:history", {"room": "r"}))["messages"] == []
    assert [e["action"] for e in await _audit(server)][:2] == ["mod:permissions"] * 2


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("mod:mute", {"user": "ana", "what": "chat", "muted": True}),
        ("mod:kick", {"user": "ana"}),
        ("mod:kick", {"user": "ben", "ban_minutes": 5}),
        ("mod:lock", {"locked": True}),
        ("mod:permissions", {"pupils_to_pupils": True}),
        ("poll:create", {"question": "Q", "options": ["a", "b"]}),
    ],
)
async def test_pupils_get_forbidden(server: Running, clients: Any, event: str,
                                    payload: dict[str, Any]) -> None:
    t, (a, b) = await _room(server.url, clients, "ana", "ben")
    ack = await b.call(event, {"room": "r", **payload})
    assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
    v = await clients(server.url, sub="vis", role="visitor")
    await v.call("join", {"room": "r"})
    assert (await v.call(event, {"room": "r", **payload}))["error"]["code"] == "forbidden"
    # nothing happened
    assert (await a.call("chat:send", {"room": "r", "text": "fine", "cid": "1"}))["ok"]
    assert (await clients(server.url, sub="new")).sio.connected
    assert await _audit(server) == []


async def test_teachers_cannot_be_muted_or_kicked(server: Running, clients: Any) -> None:
    t, _ = await _room(server.url, clients)
    t2 = await clients(server.url, sub="t2", role="teacher")
    await t2.call("join", {"room": "r"})
    for event, payload in (("mod:mute", {"what": "all", "muted": True}), ("mod:kick", {})):
        ack = await t.call(event, {"room": "r", "user": "t2", **payload})
        assert ack["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("mod:mute", {"user": "ana", "what": "voice", "muted": True}),
        ("mod:mute", {"user": "ana", "what": "chat"}),
        ("mod:mute", {"user": "ana", "what": "chat", "muted": "yes"}),
        ("mod:mute", {"what": "chat", "muted": True}),
        ("mod:mute", {"user": 5, "what": "chat", "muted": True}),
        ("mod:mute", {"user": "", "what": "chat", "muted": True}),
        ("mod:mute", {"user": "t", "what": "chat", "muted": True}),
        ("mod:kick", {}),
        ("mod:kick", {"user": "ana", "ban_minutes": 0}),
        ("mod:kick", {"user": "ana", "ban_minutes": -5}),
        ("mod:kick", {"user": "ana", "ban_minutes": "10"}),
        ("mod:kick", {"user": "ana", "ban_minutes": 10**9}),
        ("mod:kick", {"user": "t"}),
        ("mod:lock", {}),
        ("mod:lock", {"locked": "true"}),
        ("mod:permissions", {"pupils_to_teachers": 1}),
        ("chat:private", {"to": "ana", "text": "", "cid": "1"}),
        ("chat:private", {"to": "ana", "text": "hi"}),
        ("chat:private", {"text": "hi", "cid": "1"}),
    ],
)
async def test_bad_moderation_payloads(server: Running, clients: Any, event: str,
                                       payload: dict[str, Any]) -> None:
    t, (a,) = await _room(server.url, clients, "ana")
    ack = await t.call(event, {"room": "r", **payload})
    assert ack["ok"] is False and ack["error"]["code"] == "bad_request", ack
    assert (await a.call("chat:send", {"room": "r", "text": "fine", "cid": "1"}))["ok"]
    assert a.events["mod:kicked"] == [] and a.events["mod:muted"] == []
    assert (await t.call(event, "not a map"))["error"]["code"] == "bad_request"


async def test_kicking_an_absent_member_without_a_ban(server: Running, clients: Any) -> None:
    t, _ = await _room(server.url, clients)
    assert await _code(t, "mod:kick", {"room": "r", "user": "ghost"}) == "not_found"
    assert (await t.call("mod:mute", {"room": "elsewhere", "user": "x", "what": "chat",
                                      "muted": True}))["error"]["code"] == "not_joined"


# -- across processes -------------------------------------------------------------------
@pytest.fixture
async def two_processes(redis_server: RedisServer, redis_url: str) -> AsyncIterator[list[str]]:
    procs = [ServiceProcess(redis_url), ServiceProcess(redis_url)]
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield [p.url for p in procs]
    finally:
        for p in procs:
            p.stop()


@pytest.mark.slow  # two service processes
async def test_moderation_holds_across_processes(two_processes: list[str]) -> None:
    one, two = two_processes
    t = await connect(one, sub="t", role="teacher")
    a = await connect(two, sub="ana")
    a_one = await connect(one, sub="ana")
    b = await connect(two, sub="ben")
    opened = [t, a, a_one, b]
    try:
        for c in opened:
            assert (await c.call("join", {"room": "r"}))["ok"]
        # mute on process one holds on process two
        await t.call("mod:mute", {"room": "r", "user": "ben", "what": "chat", "muted": True})
        await b.wait_for("mod:muted")
        assert await _code(b, "chat:send", {"room": "r", "text": "x", "cid": "1"}) == "muted"
        # a ban made on process one holds on process two, for every connection
        assert (await t.call("mod:kick", {"room": "r", "user": "ana", "ban_minutes": 5}))["ok"]
        assert await a.wait_for("mod:kicked") == {"room": "r", "user": "ana"}
        await a_one.wait_for("mod:kicked")
        await t.wait_for("presence:leave", lambda e: e["user"] == "ana")
        assert len(a.events["mod:kicked"]) == 1 and len(b.events["mod:kicked"]) == 1
        assert await _code(a, "chat:send", {"room": "r", "text": "x", "cid": "2"}) == "not_joined"
        assert await _code(a, "join", {"room": "r"}) == "banned"
        again = await connect(two, sub="ana")
        opened.append(again)
        assert await _code(again, "join", {"room": "r"}) == "banned"
        assert await _code(a_one, "join", {"room": "r"}) == "banned"
        # a lock made on one keeps pupils out of two
        await t.call("mod:lock", {"room": "r", "locked": True})
        c = await connect(two, sub="cy")
        opened.append(c)
        assert await _code(c, "join", {"room": "r"}) == "room_locked"
        # private message from process one reaches a pupil on two
        await t.call("chat:private", {"room": "r", "to": "ben", "text": "hi ben", "cid": "p"})
        assert (await b.wait_for("chat:private"))["text"] == "hi ben"
    finally:
        for c in opened:
            await c.close()
