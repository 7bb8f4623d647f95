"""Teacher endpoints for a room's polls (docs/protocol.md "Polls"), as the console exports them.

- `GET /api/rooms/{room}/polls` -> `{polls}`: every poll of the room still kept, open
  or closed, oldest first, as teachers see them (`Poll.to_wire(teacher=True)`).
- `GET /api/rooms/{room}/polls/{poll}[?format=csv]` -> that poll (JSON), or its
  results as CSV (`POLL_COLUMNS`), one row per line:
  `question` (the question, how many answered), `option` (per option: its count, and
  for a quiz whether it is correct), `word` (per word of a cloud: its count),
  `vote` (named choice polls and quizzes: who chose which option, and for a quiz
  whether they were right), `answer` (text and cloud answers; with who gave them in
  a named poll only). An anonymous poll's CSV names nobody. Cells a spreadsheet
  would run as a formula are quoted (`safe_cell`), as in the other exports.
Teachers only, as every `/api/` call (live/api.py). Logs name rooms and poll ids,
never answers.
"""

from __future__ import annotations

from aiohttp import web

from rooms.errors import BadRequest, NotFound
from rooms.identity import Identity, RoomRef
from rooms.polls import Poll, check_poll_id

from .api import TeacherApi, _csv_rows, _json, safe_cell
from .polls_openapi import POLL_COLUMNS


def poll_rows(poll: Poll) -> list[list[str]]:
    """The poll's results as CSV rows (header first); see the module's docstring."""
    rows = [POLL_COLUMNS, ["question", "", safe_cell(poll.question), str(len(poll.votes)),
                           "", "", ""]]
    quiz = poll.kind == "quiz"

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    for i, (text, count) in enumerate(zip(poll.options, poll.counts(), strict=True)):
        rows.append(["option", str(i + 1), safe_cell(text), str(count),
                     yes(i in poll.correct) if quiz else "", "", ""])
    if poll.kind == "cloud":
        rows += [["word", "", safe_cell(str(w)), str(n), "", "", ""] for w, n in poll.cloud()]
    if not poll.anonymous:
        for user, vote in sorted(poll.votes.items()):
            for c in vote.choices:
                if 0 <= c < len(poll.options):
                    rows.append(["vote", str(c + 1), safe_cell(poll.options[c]), "",
                                 yes(poll.right(vote)) if quiz else "", safe_cell(user),
                                 safe_cell(vote.name or user)])
    for answer in poll.answers():
        rows.append(["answer", "", safe_cell(str(answer["text"])), "", "",
                     safe_cell(str(answer.get("user", ""))),
                     safe_cell(str(answer.get("name", "")))])
    return rows


class PollsApi:
    def __init__(self, api: TeacherApi) -> None:
        self.svc = api.svc

    async def polls(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room = RoomRef.parse(who.space, request.match_info["room"])
        polls = await self.svc.store.room_polls(room)
        return _json({"polls": [p.to_wire(teacher=True) for p in polls]})

    async def poll(self, request: web.Request, who: Identity) -> web.StreamResponse:
        room = RoomRef.parse(who.space, request.match_info["room"])
        pid = check_poll_id(request.match_info["poll"])
        fmt = request.query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise BadRequest("format must be json or csv")
        poll = await self.svc.store.poll(room, pid)
        if poll is None:
            raise NotFound("no such poll")
        if fmt == "json":
            return _json(poll.to_wire(teacher=True))
        return web.Response(text=_csv_rows(poll_rows(poll)), content_type="text/csv",
                            charset="utf-8",
                            headers={"Cache-Control": "no-store", "Content-Disposition":
                                     f'attachment; filename="{room.name}-poll-{pid}.csv"'})


def polls_routes(app: web.Application, api: TeacherApi) -> None:
    p = PollsApi(api)
    app.router.add_get("/api/rooms/{room}/polls", api.guarded(p.polls))
    app.router.add_get("/api/rooms/{room}/polls/{poll}", api.guarded(p.poll))
