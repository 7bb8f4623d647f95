"""Screening pupils' messages with their space's filter (rooms/filter.py), before
they are stored, and what follows: a held message waits for a teacher, a flagged
one is delivered, the teachers are told and it becomes a report (`by` null) in the
teachers' report queue (rooms/reports.py).

Where it runs: `RoomService.send` calls `screen` between checking the text and
storing it. A member's messages are stored in the order sent only if nothing
awaits before `Store.append`, so `screen` does not touch the store: it uses the
space's compiled filter from this process's cache, which `join` fills
(`prepare`). A cached filter older than `REFRESH_MS` is still used while a
fresh read runs in the background; a change of rules reaches every process as
a `filter` notice, which drops the cached one (`forget`); the process that saved
the rules drops its own at once, so its next message meets them. Only a send whose
space is not cached at all (its member joined before a restart of the cache)
reads the store first.

Who is screened: students. Teachers' messages are not, and visitors do not write.
Events (docs/protocol.md "Message filter"), to the teachers in the room:
`filter:held {room, held}`, `filter:resolved {room, id, released}`,
`filter:flagged {room, flag}`; to the held message's author:
`filter:decided {room, id, released}`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from .errors import Filtered, HeldForTeacher, NotFound
from .filter import CompiledFilter, FilterConfig, Verdict, compiled
from .filter_store import HOLD_MS, Flagged, HeldMessage
from .identity import Identity, RoomRef
from .message import Author, Message
from .notices import DIRECT, FILTER, Notice
from .presence import Member
from .tasks import stop_if_cancelled

if TYPE_CHECKING:
    from .service import RoomService, Session

log = logging.getLogger(__name__)

REFRESH_MS = 30_000


class Screening:
    def __init__(self, service: RoomService) -> None:
        self.svc = service
        self._cache: dict[str, tuple[CompiledFilter, int]] = {}  # space -> (filter, read ms)
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    # -- the space's filter ------------------------------------------------
    async def prepare(self, space: str) -> CompiledFilter:
        """The space's filter, read from the store unless cached and fresh."""
        found = self._cache.get(space)
        if found is not None and found[1] > self.svc.clock.now_ms() - REFRESH_MS:
            return found[0]
        config = await self.svc.store.filter_config(space) or FilterConfig.default()
        filt = compiled(config)
        self._cache[space] = (filt, self.svc.clock.now_ms())
        return filt

    def forget(self, space: str) -> None:
        """The space's rules changed (a notice): read them again on next use."""
        self._cache.pop(space, None)

    def _cached(self, space: str) -> CompiledFilter | None:
        found = self._cache.get(space)
        if found is None:
            return None
        if found[1] <= self.svc.clock.now_ms() - REFRESH_MS and space not in self._refreshing:
            self._refreshing[space] = asyncio.get_running_loop().create_task(
                self._refresh(space))
        return found[0]

    async def _refresh(self, space: str) -> None:
        try:
            self._cache.pop(space, None)
            await self.prepare(space)
        except asyncio.CancelledError:
            raise
        except Exception:
            stop_if_cancelled()
            log.warning("filter refresh failed", extra={"space": space})
        finally:
            self._refreshing.pop(space, None)

    async def config(self, space: str) -> FilterConfig:
        return await self.svc.store.filter_config(space) or FilterConfig.default()

    async def set_config(self, who: Identity, body: object) -> FilterConfig:
        config = FilterConfig.parse(body)
        await self.svc.store.set_filter_config(who.space, config)
        # this process's next message meets the new rules at once; the notice (below) drops
        # the other processes' cached filters, and this one's again when it comes back
        self.forget(who.space)
        # space-wide: the audit entry names no room
        await self.svc.audit.record(who, "filter-set", RoomRef(who.space, ""), None)
        await self.svc.bus.notify(Notice(FILTER, who.space, who.sub))
        return config

    # -- chat:send ---------------------------------------------------------
    def screen(self, s: Session, text: str) -> Verdict | None:
        """The filter's verdict on a student's text (None: nothing to do), from the cache;
        raises `Filtered` when a matching rule blocks. Call `prepare` first if
        `needs_read` says so."""
        if s.who.is_teacher:
            return None
        filt = self._cached(s.who.space)
        assert filt is not None, "prepare the space's filter before screening"
        verdict = filt.check(text)
        if verdict is not None and verdict.action == "block":
            raise Filtered(verdict.reason)
        return verdict

    def needs_read(self, s: Session) -> bool:
        return not s.who.is_teacher and s.who.space not in self._cache

    async def hold(self, s: Session, room: RoomRef, cid: str, text: str,
                   verdict: Verdict, to: Author | None = None) -> None:
        """Keep the message (a private one to `to`, when given) for a teacher and tell the
        teachers in the room; raises `HeldForTeacher` for the sender's ack."""
        now = self.svc.clock.now_ms()
        # one id per (room, author, cid, kind): a resend of the same message holds it once
        kind = "" if to is None else "private"
        key = "\x00".join((room.key, s.who.sub, cid, kind)).encode()
        held = HeldMessage("h" + hashlib.sha256(key).hexdigest()[:20], room.name, cid,
                           Author.of(s.who),
                           s.who.school, text, now, verdict.rules,
                           now + min(HOLD_MS, self.svc.store.retention_ms), to)
        await self.svc.store.hold(room.space, held)
        await self.to_teachers(room, "filter:held", {"room": room.name, "held": held.to_wire()})
        raise HeldForTeacher(verdict.reason, held.id)

    async def flag(self, s: Session, room: RoomRef, message: Message, verdict: Verdict) -> None:
        flag = Flagged(message.ts, room.name, message.id, s.who.sub, s.who.school, verdict.rules)
        await self.svc.store.add_flagged(room.space, flag)
        await self.to_teachers(room, "filter:flagged", {"room": room.name, "flag": flag.to_wire()})
        await self.svc.reports.file(room, message, None, ", ".join(verdict.rules))
        await self.svc.schools.tell(room, Member.of(s.who), "flag", None)

    # -- a teacher decides -------------------------------------------------
    async def decide(self, who: Identity, held_id: str, release: bool) -> Message | None:
        """Release (deliver, as its author sent it) or refuse (drop) a held message;
        `not_found` if it is gone (expired, or another teacher decided first)."""
        held = await self.svc.store.take_held(who.space, held_id)
        if held is None:
            raise NotFound("no such held message")
        room = RoomRef(who.space, held.room)
        message: Message | None = None
        if release and held.to is not None:  # a private message goes to its recipient only
            await self.svc.moderation.deliver_private(room, held.user, held.to, held.cid,
                                                      held.text)
        elif release:
            message = (await self.svc.store.append(room, held.user, held.cid, held.text)).message
        await self.svc.audit.record(who, "held-release" if release else "held-refuse",
                                    room, held.user.id, {"id": held.id})
        event = {"room": room.name, "id": held.id, "released": release}
        await self.to_teachers(room, "filter:resolved", event)
        await self.direct(room, "filter:decided", event, users=[held.user.id])
        return message

    # -- events to some members of a room, on every process ------------------
    async def to_teachers(self, room: RoomRef, event: str, payload: dict[str, Any]) -> None:
        await self.direct(room, event, payload, teachers=True)

    async def direct(self, room: RoomRef, event: str, payload: dict[str, Any], *,
                     users: list[str] | None = None, teachers: bool = False,
                     school: str | None = None, others: dict[str, Any] | None = None) -> None:
        """`event` to the room's members (on every process) who are one of `users`, or a
        teacher when `teachers` (of `school` only, when given); with `others`, the same
        event carrying `others` to every other member of the room."""
        await self.svc.bus.notify(Notice(DIRECT, room.key, "", {
            "event": event, "payload": payload, "users": users or [], "teachers": teachers,
            "school": school, "others": others}))
