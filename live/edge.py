"""The Socket.IO edge: authenticate, parse payloads, call the domain, ack.

A connection lives as long as its token (contract v2 §1): at `exp` (plus the
token leeway) it gets `auth:expired` and its transport is closed, unless it
renewed with `auth:renew {token}` first (live/expiry.py keeps the deadlines).

Every client event is answered `{ok: true, ...}` or `{ok: false, error}`;
domain errors become error acks here, in `_dispatch`, and nowhere else. An
unexpected exception is logged with ids only and answered `unavailable`: it
never reaches the event loop or other members. Before any handler runs,
`_dispatch` takes the event's place among the connection's events in flight and
its rate-limit bucket (live/limits.py): a refused event does no work. An event
kept in order (`in_line`: `chat:send`, `chat:private`, `poll:vote`) first takes
its place in the connection's line as it arrives, before any await, and waits
for it before the bucket (rooms/line.py): a connection's messages are stored in
the order sent, however the bucket's answers come back.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import socketio

from rooms.errors import Forbidden, LiveError, Unavailable
from rooms.identity import Identity
from rooms.line import Turn
from rooms.service import RoomService, Session

from .acks import connect_refusal, error_ack, internal_error, ok_ack
from .caps import CapReached, ConnectionCaps
from .engine import slim_environ
from .expiry import Deadlines
from .limits import EventLimits
from .metrics import Metrics
from .tokens import MAX_TOKEN, TokenRefused, Verifier
from .wire import Fields

log = logging.getLogger(__name__)

Handler = Callable[[Session, Fields], Awaitable[dict[str, Any] | None]]
# an event kept in order: its handler ends its turn once its write is handed over in order
InLineHandler = Callable[[Session, Fields, Turn], Awaitable[dict[str, Any] | None]]


class Edge:
    def __init__(
        self, sio: socketio.AsyncServer, service: RoomService, verifier: Verifier, metrics: Metrics,
        limits: EventLimits | None = None,
    ) -> None:
        self.sio = sio
        self.service = service
        self.verifier = verifier
        self.metrics = metrics
        # rate limits and the in-flight cap of every event (default: the service's buckets)
        self.limits = limits or EventLimits(service.buckets, enabled=service.buckets.enabled)
        self.sessions: dict[str, Session] = {}
        self._by_user: dict[str, dict[str, Session]] = {}  # user (sub) -> conn -> session
        self.handlers: dict[str, Handler] = {}
        self.in_line_handlers: dict[str, InLineHandler] = {}
        self._ack_timers: dict[tuple[str, str], Any] = {}
        self.caps: ConnectionCaps | None = None  # per user and address (live/caps.py)
        self.deadlines = Deadlines(self._expire, verifier.leeway)
        sio.on("connect", self.on_connect)
        sio.on("disconnect", self.on_disconnect)
        self._chat_events()
        self.on("auth:renew", self._renew)

    # -- connection -------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            who = self.verifier.verify(token)
            if self.caps is not None:
                await self.caps.admit(sid, who, environ)
        except (TokenRefused, CapReached) as refusal:
            self.metrics.refused.labels(refusal.code).inc()
            raise connect_refusal(refusal) from None
        self.sessions[sid] = session = Session(sid, who)
        self._by_user.setdefault(who.sub, {})[sid] = session
        if who.exp is not None:
            self.deadlines.watch(sid, who.exp)
        self.metrics.connections.inc()
        # python-socketio keeps the environ of the request that opened the session for
        # the session's life (for a client that started on long-polling, the finished
        # handshake request with it); nothing reads its headers after connect
        slim_environ(environ)
        log.info("connected", extra={"conn": sid, "user": who.sub, "space": who.space})

    def of_user(self, sub: str) -> list[Session]:
        """The connections of this process signed in as user `sub` (any space)."""
        return list(self._by_user.get(sub, {}).values())

    def in_room(self, room_key: str) -> list[Session]:
        """The connections of this process in the room (`room_key in s.rooms`), from the
        fan-out's table of the room's connections: a connection enters it before its
        session has the room and leaves it after, so none is missed. For the notices
        about one room, which would otherwise look at every connection of the process."""
        found = []
        for conn in self.sio.manager.conns_in(room_key):
            s = self.sessions.get(conn)
            if s is not None and room_key in s.rooms:
                found.append(s)
        return found

    async def on_disconnect(self, sid: str, *args: Any) -> None:
        if self.caps is not None:
            await self.caps.release(sid)
        await self._end(sid)

    async def _end(self, sid: str) -> None:
        """The session of `sid` is over: no more events in, out of its rooms."""
        self.deadlines.forget(sid)
        s = self.sessions.pop(sid, None)
        if s is None:
            return
        mine = self._by_user.get(s.who.sub)
        if mine is not None:
            mine.pop(sid, None)
            if not mine:
                del self._by_user[s.who.sub]
        self.metrics.connections.dec()
        await self.service.disconnect(s)
        log.info("disconnected", extra={"conn": sid, "user": s.who.sub})

    async def _renew(self, s: Session, f: Fields) -> dict[str, Any]:
        """`auth:renew {token}`: the connection now ends with this token (`{exp}`).

        A token that is not valid (expired included) is `forbidden`, as is one naming
        another `sub`, `space` or `role`; the deadline stays. The session keeps the
        name, school and language it connected with: a new name shows on the next
        connection (members saw the first one in `presence:join`)."""
        token = f.str("token", max_len=MAX_TOKEN)
        try:
            new = self.verifier.verify(token)
        except TokenRefused:
            raise Forbidden("the token is not valid") from None
        if (new.sub, new.space, new.role) != (s.who.sub, s.who.space, s.who.role):
            raise Forbidden("the token names another user, space or role")
        exp = new.exp
        assert exp is not None  # verify requires the claim
        s.who = dataclasses.replace(s.who, exp=exp)
        self.deadlines.watch(s.conn, exp)
        log.info("renewed", extra={"conn": s.conn, "user": s.who.sub})
        return {"exp": exp}

    async def _expire(self, sid: str) -> None:
        """The token of `sid` ran out: it leaves its rooms, gets `auth:expired`, and
        the connection is closed.

        Leaving first means nothing of a room reaches it after `auth:expired`. The
        Socket.IO DISCONNECT tells socket.io-client not to reconnect by itself (with
        the same token it would be refused anyway); closing the transport ends the
        connection even for a client that ignores the DISCONNECT."""
        s = self.sessions.get(sid)
        if s is None:
            return
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        log.info("session expired", extra={"conn": sid, "user": s.who.sub})
        await self._end(sid)
        await self.sio.emit("auth:expired", {}, to=sid)
        await self.sio.disconnect(sid)
        if eio_sid is not None:
            await self.sio.eio.close_transport(eio_sid)

    def identity(self, sid: str) -> Identity | None:
        s = self.sessions.get(sid)
        return s.who if s else None

    # -- events -----------------------------------------------------------------
    def on(self, event: str, handler: Handler) -> None:
        self.handlers[event] = handler

        async def entry(sid: str, *args: Any) -> dict[str, Any]:
            return await self._dispatch(event, sid, args[0] if args else None, handler, None)

        self.sio.on(event, entry)

    def in_line(self, event: str, handler: InLineHandler) -> None:
        """`event` keeps its order among the connection's events in line (rooms/line.py):
        `handler` gets its turn, reached, and ends it once its write is handed over in
        order; a failure ends it at once."""
        self.in_line_handlers[event] = handler

        async def entry(sid: str, *args: Any) -> dict[str, Any]:
            return await self._dispatch(event, sid, args[0] if args else None, None, handler)

        self.sio.on(event, entry)

    @property
    def events(self) -> list[str]:
        """Every client event handled."""
        return sorted({*self.handlers, *self.in_line_handlers})

    async def _dispatch(self, event: str, sid: str, data: Any, handler: Handler | None,
                        in_line: InLineHandler | None) -> dict[str, Any]:
        started = time.perf_counter()
        ok = "false"
        try:
            s = self.sessions.get(sid)
            if s is None:
                raise Unavailable("the connection is closing")
            # first of all, before any store read: the in-flight cap (no await) ...
            self.limits.admit(sid)
            turn: Turn | None = None
            try:
                if in_line is not None:
                    # ... its place in line as it arrived (no await before), reached
                    # before the bucket is awaited ...
                    turn = s.line.take()
                    await turn.wait()
                # ... and its rate-limit bucket
                await self.limits.take(f"{s.who.space}\x00{s.who.sub}", event)
                if in_line is not None and turn is not None:
                    result = await in_line(s, Fields(data), turn)
                else:
                    assert handler is not None
                    result = await handler(s, Fields(data))
            finally:
                if turn is not None:
                    turn.end()  # (refused or failed: the next one goes on)
                self.limits.leave(sid)
            ok = "true"
            return ok_ack(result)
        except LiveError as err:
            self.metrics.errors.labels(event, err.code).inc()
            return error_ack(err)
        except Exception:
            log.exception("handler failed", extra={"event": event, "conn": sid})
            failed = internal_error()
            self.metrics.errors.labels(event, failed.code).inc()
            return error_ack(failed)
        finally:
            timer = self._ack_timers.get((event, ok))
            if timer is None:  # the labelled child, looked up once per (event, outcome)
                timer = self._ack_timers[(event, ok)] = self.metrics.acks.labels(event, ok)
            timer.observe(time.perf_counter() - started)

    def _chat_events(self) -> None:
        svc = self.service

        async def join(s: Session, f: Fields) -> dict[str, Any]:
            return await svc.join(s, f.raw("room"))

        async def leave(s: Session, f: Fields) -> None:
            await svc.leave(s, f.raw("room"))

        async def send(s: Session, f: Fields, turn: Turn) -> dict[str, Any]:
            msg = await svc.send(
                s, f.raw("room"), f.str("text", max_len=1 << 20), f.str("cid", max_len=1000),
                turn)
            self.metrics.messages.inc()
            return {"message": msg.to_wire()}

        async def history(s: Session, f: Fields) -> dict[str, Any]:
            return await svc.history(
                s,
                f.raw("room"),
                f.message_id("before", optional=True),
                f.message_id("after", optional=True),
                f.int("limit", optional=True, lo=1, hi=100),
            )

        async def delete(s: Session, f: Fields) -> None:
            await svc.delete(s, f.raw("room"), f.message_id("id"))

        async def typing(s: Session, f: Fields) -> None:
            await svc.typing(s, f.raw("room"), f.bool("typing"))

        async def hand(s: Session, f: Fields) -> None:
            user = f.str("user", optional=True, max_len=128)
            await svc.hand(s, f.raw("room"), f.bool("raised"), user)

        for name, h in {
            "join": join,
            "leave": leave,
            "chat:history": history,
            "chat:delete": delete,
            "typing": typing,
            "hand": hand,
        }.items():
            self.on(name, h)
        self.in_line("chat:send", send)
