"""Polls over real Socket.IO clients, on both stores."""

from __future__ import annotations

from typing import Any

import pytest

from .support import Running, run_server


async def _code(client: Any, event: str, payload: Any) -> str:
    """The error code a call is answered with."""
    ack = await client.call(event, payload)
    return str(ack["error"]["code"]) if not ack["ok"] else "ok"


async def _room(server: Running, clients: Any, *pupils: str) -> tuple[Any, list[Any]]:
    teacher = await clients(server.url, sub="t", role="teacher")
    assert (await teacher.call("join", {"room": "r"}))["ok"]
    others = []
    for sub in pupils:
        c = await clients(server.url, sub=sub)
        assert (await c.call("join", {"room": "r"}))["ok"]
        others.append(c)
    return teacher, others


async def test_poll_lifecycle(server: Running, clients: Any) -> None:
    t, (a, b) = await _room(server, clients, "ana", "ben")
    ack = await t.call("poll:create", {"room": "r", "question": "Best fruit?",
                                       "options": ["apple", " pear "]})
    assert ack["ok"] is True
    poll = ack["poll"]
    assert {k: poll[k] for k in ("question", "options", "multiple", "anonymous", "open",
                                 "counts")} == {
        "question": "Best fruit?", "options": ["apple", "pear"], "multiple": False,
        "anonymous": False, "open": True, "counts": [0, 0]}
    created = await a.wait_for("poll:created")
    assert created["room"] == "r" and created["poll"]["id"] == poll["id"]

    vote = {"room": "r", "poll": poll["id"], "choices": [0]}
    assert (await a.call("poll:vote", vote)) == {"ok": True}
    res = await b.wait_for("poll:results", lambda e: e["poll"]["counts"] == [1, 0])
    assert "voters" not in res["poll"]  # who voted what: teachers only
    voters = await t.wait_for("poll:voters")
    assert voters == {"room": "r", "poll": poll["id"],
                      "voters": [[{"id": "ana", "name": "Ana"}], []]}
    assert (await t.call("join", {"room": "r"}))["polls"][0]["voters"] == voters["voters"]
    assert "voters" not in (await a.call("join", {"room": "r"}))["polls"][0]
    # voting again replaces the vote
    await a.call("poll:vote", {"room": "r", "poll": poll["id"], "choices": [1]})
    await b.call("poll:vote", {"room": "r", "poll": poll["id"], "choices": [1]})
    await t.wait_for("poll:results", lambda e: e["poll"]["counts"] == [0, 2])

    # a late joiner gets the open poll with its counts
    late = await clients(server.url, sub="cy")
    join = await late.call("join", {"room": "r"})
    assert [p["id"] for p in join["polls"]] == [poll["id"]]
    assert join["polls"][0]["counts"] == [0, 2] and join["polls"][0]["mine"] == []
    again = await a.call("join", {"room": "r"})
    assert again["polls"][0]["mine"] == [1]

    closed = await t.call("poll:close", {"room": "r", "poll": poll["id"]})
    assert closed["ok"] and closed["poll"]["open"] is False and closed["poll"]["counts"] == [0, 2]
    assert len(closed["poll"]["voters"][1]) == 2
    ev = await late.wait_for("poll:closed")
    assert ev["poll"]["id"] == poll["id"] and ev["poll"]["open"] is False
    assert "voters" not in ev["poll"]
    await a.round_trip()
    assert a.events["poll:voters"] == []
    after = await late.call("poll:vote", {"room": "r", "poll": poll["id"], "choices": [0]})
    assert after["error"]["code"] == "bad_request"
    assert (await late.call("join", {"room": "r"}))["polls"] == []
    # closing twice is harmless
    assert (await t.call("poll:close", {"room": "r", "poll": poll["id"]}))["poll"]["open"] is False
    audit = [e for e in (await server_audit(server)) if e.action == "poll:close"]
    assert len(audit) == 1 and audit[0].target == poll["id"]


async def server_audit(server: Running) -> list[Any]:
    assert server.svc is not None
    return await server.svc.rooms.audit.read("space1")


