"""The teacher HTTP API of the message filter (docs/protocol.md "Message filter").

- `GET /api/filter` -> the space's rules `{actions, languages, added, removed,
  allowed_domains}` and what may be chosen (`rules`, `action_names`, `all_languages`);
- `PUT /api/filter` with rules (fields left out keep their defaults) -> the rules
  as stored; every process uses them for the next message;
- `GET /api/held?room=` -> `{held}`: messages waiting for a teacher, oldest first;
- `POST /api/held/{id}` with `{release: true|false}` -> `{released, message?}`: a
  released message is delivered as its author sent it, a refused one dropped;
  `not_found` when it expired or another teacher decided first;
- `GET /api/flagged?room=&limit=` -> `{flagged}`: flags, newest first.
Guarded like every teacher endpoint (live/api.py `TeacherApi.guarded`).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from rooms.errors import BadRequest
from rooms.filter import ACTIONS, RULES
from rooms.identity import Identity, RoomRef
from rooms.wordlists import LANGUAGES

from .api import TeacherApi, _int, _json

MAX_BODY = 64 * 1024
HELD_ID_MAX = 64


async def _body(request: web.Request) -> Any:
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("the body must be JSON") from None


def _room(who: Identity, request: web.Request) -> str | None:
    name = request.query.get("room")
    return RoomRef.parse(who.space, name).name if name else None


class FilterApi:
    def __init__(self, api: TeacherApi) -> None:
        self.api = api
        self.screening = api.svc.screening

    async def get_filter(self, request: web.Request, who: Identity) -> web.StreamResponse:
        config = await self.screening.config(who.space)
        return _json({**config.to_wire(), "rules": list(RULES), "action_names": list(ACTIONS),
                      "all_languages": list(LANGUAGES)})

    async def put_filter(self, request: web.Request, who: Identity) -> web.StreamResponse:
        config = await self.screening.set_config(who, await _body(request))
        return _json(config.to_wire())

    async def held(self, request: web.Request, who: Identity) -> web.StreamResponse:
        found = await self.api.svc.store.held(who.space, _room(who, request))
        return _json({"held": [h.to_wire() for h in found]})

    async def decide(self, request: web.Request, who: Identity) -> web.StreamResponse:
        held_id = request.match_info["id"]
        if not 1 <= len(held_id) <= HELD_ID_MAX or not held_id.isalnum():
            raise BadRequest("not a held message id")
        body = await _body(request)
        release = body.get("release") if isinstance(body, dict) else None
        if not isinstance(release, bool):
            raise BadRequest("release must be true or false")
        message = await self.screening.decide(who, held_id, release)
        out: dict[str, Any] = {"released": release}
        if message is not None:
            out["message"] = message.to_wire()
        return _json(out)

    async def flagged(self, request: web.Request, who: Identity) -> web.StreamResponse:
        limit = _int(request.query.get("limit"), 100, 1, 500, "limit")
        found = await self.api.svc.store.flagged(who.space, _room(who, request), limit)
        return _json({"flagged": [f.to_wire() for f in found]})


def filter_routes(app: web.Application, api: TeacherApi) -> None:
    f = FilterApi(api)
    app.router.add_get("/api/filter", api.guarded(f.get_filter))
    app.router.add_put("/api/filter", api.guarded(f.put_filter))
    app.router.add_get("/api/held", api.guarded(f.held))
    app.router.add_post("/api/held/{id}", api.guarded(f.decide))
    app.router.add_get("/api/flagged", api.guarded(f.flagged))
