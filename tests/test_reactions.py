"""Reactions on messages over real Socket.IO clients, on both stores and across two
processes (contract v2 §2 `chat:react` / `chat:reactions`; `chat:reactors`:
docs/protocol.md)."""

from __future__ import annotations

from typing import Any

from rooms.identity import RoomRef

from .support import Running, ServiceProcess, connect

UP, HEART, QUESTION = "\U0001f44d", "\u2764\ufe0f", "\u2753"


async def _room(url: str, clients: Any) -> tuple[Any, Any, Any, str]:
    """A teacher, two pupils in room `r`, and the id of a message of Ana's."""
    t = await clients(url, sub="t", role="teacher", name="Tea")
    assert (await t.call("join", {"room": "r"}))["ok"]
    a = await clients(url, sub="ana", name="Ana")
    b = await clients(url, sub="ben", name="Ben")
    for c in (a, b):
        assert (await c.call("join", {"room": "r"}))["ok"]
    sent = await a.call("chat:send", {"room": "r", "text": "hello", "cid": "c1"})
    return t, a, b, sent["message"]["id"]


async def test_react_toggles_and_every_member_gets_counts(server: Running, clients: Any) -> None:
    t, a, b, mid = await _room(server.url, clients)
    ack = await b.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
    assert ack == {"ok": True, "counts": {UP: 1}, "mine": [UP]}
    for c in (t, a, b):
        ev = await c.wait_for("chat:reactions")
        assert ev == {"room": "r", "id": mid, "counts": {UP: 1}}
    # ❤ as some keyboards type it is ❤️
    heart = await a.call("chat:react", {"room": "r", "id": mid, "emoji": "\u2764"})
    assert heart["mine"] == [HEART]
    await t.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
    await b.wait_for("chat:reactions", lambda e: e["counts"] == {UP: 2, HEART: 1})
    # toggling again takes it back
    ack = await b.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
    assert ack["counts"] == {UP: 1, HEART: 1} and ack["mine"] == []
    await a.wait_for("chat:reactions", lambda e: e["counts"] == {UP: 1, HEART: 1})
    # a join and a history page carry the reactions, with the caller's own
    join = await b.call("join", {"room": "r"})
    assert join["reactions"] == {mid: {"counts": {UP: 1, HEART: 1}, "mine": []}}
    hist = await a.call("chat:history", {"room": "r"})
    assert hist["reactions"] == {mid: {"counts": {UP: 1, HEART: 1}, "mine": [HEART]}}


async def test_who_reacted_is_for_teachers_only(server: Running, clients: Any) -> None:
    t, a, b, mid = await _room(server.url, clients)
    await b.call("chat:react", {"room": "r", "id": mid, "emoji": QUESTION})
    await a.call("chat:react", {"room": "r", "id": mid, "emoji": QUESTION})
    ev = await t.wait_for("chat:reactions", lambda e: e["counts"] == {QUESTION: 2})
    assert set(ev) == {"room", "id", "counts"}  # no names in what every member gets
    who = await t.call("chat:reactors", {"room": "r", "id": mid})
    assert who == {"ok": True, "who": {QUESTION: [{"id": "ana", "name": "Ana"},
                                                  {"id": "ben", "name": "Ben"}]}}
    refused = await a.call("chat:reactors", {"room": "r", "id": mid})
    assert refused["error"]["code"] == "forbidden"
    none = await t.call("chat:reactors", {"room": "r", "id": "1-0"})
    assert none["error"]["code"] == "not_found"


async def test_bad_reactions_are_refused_and_change_nothing(server: Running,
                                                           clients: Any) -> None:
    t, a, b, mid = await _room(server.url, clients)

    async def code(c: Any, payload: Any) -> str:
        ack = await c.call("chat:react", payload)
        return "ok" if ack["ok"] else str(ack["error"]["code"])

    assert await code(a, {"room": "r", "id": mid, "emoji": "\U0001f4a9"}) == "bad_request"
    assert await code(a, {"room": "r", "id": mid, "emoji": 1}) == "bad_request"
    assert await code(a, {"room": "r", "id": mid}) == "bad_request"
    assert await code(a, {"room": "r", "id": "not an id", "emoji": UP}) == "bad_request"
    assert await code(a, {"room": "r", "id": "1-0", "emoji": UP}) == "not_found"
    assert await code(a, {"room": "elsewhere", "id": mid, "emoji": UP}) == "not_joined"
    v = await clients(server.url, sub="vi", role="visitor")
    assert (await v.call("join", {"room": "r"}))["ok"]
    assert await code(v, {"room": "r", "id": mid, "emoji": UP}) == "forbidden"
    # muted for chat: no reactions either
    assert (await t.call("mod:mute", {"room": "r", "user": "ben", "what": "chat",
                                      "muted": True}))["ok"]
    await b.wait_for("mod:muted")
    assert await code(b, {"room": "r", "id": mid, "emoji": UP}) == "muted"
    await a.round_trip()
    assert "chat:reactions" not in a.events or not a.events["chat:reactions"]
    assert (await a.call("join", {"room": "r"}))["reactions"] == {}


async def test_deleted_message_takes_its_reactions(server: Running, clients: Any) -> None:
    t, a, b, mid = await _room(server.url, clients)
    await b.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
    assert (await a.call("chat:delete", {"room": "r", "id": mid}))["ok"]
    assert (await t.call("chat:reactors", {"room": "r", "id": mid}))["error"]["code"] == "not_found"
    again = await b.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
    assert again["error"]["code"] == "not_found"
    assert server.svc is not None
    stored = await server.svc.store.reactions(RoomRef("space1", "r"), [mid])
    assert stored == {}


async def test_reactions_across_two_processes(two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    t = await connect(p1.url, sub="t", role="teacher", name="Tea")
    a = await connect(p1.url, sub="ana", name="Ana")
    b = await connect(p2.url, sub="ben", name="Ben")
    try:
        for c in (t, a, b):
            assert (await c.call("join", {"room": "r"}))["ok"]
        mid = (await a.call("chat:send", {"room": "r", "text": "hi", "cid": "1"}))["message"]["id"]
        await b.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
        await a.call("chat:react", {"room": "r", "id": mid, "emoji": UP})
        for c in (t, a, b):
            await c.wait_for("chat:reactions", lambda e: e["counts"] == {UP: 2})
        who = await t.call("chat:reactors", {"room": "r", "id": mid})
        assert [p["id"] for p in who["who"][UP]] == ["ana", "ben"]
        assert (await b.call("join", {"room": "r"}))["reactions"][mid]["mine"] == [UP]
    finally:
        for c in (t, a, b):
            await c.close()
