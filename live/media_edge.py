"""Socket.IO events of the videoconference (`rtc:*`), over `signaling.MediaService`.

Registers its handlers on the `Edge`, so errors map to acks in one place. The
edge checks what the forwarding unit cannot know: that the caller joined the
room, the payload's shape, the rate, and which process serves the room's media
(`MediaPlacement`). Who may publish and the room's media settings are the
domain's rules (`rooms.media_rules`); the forwarding unit applies them.

The room hears `rtc:stream` / `rtc:ended` through the room bus (every process
delivers them); mutes, kicks, leaves and disconnects reach the forwarding unit
through the domain's hooks (`Moderation.mute_hooks`, `kick_hooks`,
`RoomService.leave_hooks`).
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.media_rules import MAX_LAST_N, MediaSettingsBook, check_change, check_publish
from rooms.service import RoomService, Session
from signaling.service import MediaService

from .edge import Edge
from .media_placement import MediaPlacement
from .wire import Fields

log = logging.getLogger(__name__)

MAX_ID = 64


class MediaElsewhere(Unavailable):
    """The room's media is served by another process: the ack names it (`process`)."""

    def __init__(self, process: str) -> None:
        super().__init__("this room's media is served by another process; connect there",
                         process=process)


class MediaEdge:
    def __init__(
        self, edge: Edge, service: RoomService, media: MediaService, placement: MediaPlacement,
        settings: MediaSettingsBook | None = None,
    ) -> None:
        self.edge = edge
        self.svc = service
        self.media = media
        self.placement = placement
        # the rooms' media settings (`rtc:settings`), for the forwarding unit and join acks
        self.settings = settings or MediaSettingsBook(
            default_last_n=media.config.last_n,
            pupil_cameras_teachers_only=media.config.pupil_cameras_teachers_only)
        service.moderation.mute_hooks.append(self.on_mute)
        service.moderation.kick_hooks.append(self.on_kick)
        service.leave_hooks.append(self.on_leave)
        service.media_state = self.room_state
        handlers = {
            "rtc:publish": self.publish, "rtc:subscribe": self.subscribe,
            "rtc:answer": self.answer, "rtc:unpublish": self.unpublish,
            "rtc:unsubscribe": self.unsubscribe, "rtc:settings": self.change_settings,
        }
        for name, h in handlers.items():
            edge.on(name, h)

    # -- client events ------------------------------------------------------
    async def publish(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        source = f.str("source", max_len=16)
        sdp = f.str("sdp", max_len=self.media.config.max_sdp)
        settings = self.settings.get(room.key)
        check_publish(s.who, settings)
        await self._here(room)
        # the forwarding unit forgets a room it holds nothing of (and its last-N with it)
        await self.media.set_last_n(room.key, settings.last_n)
        # a mute set before this process saw the room (or before the member came) holds
        kinds = (await self.svc.store.mutes(room)).get(s.who.sub, frozenset())
        for what in ("audio", "video"):
            if what in kinds:
                await self.media.set_muted(room.key, s.who.sub, what, True)
        stream, answer = await self.media.publish(s.who, room.key, source, sdp)
        self.placement.touch(room.key)
        return {"stream": stream, "sdp": answer}

    async def subscribe(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        stream = f.str("stream", max_len=MAX_ID)
        await self._here(room)
        sub, offer = await self.media.subscribe(s.who, room.key, stream)
        self.placement.touch(room.key)
        return {"sub": sub, "sdp": offer}

    async def answer(self, s: Session, f: Fields) -> None:
        sub = f.str("sub", max_len=MAX_ID)
        sdp = f.str("sdp", max_len=self.media.config.max_sdp)
        await self.media.answer(s.who, sub, sdp)

    async def unpublish(self, s: Session, f: Fields) -> None:
        stream = f.str("stream", max_len=MAX_ID)
        owner = self._owner(s, stream)
        await self.media.unpublish(s.who, stream)
        if owner is not None and owner[1] != s.who.sub:  # a teacher stopped someone's stream
            await self.svc.audit.record(s.who, "rtc:unpublish", RoomRef.from_key(owner[0]),
                                        owner[1], {"stream": stream})

    async def unsubscribe(self, s: Session, f: Fields) -> None:
        await self.media.unsubscribe(s.who, f.str("sub", max_len=MAX_ID))

    async def change_settings(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        check_change(s.who)
        only_teachers = f.bool("teachers_only_publish", optional=True)
        cameras = f.bool("pupil_cameras_teachers_only", optional=True)
        last_n = f.int("last_n", optional=True, lo=0, hi=MAX_LAST_N)
        settings = self.settings.get(room.key).changed(
            teachers_only_publish=only_teachers, pupil_cameras_teachers_only=cameras,
            last_n=last_n)
        await self._here(room)
        # the forwarding unit acts on what changed (teachers only: pupils' streams end)
        await self.media.set_policy(room.key, teachers_only_publish=only_teachers,
                                    pupil_cameras_teachers_only=cameras)
        if last_n is not None:
            await self.media.set_last_n(room.key, last_n)
        self.settings.put(room.key, settings)
        self.placement.touch(room.key)
        await self.svc.audit.record(s.who, "rtc:settings", room, None, settings.to_wire())
        await self.svc.bus.publish(room.key, "room:settings", {"room": room.name,
                                                               **settings.to_wire()})
        return {"settings": settings.to_wire()}

    # -- the domain's hooks ---------------------------------------------------
    def room_state(self, room_key: str) -> dict[str, Any]:
        """For the join ack: the room's live streams and its media settings."""
        return {"streams": self.media.streams(room_key),
                "media": self.settings.get(room_key).to_wire()}

    async def on_mute(self, room_key: str, user: str, kinds: frozenset[str]) -> None:
        for what in ("audio", "video"):
            await self.media.set_muted(room_key, user, what, what in kinds)

    async def on_kick(self, room_key: str, user: str) -> None:
        await self.media.member_left(room_key, user)

    async def on_leave(self, s: Session, room_key: str) -> None:
        """A connection left the room (leave, kick, disconnect)."""
        still_here = any(
            o.conn != s.conn and o.who.sub == s.who.sub and room_key in o.rooms
            for o in self.edge.sessions.values()
        )
        if not still_here:
            await self.media.member_left(room_key, s.who.sub)

    # -- helpers -------------------------------------------------------------
    async def _here(self, room: RoomRef) -> None:
        owner = await self.placement.claim(room.key)
        if owner is not None:
            raise MediaElsewhere(owner)

    def _owner(self, s: Session, stream: str) -> tuple[str, str] | None:
        """(room key, user) of an announced stream in a room `s` joined."""
        for room_key in s.rooms:
            for info in self.media.streams(room_key):
                if info["stream"] == stream:
                    return room_key, info["user"]
        return None
