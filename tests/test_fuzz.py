"""Bad input: every client event fuzzed with arbitrary msgpack values (hypothesis),
and garbage on the Engine.IO and Socket.IO layers, against the real service.

Properties: every event gets a well-formed ack with a contract code, no handler
fails inside (no "internal error" ack), the process stays healthy, and a
member in the same room keeps chatting and sees nothing odd.
"""

from __future__ import annotations

import string
from typing import Any

import aiohttp
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.errors import ERROR_CODES

from .rawsock import RawClient
from .support import Client, connect, eventually, run_server, token

EVENT_CASES = 300
RAW_CASES = 60
FIELDS = ("room", "text", "cid", "before", "after", "limit", "id", "typing", "raised", "user",
          "question", "options", "multiple", "anonymous", "poll", "choices", "what", "muted",
          "ban_minutes", "locked", "to", "pupils_to_teachers", "pupils_to_pupils", "source",
          "sdp", "stream", "sub", "reason", "report", "action", "on", "school", "all", "allow")

ext = st.one_of(
    st.just(msgpack.ExtType(0, b"\x00")),  # JavaScript undefined
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=16)),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(1 << 63), (1 << 64) - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.binary(max_size=40), ext,
    st.text(min_size=1990, max_size=2100),  # around the text limit
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=6)
    | st.dictionaries(st.text(max_size=10) | st.integers(-5, 5), kids, max_size=6),
    max_leaves=25,
)
near_valid = st.one_of(
    values, st.just("r"), st.sampled_from(["r", "R", "../r", "a" * 65, "", " r"]),
    st.from_regex(r"[0-9]{1,14}-[0-9]{1,3}", fullmatch=True), st.integers(-3, 120),
    st.lists(st.integers(-2, 12), max_size=12), st.text(string.printable, max_size=30),
    st.sampled_from(["chat", "audio", "video", "all", "camera", "screen", "a", "b", "t"]),
)
payloads = st.one_of(
    values,
    st.fixed_dictionaries({}, optional={f: near_valid for f in FIELDS}),
    st.fixed_dictionaries({"room": st.just("r")},
                          optional={f: near_valid for f in FIELDS if f != "room"}),
)


