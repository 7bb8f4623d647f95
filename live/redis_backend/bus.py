"""The room bus over Redis: sharded pub/sub per room, one channel for notices.

Why this shape:
- A room's events go on the room's own sharded channel (SPUBLISH), and a
  process subscribes (SSUBSCRIBE) to a room only while it has members there:
  a process hears only the rooms it serves, and in Redis Cluster a room's
  channel lives in its keys' slot.
- Every frame is msgpack in the service's own format (`frames.py`), never
  pickle or JSON. The store's APPEND script publishes stored messages itself,
  atomically with storing them, so every process (the sender's included)
  delivers messages in stream-id order. A process delivers what it publishes
  itself before publishing, and skips it when it comes back.
- `handed(room, id)` waits until the message came back on the room's channel and
  was delivered here (`_fresh` moved the room's last delivered id to it or past),
  at most `HANDED_WAIT_S`; a room not heard here, a detach or a lost connection
  ends the wait at once (after a loss the replay delivers it).
- `attach` returns once Redis confirmed the room's subscription, so a member
  who then reads history cannot miss a message published in between.
- The subscription connection is read a socket read at a time
  (`reader.BusReader`): a batch of room frames is handed to the fan-out
  synchronously, from `data_received`, and each member gets a read's worth in
  one write. What must be awaited (a replay after a lost connection, a notice's
  handlers) goes through a queue, and what arrives after it waits its turn, so
  order holds.
- When the connection comes back after a loss, every room this process was
  hearing has the messages stored meanwhile replayed from history (`replay`)
  before live frames, from the last message delivered here or, in a room quiet
  since it was attached, from the room's newest message just before subscribing
  (`newest`);
  a message already delivered is never delivered twice. When a room's replay
  fails, its members here get `room:resync {room}` and catch up themselves
  (`chat:history` after the last message they have).
- Notices (`keys.NOTICES`, plain PUBLISH) are handled by one worker task, in
  order, so a handler may await anything, the bus included. Notices published
  while the connection was down are lost to this process: once it is subscribed
  again, the reconnect handlers run on that worker (`Bus.on_reconnect`), after
  the notices heard before and before those heard after.
- Directed calls (`Bus.call`): each process also subscribes (plain SUBSCRIBE, on
  the same connection, before the notices channel) to its own channel
  `keys.proc_calls(P)`. A call is a frame `["c", id, origin, kind, payload]`
  published on the target's channel; PUBLISH answering 0 receivers means no
  process of that id is subscribed (`ProcessGone`, at once). The target serves
  each call in its own task and publishes `["r", id, reply]` on the caller's
  channel; the caller's future for `id` takes it, or the call times out
  (`Unavailable`). Frames of another shape are logged and dropped.
- Ready (`ping`) means the subscription is up, not only Redis: a process whose
  bus is down answers `/readyz` with 503. `start` waits `START_TIMEOUT_S` for the
  first subscription; if Redis is not there yet it logs an error and goes on
  while the listener retries (readiness stays 503 until it is subscribed), so a
  process started before Redis comes ready by itself without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms.bus import HANDED_WAIT_S, Bus, RoomEvent
from rooms.errors import ProcessGone, Unavailable
from rooms.eventloop import running_loop
from rooms.identity import RoomRef
from rooms.message import MessageId, sort_key
from rooms.notices import Notice
from rooms.tasks import stop_if_cancelled

from ..loops import Backoff
from . import client, keys
from .frames import pack, read_room_frame, room_frame, unpack
from .publisher import Publisher
from .reader import BusClosed, BusReader

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT_S = 3.0
START_TIMEOUT_S = 5.0

# (room key, last delivered message id) -> messages stored after it, oldest first
Replay = Callable[[str, str], Awaitable[list[dict[str, Any]]]]
# room key -> the id of its newest stored message ("0-0" when it has none)
Newest = Callable[[str], Awaitable[str]]
RESYNC = "room:resync"  # to a room's members here: catch up from history yourselves

# what a routed reply is, and what the listener's queue holds
_FAST, _CONFIRM, _REPLAY, _NOTICE, _READY, _REPLY, _LOST, _CALL = range(8)


class RedisBus(Bus):
    def __init__(self, url: str, proc_id: str) -> None:
        super().__init__(proc_id)
        self.url = url
        self._calls_channel = keys.proc_calls(proc_id)
        self._pending: dict[int, asyncio.Future[Any]] = {}  # call id -> its reply
        self._next_call = 0
        self._serving: set[asyncio.Task[None]] = set()  # calls being answered here
        self.replay: Replay | None = None
        self.newest: Newest | None = None
        self._pub: Redis = client.connect(url)  # notices and directed calls
        self._rooms_pub = Publisher(self._pub)  # room events: SPUBLISH, pipelined
        self._ps: BusReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._notices: asyncio.Queue[Notice | None] = asyncio.Queue()  # None: reconnected
        self._notice_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()  # the notices channel is subscribed
        self._ready_once = False
        self._queue: asyncio.Queue[tuple[int, Any]] | None = None  # what the listener awaits
        self._backlog = 0  # items queued for the listener, not yet handled
        self._wanted: set[str] = set()  # room channels this process needs
        self._confirmed: set[str] = set()
        self._was_heard: set[str] = set()  # confirmed before the last loss: replay them
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._last_chat: dict[str, tuple[int, int, str]] = {}  # room -> last delivered id
        # room -> (message id, future) of sends waiting for their message to be delivered
        self._handing: dict[str, list[tuple[MessageId, asyncio.Future[None]]]] = {}

    # -- publishing ---------------------------------------------------------
    async def publish(self, room_key: str, event: str, payload: dict[str, Any],
                      skip: str | None = None) -> None:
        held = self.flush(room_key)  # announcements held this tick go first
        if held is not None:
            await held
        self.deliver((RoomEvent(room_key, event, payload, skip),))
        try:
            await self._rooms_pub.spublish(keys.room_channel(room_key),
                                           (room_frame(self.proc_id, event, payload, skip),))
        except RedisError:
            # members on other processes miss this event; they catch up from history
            log.warning("bus publish failed", extra={"event": event, "room": room_key})

    async def _send_remote(self, room_key: str, events: Sequence[RoomEvent]) -> None:
        """A batch of announcements, in one round trip (other processes read them in one
        socket read, so their members get them in one write too)."""
        channel = keys.room_channel(room_key)

        def skip(e: RoomEvent) -> str | None:  # a connection of this process, or none
            return e.skip if isinstance(e.skip, str) else None

        try:
            await self._rooms_pub.spublish(channel, [
                room_frame(self.proc_id, e.event, e.payload, skip(e)) for e in events])
        except RedisError:
            log.warning("bus publish failed", extra={"event": events[0].event, "room": room_key,
                                                      "count": len(events)})

    async def notify(self, notice: Notice) -> None:
        try:
            await self._pub.publish(keys.NOTICES, pack(notice.to_record()))
        except RedisError as exc:
            raise Unavailable() from exc

    # -- directed calls ------------------------------------------------------
    async def call(self, process: str, kind: str, payload: dict[str, Any],
                   within: float) -> dict[str, Any]:
        self._next_call += 1
        call_id = self._next_call
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = fut
        try:
            try:
                heard = await self._pub.publish(
                    keys.proc_calls(process), pack(("c", call_id, self.proc_id, kind, payload)))
            except RedisError as exc:
                raise Unavailable() from exc
            if not heard:
                raise ProcessGone()
            try:
                reply = await asyncio.wait_for(fut, within)
            except TimeoutError:
                raise Unavailable("the call was not answered in time") from None
        finally:
            self._pending.pop(call_id, None)
        return self.call_result(reply)

    def _on_call_frame(self, raw: bytes) -> None:
        """A call to this process, or a reply to one of its calls."""
        try:
            frame = unpack(raw)
        except Exception:
            frame = None
        if (isinstance(frame, list) and len(frame) == 5 and frame[0] == "c"
                and isinstance(frame[1], int) and isinstance(frame[2], str)
                and isinstance(frame[3], str)):
            _, call_id, origin, kind, payload = frame
            task = asyncio.ensure_future(self._serve_call(call_id, origin, kind, payload))
            self._serving.add(task)
            task.add_done_callback(self._serving.discard)
        elif (isinstance(frame, list) and len(frame) == 3 and frame[0] == "r"
                and isinstance(frame[1], int)):
            fut = self._pending.get(frame[1])
            if fut is not None and not fut.done():
                fut.set_result(frame[2])
        else:
            log.warning("undecodable call frame", extra={"proc": self.proc_id})

    async def _serve_call(self, call_id: int, origin: str, kind: str, payload: Any) -> None:
        reply = await self.answer_call(origin, kind, payload)
        try:
            await self._pub.publish(keys.proc_calls(origin), pack(("r", call_id, reply)))
        except RedisError:
            log.warning("call reply lost", extra={"kind": kind, "origin": origin})

    async def handed(self, room_key: str, message_id: str) -> None:
        if keys.room_channel(room_key) not in self._confirmed:
            return  # not heard here: nobody here to hand it to, or the replay will
        last = self._last_chat.get(room_key)
        if last is not None and last[2] == message_id:
            return  # the last delivered here (most often: it came back first)
        try:
            key = sort_key(message_id)
        except ValueError:
            return
        if last is not None and key <= last[:2]:
            return
        loop = running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._handing.setdefault(room_key, []).append((key, fut))
        timer = loop.call_later(HANDED_WAIT_S, _end, fut)
        try:
            await fut
        finally:
            timer.cancel()
            waiting = self._handing.get(room_key)
            if waiting and (key, fut) in waiting:  # timed out (or cancelled)
                waiting.remove((key, fut))
                if not waiting:
                    del self._handing[room_key]

    def _hand_over(self, room_key: str, upto: MessageId | None) -> None:
        """End the waits of `handed` for messages up to `upto` (None: all) in the room."""
        waiting = self._handing.get(room_key)
        if not waiting:
            return
        left = []
        for key, fut in waiting:
            if upto is None or key <= upto:
                _end(fut)
            else:
                left.append((key, fut))
        waiting[:] = left
        if not left:
            del self._handing[room_key]

    # -- rooms --------------------------------------------------------------
    async def attach(self, room_key: str) -> None:
        channel = keys.room_channel(room_key)
        if channel in self._confirmed:
            return
        cursor: str | None = None
        if channel not in self._wanted and self._ready.is_set():
            # read before subscribing, so no message heard afterwards is at or below it
            # (with the bus down, attaching is likely to fail: no read to wait for)
            cursor = await self._newest(room_key)
            if channel in self._confirmed:  # another join subscribed it meanwhile
                return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(fut)
        first = channel not in self._wanted
        self._wanted.add(channel)
        if first and cursor is not None:
            self._note_cursor(room_key, cursor)
        try:
            if first and self._ps is not None and self._ps.connected:
                await self._ps.ssubscribe(channel)
            await asyncio.wait_for(fut, SUBSCRIBE_TIMEOUT_S)
        except (TimeoutError, RedisError, OSError) as exc:
            waiters = self._waiters.get(channel, [])
            if fut in waiters:
                waiters.remove(fut)
            raise Unavailable() from exc

    async def _newest(self, room_key: str) -> str | None:
        """The room's replay cursor until a message is delivered here; None when unknown
        (after a loss, its members are then told to catch up themselves)."""
        if self.newest is None:
            return None
        try:
            return await self.newest(room_key)
        except Exception:
            log.warning("newest message unknown at attach", extra={"room": room_key})
            return None

    async def detach(self, room_key: str) -> None:
        channel = keys.room_channel(room_key)
        if channel not in self._wanted:
            return
        self._wanted.discard(channel)
        self._confirmed.discard(channel)
        self._was_heard.discard(channel)
        self._last_chat.pop(room_key, None)
        self._hand_over(room_key, None)
        ps = self._ps
        if ps is not None and ps.connected:
            # written before this returns: a later attach's SSUBSCRIBE comes after it
            with contextlib.suppress(RedisError, OSError):
                await ps.sunsubscribe(channel)

    def _confirm(self, channel: str) -> None:
        self._confirmed.add(channel)
        for fut in self._waiters.pop(channel, []):
            if not fut.done():
                fut.set_result(None)

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="bus")
            self._notice_task = asyncio.create_task(self._handle_notices(), name="notices")
        try:
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT_S)
        except TimeoutError:
            log.error("bus not subscribed after %.0f s; retrying, /readyz answers 503 until "
                      "it is", START_TIMEOUT_S, extra={"proc": self.proc_id})

    async def close(self) -> None:
        for task in (self._task, self._notice_task, *self._serving):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._notice_task = None
        for sending in list(self._sending):  # held announcements on their way out
            with contextlib.suppress(Exception):
                await sending
        await self._close_sub()
        await self._rooms_pub.aclose()
        await self._pub.aclose()

    async def ping(self) -> bool:
        """True while both connections are up: publishing, and the subscription."""
        ps = self._ps
        if not self._ready.is_set() or ps is None or not ps.connected:
            return False
        try:
            return bool(await self._pub.ping())
        except (RedisError, OSError):
            return False

    # -- listening ----------------------------------------------------------
    async def _listen(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while True:
            queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
            self._queue, self._backlog = queue, 0

            def on_lost(exc: BaseException | None, queue: asyncio.Queue[Any] = queue) -> None:
                queue.put_nowait((_LOST, exc))

            try:
                reader = await BusReader.open(self.url, self._on_replies, on_lost)
                self._ps = reader
                self._was_heard |= self._confirmed
                self._confirmed.clear()
                # calls first: once the notices channel is confirmed, both are
                await reader.subscribe(self._calls_channel)
                await reader.subscribe(keys.NOTICES)
                if self._wanted:
                    await reader.ssubscribe(*self._wanted)
                backoff.reset()
                while True:
                    tag, value = await queue.get()
                    if tag == _LOST:
                        raise BusClosed(str(value))
                    if tag == _REPLAY:
                        # a room already delivered from is being re-subscribed after a
                        # lost connection: replay what was stored meanwhile
                        self.deliver(await self._missed(value))
                        self._confirm(value)
                    elif tag == _REPLY:  # a reply that arrived behind an awaited item
                        self._handle(self._route(value), [])
                    self._backlog -= 1
            except asyncio.CancelledError:
                raise
            except Exception:
                stop_if_cancelled()
                delay = backoff.failed()
                log.warning("bus connection lost; reconnecting", extra={"retry_s": delay})
            finally:
                self._queue = None
                self._ready.clear()
                for room in list(self._handing):  # what is stored meanwhile is replayed
                    self._hand_over(room, None)
                await self._close_sub()
            await asyncio.sleep(delay)

    def _on_replies(self, batch: list[list[Any]]) -> None:
        """A read's worth of bus replies, in the connection's `data_received`."""
        queue = self._queue
        if queue is None:
            return
        run: list[RoomEvent] = []
        for reply in batch:
            if self._backlog:  # something ahead is being awaited: keep the order
                self._backlog += 1
                queue.put_nowait((_REPLY, reply))
                continue
            self._handle(self._route(reply), run)
        self.deliver(run)

    def _handle(self, routed: tuple[int, Any] | None, run: list[RoomEvent]) -> None:
        """Act on one routed reply: room events gather in `run` (delivered together),
        anything else first flushes `run` so order holds."""
        if routed is None:
            return
        tag, value = routed
        if tag == _FAST:
            run.append(value)
            return
        self.deliver(run)
        run.clear()
        if tag == _CONFIRM:
            self._confirm(value)
        elif tag == _NOTICE:
            self._notices.put_nowait(value)
        elif tag == _CALL:
            self._on_call_frame(value)
        elif tag == _READY:
            if self._ready_once:  # subscribed again: notices may have been lost
                self._notices.put_nowait(None)
            self._ready_once = True
            self._ready.set()
        elif self._queue is not None:  # _REPLAY: awaited by the listener
            self._backlog += 1
            self._queue.put_nowait((tag, value))

    def _route(self, reply: list[Any]) -> tuple[int, Any] | None:
        kind = reply[0]
        if len(reply) != 3:
            return None
        if kind == b"smessage":
            room = keys.room_of_channel(reply[1].decode(errors="replace"))
            parts = read_room_frame(reply[2])
            if room is None or parts is None:
                log.warning("undecodable bus frame", extra={"room": room})
                return None
            origin, event, payload, skip = parts
            if origin == self.proc_id:
                return None  # this process's own, delivered here already
            if event == "chat:message" and not self._fresh(room, payload):
                return None
            return _FAST, RoomEvent(room, event, payload, skip)
        if kind == b"message" and reply[1] == self._calls_channel.encode():
            return _CALL, reply[2]
        if kind == b"message":
            try:
                return _NOTICE, Notice.from_record(unpack(reply[2]))
            except Exception:
                log.warning("undecodable notice")
                return None
        if kind == b"ssubscribe":
            channel = reply[1].decode(errors="replace")
            if channel in self._was_heard:
                return _REPLAY, channel
            return _CONFIRM, channel
        if kind == b"subscribe" and reply[1] == keys.NOTICES.encode():
            return _READY, None
        return None

    def _fresh(self, room: str, message: dict[str, Any]) -> bool:
        """Track the last chat message delivered per room; false for a repeat."""
        mid = message.get("id")
        if not isinstance(mid, str):
            return True
        try:
            key = sort_key(mid)
        except ValueError:
            return True
        last = self._last_chat.get(room)
        if last is not None and key <= last[:2]:
            return False
        self._last_chat[room] = (*key, mid)
        if self._handing:
            self._hand_over(room, key)
        return True

    def _note_cursor(self, room: str, mid: str) -> None:
        """Replay after `mid` at least (a later delivered message moves it on)."""
        key = sort_key(mid)
        last = self._last_chat.get(room)
        if last is None or key > last[:2]:
            self._last_chat[room] = (*key, mid)

    async def _missed(self, channel: str) -> list[RoomEvent]:
        """Messages stored while the bus was down, oldest first, not yet delivered; or,
        when they cannot be read, `room:resync` for the room's members here."""
        self._was_heard.discard(channel)
        room = keys.room_of_channel(channel)
        if room is None:
            return []
        last = self._last_chat.get(room)
        try:
            if last is None or self.replay is None:
                raise LookupError("no replay cursor")
            messages = await self.replay(room, last[2])
        except Exception:
            log.warning("replay after bus loss failed; members told to resync",
                        extra={"room": room})
            return [RoomEvent(room, RESYNC, {"room": RoomRef.from_key(room).name})]
        fresh = [RoomEvent(room, "chat:message", m) for m in messages if self._fresh(room, m)]
        log.info("replayed after bus loss", extra={"room": room, "count": len(fresh)})
        return fresh

    async def _handle_notices(self) -> None:
        while True:
            notice = await self._notices.get()
            if notice is None:
                log.info("bus subscribed again; resyncing", extra={"proc": self.proc_id})
                await self.reconnected()
            else:
                await self.dispatch(notice)

    async def _close_sub(self) -> None:
        ps, self._ps = self._ps, None
        if ps is not None:
            await ps.aclose()


def _end(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