async def test_anonymous_poll_never_names_voters(server: Running, clients: Any) -> None:
    t, (a, b) = await _room(server, clients, "ana", "ben")
    poll = (await t.call("poll:create", {"room": "r", "question": "Q", "options": ["x", "y", "z"],
                                         "multiple": True, "anonymous": True}))["poll"]
    assert poll["anonymous"] is True and poll["multiple"] is True
    await a.call("poll:vote", {"room": "r", "poll": poll["id"], "choices": [0, 2]})
    await b.call("poll:vote", {"room": "r", "poll": poll["id"], "choices": [2]})
    res = await t.wait_for("poll:results", lambda e: e["poll"]["counts"] == [1, 0, 2])
    closed = (await t.call("poll:close", {"room": "r", "poll": poll["id"]}))["poll"]
    for shown in (res["poll"], closed, *[e["poll"] for e in a.events["poll:results"]]):
        assert "voters" not in shown
        assert "ana" not in repr(shown) and "ben" not in repr(shown)
    # not in the store either
    assert server.svc is not None
    from rooms.identity import RoomRef

    kept = await server.svc.store.poll(RoomRef("space1", "r"), poll["id"])
    assert kept is not None and "ana" not in repr(kept.votes) and "ben" not in repr(kept.votes)
    assert len(kept.votes) == 2
    assert t.events["poll:voters"] == []


async def test_redis_holds_no_link_from_an_anonymous_vote_to_a_member(redis_url: str,
                                                                    clients: Any) -> None:
    """The polls' keys in Redis, read as an operator would: no user id, and no key of a
    vote that the salt kept beside it computes from a member's id (the old scheme)."""
    import hashlib
    import hmac

    import redis.asyncio as aioredis

    from live.redis_backend.frames import unpack

    async with run_server(redis_url, rate_limits=False) as server:
        t, (a, b) = await _room(server, clients, "ana-pupil", "ben-pupil")
        poll = (await t.call("poll:create", {"room": "r", "question": "Q", "options": ["x", "y"],
                                             "anonymous": True}))["poll"]
        for c, choice in ((a, 0), (b, 1)):
            assert (await c.call("poll:vote", {"room": "r", "poll": poll["id"],
                                               "choices": [choice]}))["ok"]
        r = aioredis.Redis.from_url(redis_url)
        dump = b""
        for key in await r.keys("*:poll*"):
            kind = (await r.type(key)).decode()
            if kind == "hash":
                for f, v in (await r.hgetall(key)).items():
                    dump += key + b" " + f + b" " + v + b"\n"
        votes = await r.hgetall(f"live:{{space1/r}}:poll:{poll['id']}:votes")
        salt = unpack((await r.hgetall("live:{space1/r}:polls"))[poll["id"].encode()])["s"]
        await r.aclose()
        assert len(votes) == 2
        assert b"ana-pupil" not in dump and b"ben-pupil" not in dump
        for user in ("ana-pupil", "ben-pupil"):  # what someone with the dump could try
            guess = hmac.new(salt.encode(), user.encode(), hashlib.sha256).hexdigest()[:32]
            assert guess.encode() not in votes
            guess = hmac.new(salt.encode(), f"{salt}\x00{user}".encode(),
                             hashlib.sha256).hexdigest()[:32]
            assert guess.encode() not in votes
        # and the service still knows each member's own vote (join ack `mine`)
        assert (await a.call("join", {"room": "r"}))["polls"][0]["mine"] == [0]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"question": "Q", "options": ["one"]}, "bad_request"),
        ({"question": "Q", "options": [f"o{i}" for i in range(11)]}, "bad_request"),
        ({"question": "Q", "options": ["a", "  "]}, "bad_request"),
        ({"question": "Q", "options": ["a", 2]}, "bad_request"),
        ({"question": "Q", "options": "a,b"}, "bad_request"),
        ({"question": "", "options": ["a", "b"]}, "bad_request"),
        ({"question": 5, "options": ["a", "b"]}, "bad_request"),
        ({"options": ["a", "b"]}, "bad_request"),
        ({"question": "Q", "options": ["a", "b"], "multiple": "yes"}, "bad_request"),
        ({"question": "Q", "options": ["a", "b"], "anonymous": 1}, "bad_request"),
        ({"question": "Q" * 301, "options": ["a", "b"]}, "bad_request"),
    ],
)
async def test_bad_polls(server: Running, clients: Any, payload: dict[str, Any], code: str) -> None:
    t, _ = await _room(server, clients)
    ack = await t.call("poll:create", {"room": "r", **payload})
    assert ack["ok"] is False and ack["error"]["code"] == code
    assert (await t.call("join", {"room": "r"}))["polls"] == []