def collect(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """`n` examples, the same on every run (derandomized), for the async loop to send."""
    out: list[Any] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def gather(example: Any) -> None:
        out.append(example)

    gather()
    return out


def well_formed(ack: Any) -> bool:
    if not isinstance(ack, dict) or not isinstance(ack.get("ok"), bool):
        return False
    if ack["ok"]:
        return True
    err = ack.get("error")
    return (isinstance(err, dict) and err.get("code") in ERROR_CODES
            and isinstance(err.get("message"), str) and set(err) == {"code", "message"})


async def healthy(url: str) -> bool:
    async with aiohttp.ClientSession() as http, http.get(url + "/healthz") as r:
        return r.status == 200


async def peer_still_chats(peer: Client, text: str) -> None:
    ack = await peer.call("chat:send", {"room": "r", "text": text, "cid": text})
    assert ack["ok"], ack
    await peer.wait_for("chat:message", lambda m: m["text"] == text)


def nothing_odd(peer: Client) -> None:
    """The bystander only ever got well-shaped events."""
    for m in peer.events["chat:message"]:
        assert set(m) >= {"id", "room", "cid", "user", "text", "ts"} and m["room"] == "r", m
        assert isinstance(m["text"], str) and 1 <= len(m["text"].strip()) <= 2000, m
    for name, items in peer.events.items():
        for item in items:
            assert isinstance(item, dict) and item.get("room") in (None, "r"), (name, item)


@pytest.mark.slow  # 300 hypothesis cases, each against the real service
async def test_every_event_with_arbitrary_msgpack_gets_a_well_formed_ack() -> None:
    cases = collect(st.tuples(st.integers(0, 1 << 16), payloads), EVENT_CASES)
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        events = srv.svc.edge.events + ["no:such-event", "", "x" * 300]
        peer = await connect(srv.url, sub="peer", role="student")
        teacher = await connect(srv.url, sub="t", role="teacher")
        pupil = await connect(srv.url, sub="p", role="student")
        try:
            for c in (peer, teacher, pupil):
                assert (await c.call("join", {"room": "r"}))["ok"]
            codes: dict[str, int] = {}
            for i, (pick, payload) in enumerate(cases):
                event = events[pick % len(events)]
                # a teacher's valid mod:end would send the bystander out: pupils fuzz it
                fuzzer = teacher if i % 2 and event != "mod:end" else pupil
                ack = await fuzzer.call(event, payload)
                assert well_formed(ack), (event, payload, ack)
                code = "ok" if ack["ok"] else ack["error"]["code"]
                assert not (code == "unavailable" and "internal" in ack["error"]["message"]), (
                    event, payload, ack)  # a handler failed inside
                codes[code] = codes.get(code, 0) + 1
                if i % 50 == 49:
                    assert await healthy(srv.url)
                    await peer_still_chats(peer, f"still here {i}")
            assert teacher.sio.connected and pupil.sio.connected and peer.sio.connected
            await peer_still_chats(peer, "the end")
            nothing_odd(peer)
            assert await healthy(srv.url)
            print(f"fuzzed {len(cases)} events over {len(events)} names: {codes}")
            assert codes.get("bad_request", 0) > len(cases) // 4  # the fuzz reached validation
        finally:
            for c in (peer, teacher, pupil):
                await c.close()


frames = st.one_of(
    st.binary(max_size=200),  # Engine.IO binary message: Socket.IO garbage
    st.text(max_size=50),  # text frames: Engine.IO garbage
    st.builds(lambda t, d: str(t) + d, st.integers(0, 9), st.text(max_size=20)),
    st.builds(lambda d: "b" + d, st.text(max_size=20)),  # base64 message
    st.builds(msgpack.packb, st.fixed_dictionaries(
        {"type": st.integers(-1, 8) | values, "nsp": st.just("/") | values},
        optional={"id": st.integers(-1, 1 << 60) | values, "data": values})),
)


async def test_garbage_frames_end_only_the_sender() -> None:
    cases = collect(frames, RAW_CASES)
    async with run_server(rate_limits=False) as srv:
        assert srv.svc is not None
        peer = await connect(srv.url, sub="peer")
        try:
            assert (await peer.call("join", {"room": "r"}))["ok"]
            closed = 0
            for i, frame in enumerate(cases):
                raw = await RawClient.open(srv.url, sub=f"g{i % 7}")
                await raw.call("join", {"room": "r"})
                await raw.ws.send(frame)
                # either the connection ends, or it keeps answering properly
                ack = await raw.call_or_closed("hand", {"room": "r", "raised": False}, ack_id=99)
                if ack is None:
                    closed += 1
                else:
                    assert well_formed(ack), (frame, ack)
                await raw.close()
            # oversize frames (> 64 KiB) are refused at the transport
            raw = await RawClient.open(srv.url, sub="big")
            await raw.ws.send(b"\x00" * (64 * 1024 + 1))
            assert await raw.closed()
            await peer_still_chats(peer, "undisturbed")
            assert await healthy(srv.url)
            nothing_odd(peer)
            # every raw connection is gone: no session is left behind
            await eventually(lambda: len(srv.svc.edge.sessions) == 1)
            print(f"{len(cases)} garbage frames: {closed} connections ended, "
                  f"{srv.svc.sio.malformed} malformed packets")
        finally:
            await peer.close()


async def test_packets_socket_io_itself_would_refuse() -> None:
    """Reserved event names, odd ack ids, binary types: the connection ends, quietly."""
    bad = [
        {"type": 2, "nsp": "/", "id": 1, "data": ["connect", {"token": token(role="teacher")}]},
        {"type": 2, "nsp": "/", "id": 1, "data": ["disconnect"]},
        {"type": 2, "nsp": "/", "id": 1, "data": [5, {}]},
        {"type": 2, "nsp": "/", "id": 1, "data": []},
        {"type": 2, "nsp": "/", "id": "1", "data": ["join", {"room": "r"}]},
        {"type": 2, "nsp": "/", "id": -1, "data": ["join", {"room": "r"}]},
        {"type": 5, "nsp": "/", "id": 1, "data": ["join", {"room": "r"}], "attachments": 1},
        {"type": 4, "nsp": "/", "data": {}},
        {"type": "2", "nsp": "/", "data": ["join", {}]},
    ]
    async with run_server() as srv:
        assert srv.svc is not None
        peer = await connect(srv.url, sub="peer")
        try:
            await peer.call("join", {"room": "r"})
            for packet in bad:
                raw = await RawClient.open(srv.url, sub="x")
                assert (await raw.call("join", {"room": "r"}))["ok"]
                await raw.send_packet(**packet)
                assert await raw.closed(), packet
                await peer.wait_for("presence:leave", lambda e: e["user"] == "x")
                peer.events["presence:leave"].clear()
                peer.events["presence:join"].clear()
            # an unknown event name is answered, not left hanging
            raw = await RawClient.open(srv.url, sub="y")
            assert await raw.call("no:such-event", {}) == {
                "ok": False, "error": {"code": "bad_request", "message": "unknown event"}}
            await raw.close()
            assert len(srv.svc.edge.sessions) == 1
            await peer_still_chats(peer, "fine")
        finally:
            await peer.close()
