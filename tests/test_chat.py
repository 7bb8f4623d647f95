"""Chat over real Socket.IO clients, on both stores."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .support import Running, connect, open_rooms


async def test_join_ack_has_the_contract_fields(server: Running, clients: Any) -> None:
    await open_rooms(server.url, "class-1")
    a = await clients(server.url, sub="ana")
    ack = await a.call("join", {"room": "class-1"})
    assert ack["ok"] is True
    assert ack["room"] == "class-1"
    assert ack["you"] == {"id": "ana", "name": "Ana", "role": "student", "hand": False}
    assert ack["members"] == [ack["you"]]
    assert ack["messages"] == [] and ack["polls"] == [] and ack["streams"] == []
    assert ack["locked"] is False


async def test_messages_reach_every_member_in_send_order(server: Running, clients: Any) -> None:
    members = [await clients(server.url, sub=f"u{i}") for i in range(4)]
    for m in members:
        assert (await m.call("join", {"room": "r"}))["ok"]
    sender = members[0]
    acks = await asyncio.gather(*[
        sender.call("chat:send", {"room": "r", "text": f"n{i}", "cid": f"c{i}"}) for i in range(30)
    ])
    assert all(a["ok"] for a in acks)
    for m in members:
        got = await m.wait_count("chat:message", 30)
        assert [g["text"] for g in got] == [f"n{i}" for i in range(30)]
        ids = [g["id"] for g in got]
        assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    msg = acks[0]["message"]
    assert set(msg) == {"id", "room", "cid", "user", "text", "ts"}
    assert msg["user"] == {"id": "u0", "name": "U0", "role": "student"}
    assert msg["room"] == "r" and msg["cid"] == "c0" and isinstance(msg["ts"], int)


async def test_text_is_kept_exactly_as_written(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    await a.call("join", {"room": "r"})
    text = "  <img src=x onerror=alert(1)> & ünïcödé 👋 \n line  "
    ack = await a.call("chat:send", {"room": "r", "text": text, "cid": "1"})
    assert ack["message"]["text"] == text
    page = await a.call("chat:history", {"room": "r"})
    assert page["messages"][0]["text"] == text


async def test_other_spaces_see_nothing(server: Running, clients: Any) -> None:
    await open_rooms(server.url, "same")
    await open_rooms(server.url, "same", space="space2")
    a = await clients(server.url, sub="a", space="space1")
    b = await clients(server.url, sub="b", space="space2")
    await a.call("join", {"room": "same"})
    await b.call("join", {"room": "same"})
    await a.call("chat:send", {"room": "same", "text": "only space1", "cid": "1"})
    await a.call("typing", {"room": "same", "typing": True})
    await b.call("chat:send", {"room": "same", "text": "only space2", "cid": "1"})
    await a.call("chat:send", {"room": "same", "text": "space1 again", "cid": "2"})
    # Barriers: each member's own message in its room was sent after what the other
    # space did, so anything leaking across would have arrived before it.
    await a.wait_for("chat:message", lambda m: m["text"] == "space1 again")
    await b.wait_for("chat:message", lambda m: m["text"] == "only space2")
    assert a.texts() == ["only space1", "space1 again"]
    assert b.texts() == ["only space2"]
    assert b.events["presence:join"] == [] and b.events["typing"] == []
    assert a.events["presence:join"] == []
    assert [m["id"] for m in (await b.call("join", {"room": "same"}))["members"]] == ["b"]
    hist = await b.call("chat:history", {"room": "same"})
    assert [m["text"] for m in hist["messages"]] == ["only space2"]


async def test_visitors_cannot_send_or_type(server: Running, clients: Any) -> None:
    v = await clients(server.url, sub="v", role="visitor")
    assert (await v.call("join", {"room": "r"}))["ok"]
    ack = await v.call("chat:send", {"room": "r", "text": "hi", "cid": "1"})
    assert ack == {"ok": False, "error": {"code": "forbidden", "message": ack["error"]["message"]}}
    assert (await v.call("typing", {"room": "r", "typing": True}))["error"]["code"] == "forbidden"
    assert (await v.call("chat:history", {"room": "r"}))["messages"] == []
    assert (await v.call("hand", {"room": "r", "raised": True}))["ok"] is True


async def test_resending_a_cid_returns_the_first_message(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    await a.call("join", {"room": "r"})
    await b.call("join", {"room": "r"})
    first = await a.call("chat:send", {"room": "r", "text": "once", "cid": "same"})
    again = await a.call("chat:send", {"room": "r", "text": "once", "cid": "same"})
    assert again == first
    other = await b.call("chat:send", {"room": "r", "text": "b's own", "cid": "same"})
    assert other["message"]["id"] != first["message"]["id"]
    # b's own message was sent after the resend: a duplicate would have arrived before it
    await b.wait_for("chat:message", lambda m: m["text"] == "b's own")
    assert b.texts() == ["once", "b's own"]
    hist = await a.call("chat:history", {"room": "r"})
    assert [m["text"] for m in hist["messages"]] == ["once", "b's own"]


async def test_a_colon_in_a_user_id_does_not_merge_two_cids(server: Running,
                                                             clients: Any) -> None:
    # idempotency is on (user, cid): user "a:b" with cid "c" and user "a" with cid "b:c"
    # are two messages (issue #14 item 8: the Redis key `cid:<user>:<cid>` made them one)
    ab = await clients(server.url, sub="a:b")
    a = await clients(server.url, sub="a")
    for c in (ab, a):
        assert (await c.call("join", {"room": "r"}))["ok"]
    first = await ab.call("chat:send", {"room": "r", "text": "from a:b", "cid": "c"})
    second = await a.call("chat:send", {"room": "r", "text": "from a", "cid": "b:c"})
    assert first["ok"] and second["ok"], (first, second)
    assert second["message"]["text"] == "from a"
    assert second["message"]["user"]["id"] == "a"
    assert second["message"]["id"] != first["message"]["id"]
    hist = await a.call("chat:history", {"room": "r"})
    assert [(m["user"]["id"], m["cid"], m["text"]) for m in hist["messages"]] == [
        ("a:b", "c", "from a:b"), ("a", "b:c", "from a")]


async def test_history_pages_before_and_after(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    await a.call("join", {"room": "r"})
    ids = [(await a.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)}))["message"]["id"]
           for i in range(120)]
    newest = await a.call("chat:history", {"room": "r"})
    assert [m["id"] for m in newest["messages"]] == ids[-50:] and newest["more"] is True
    older = await a.call("chat:history", {"room": "r", "before": ids[70], "limit": 100})
    assert [m["id"] for m in older["messages"]] == ids[:70] and older["more"] is False
    page = await a.call("chat:history", {"room": "r", "before": ids[70], "limit": 20})
    assert [m["id"] for m in page["messages"]] == ids[50:70] and page["more"] is True
    newer = await a.call("chat:history", {"room": "r", "after": ids[9], "limit": 100})
    assert [m["id"] for m in newer["messages"]] == ids[10:110] and newer["more"] is True
    tail = await a.call("chat:history", {"room": "r", "after": ids[110]})
    assert [m["id"] for m in tail["messages"]] == ids[111:] and tail["more"] is False
    big = await a.call("chat:history", {"room": "r", "limit": 101})
    assert big["error"]["code"] == "bad_request"
    late = await clients(server.url, sub="late")
    join = await late.call("join", {"room": "r"})
    assert [m["id"] for m in join["messages"]] == ids[-50:]


async def test_presence_join_and_leave(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    await a.call("join", {"room": "r"})
    b = await clients(server.url, sub="b", role="teacher")
    ack = await b.call("join", {"room": "r"})
    assert [m["id"] for m in ack["members"]] == ["a", "b"]
    joined = await a.wait_for("presence:join")
    assert joined == {"room": "r", "member": {"id": "b", "name": "B", "role": "teacher", "hand": False}}
    # a second connection of the same user is not a new member
    b2 = await clients(server.url, sub="b", role="teacher")
    await b2.call("join", {"room": "r"})
    assert (await b2.call("leave", {"room": "r"})) == {"ok": True}
    await b.call("leave", {"room": "r"})
    left = await a.wait_for("presence:leave")
    assert left == {"room": "r", "user": "b"}
    assert len(a.events["presence:join"]) == 1 and len(a.events["presence:leave"]) == 1
    # a disconnect leaves too
    c = await clients(server.url, sub="c")
    await c.call("join", {"room": "r"})
    await c.close()
    await a.wait_for("presence:leave", lambda e: e["user"] == "c")


async def test_typing_reaches_others_not_the_typist(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    await a.call("join", {"room": "r"})
    await b.call("join", {"room": "r"})
    assert (await a.call("typing", {"room": "r", "typing": True})) == {"ok": True}
    ev = await b.wait_for("typing")
    assert ev == {"room": "r", "user": {"id": "a", "name": "A", "role": "student"}, "typing": True}
    await a.call("typing", {"room": "r", "typing": False})
    await b.wait_for("typing", lambda e: e["typing"] is False)
    assert a.events["typing"] == []


async def test_hand_updates_presence(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    await a.call("join", {"room": "r"})
    await b.call("join", {"room": "r"})
    assert (await a.call("hand", {"room": "r", "raised": True})) == {"ok": True}
    ev = await b.wait_for("presence:update")
    assert ev == {"room": "r", "member": {"id": "a", "name": "A", "role": "student", "hand": True}}
    members = (await b.call("join", {"room": "r"}))["members"]
    assert {m["id"]: m["hand"] for m in members} == {"a": True, "b": False}
    assert (await b.call("hand", {"room": "r", "raised": False, "user": "a"}))["error"]["code"] == "forbidden"


async def test_delete_own_message_only(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    await a.call("join", {"room": "r"})
    await b.call("join", {"room": "r"})
    mine = (await a.call("chat:send", {"room": "r", "text": "oops", "cid": "1"}))["message"]
    assert (await b.call("chat:delete", {"room": "r", "id": mine["id"]}))["error"]["code"] == "forbidden"
    assert (await a.call("chat:delete", {"room": "r", "id": mine["id"]})) == {"ok": True}
    assert await b.wait_for("chat:deleted") == {"room": "r", "id": mine["id"]}
    assert (await b.call("chat:history", {"room": "r"}))["messages"] == []
    assert (await a.call("chat:delete", {"room": "r", "id": mine["id"]}))["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("join", {}, "bad_request"),
        ("join", {"room": "Caps"}, "bad_request"),
        ("join", {"room": "-x"}, "bad_request"),
        ("join", {"room": "a" * 65}, "bad_request"),
        ("join", {"room": 7}, "bad_request"),
        ("join", "r", "bad_request"),
        ("join", None, "bad_request"),
        ("chat:send", {"room": "r", "text": "hi"}, "bad_request"),
        ("chat:send", {"room": "r", "text": 5, "cid": "1"}, "bad_request"),
        ("chat:send", {"room": "r", "text": "   ", "cid": "1"}, "bad_request"),
        ("chat:send", {"room": "r", "text": "x" * 2001, "cid": "1"}, "too_large"),
        ("chat:send", {"room": "r", "text": "hi", "cid": ""}, "bad_request"),
        ("chat:send", {"room": "elsewhere", "text": "hi", "cid": "1"}, "not_joined"),
        ("chat:history", {"room": "r", "before": "nope"}, "bad_request"),
        ("chat:history", {"room": "r", "after": "18446744073709551616-0"}, "bad_request"),
        ("chat:delete", {"room": "r", "id": "1-2-3"}, "bad_request"),
        ("chat:history", {"room": "r", "limit": 0}, "bad_request"),
        ("chat:history", {"room": "r", "limit": "5"}, "bad_request"),
        ("chat:history", {"room": "r", "before": "1-0", "after": "1-0"}, "bad_request"),
        ("chat:delete", {"room": "r"}, "bad_request"),
        ("typing", {"room": "r", "typing": "yes"}, "bad_request"),
        ("hand", {"room": "r"}, "bad_request"),
        ("leave", {"room": "never"}, "not_joined"),
    ],
)
async def test_bad_payloads_get_the_named_error(server: Running, clients: Any, event: str,
                                                payload: Any, code: str) -> None:
    a = await clients(server.url, sub="a")
    b = await clients(server.url, sub="b")
    await a.call("join", {"room": "r"})
    await b.call("join", {"room": "r"})
    ack = await a.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == code
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"]
    # nothing changed, nobody was disturbed
    assert (await b.call("chat:history", {"room": "r"}))["messages"] == []
    assert (await b.call("chat:send", {"room": "r", "text": "still fine", "cid": "z"}))["ok"]
    # b's message, sent after the bad call was answered, is the barrier
    await b.wait_for("chat:message", lambda m: m["text"] == "still fine")
    assert b.texts() == ["still fine"]


async def test_text_length_counts_after_trimming(server: Running, clients: Any) -> None:
    a = await clients(server.url, sub="a")
    await a.call("join", {"room": "r"})
    padded = "   " + "x" * 2000 + "   "
    assert (await a.call("chat:send", {"room": "r", "text": padded, "cid": "1"}))["ok"] is True


async def test_undefined_fields_are_absent(server: Running) -> None:
    """socket.io-msgpack-parser sends JS `undefined` as ext type 0; it means absent."""
    import msgpack

    a = await connect(server.url, sub="a")
    try:
        await a.call("join", {"room": "r"})
        for i in range(3):
            await a.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)})
        undefined = msgpack.ExtType(0, b"\x00")
        page = await a.call("chat:history", {"room": "r", "before": undefined, "limit": undefined})
        assert page["ok"] is True and [m["text"] for m in page["messages"]] == ["m0", "m1", "m2"]
        bad = await a.call("chat:history", {"room": "r", "before": msgpack.ExtType(5, b"zz")})
        assert bad["error"]["code"] == "bad_request"
    finally:
        await a.close()
