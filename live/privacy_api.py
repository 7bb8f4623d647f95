"""Teacher endpoints for privacy (contract v2 §3, §4): retention policy, purge receipts,
attendance, a user's erasure and export.

- `GET /api/policy` -> `{history_days, schools}`; `PUT /api/policy {history_days}` sets
  the caller's school's limit (token claim `school`: without it 403) and purges at once.
- `GET /api/purges?room=` -> a JSON list of receipts, newest first.
- `GET /api/rooms/{room}/attendance[?format=csv]` -> a JSON list of visits (or CSV with
  minutes present).
- `DELETE /api/users/{sub}/messages` -> `{deleted}`; `GET /api/users/{sub}/export` ->
  everything held about that user in the space (messages, private messages sent or
  received, visits, audit entries).
- `GET /api/private?room=&before=&after=&limit=` -> `{messages, more}`: the room's kept
  private messages, paged like `chat:history` (supervision, issue #11 part 4).
Logs name spaces, rooms and counts, never a message's text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from rooms.errors import BadRequest, Forbidden
from rooms.identity import Identity, RoomRef
from rooms.privacy import Visit, history_days
from rooms.private_store import parse_private_id

from .api import TeacherApi, _csv_rows, _iso, _json, page_query, safe_cell

log = logging.getLogger(__name__)

MAX_SUB = 256
MAX_BODY = 4096
ATTENDANCE_COLUMNS = ["user", "name", "role", "school", "joined", "left", "minutes"]


def _sub(request: web.Request) -> str:
    sub = request.match_info["sub"]
    if not 0 < len(sub) <= MAX_SUB:
        raise BadRequest(f"a user id is 1 to {MAX_SUB} characters")
    return sub


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest("the body is too long")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _minutes(v: Visit, now: int) -> float:
    return round(((v.left if v.left is not None else now) - v.joined) / 60_000, 1)


class PrivacyApi:
    def __init__(self, api: TeacherApi) -> None:
        self.api = api
        self.svc = api.svc

    async def policy(self, request: web.Request, who: Identity) -> web.StreamResponse:
        return _json((await self.svc.store.policy(who.space)).to_wire())

    async def set_policy(self, request: web.Request, who: Identity) -> web.StreamResponse:
        if not who.school:
            raise Forbidden("your token names no school (claim `school`): a school's "
                            "limit is set by a teacher of that school")
        body = await _body(request)
        days = history_days(body.get("history_days"))
        policy = await self.svc.store.set_policy(who.space, who.school, days)
        log.info("retention policy set", extra={"space": who.space, "school": who.school,
                                                "days": days,
                                                "effective": policy.history_days})
        return _json(policy.to_wire())

    async def purges(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room_q = request.query.get("room")
        room = RoomRef.parse(who.space, room_q).name if room_q else None
        receipts = await self.svc.store.receipts(who.space, room)
        return _json([r.to_wire() for r in receipts])

    async def attendance(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room = RoomRef.parse(who.space, request.match_info["room"])
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise BadRequest("format must be json or csv")
        visits = await self.svc.store.visits(room)
        if fmt == "json":
            return _json([v.to_wire() for v in visits])
        now = self.svc.clock.now_ms()
        rows = [ATTENDANCE_COLUMNS] + [
            [safe_cell(v.user), safe_cell(v.name), v.role, safe_cell(v.school or ""),
             _iso(v.joined), "" if v.left is None else _iso(v.left), str(_minutes(v, now))]
            for v in visits]
        return web.Response(text=_csv_rows(rows), content_type="text/csv", charset="utf-8",
                            headers={"Cache-Control": "no-store", "Content-Disposition":
                                     f'attachment; filename="{room.name}-attendance.csv"'})

    async def erase(self, request: web.Request, who: Identity) -> web.StreamResponse:
        sub = _sub(request)
        erased = await self.svc.erase_user(who.space, sub)
        log.info("user's messages erased", extra={"space": who.space, "by": who.sub,
                                                  "count": erased.count,
                                                  "answers": erased.answers,
                                                  "rooms": len(erased.ids)})
        return _json({"deleted": erased.count})

    async def export(self, request: web.Request, who: Identity) -> web.StreamResponse:
        sub = _sub(request)
        store = self.svc.store
        messages = await store.user_messages(who.space, sub)
        visits = await store.user_visits(who.space, sub)
        audit = [e.to_wire() for e in await self.svc.audit.read(who.space, None, 500)
                 if e.actor.get("id") == sub or e.target == sub]
        reports = [r.to_wire() for r in await store.reports(who.space, None)
                   if r.by is not None and r.by.get("id") == sub]
        answers = await self.svc.classroom.user_answers(who.space, sub)
        private = await store.user_private(who.space, sub)
        body = {"user": sub, "space": who.space,
                "messages": [m.to_wire() for m in messages],
                "private": [m.to_wire() for m in private],
                "visits": [{"room": room, **v.to_wire()} for room, v in visits],
                "audit": audit, "reports": reports, "polls": answers}
        return _json(body, **{"Content-Disposition": 'attachment; filename="user-export.json"'})

    async def private(self, request: web.Request, who: Identity) -> web.StreamResponse:
        """A page of a room's private messages, for the space's teachers only (`guarded`)."""
        q = request.query
        if not q.get("room"):
            raise BadRequest("room is required")
        room = RoomRef.parse(who.space, q.get("room"))
        before, after, limit = page_query(q, parse_private_id)
        page = await self.svc.store.private_page(room.space, room.name, before=before,
                                                 after=after, limit=limit)
        log.info("private messages read", extra={"space": who.space, "room": room.name,
                                                 "by": who.sub, "count": len(page.messages)})
        return _json({"messages": [m.to_wire() for m in page.messages], "more": page.more})


def privacy_routes(app: web.Application, api: TeacherApi) -> None:
    p = PrivacyApi(api)
    app.router.add_get("/api/policy", api.guarded(p.policy))
    app.router.add_put("/api/policy", api.guarded(p.set_policy))
    app.router.add_get("/api/purges", api.guarded(p.purges))
    app.router.add_get("/api/rooms/{room}/attendance", api.guarded(p.attendance))
    app.router.add_delete("/api/users/{sub}/messages", api.guarded(p.erase))
    app.router.add_get("/api/users/{sub}/export", api.guarded(p.export))
    app.router.add_get("/api/private", api.guarded(p.private))