async def test_bad_votes_and_roles(server: Running, clients: Any) -> None:
    t, (a,) = await _room(server, clients, "ana")
    v = await clients(server.url, sub="vis", role="visitor")
    await v.call("join", {"room": "r"})
    single = (await t.call("poll:create", {"room": "r", "question": "Q",
                                           "options": ["a", "b"]}))["poll"]
    pid = single["id"]
    for choices in ([], [0, 1], [2], [-1], ["0"], [True], 0, None, [0, 0]):
        ack = await a.call("poll:vote", {"room": "r", "poll": pid, "choices": choices})
        assert ack["error"]["code"] == "bad_request", choices
    assert await _code(a, "poll:vote", {"room": "r", "poll": "nope", "choices": [0]}) == "not_found"
    assert await _code(a, "poll:vote", {"room": "r", "poll": 7, "choices": [0]}) == "bad_request"
    bad_id = {"room": "r", "poll": "a/b", "choices": [0]}
    assert await _code(a, "poll:vote", bad_id) == "bad_request"
    assert await _code(a, "poll:vote", {"room": "x", "poll": pid, "choices": [0]}) == "not_joined"
    # pupils and visitors cannot create or close; visitors cannot vote
    create = {"room": "r", "question": "Q", "options": ["a", "b"]}
    assert await _code(a, "poll:create", create) == "forbidden"
    assert await _code(a, "poll:close", {"room": "r", "poll": pid}) == "forbidden"
    assert await _code(v, "poll:vote", {"room": "r", "poll": pid, "choices": [0]}) == "forbidden"
    assert await _code(t, "poll:close", {"room": "r", "poll": "zz"}) == "not_found"
    assert await _code(t, "poll:close", {"room": "r"}) == "bad_request"
    # nothing was counted
    join = await t.call("join", {"room": "r"})
    assert join["polls"][0]["counts"] == [0, 0]
    # a teacher may vote
    assert (await t.call("poll:vote", {"room": "r", "poll": pid, "choices": [1]}))["ok"] is True


async def test_polls_survive_a_restart(redis_url: str) -> None:
    from .support import connect

    async with run_server(redis_url, rate_limits=False) as first:
        t = await connect(first.url, sub="t", role="teacher")
        a = await connect(first.url, sub="ana")
        try:
            await t.call("join", {"room": "r"})
            await a.call("join", {"room": "r"})
            pid = (await t.call("poll:create", {"room": "r", "question": "Q",
                                                "options": ["a", "b"]}))["poll"]["id"]
            await a.call("poll:vote", {"room": "r", "poll": pid, "choices": [1]})
        finally:
            await t.close()
            await a.close()
    async with run_server(redis_url, rate_limits=False) as second:
        b = await connect(second.url, sub="ben")
        try:
            join = await b.call("join", {"room": "r"})
            assert [(p["id"], p["counts"]) for p in join["polls"]] == [(pid, [0, 1])]
        finally:
            await b.close()


async def test_poll_keys_expire(redis_url: str, redis_server: Any) -> None:
    import redis as redis_lib

    async with run_server(redis_url, rate_limits=False) as srv:
        t = await _one(srv.url, "t", "teacher")
        try:
            await t.call("join", {"room": "r"})
            create = {"room": "r", "question": "Q", "options": ["a", "b"], "anonymous": True}
            pid = (await t.call("poll:create", create))["poll"]["id"]
            await t.call("poll:vote", {"room": "r", "poll": pid, "choices": [0]})
            await t.call("poll:close", {"room": "r", "poll": pid})
            await t.call("mod:lock", {"room": "r", "locked": True})
        finally:
            await t.close()
    r = redis_lib.Redis(port=redis_server.port)
    try:
        keys = [k.decode() for k in r.keys("*")]
        assert any("poll" in k for k in keys)
        for k in keys:
            assert r.pttl(k) > 0, k
    finally:
        r.close()


async def _one(url: str, sub: str, role: str) -> Any:
    from .support import connect

    return await connect(url, sub=sub, role=role)


async def test_open_polls_are_capped(server: Running, clients: Any) -> None:
    t, _ = await _room(server, clients)
    create = {"room": "r", "question": "Q", "options": ["a", "b"]}
    ids = [(await t.call("poll:create", create))["poll"]["id"] for _ in range(20)]
    assert await _code(t, "poll:create", create) == "bad_request"
    await t.call("poll:close", {"room": "r", "poll": ids[0]})
    assert (await t.call("poll:create", create))["ok"] is True
