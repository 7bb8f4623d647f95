"""Several processes on one Redis act as one service (contract §5)."""

from __future__ import annotations

import asyncio

import pytest

from .support import ServiceProcess, connect

pytestmark = pytest.mark.slow  # several service processes


async def test_messages_and_presence_cross_processes(two: tuple[ServiceProcess, ServiceProcess]) -> None:
    p1, p2 = two
    a = await connect(p1.url, sub="a")
    b = await connect(p2.url, sub="b")
    try:
        await a.call("join", {"room": "r"})
        ack = await b.call("join", {"room": "r"})
        assert [m["id"] for m in ack["members"]] == ["a", "b"]
        assert (await a.wait_for("presence:join"))["member"]["id"] == "b"
        # both send at once; everyone sees one and the same order, each sender's in send order
        await asyncio.gather(
            *[a.call("chat:send", {"room": "r", "text": f"a{i}", "cid": f"a{i}"}) for i in range(20)],
            *[b.call("chat:send", {"room": "r", "text": f"b{i}", "cid": f"b{i}"}) for i in range(20)],
        )
        seen_a = [m["id"] for m in await a.wait_count("chat:message", 40)]
        seen_b = [m["id"] for m in await b.wait_count("chat:message", 40)]
        assert seen_a == seen_b
        hist = await a.call("chat:history", {"room": "r", "limit": 100})
        assert [m["id"] for m in hist["messages"]] == seen_a
        texts = [m["text"] for m in a.events["chat:message"]]
        assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(20)]
        assert [t for t in texts if t[0] == "b"] == [f"b{i}" for i in range(20)]
        await b.call("typing", {"room": "r", "typing": True})
        assert (await a.wait_for("typing"))["user"]["id"] == "b"
        await b.call("hand", {"room": "r", "raised": True})
        assert (await a.wait_for("presence:update"))["member"] == {
            "id": "b", "name": "B", "role": "student", "hand": True}
        await b.call("leave", {"room": "r"})
        assert await a.wait_for("presence:leave") == {"room": "r", "user": "b"}
    finally:
        await a.close()
        await b.close()


async def test_sigkill_clients_reconnect_and_catch_up(two: tuple[ServiceProcess, ServiceProcess],
                                                      redis_url: str) -> None:
    p1, p2 = two
    a = await connect(p1.url, sub="a")
    b = await connect(p2.url, sub="b")
    acked: list[str] = []
    try:
        await a.call("join", {"room": "r"})
        await b.call("join", {"room": "r"})
        for i in range(5):
            acked.append((await a.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)}))
                         ["message"]["id"])
        await b.wait_count("chat:message", 5)
        last_seen = b.events["chat:message"][-1]["id"]
        p2.kill()  # SIGKILL: no goodbye
        p2.wait()
        for i in range(5, 15):
            ack = await a.call("chat:send", {"room": "r", "text": f"m{i}", "cid": str(i)})
            assert ack["ok"]
            acked.append(ack["message"]["id"])
        # b's client reconnects to the surviving process and asks for what it missed
        b2 = await connect(p1.url, sub="b")
        try:
            assert (await b2.call("join", {"room": "r"}))["ok"]
            missed = await b2.call("chat:history", {"room": "r", "after": last_seen})
            assert missed["more"] is False
            got = [m["id"] for m in b.events["chat:message"]] + [m["id"] for m in missed["messages"]]
            assert got == acked  # nothing lost, nothing twice
        finally:
            await b2.close()
        # a process restarted on the same Redis serves the same history
        p3 = ServiceProcess(redis_url)
        await p3.start()
        try:
            c = await connect(p3.url, sub="c")
            hist = await c.call("join", {"room": "r"})
            assert [m["id"] for m in hist["messages"]] == acked
            await c.close()
        finally:
            p3.stop()
    finally:
        await a.close()
        await b.close()


async def test_history_survives_restarting_every_process(redis_url: str) -> None:
    first = ServiceProcess(redis_url, opened=("keep",))
    await first.start()
    a = await connect(first.url, sub="a")
    await a.call("join", {"room": "keep"})
    sent = [(await a.call("chat:send", {"room": "keep", "text": f"k{i}", "cid": str(i)}))["message"]
            for i in range(3)]
    await a.close()
    first.stop()
    again = [ServiceProcess(redis_url, opened=()) for _ in range(2)]  # open: it has history
    await asyncio.gather(*(p.start() for p in again))
    try:
        for p in again:
            c = await connect(p.url, sub="z")
            ack = await c.call("join", {"room": "keep"})
            assert ack["messages"] == sent
            await c.close()
    finally:
        for p in again:
            p.stop()
