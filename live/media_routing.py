"""Where a room's `rtc:*` request runs: here, or on the process serving the room's media.

Why: a room's members may be connected to any service process (contract §2), but
the room's media must meet on one forwarding unit (`MediaPlacement` says which).
The Socket.IO edge (`media_edge.py`) validates a request and hands it here as an
operation (`OPS`) with the caller's identity and the validated fields;
`MediaRouter.run`:
- this process serves the room (or claims it now): runs the operation on its own
  `MediaService`;
- another process does: a directed call on the bus (`Bus.call`, kind `rtc`,
  payload `{op, room, who, ...fields}`); that process's result or error comes back
  unchanged, so the member gets the same ack as on the media process;
- that process is gone (`ProcessGone`: nobody listens under its id): the room is
  taken over (`MediaPlacement.take_over`, `on_dead`) and the operation runs here.
The media process checks again what depends on the room (who may publish under
the stored settings, that it still serves the room) and never forwards a call on.
The browser's media goes straight to the media process: the SDP it answers or
offers carries that process's addresses.

What the forwarding unit tells the room (`rtc:stream`, `rtc:ended`) is written to
the store's live streams, then published on the room bus (`relay`): the join ack
of any process lists the room's streams from the store. After a take-over, the
dead process's streams leave the store and the room hears their `rtc:ended`
(`on_dead`); pages then publish and subscribe again (docs/protocol.md, "Media on
any process").
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.bus import Bus
from rooms.errors import BadRequest, NotFound, ProcessGone, Unavailable
from rooms.identity import Identity, RoomRef
from rooms.media_rules import MediaSettings, check_publish
from rooms.media_store import LiveStream
from rooms.store import Store
from signaling.service import MediaService

from .media_placement import MediaPlacement

log = logging.getLogger(__name__)

CALL = "rtc"  # the kind of the bus's directed calls
CALL_S = 15.0  # a forwarded call's answer, negotiation included
OPS = ("publish", "subscribe", "answer", "unpublish", "unsubscribe", "settings", "left")
CLAIMING = ("publish", "subscribe")  # operations that make a process serve the room


class MediaElsewhere(Unavailable):
    """The room's media is served by another process: the ack names it (`process`)."""

    def __init__(self, process: str) -> None:
        super().__init__("this room's media is served by another process; connect there",
                         process=process)


