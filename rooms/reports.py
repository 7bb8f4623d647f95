"""Reports: a member's `chat:report` keeps the reported message as evidence.

The report holds a copy of the message, so the space's teachers still see it
after its author deleted it; the copy expires when the message itself would
have (its `ts` plus the space's effective retention, `Store.retention_of`: a
school's shorter limit set later ends it sooner too), whatever happens to the
message; an erasure of the message's author removes it. Reporting
the same message twice is one report (its id is derived from the room, the
message and the reporter). Teachers in the room hear `report:new`; each report
is resolved once with `delete` (the message goes), `mute` (its author is muted
for chat in the room) or `dismiss`, and the resolution goes into the audit as
`report:resolve`. A report of a teacher's message can be dismissed or deleted,
never muted (teachers are not moderated).

The message filter's `flag` action (rooms/screening.py) files a report too, with
`by` null (no member reported it; its reason names the filter's rules), so
flagged messages reach the same queue. A new report also tells the teachers of
the reported pupil's school (`school:notice`, action `report`; rooms/schools.py)
when the pupil is in the room.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import BadRequest, Forbidden, NotFound
from .identity import Identity, RoomRef
from .message import Author, Message
from .notices import TEACHERS, Notice

if TYPE_CHECKING:
    from .service import RoomService, Session

MAX_REASON = 500
MAX_REPORT_ID = 64
ACTIONS = ("delete", "mute", "dismiss")
CONTEXT = 3  # messages shown before and after the reported one


@dataclass(frozen=True, slots=True)
class Report:
    """`{id, message, by, reason, ts}` of contract §2, with its room, when its evidence
    expires (`until`, ms) and how it was resolved (`{action, by, ts}`, or None)."""

    id: str
    room: str
    message: Message
    by: dict[str, str] | None  # None: the filter flagged it
    reason: str
    ts: int
    until: int
    resolved: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "room": self.room, "message": self.message.to_wire(),
                "by": self.by, "reason": self.reason, "ts": self.ts,
                "resolved": self.resolved}

    def to_record(self) -> dict[str, Any]:
        return {**self.to_wire(), "until": self.until}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Report:
        m = rec["message"]
        u = m["user"]
        message = Message(str(m["id"]), str(m["room"]), str(m["cid"]),
                          Author(str(u["id"]), str(u["name"]), str(u["role"])),
                          str(m["text"]), int(m["ts"]))
        by = rec["by"]
        return cls(str(rec["id"]), str(rec["room"]), message,
                   None if by is None else dict(by),
                   str(rec["reason"]), int(rec["ts"]), int(rec["until"]), rec.get("resolved"))

    def resolve(self, action: str, by: dict[str, str], ts: int) -> Report:
        return replace(self, resolved={"action": action, "by": by, "ts": ts})


FILTER = "\x00filter"  # the reporter of a flag (no user id has a NUL)


def report_id(room: RoomRef, message_id: str, reporter: str) -> str:
    """The same reporter reporting the same message again names the same report
    (`FILTER` for the filter)."""
    digest = hashlib.sha256(f"{room.key}\x00{message_id}\x00{reporter}".encode()).hexdigest()
    return f"rep-{digest[:24]}"


def check_reason(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_REASON:
        raise BadRequest(f"reason must be text of at most {MAX_REASON} characters")
    return value.strip()


def check_report_id(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("rep-") or len(value) > MAX_REPORT_ID:
        raise BadRequest("report must be a report id")
    return value


class Reports:
    def __init__(self, service: RoomService) -> None:
        self.svc = service

    async def report(self, s: Session, name: object, message_id: str,
                     reason: object) -> Report:
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors cannot report messages")
        why = check_reason(reason)
        msg = await self.svc.store.get(room, message_id)
        if msg is None:
            raise NotFound("no such message")
        if msg.user.id == s.who.sub:
            raise BadRequest("you cannot report your own message")
        return await self.file(room, msg, s.who, why)

    async def file(self, room: RoomRef, msg: Message, by: Identity | None,
                   reason: str) -> Report:
        """Keep a report of `msg` by `by` (None: the filter) and tell the room's teachers and
        the teachers of the author's school; the kept one if it was filed already."""
        now = self.svc.clock.now_ms()
        rid = report_id(room, msg.id, FILTER if by is None else by.sub)
        report = Report(rid, room.name, msg, None if by is None else by.public(),
                        reason, now, msg.ts + await self.svc.store.retention_of(room.space))
        if not await self.svc.store.add_report(room.space, report):
            return report
        await self.svc.bus.notify(Notice(TEACHERS, room.key, "", {
            "event": "report:new", "payload": {"room": room.name,
                                               "report": report.to_wire()}}))
        if by is not None:  # the filter's flag tells the school itself (action `flag`)
            author = next((m for m in await self.svc.store.members(room)
                           if m.id == msg.user.id), None)
            await self.svc.schools.tell(room, author, "report", by)
        return report

    async def resolve(self, s: Session, report: object, action: object) -> Report:
        if not s.who.is_teacher:
            raise Forbidden("only teachers resolve reports")
        rid = check_report_id(report)
        if action not in ACTIONS:
            raise BadRequest("action must be delete, mute or dismiss")
        found = await self.svc.store.report(s.who.space, rid)
        if found is None:
            raise NotFound("no such report")
        if found.resolved is not None:
            raise BadRequest("the report is already resolved")
        room = RoomRef(s.who.space, found.room)
        author = found.message.user.id
        if action == "mute":
            if found.message.user.role == "teacher" or await self.svc.store.is_teacher(
                    room.space, author):
                raise Forbidden("teachers cannot be muted")
            await self.svc.moderation.set_muted(room, author, "chat", True)
        elif action == "delete" and await self.svc.store.delete(room, found.message.id):
            await self.svc.bus.publish(room.key, "chat:deleted",
                                       {"room": room.name, "id": found.message.id})
        done = found.resolve(str(action), s.who.public(), self.svc.clock.now_ms())
        await self.svc.store.put_report(room.space, done)
        await self.svc.audit.record(s.who, "report:resolve", room, author,
                                    {"report": rid, "resolution": action})
        await self.svc.bus.notify(Notice(TEACHERS, room.key, "", {
            "event": "report:resolved", "payload": {"room": room.name,
                                                    "report": done.to_wire()}}))
        return done

    async def read(self, space: str, room: str | None) -> list[dict[str, Any]]:
        """Reports of the space (or one room), newest first, each with the messages still
        kept around the reported one (`context`, oldest first)."""
        out = []
        for rep in await self.svc.store.reports(space, room):
            ref = RoomRef(space, rep.room)
            before = await self.svc.store.history(ref, before=rep.message.id, limit=CONTEXT)
            after = await self.svc.store.history(ref, after=rep.message.id, limit=CONTEXT)
            out.append({**rep.to_wire(), "context": {
                "before": [m.to_wire() for m in before.messages],
                "after": [m.to_wire() for m in after.messages]}})
        return out
