"""`MediaService`: the forwarding unit as the Socket.IO edge sees it.

Transport-free: the edge authenticates, checks that the caller joined the
room, validates payload shapes, calls these methods and maps `rooms.errors`
to error acks. The service tells the room what happens through `on_event`
(`rtc:stream`, `rtc:ended`), delivered in order by one background task.
Room keys are `RoomRef.key` (`space/room`); payloads carry the room name.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rooms.clock import Clock, SystemClock
from rooms.errors import BadRequest, Forbidden, LiveError, NotFound, RateLimited, Unavailable
from rooms.identity import Identity, RoomRef
from rooms.tasks import stop_if_cancelled

from . import ice, seam
from .config import MediaConfig
from .legs import SOURCES, PublishLeg, SubscribeLeg, close_all
from .mediaroom import MUTE_KINDS, MediaRoom

logger = logging.getLogger(__name__)

OnEvent = Callable[[str, str, dict[str, Any]], Awaitable[None]]
RANK_INTERVAL = 0.5  # seconds between two last-N decisions


class MediaService:
    def __init__(
        self,
        *,
        on_event: OnEvent,
        clock: Clock | None = None,
        config: MediaConfig | None = None,
    ) -> None:
        self._on_event = on_event
        self._clock = clock or SystemClock()
        self.config = config or MediaConfig.from_env()
        self._rooms: dict[str, MediaRoom] = {}
        self._stream_room: dict[str, MediaRoom] = {}
        self._sub_room: dict[str, MediaRoom] = {}
        self._events: asyncio.Queue[tuple[str, str, dict[str, Any]]] | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._closed = False
        seam.install()
        ice.restrict_host_addresses(self.config.addresses or None)

    # -- the edge's calls -------------------------------------------------

    async def publish(self, who: Identity, room_key: str, source: str, sdp: str) -> tuple[str, str]:
        """Accept a browser's offer for `source`; return (stream id, answer sdp)."""
        room = self._room(who, room_key, create=True)
        if source not in SOURCES:
            raise BadRequest("source must be camera or screen")
        if not who.can_write:
            raise Forbidden("visitors do not publish")
        if room.teachers_only_publish and not who.is_teacher:
            raise Forbidden("only teachers publish in this room")
        replaced = [s for s in room.streams.values() if s.who.sub == who.sub and s.source == source]
        self._check_caps(who, freed=len(replaced))
        self._start_loops()
        leg: PublishLeg
        leg = PublishLeg(
            who=who,
            room_key=room.key,
            source=source,
            config=self.config,
            clock=self._clock,
            gate=lambda kind: not room.is_muted(who.sub, kind),
            on_state=lambda state: self._publish_state(leg, state),
        )
        room.streams[leg.id] = leg
        self._stream_room[leg.id] = room
        for old in replaced:
            await self._end_stream(old, "replaced")
        answer = await _negotiated(leg, leg.accept(sdp), lambda: self._end_stream(leg),
                                   "cannot negotiate this offer")
        if leg.closed:
            raise NotFound("the stream ended")
        self._arm(leg.id, lambda: leg.announced, lambda: self._end_stream(leg))
        logger.info("%r answered", leg)
        return leg.id, answer

    async def subscribe(self, who: Identity, room_key: str, stream: str) -> tuple[str, str]:
        """Offer `stream` to `who`; return (subscription id, offer sdp)."""
        room = self._room(who, room_key)
        leg = room.streams.get(stream) if isinstance(stream, str) else None
        if leg is None or not leg.announced or leg.closed:
            raise NotFound("no such stream")
        if not room.may_see(who, leg):
            raise Forbidden("pupils' cameras are shown to teachers only")
        mine = next((s for s in room.subs.values() if s.who.sub == who.sub and s.stream is leg),
                    None)
        if mine is not None:
            raise BadRequest("you already receive this stream", sub=mine.id)
        self._check_caps(who)
        sub: SubscribeLeg
        sub = SubscribeLeg(
            who=who,
            stream=leg,
            config=self.config,
            on_state=lambda state: self._subscribe_state(sub, state),
        )
        room.subs[sub.id] = sub
        self._sub_room[sub.id] = room
        offer = await _negotiated(sub, sub.offer(), lambda: self._end_sub(sub),
                                  "cannot offer this stream")
        self._arm(sub.id, lambda: sub.pc.connectionState == "connected", lambda: self._end_sub(sub))
        self._apply_last_n(room)
        return sub.id, offer

    async def answer(self, who: Identity, sub: str, sdp: str) -> None:
        """Apply the subscriber's answer to the service's offer."""
        leg = self._own_sub(who, sub)
        if leg.answered:
            raise BadRequest("this subscription is already answered")
        try:
            await leg.answer(sdp)
        except LiveError:
            await self._end_sub(leg)
            raise

    async def unpublish(self, who: Identity, stream: str) -> None:
        """End a stream: its owner, or a teacher of its room (stop anyone's share)."""
        room = self._stream_room.get(stream) if isinstance(stream, str) else None
        leg = room.streams.get(stream) if room else None
        if room is None or leg is None or leg.who.space != who.space:
            raise NotFound("no such stream")
        if leg.who.sub != who.sub and not who.is_teacher:
            raise Forbidden("only its owner or a teacher ends a stream")
        await self._end_stream(leg, "stopped")

    async def unsubscribe(self, who: Identity, sub: str) -> None:
        await self._end_sub(self._own_sub(who, sub))

    def streams(self, room_key: str) -> list[dict[str, str]]:
        """The room's live streams, for the join ack: `{room, stream, user, source}`."""
        room = self._rooms.get(room_key)
        if room is None:
            return []
        return [room.stream_info(s) for s in room.streams.values() if s.announced and not s.closed]

    async def set_muted(self, room_key: str, user: str, what: str, muted: bool) -> None:
        """Hard mute: `audio`, `video` or `all` stop forwarding at once; `chat` is not media."""
        if what not in MUTE_KINDS:
            raise BadRequest("what must be chat, audio, video or all")
        room = self._room_by_key(room_key, create=True)
        room.set_muted(user, MUTE_KINDS[what], bool(muted))
        if muted and "audio" in MUTE_KINDS[what]:
            for leg in room.streams.values():
                if leg.who.sub == user:
                    leg.meter.last_spoke = None
        self._apply_last_n(room)
        self._forget_if_empty(room)

    async def set_last_n(self, room_key: str, n: int) -> None:
        """At most `n` video streams per subscriber in this room (0: audio only)."""
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 64:
            raise BadRequest("last_n must be an integer within 0..64")
        room = self._room_by_key(room_key, create=True)
        room.last_n = n
        self._apply_last_n(room)

    async def set_policy(
        self,
        room_key: str,
        *,
        teachers_only_publish: bool | None = None,
        pupil_cameras_teachers_only: bool | None = None,
    ) -> None:
        """Room settings. Turning `teachers_only_publish` on ends pupils' streams; turning
        `pupil_cameras_teachers_only` on ends pupils' subscriptions to other pupils'
        cameras, audio included."""
        room = self._room_by_key(room_key, create=True)
        if pupil_cameras_teachers_only is not None:
            room.pupil_cameras_teachers_only = bool(pupil_cameras_teachers_only)
            for sub in [s for s in room.subs.values() if not room.may_see(s.who, s.stream)]:
                await self._end_sub(sub)
        if teachers_only_publish is not None:
            room.teachers_only_publish = bool(teachers_only_publish)
            if room.teachers_only_publish:
                for leg in [s for s in room.streams.values() if not s.who.is_teacher]:
                    await self._end_stream(leg, "policy")
        self._apply_last_n(room)

    async def member_left(self, room_key: str, user: str) -> None:
        """The member left, was kicked or disconnected: end their streams and subscriptions."""
        room = self._rooms.get(room_key)
        if room is None:
            return
        for sub in [s for s in room.subs.values() if s.who.sub == user]:
            await self._end_sub(sub)
        for leg in [s for s in room.streams.values() if s.who.sub == user]:
            await self._end_stream(leg, "left")

    def holds(self, room_key: str) -> bool:
        """Whether this unit keeps anything of the room (streams, subscriptions, settings)."""
        return room_key in self._rooms

    async def drop_room(self, room_key: str) -> None:
        """End every subscription and stream of the room here (another process serves it)."""
        room = self._rooms.get(room_key)
        if room is None:
            return
        for sub in list(room.subs.values()):
            await self._end_sub(sub)
        for leg in list(room.streams.values()):
            await self._end_stream(leg)
        self._rooms.pop(room_key, None)

    def stats(self) -> dict[str, int]:
        rooms = list(self._rooms.values())
        return {
            "rooms": len(rooms),
            "streams": sum(len(r.streams) for r in rooms),
            "subscriptions": sum(len(r.subs) for r in rooms),
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        subs = [s for r in self._rooms.values() for s in r.subs.values()]
        legs = [s for r in self._rooms.values() for s in r.streams.values()]
        for sub in subs:
            await self._end_sub(sub)
        for leg in legs:
            await self._end_stream(leg)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        while self._tasks:  # ends already under way finish, they are bounded
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._events is not None:
            await self._events.join()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops.clear()

    # -- rooms ---------------------------------------------------------------

    def _room(self, who: Identity, room_key: str, create: bool = False) -> MediaRoom:
        if self._closed:
            raise LiveError("the media service is shutting down")
        ref = RoomRef.from_key(room_key)
        if ref.space != who.space:
            raise NotFound("no such room")
        return self._room_by_key(room_key, create=create)

    def _room_by_key(self, room_key: str, create: bool = False) -> MediaRoom:
        room = self._rooms.get(room_key)
        if room is None:
            if not create:
                raise NotFound("no such stream")
            room = MediaRoom(room_key, last_n=self.config.last_n,
                             pupil_cameras_teachers_only=self.config.pupil_cameras_teachers_only)
            self._rooms[room_key] = room
        return room

    def _forget_if_empty(self, room: MediaRoom) -> None:
        if room.empty() and self._rooms.get(room.key) is room:
            del self._rooms[room.key]

    def _own_sub(self, who: Identity, sub: str) -> SubscribeLeg:
        room = self._sub_room.get(sub) if isinstance(sub, str) else None
        leg = room.subs.get(sub) if room else None
        if leg is None or leg.who.sub != who.sub or leg.who.space != who.space:
            raise NotFound("no such subscription")
        return leg

    def _check_caps(self, who: Identity, freed: int = 0) -> None:
        """Room for one more leg of `who` (`freed` of theirs end with it): `rate_limited` for
        a member at `max_legs_per_member`, `unavailable` for a process at `max_legs`."""
        if len(self._stream_room) + len(self._sub_room) - freed >= self.config.max_legs:
            logger.warning("media legs at this process's cap (%d)", self.config.max_legs)
            raise Unavailable("this media server is full; try again later")
        whos = [leg.who for r in self._rooms.values() for leg in r.streams.values()]
        whos += [sub.who for r in self._rooms.values() for sub in r.subs.values()]
        own = sum(1 for w in whos if (w.sub, w.space) == (who.sub, who.space))
        if own - freed >= self.config.max_legs_per_member:
            raise RateLimited(f"at most {self.config.max_legs_per_member} streams and "
                              "subscriptions at once")

    def _apply_last_n(self, room: MediaRoom) -> None:
        """Forward video to the subscriptions the plan picks; tell a subscriber whose video
        stops (or starts again) with `rtc:paused`, only on a change: a subscription starts
        unpaused, so a paused one is told once at the start."""
        for sub, enabled in room.video_plan().items():
            sub.set_video(enabled)
            if sub.video_paused != (not enabled):
                sub.video_paused = not enabled
                self._emit(room.key, "rtc:paused", {
                    "room": room.name, "user": sub.who.sub, "stream": sub.stream.id,
                    "sub": sub.id, "paused": sub.video_paused})

    # -- leg life ------------------------------------------------------------

    def _publish_state(self, leg: PublishLeg, state: str) -> None:
        logger.debug("%r is %s", leg, state)
        room = self._stream_room.get(leg.id)
        if room is None or leg.closed:
            return
        if state == "connected" and not leg.announced:
            leg.announced = True
            self._emit(room.key, "rtc:stream", room.stream_info(leg))
            self._apply_last_n(room)
        elif state in ("failed", "closed", "ended"):
            self._spawn(self._end_stream(leg))

    def _subscribe_state(self, sub: SubscribeLeg, state: str) -> None:
        logger.debug("%r is %s", sub, state)
        if state in ("failed", "closed") and not sub.closed:
            self._spawn(self._end_sub(sub))

    async def _end_stream(self, leg: PublishLeg, reason: str = "ended") -> None:
        """End `leg`; `rtc:ended` says why: `stopped` (rtc:unpublish), `replaced` (published
        again), `policy` (teachers only), `left` (the member left) or `ended` (the connection
        failed or never came up, the process stopped): pages publish again after `ended`."""
        room = self._stream_room.pop(leg.id, None)
        if room is None:
            return
        room.streams.pop(leg.id, None)
        self._disarm(leg.id)
        for sub in [s for s in room.subs.values() if s.stream is leg]:
            await self._end_sub(sub)
        if leg.announced:
            self._emit(room.key, "rtc:ended", {"room": room.name, "stream": leg.id,
                                               "reason": reason})
        await close_all([leg])
        logger.info("%r ended", leg)
        self._apply_last_n(room)
        self._forget_if_empty(room)

    async def _end_sub(self, sub: SubscribeLeg) -> None:
        room = self._sub_room.pop(sub.id, None)
        if room is None:
            return
        room.subs.pop(sub.id, None)
        self._disarm(sub.id)
        await close_all([sub])
        logger.debug("%r ended", sub)
        self._apply_last_n(room)
        self._forget_if_empty(room)

    def _arm(self, key: str, done: Callable[[], bool], end: Callable[[], Awaitable[None]]) -> None:
        """End a leg that is not connected `connect_timeout` seconds from now."""

        def expire() -> None:
            self._timers.pop(key, None)
            if not done():
                logger.info("leg %s did not connect in time", key)
                self._spawn(end())

        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(self.config.connect_timeout, expire)

    def _disarm(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # -- background ----------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("media task failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _emit(self, room_key: str, event: str, payload: dict[str, Any]) -> None:
        if self._events is None:
            self._start_loops()
        assert self._events is not None
        self._events.put_nowait((room_key, event, payload))

    def _start_loops(self) -> None:
        if self._loops or self._closed:
            return
        self._events = asyncio.Queue()
        self._loops = [
            asyncio.ensure_future(self._deliver_events()),
            asyncio.ensure_future(self._rank_speakers()),
        ]

    async def _deliver_events(self) -> None:
        assert self._events is not None
        while True:
            room_key, event, payload = await self._events.get()
            try:
                await self._on_event(room_key, event, payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                logger.exception("MediaService on_event(%s, %s) failed", room_key, event)
            finally:
                self._events.task_done()

    async def _rank_speakers(self) -> None:
        while True:
            await asyncio.sleep(RANK_INTERVAL)
            try:
                for room in list(self._rooms.values()):
                    self._apply_last_n(room)
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                logger.exception("MediaService last-N failed")


async def _negotiated(
    leg: object, step: Awaitable[str], end: Callable[[], Awaitable[None]], refusal: str
) -> str:
    """The SDP `step` of `leg` gives; if it fails, the leg is ended first. The service's own
    errors (and cancellation) pass as they are; anything else is logged and answered
    `bad_request` with `refusal`."""
    try:
        return await step
    except BaseException as exc:
        await end()
        if isinstance(exc, LiveError | asyncio.CancelledError):
            raise
        logger.exception("%r failed", leg)
        raise BadRequest(refusal) from exc
