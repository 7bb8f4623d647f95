"""The teacher HTTP API (contract §4); the console page is served with the others (live/http.py).

Every `/api/` call but the OpenAPI document takes `Authorization: Bearer
<token>` of a teacher; the token's space is the only space it sees. A missing
or bad token is 401, a valid token of a pupil or visitor 403 - both checked
before anything else, so neither learns which rooms or messages exist. Then each
teacher takes a token of their `api` bucket (rooms/ratelimit.py; in Redis with the
Redis backend, so it holds across processes): beyond, 429 `rate_limited` with
`Retry-After`. `LIVE_RATE_LIMITS=off` lifts it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from rooms.errors import BadRequest, Forbidden, LiveError, RateLimited
from rooms.identity import Identity, RoomRef
from rooms.message import Message, Page, parse_id
from rooms.service import RoomService

from .acks import http_error, http_error_of
from .openapi import document
from .tokens import TokenRefused, Verifier

log = logging.getLogger(__name__)

EXPORT_PAGE = 100
API_KIND = "api"  # the bucket every call takes (rooms/ratelimit.py DEFAULT_RATES)
RETRY_AFTER_S = "1"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
CSV_COLUMNS = ["id", "ts", "time", "user_id", "user_name", "role", "text"]

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ExportCut(Exception):
    """An export failed after its headers went out: the connection is cut, so the client
    sees the body incomplete rather than a short file that looks whole."""


class ApiError(Exception):
    """Ends a call with an error response that is not a domain error (a refused token)."""

    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.response = http_error(status, code, message, **headers)


def _json(body: Any, **headers: str) -> web.Response:
    return web.json_response(body, headers={"Cache-Control": "no-store", **headers})


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


class TeacherApi:
    def __init__(self, verifier: Verifier, service: RoomService) -> None:
        self.verifier = verifier
        self.svc = service

    def teacher(self, request: web.Request) -> Identity:
        auth = request.headers.get("Authorization", "")
        scheme, _, tok = auth.partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            raise ApiError(401, "unauthorized", "a teacher's bearer token is required",
                         **{"WWW-Authenticate": 'Bearer realm="twinspace-live"'})
        try:
            who = self.verifier.verify(tok.strip())
        except TokenRefused as refusal:
            raise ApiError(401, refusal.code, refusal.message,
                         **{"WWW-Authenticate": 'Bearer realm="twinspace-live"'}) from None
        if not who.is_teacher:
            raise Forbidden("only teachers of the space may use this API")
        return who

    def guarded(self, view: Callable[[web.Request, Identity], Awaitable[web.StreamResponse]]
                ) -> View:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                who = self.teacher(request)
                await self.svc.buckets.take(f"{who.space}\x00{who.sub}", API_KIND)
                return await view(request, who)
            except ApiError as err:
                return err.response
            except RateLimited as err:
                response = http_error_of(err)
                response.headers["Retry-After"] = RETRY_AFTER_S
                return response
            except LiveError as err:
                return http_error_of(err)
        return run

    # -- views ------------------------------------------------------------------
    async def rooms(self, request: web.Request, who: Identity) -> web.StreamResponse:
        """Rooms with members online and every room a teacher opened, empty ones included
        (`opened`: whether a teacher opened it within the retention)."""
        rooms = await self.svc.store.rooms(who.space)
        opened = set(await self.svc.store.opened_rooms(who.space))
        return _json({"rooms": [
            {"room": name, "members": [m.to_wire() for m in rooms.get(name, [])],
             "opened": name in opened}
            for name in sorted(opened | set(rooms))]})

    async def reports(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room_q = request.query.get("room")
        room = RoomRef.parse(who.space, room_q).name if room_q else None
        return _json({"reports": await self.svc.reports.read(who.space, room)})

    async def messages(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room = RoomRef.parse(who.space, request.match_info["room"])
        q = request.query
        before, after, limit = page_query(q, _message_id)
        page = await self.svc.store.history(room, before=before, after=after, limit=limit)
        return _json({"messages": [m.to_wire() for m in page.messages], "more": page.more})

    async def export(self, request: web.Request, who: Identity) -> web.StreamResponse:
        """The room's whole history, streamed page by page (`EXPORT_PAGE` messages): only
        one page is ever in memory. The first page is read before the headers go out, so a
        store that cannot be reached is still a 503; a failure after that cuts the
        response short (the chunked body never ends, so the client sees it incomplete)."""
        room = RoomRef.parse(who.space, request.match_info["room"])
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise BadRequest("format must be json or csv")
        page = await self._page(room, "0-0")
        name = f"{room.name}-history.{fmt}"
        response = web.StreamResponse(headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="{name}"'})
        if fmt == "json":
            response.content_type, encode = "application/json", _json_page
            head = '{"room": ' + json.dumps(room.name, ensure_ascii=False) + ', "messages": ['
            tail = "]}"
        else:
            response.content_type, encode = "text/csv", _csv_page
            head, tail = _csv_rows([CSV_COLUMNS]), ""
        response.charset = "utf-8"
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(head.encode())
        first = True
        while True:
            await response.write(encode(page.messages, first).encode())
            first = first and not page.messages
            if not page.more or not page.messages:
                break
            try:
                page = await self._page(room, page.messages[-1].id)
            except Exception as exc:  # the store unreachable, an entry it cannot read
                log.warning("export cut short", extra={"space": who.space, "room": room.name,
                                                       "error": type(exc).__name__})
                raise ExportCut() from exc
        await response.write(tail.encode())
        await response.write_eof()
        return response

    async def _page(self, room: RoomRef, after: str) -> Page:
        return await self.svc.store.history(room, after=after, limit=EXPORT_PAGE)

    async def audit(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room_q = request.query.get("room")
        room = RoomRef.parse(who.space, room_q).name if room_q else None
        limit = _int(request.query.get("limit"), 100, 1, 500, "limit")
        entries = await self.svc.audit.read(who.space, room, limit)
        return _json({"entries": [e.to_wire() for e in entries]})


def _json_page(messages: list[Message], first: bool) -> str:
    """A page of the JSON export's `messages` array, with the separators `json.dumps`
    writes (so the whole is the bytes it would have written)."""
    items = ", ".join(json.dumps(m.to_wire(), ensure_ascii=False) for m in messages)
    return ("" if first or not items else ", ") + items


def _csv_rows(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _csv_page(messages: list[Message], first: bool) -> str:
    return _csv_rows([[m.id, str(m.ts), _iso(m.ts), safe_cell(m.user.id),
                       safe_cell(m.user.name), m.user.role, safe_cell(m.text)]
                      for m in messages])


def _message_id(value: str | None) -> str | None:
    return str(parse_id(value)) if value else None


def page_query(q: Mapping[str, str],
               cursor: Callable[[str], str | None]) -> tuple[str | None, str | None, int]:
    """`before`, `after` (each read by `cursor`; at most one of them) and `limit` (1..100,
    default 50) of a paged read, as `chat:history` takes them."""
    before = cursor(q["before"]) if q.get("before") else None
    after = cursor(q["after"]) if q.get("after") else None
    if before and after:
        raise BadRequest("give before or after, not both")
    return before, after, _int(q.get("limit"), 50, 1, 100, "limit")


def _int(value: str | None, default: int, lo: int, hi: int, name: str) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not lo <= int(value) <= hi:
        raise BadRequest(f"{name} must be a whole number from {lo} to {hi}")
    return int(value)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def api_routes(app: web.Application, verifier: Verifier, service: RoomService) -> TeacherApi:
    api = TeacherApi(verifier, service)
    spec = document()

    async def openapi(_: web.Request) -> web.Response:
        return _json(spec)

    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/api/rooms", api.guarded(api.rooms))
    app.router.add_get("/api/rooms/{room}/messages", api.guarded(api.messages))
    app.router.add_get("/api/rooms/{room}/export", api.guarded(api.export))
    app.router.add_get("/api/audit", api.guarded(api.audit))
    app.router.add_get("/api/reports", api.guarded(api.reports))
    return api
