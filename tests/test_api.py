"""The teacher HTTP API, checked against its own OpenAPI document, on both stores."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import aiohttp
import jsonschema
import pytest
import redis.asyncio as aioredis
from openapi_spec_validator import validate

from live.api import CSV_COLUMNS, EXPORT_PAGE, _iso, safe_cell
from live.redis_backend import keys
from live.tokens import mint
from rooms.clock import FakeClock
from rooms.filter import RULES, FilterConfig
from rooms.identity import RoomRef
from rooms.ratelimit import DEFAULT_RATES

from .stores import Backend
from .support import SECRET, Running, connect, run_server, token

SpecCheck = Any


async def _get(url: str, tok: str | None = None, **params: str) -> tuple[int, dict[str, str], str]:
    headers = {"Authorization": f"Bearer {tok}"} if tok is not None else {}
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers,
                                                        params=params) as r:
        return r.status, dict(r.headers), await r.text()


class Spec:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        validate(doc)

    def check(self, template: str, status: int, headers: dict[str, str], body: str,
              method: str = "get") -> Any:
        """Validate a real response against the document; returns the parsed body."""
        op = self.doc["paths"][template][method]
        assert str(status) in op["responses"], (template, status)
        content = op["responses"][str(status)]["content"]
        ctype = headers["Content-Type"].split(";")[0].strip()
        assert ctype in content, (template, status, ctype)
        if ctype != "application/json":
            return body
        data = json.loads(body)
        schema = {**content[ctype]["schema"], "components": self.doc["components"]}
        jsonschema.Draft202012Validator(schema).validate(data)
        return data


@pytest.fixture
async def spec(server: Running) -> Spec:
    status, _, body = await _get(server.url + "/api/openapi.json")
    assert status == 200
    return Spec(json.loads(body))


TEACHER = token(sub="t", role="teacher")


async def _fill(server: Running, clients: Any) -> dict[str, Any]:
    t = await clients(server.url, sub="t", role="teacher")
    # the texts below are formulas, not chat: the space's filter would hold the link and
    # block the "@SUM" handle (docs/protocol.md "Message filter")
    assert server.svc is not None
    await server.svc.store.set_filter_config("space1", FilterConfig.parse(
        {"actions": {r: "off" for r in RULES}}))
    a = await clients(server.url, sub="ana", name="=cmd|' /C calc'!A0")
    await t.call("join", {"room": "r"})
    await a.call("join", {"room": "r"})
    texts = ["hello", "=HYPERLINK(\"http://x\",\"y\")", "+1", "-2", "@SUM(A1)", "\tx",
             "line1\nline2, \"quoted\"", "to delete"]
    sent = [(await a.call("chat:send", {"room": "r", "text": x, "cid": str(i)}))["message"]
            for i, x in enumerate(texts)]
    await t.call("chat:delete", {"room": "r", "id": sent[-1]["id"]})
    await t.call("mod:mute", {"room": "r", "user": "ana", "what": "chat", "muted": True})
    await t.call("join", {"room": "other"})
    await t.call("mod:lock", {"room": "other", "locked": True})
    return {"sent": sent[:-1]}


async def test_teacher_reads_rooms_messages_exports_and_audit(server: Running, clients: Any,
                                                              spec: Spec) -> None:
    data = await _fill(server, clients)
    sent = data["sent"]
    base = server.url

    rooms = spec.check("/api/rooms", *await _get(base + "/api/rooms", TEACHER))
    assert [r["room"] for r in rooms["rooms"]] == ["other", "r"]
    assert {m["id"] for m in rooms["rooms"][1]["members"]} == {"t", "ana"}

    page = spec.check("/api/rooms/{room}/messages", *await _get(base + "/api/rooms/r/messages",
                                                                TEACHER))
    assert [m["id"] for m in page["messages"]] == [m["id"] for m in sent]
    assert page["more"] is False
    older = spec.check("/api/rooms/{room}/messages", *await _get(
        base + "/api/rooms/r/messages", TEACHER, before=sent[3]["id"], limit="2"))
    assert [m["id"] for m in older["messages"]] == [sent[1]["id"], sent[2]["id"]]
    assert older["more"] is True
    newer = spec.check("/api/rooms/{room}/messages", *await _get(
        base + "/api/rooms/r/messages", TEACHER, after=sent[4]["id"]))
    assert [m["id"] for m in newer["messages"]] == [m["id"] for m in sent[5:]]

    exported = spec.check("/api/rooms/{room}/export", *await _get(
        base + "/api/rooms/r/export", TEACHER, format="json"))
    assert [m["text"] for m in exported["messages"]] == [m["text"] for m in sent]

    status, headers, body = await _get(base + "/api/rooms/r/export", TEACHER, format="csv")
    spec.check("/api/rooms/{room}/export", status, headers, body)
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["id", "ts", "time", "user_id", "user_name", "role", "text"]
    assert [r[0] for r in rows[1:]] == [m["id"] for m in sent]
    cells = [c for r in rows[1:] for c in r]
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@", "\t")), cell
    texts = [r[6] for r in rows[1:]]
    assert texts == ["hello", "'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-2", "'@SUM(A1)",
                     "'\tx", "line1\nline2, \"quoted\""]
    assert rows[1][4] == "'=cmd|' /C calc'!A0"
    assert "to delete" not in body

    audit = spec.check("/api/audit", *await _get(base + "/api/audit", TEACHER))
    assert [e["action"] for e in audit["entries"]] == ["mod:lock", "mod:mute", "chat:delete"]
    only_r = spec.check("/api/audit", *await _get(base + "/api/audit", TEACHER, room="r",
                                                  limit="1"))
    assert [(e["action"], e["target"]) for e in only_r["entries"]] == [("mod:mute", "ana")]


async def test_refusals_tell_nothing(server: Running, clients: Any, spec: Spec) -> None:
    await _fill(server, clients)
    paths = [("/api/rooms", "/api/rooms"),
             ("/api/rooms/{room}/messages", "/api/rooms/r/messages"),
             ("/api/rooms/{room}/messages", "/api/rooms/nosuchroom/messages"),
             ("/api/rooms/{room}/export", "/api/rooms/r/export"),
             ("/api/rooms/{room}/export", "/api/rooms/BAD!/export"),
             ("/api/audit", "/api/audit")]
    expired = mint(SECRET, space="space1", role="teacher", name="T", sub="t", ttl=-60)
    other_key = mint("another-secret-" + "y" * 32, space="space1", role="teacher", name="T",
                     sub="t")
    for template, path in paths:
        seen: dict[int, set[str]] = {}
        for tok, want in ((None, 401), ("garbage", 401), (expired, 401), (other_key, 401),
                          (token(sub="ana"), 403), (token(sub="v", role="visitor"), 403)):
            status, headers, body = await _get(server.url + path, tok)
            assert status == want, (path, tok, status)
            spec.check(template, status, headers, body)
            seen.setdefault(status, set()).add(json.loads(body)["error"]["code"])
        assert seen[403] == {"forbidden"}
        assert seen[401] <= {"unauthorized", "expired"}
    # the same answer whether the room exists or not
    a = await _get(server.url + "/api/rooms/r/messages", token(sub="ana"))
    b = await _get(server.url + "/api/rooms/nosuchroom/messages", token(sub="ana"))
    assert (a[0], a[2]) == (b[0], b[2])


async def test_other_spaces_see_nothing(server: Running, clients: Any, spec: Spec) -> None:
    await _fill(server, clients)
    other = token(sub="t", role="teacher", space="space2")
    rooms = spec.check("/api/rooms", *await _get(server.url + "/api/rooms", other))
    assert rooms == {"rooms": []}
    page = spec.check("/api/rooms/{room}/messages",
                      *await _get(server.url + "/api/rooms/r/messages", other))
    assert page == {"messages": [], "more": False}
    assert spec.check("/api/audit", *await _get(server.url + "/api/audit", other)) == {
        "entries": []}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/rooms/r/messages", {"limit": "0"}),
        ("/api/rooms/r/messages", {"limit": "101"}),
        ("/api/rooms/r/messages", {"limit": "x"}),
        ("/api/rooms/r/messages", {"before": "nope"}),
        ("/api/rooms/r/messages", {"after": "1-18446744073709551616"}),
        ("/api/rooms/r/messages", {"after": "1" * 49 + "-0"}),
        ("/api/rooms/r/messages", {"before": "1-0", "after": "1-0"}),
        ("/api/rooms/Caps/messages", {}),
        ("/api/rooms/r/export", {"format": "xml"}),
        ("/api/audit", {"limit": "501"}),
        ("/api/audit", {"room": "-bad"}),
    ],
)
async def test_bad_parameters(server: Running, spec: Spec, path: str,
                              params: dict[str, str]) -> None:
    status, headers, body = await _get(server.url + path, TEACHER, **params)
    assert status == 400
    template = {"/api/audit": "/api/audit"}.get(path) or (
        "/api/rooms/{room}/export" if path.endswith("export") else "/api/rooms/{room}/messages")
    assert spec.check(template, status, headers, body)["error"]["code"] == "bad_request"


async def test_each_teacher_has_a_bucket_for_the_api(backend: Backend) -> None:
    # rate limits on, as in production; the clock never moves, so no token comes back
    burst = int(DEFAULT_RATES["api"].burst)
    async with run_server(backend.redis_url, clock=FakeClock()) as srv:
        status, headers, body = await _get(srv.url + "/api/openapi.json")
        spec = Spec(json.loads(body))
        for _ in range(burst):
            assert (await _get(srv.url + "/api/rooms", TEACHER))[0] == 200
        status, headers, body = await _get(srv.url + "/api/rooms/r/export", TEACHER)
        assert status == 429
        error = spec.check("/api/rooms/{room}/export", status, headers, body)["error"]
        assert error["code"] == "rate_limited"
        assert headers["Retry-After"] == "1"
        # another teacher has a bucket of their own; a refused token takes none
        assert (await _get(srv.url + "/api/rooms", token(sub="t2", role="teacher")))[0] == 200
        assert (await _get(srv.url + "/api/rooms", token(sub="ana")))[0] == 403


async def test_no_api_limit_when_rate_limits_are_off() -> None:
    burst = int(DEFAULT_RATES["api"].burst)
    async with run_server(clock=FakeClock(), rate_limits=False) as srv:
        for _ in range(burst + 5):
            assert (await _get(srv.url + "/api/rooms", TEACHER))[0] == 200


async def test_an_export_longer_than_a_page_streams_the_same_bytes(server: Running,
                                                                     clients: Any) -> None:
    # streamed page by page (EXPORT_PAGE messages), the body is byte for byte what the
    # export wrote when it built the whole history in memory
    a = await clients(server.url, sub="ana", name="Ána =1")
    await a.call("join", {"room": "r"})
    n = 2 * EXPORT_PAGE + 37
    for i in range(n):
        ack = await a.call("chat:send",
                           {"room": "r", "text": f"{i} ünï \"q\", =x\n", "cid": str(i)})
        assert ack["ok"]
    every: list[dict[str, Any]] = []
    after = "0-0"
    while True:  # the reference: the history read through the paginated API
        _, _, body = await _get(server.url + "/api/rooms/r/messages", TEACHER, after=after,
                                limit="100")
        page = json.loads(body)
        every += page["messages"]
        if not page["more"]:
            break
        after = every[-1]["id"]
    assert len(every) == n

    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {TEACHER}"}
        async with http.get(server.url + "/api/rooms/r/export", headers=headers,
                            params={"format": "json"}) as r:
            assert r.status == 200 and r.headers["Transfer-Encoding"] == "chunked"
            got_json = await r.read()
        async with http.get(server.url + "/api/rooms/r/export", headers=headers,
                            params={"format": "csv"}) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "text/csv; charset=utf-8"
            got_csv = await r.read()
        async with http.get(server.url + "/api/rooms/empty/export", headers=headers) as r:
            assert await r.read() == b'{"room": "empty", "messages": []}'

    assert got_json == json.dumps({"room": "r", "messages": every},
                                  ensure_ascii=False).encode()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for m in every:
        writer.writerow([m["id"], str(m["ts"]), _iso(m["ts"]), safe_cell(m["user"]["id"]),
                         safe_cell(m["user"]["name"]), m["user"]["role"], safe_cell(m["text"])])
    assert got_csv == out.getvalue().encode()


async def test_an_export_failing_after_its_first_page_is_cut_short(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # the headers are out when the second page is read; a store failure then must not
    # look like a whole (shorter) file: the body ends without its last chunk
    async with run_server(redis_url, rate_limits=False) as srv:
        a = await connect(srv.url, sub="ana")
        try:
            await a.call("join", {"room": "r"})
            for i in range(EXPORT_PAGE + 1):
                assert (await a.call("chat:send", {"room": "r", "text": str(i),
                                                   "cid": str(i)}))["ok"]
        finally:
            await a.close()
        r = aioredis.Redis.from_url(redis_url)
        try:  # an entry the store cannot read, on the second page
            room_key = RoomRef("space1", "r").key
            mid = (await r.xadd(keys.room(room_key, "msgs"), {"m": b""})).decode()
            await r.set(keys.message_prefix(room_key) + mid, b"\xc1")
        finally:
            await r.aclose()
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {TEACHER}"}
            async with http.get(srv.url + "/api/rooms/r/export", headers=headers) as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()
            async with http.get(srv.url + "/api/rooms", headers=headers) as resp:
                assert resp.status == 200  # the service goes on
        assert "export cut short" in caplog.text
