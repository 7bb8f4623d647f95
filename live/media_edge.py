"""Socket.IO events of the videoconference (`rtc:*`), on any service process.

Registers its handlers on the `Edge`, so errors map to acks in one place. The
edge checks what it can know here: that the caller joined the room, the
payload's shape, the rate, who may publish under the room's stored settings
(`rooms.media_rules`). It then hands the request to `MediaRouter`
(`media_routing.py`), which runs it on the process serving the room's media,
this one or another over the bus, and returns that process's ack unchanged.

`rtc:answer`, `rtc:unsubscribe` and `rtc:unpublish` name only a subscription or
a stream: the room comes from what this edge handed out to the member
(`_handed`: subscriptions and streams it answered, by member), or, for a stream
of someone else (a teacher stopping a pupil's share), from the store's live
streams of the rooms the connection joined.

The room hears `rtc:stream` / `rtc:ended` through the room bus (every process
delivers them); the join ack's `streams` and `media` come from the store. Mutes
and kicks reach every process's forwarding unit as notices
(`Moderation.mute_hooks`, `kick_hooks`), and so does the end of a lesson, which stops
every stream of the room (`Lesson.end_hooks`); a member who left (leave, kick,
disconnect) with no connection left in the room, and a settings change, are
forwarded to the media process like any request.
"""

from __future__ import annotations

import logging
from typing import Any

from rooms.errors import NotFound
from rooms.identity import RoomRef
from rooms.join_store import RoomSnapshot
from rooms.media_rules import MAX_LAST_N, check_change, check_publish
from rooms.service import RoomService, Session
from signaling.service import MediaService

from .edge import Edge
from .media_placement import MediaPlacement
from .media_routing import MediaElsewhere, MediaRouter
from .wire import Fields

log = logging.getLogger(__name__)

MAX_ID = 64

__all__ = ["MediaEdge", "MediaElsewhere"]


