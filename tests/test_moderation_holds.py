"""Moderation and chat that hold through a bus hiccup (issue #14, items 5-7)."""

from __future__ import annotations

from typing import Any

from .support import Running


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