class MediaRouter:
    def __init__(self, store: Store, bus: Bus, media: MediaService,
                 placement: MediaPlacement) -> None:
        self.store = store
        self.bus = bus
        self.media = media
        self.placement = placement
        self.proc_id = placement.proc_id
        bus.on_call(CALL, self.on_call)
        placement.on_dead = self.on_dead
        placement.on_lost = self.media.drop_room

    async def settings(self, room: RoomRef) -> MediaSettings:
        """The room's stored media settings, or the defaults."""
        return self.or_defaults(await self.store.media_settings(room))

    def or_defaults(self, stored: MediaSettings | None) -> MediaSettings:
        """Stored settings (`media_settings`), or the defaults when nobody changed them."""
        return stored or MediaSettings(
            last_n=self.media.config.last_n,
            pupil_cameras_teachers_only=self.media.config.pupil_cameras_teachers_only)

    async def run(self, op: str, who: Identity, room_key: str,
                  fields: dict[str, Any]) -> dict[str, Any]:
        """Run `op` for `who` in the room, on whichever process serves its media."""
        for _ in range(2):
            if op in CLAIMING:
                owner = await self.placement.claim(room_key)
            else:
                owner = await self.placement.owner(room_key)
            if owner is None:
                return await self._here(op, who, room_key, fields)
            try:
                return await self.bus.call(
                    owner, CALL, {"op": op, "room": room_key, "who": who.to_record(), **fields},
                    within=CALL_S)
            except ProcessGone:
                log.info("media process gone; taking the room over",
                         extra={"room": room_key, "dead": owner, "proc": self.proc_id})
                if await self.placement.take_over(room_key, owner):
                    await self.on_dead(room_key, owner)
        raise Unavailable("the room's media is moving to another process; try again")

    async def on_call(self, origin: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A forwarded operation, on the process serving the room's media."""
        op, room_key = payload.get("op"), payload.get("room")
        who = Identity.from_record(payload.get("who"))
        if op not in OPS or not isinstance(room_key, str):
            raise BadRequest("not a media operation")
        if RoomRef.from_key(room_key).space != who.space:
            raise NotFound("no such room")
        if op in CLAIMING:
            owner = await self.placement.claim(room_key)
            if owner is not None:  # it moved meanwhile: the caller retries there
                raise MediaElsewhere(owner)
        fields = {k: v for k, v in payload.items() if k not in ("op", "room", "who")}
        return await self._here(str(op), who, room_key, fields)

    async def _here(self, op: str, who: Identity, room_key: str,
                    fields: dict[str, Any]) -> dict[str, Any]:
        """Run `op` on this process's forwarding unit."""
        media = self.media
        if op == "publish":
            room = RoomRef.from_key(room_key)
            settings = await self.settings(room)
            check_publish(who, settings)
            # the forwarding unit forgets a room it holds nothing of: the stored settings
            # (and mutes, set before this process saw the room) hold on it again
            await media.set_last_n(room_key, settings.last_n)
            await media.set_policy(room_key,
                                   teachers_only_publish=settings.teachers_only_publish,
                                   pupil_cameras_teachers_only=settings.pupil_cameras_teachers_only)
            kinds = (await self.store.mutes(room)).get(who.sub, frozenset())
            for what in ("audio", "video"):
                if what in kinds:
                    await media.set_muted(room_key, who.sub, what, True)
            stream, answer = await media.publish(who, room_key, _str(fields, "source"),
                                                 _str(fields, "sdp"))
            self.placement.touch(room_key)
            return {"stream": stream, "sdp": answer}
        if op == "subscribe":
            sub, offer = await media.subscribe(who, room_key, _str(fields, "stream"))
            self.placement.touch(room_key)
            return {"sub": sub, "sdp": offer}
        if op == "answer":
            await media.answer(who, _str(fields, "sub"), _str(fields, "sdp"))
        elif op == "unpublish":
            await media.unpublish(who, _str(fields, "stream"))
        elif op == "unsubscribe":
            await media.unsubscribe(who, _str(fields, "sub"))
        elif op == "settings":
            only_teachers = _flag(fields, "teachers_only_publish")
            cameras = _flag(fields, "pupil_cameras_teachers_only")
            last_n = fields.get("last_n")
            if media.holds(room_key):  # else it gets them from the store at its next publish
                await media.set_policy(room_key, teachers_only_publish=only_teachers,
                                       pupil_cameras_teachers_only=cameras)
                if last_n is not None:
                    await media.set_last_n(room_key, last_n)
        elif op == "left":
            await media.member_left(room_key, who.sub)
        else:
            raise BadRequest("not a media operation")
        return {}

    # -- what the forwarding unit tells the room, and failover -------------------
    async def relay(self, room_key: str, event: str, payload: dict[str, Any]) -> None:
        """`rtc:stream` / `rtc:ended` from this process's forwarding unit: into the store's
        live streams, then to the room on every process."""
        room = RoomRef.from_key(room_key)
        try:
            if event == "rtc:stream":
                await self.store.add_stream(room, LiveStream(
                    payload["room"], payload["stream"], payload["user"], payload["source"],
                    self.proc_id))
            elif event == "rtc:ended":
                await self.store.end_stream(room, payload["stream"])
        except Exception:
            log.warning("live stream not recorded in the store",
                        extra={"room": room_key, "stream": payload.get("stream")})
        await self.bus.publish(room_key, event, payload)

    async def on_dead(self, room_key: str, dead: str) -> None:
        """This process took the room's media over from `dead`: the room hears the end of
        the streams `dead` forwarded."""
        gone = await self.store.end_streams_of(RoomRef.from_key(room_key), dead)
        log.info("media room taken over", extra={"room": room_key, "dead": dead,
                                                 "proc": self.proc_id, "streams": len(gone)})
        for s in gone:
            await self.bus.publish(room_key, "rtc:ended",
                                   {"room": s.room, "stream": s.stream, "reason": "moved"})


def _str(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


def _flag(fields: dict[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value