class MediaEdge:
    def __init__(
        self, edge: Edge, service: RoomService, media: MediaService, placement: MediaPlacement,
    ) -> None:
        self.edge = edge
        self.svc = service
        self.media = media
        self.router = MediaRouter(service.store, service.bus, media, placement)
        # ids this edge handed out -> their room: (space, user, sub or stream id) -> room key
        self._handed: dict[tuple[str, str, str], str] = {}
        placement.rooms_here = self.rooms_here
        service.moderation.mute_hooks.append(self.on_mute)
        service.moderation.kick_hooks.append(self.on_kick)
        service.leave_hooks.append(self.on_leave)
        service.lesson.end_hooks.append(self.on_end)
        service.media_state = self.room_state
        handlers = {
            "rtc:publish": self.publish, "rtc:subscribe": self.subscribe,
            "rtc:answer": self.answer, "rtc:unpublish": self.unpublish,
            "rtc:unsubscribe": self.unsubscribe, "rtc:settings": self.change_settings,
        }
        for name, h in handlers.items():
            edge.on(name, h)
        for name in ("join", "auth:renew"):  # fresh TURN credentials with each (docs/protocol.md)
            self._with_ice_servers(name)

    # -- client events ------------------------------------------------------
    async def publish(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        source = f.str("source", max_len=16)
        sdp = f.str("sdp", max_len=self.media.config.max_sdp)
        check_publish(s.who, await self.router.settings(room))
        self.svc.lesson.check_supervised(s, room)  # pupils: only with a teacher in
        result = await self.router.run("publish", s.who, room.key,
                                       {"source": source, "sdp": sdp})
        self._hand(s, result["stream"], room.key)
        return result

    async def subscribe(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        stream = f.str("stream", max_len=MAX_ID)
        result = await self.router.run("subscribe", s.who, room.key, {"stream": stream})
        self._hand(s, result["sub"], room.key)
        return result

    async def answer(self, s: Session, f: Fields) -> None:
        sub = f.str("sub", max_len=MAX_ID)
        sdp = f.str("sdp", max_len=self.media.config.max_sdp)
        await self.router.run("answer", s.who, self._room_of(s, sub, "subscription"),
                              {"sub": sub, "sdp": sdp})

    async def unpublish(self, s: Session, f: Fields) -> None:
        stream = f.str("stream", max_len=MAX_ID)
        owner = await self._stream_owner(s, stream)
        if owner is None:
            raise NotFound("no such stream")
        room_key, user = owner
        await self.router.run("unpublish", s.who, room_key, {"stream": stream})
        self._handed.pop((s.who.space, s.who.sub, stream), None)
        if user != s.who.sub:  # a teacher stopped someone's stream
            await self.svc.audit.record(s.who, "rtc:unpublish", RoomRef.from_key(room_key),
                                        user, {"stream": stream})

    async def unsubscribe(self, s: Session, f: Fields) -> None:
        sub = f.str("sub", max_len=MAX_ID)
        await self.router.run("unsubscribe", s.who, self._room_of(s, sub, "subscription"),
                              {"sub": sub})
        self._handed.pop((s.who.space, s.who.sub, sub), None)

    async def change_settings(self, s: Session, f: Fields) -> dict[str, Any]:
        room = self.svc.joined_room(s, f.raw("room"))
        check_change(s.who)
        only_teachers = f.bool("teachers_only_publish", optional=True)
        cameras = f.bool("pupil_cameras_teachers_only", optional=True)
        last_n = f.int("last_n", optional=True, lo=0, hi=MAX_LAST_N)
        settings = (await self.router.settings(room)).changed(
            teachers_only_publish=only_teachers, pupil_cameras_teachers_only=cameras,
            last_n=last_n)
        await self.svc.store.put_media_settings(room, settings)
        # the forwarding unit acts on what changed (teachers only: pupils' streams end)
        await self.router.run("settings", s.who, room.key, {
            "teachers_only_publish": only_teachers, "pupil_cameras_teachers_only": cameras,
            "last_n": last_n})
        await self.svc.audit.record(s.who, "rtc:settings", room, None, settings.to_wire())
        await self.svc.bus.publish(room.key, "room:settings", {"room": room.name,
                                                               **settings.to_wire()})
        return {"settings": settings.to_wire()}

    def ice_servers(self, s: Session) -> list[dict[str, Any]]:
        """The `RTCIceServer` list for this member's PeerConnections (signaling/turn.py)."""
        return self.media.config.turn.ice_servers(s.who.sub, self.svc.clock)

    def _with_ice_servers(self, event: str) -> None:
        """The ack of `event` (registered before) also carries `ice_servers`."""
        inner = self.edge.handlers[event]

        async def handler(s: Session, f: Fields) -> dict[str, Any]:
            ack = await inner(s, f) or {}
            return {**ack, "ice_servers": self.ice_servers(s)}

        self.edge.on(event, handler)

    # -- the domain's hooks ---------------------------------------------------
    def room_state(self, snap: RoomSnapshot) -> dict[str, Any]:
        """For the join ack: the room's live streams and its media settings (as the join
        read them: `Store.snapshot`)."""
        return {"streams": [st.to_wire() for st in snap.streams],
                "media": self.router.or_defaults(snap.media_settings).to_wire()}

    async def on_mute(self, room_key: str, user: str, kinds: frozenset[str]) -> None:
        for what in ("audio", "video"):
            await self.media.set_muted(room_key, user, what, what in kinds)

    async def on_kick(self, room_key: str, user: str) -> None:
        await self.media.member_left(room_key, user)

    async def on_end(self, room_key: str) -> None:
        """The lesson ended: every stream of the room stops."""
        for user in {info["user"] for info in self.media.streams(room_key)}:
            await self.media.member_left(room_key, user)

    async def on_leave(self, s: Session, room_key: str) -> None:
        """A connection left the room (leave, kick, disconnect): with no connection of the
        member left in the room on any process, their streams and subscriptions end.

        Cost, as it runs for every member when a school's network drops them all at
        once: this process's other connections of the user (not all of its connections),
        then whether the room has media anywhere (this process's forwarding unit, else
        one read of its media owner); only then the room's members are read."""
        if any(o is not s and room_key in o.rooms for o in self.edge.of_user(s.who.sub)):
            return
        if not (self.media.holds(room_key)
                or await self.router.placement.owner(room_key) is not None):
            self._forget_handed(s, room_key)  # no media in the room: nothing to end
            return
        members = await self.svc.store.members(RoomRef.from_key(room_key))
        if any(m.id == s.who.sub for m in members):
            return
        self._forget_handed(s, room_key)
        await self.router.run("left", s.who, room_key, {})

    def _forget_handed(self, s: Session, room_key: str) -> None:
        for key in [k for k, r in self._handed.items()
                    if r == room_key and k[:2] == (s.who.space, s.who.sub)]:
            del self._handed[key]

    def rooms_here(self) -> set[str]:
        """Rooms with members connected to this process (whose media owner is watched)."""
        return {r for o in self.edge.sessions.values() for r in o.rooms}

    # -- helpers -------------------------------------------------------------
    def _hand(self, s: Session, item: str, room_key: str) -> None:
        self._handed[(s.who.space, s.who.sub, item)] = room_key

    def _room_of(self, s: Session, item: str, what: str) -> str:
        room_key = self._handed.get((s.who.space, s.who.sub, item))
        if room_key is None or room_key not in s.rooms:
            raise NotFound(f"no such {what}")
        return room_key

    async def _stream_owner(self, s: Session, stream: str) -> tuple[str, str] | None:
        """(room key, user) of a stream in a room `s` joined: one it published here, or
        one the room heard of."""
        mine = self._handed.get((s.who.space, s.who.sub, stream))
        if mine is not None and mine in s.rooms:
            return mine, s.who.sub
        for room_key in sorted(s.rooms):
            for st in await self.svc.store.streams(RoomRef.from_key(room_key)):
                if st.stream == stream:
                    return room_key, st.user
        return None
