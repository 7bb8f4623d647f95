"""python-socketio's Redis manager, spoken in msgpack on per-room channels.

Why not the stock `AsyncRedisManager`: it sends JSON on one channel that every
process decodes, and its acks break on binary values. This subclass keeps its
machinery (host ids, cross-process callbacks, disconnects, room enter/leave)
and overrides only `_publish` and `_listen`:
- every frame is msgpack, never pickle or JSON;
- a room's emits go on the room's sharded channel (SPUBLISH), and a process
  subscribes (SSUBSCRIBE) to a room only while it has members in it;
- `enter_room` returns once the room's subscription is confirmed, so a member
  who then reads history cannot miss a message published in between;
- when the bus connection comes back after a loss, each room's messages
  stored meanwhile are replayed from history (`replay`) before live frames,
  and chat messages already delivered are never delivered twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from redis.asyncio import Redis
from redis.exceptions import RedisError

from rooms import redis_client
from rooms.bus import CONTROL_CHANNEL, pack, room_channel, room_of_channel, unpack
from rooms.errors import Unavailable

from .bus_reader import BusClosed, BusReader
from .fanout import FastEmitManager, RoomEmit

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 3.0

# (room key, last delivered message id) -> messages stored after it, oldest first
Replay = Callable[[str, str], Awaitable[list[dict[str, Any]]]]


def _id_key(message_id: str) -> tuple[int, int]:
    ms, _, seq = message_id.partition("-")
    return int(ms), int(seq or 0)


class LiveRedisManager(socketio.AsyncRedisManager, FastEmitManager):  # type: ignore[misc]
    name = "live-redis"

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=CONTROL_CHANNEL)
        self._pub: Redis = redis_client.connect(url)
        self._ps: BusReader | None = None
        self._closing = False
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None  # what _listen handles
        self._backlog = 0  # replies queued for _listen, not yet handled
        self._wanted: set[str] = set()  # room channels this process needs
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._last_chat: dict[str, tuple[int, int, str]] = {}  # room -> last delivered id
        self.replay: Replay | None = None

    # -- publishing ---------------------------------------------------------
    async def _publish(self, data: dict[str, Any]) -> None:
        room = data.get("room") if data.get("method") == "emit" else None
        try:
            if isinstance(room, str):
                await self._pub.spublish(room_channel(room), pack(data))
            else:
                await self._pub.publish(self.channel, pack(data))
        except RedisError:
            # members on other processes miss this event; they catch up from history
            log.warning("bus publish failed", extra={"method": data.get("method"), "room": room})

    # -- room subscriptions -------------------------------------------------
    async def enter_room(
        self, sid: str, namespace: str, room: str, eio_sid: str | None = None
    ) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if room != sid and self.is_connected(sid, namespace) and "/" in str(room):
            await self._subscribed(room_channel(room))

    def basic_leave_room(self, sid: str, namespace: str, room: str) -> None:
        super().basic_leave_room(sid, namespace, room)
        if isinstance(room, str) and "/" in room and room not in self.rooms.get(namespace, {}):
            channel = room_channel(room)
            if channel in self._wanted:
                self._wanted.discard(channel)
                self._confirmed.discard(channel)
                self._last_chat.pop(room, None)
                if self._ps is not None:
                    asyncio.ensure_future(self._unsubscribe(channel))

    async def _unsubscribe(self, channel: str) -> None:
        try:
            if channel not in self._wanted and self._ps is not None:
                await self._ps.sunsubscribe(channel)
        except (RedisError, OSError):
            pass  # the connection is gone; it resubscribes to _wanted only

    async def _subscribed(self, channel: str) -> None:
        if channel in self._confirmed:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(fut)
        first = channel not in self._wanted
        self._wanted.add(channel)
        try:
            if first and self._ps is not None and self._ps.connected:
                await self._ps.ssubscribe(channel)
            await asyncio.wait_for(fut, SUBSCRIBE_TIMEOUT)
        except (TimeoutError, RedisError, OSError) as exc:
            waiters = self._waiters.get(channel, [])
            if fut in waiters:
                waiters.remove(fut)
            raise Unavailable() from exc

    def _confirm(self, channel: str) -> None:
        self._confirmed.add(channel)
        for fut in self._waiters.pop(channel, []):
            if not fut.done():
                fut.set_result(None)

    # -- listening ------------------------------------------------------------
    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        """Room emits are delivered as the bus connection reads them (`_on_replies`,
        each member getting a read's worth in one write); what needs awaiting or
        python-socketio's own handling (control frames, emits with callbacks, the
        replay after a lost connection) comes through the queue here, in order."""
        retry = 0.2
        while True:
            queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
            self._queue, self._backlog = queue, 0

            def lost(exc: BaseException | None, queue: asyncio.Queue[Any] = queue) -> None:
                queue.put_nowait(("lost", exc))

            try:
                reader = await BusReader.open(self.redis_url, self._on_replies, lost)
                self._ps = reader
                self._confirmed.clear()
                await reader.subscribe(self.channel)
                if self._wanted:
                    await reader.ssubscribe(*self._wanted)
                retry = 0.2
                while True:
                    tag, value = await queue.get()
                    if tag == "lost":
                        raise BusClosed(str(value))
                    if tag == "reply":
                        routed = self._route(value)
                        tag, value = routed if routed is not None else ("", None)
                    if tag == "fast":
                        self._flush([value])
                    elif tag == "confirm":
                        self._confirm(value)
                    elif tag == "slow":
                        yield value
                    elif tag == "replay":
                        # a room already delivered from is being re-subscribed after a
                        # lost connection: replay what was stored meanwhile
                        self._flush(await self._missed(value))
                        self._confirm(value)
                    self._backlog -= 1
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._closing:  # python-socketio's listener ends quietly on this
                    raise asyncio.CancelledError() from None
                log.warning("bus connection lost; reconnecting", extra={"retry_s": retry})
            finally:
                self._queue = None
                await self._close_sub()
            await asyncio.sleep(retry)
            retry = min(retry * 2, 5.0)

    def _on_replies(self, batch: list[list[Any]]) -> None:
        """A read's worth of bus replies, in the connection's `data_received`."""
        queue = self._queue
        if queue is None:
            return
        run: list[RoomEmit] = []
        for reply in batch:
            if self._backlog:  # something ahead is being awaited: keep the order
                self._backlog += 1
                queue.put_nowait(("reply", reply))
                continue
            routed = self._route(reply)
            if routed is None:
                continue
            tag, value = routed
            if tag == "fast":
                run.append(value)
                continue
            self._flush(run)
            if tag == "confirm":
                self._confirm(value)
            else:
                self._backlog += 1
                queue.put_nowait((tag, value))
        self._flush(run)

    def _route(self, reply: list[Any]) -> tuple[str, Any] | None:
        kind = reply[0]
        if kind in (b"smessage", b"message") and len(reply) == 3:
            channel = reply[1].decode(errors="replace")
            frame = self._decode(reply[2], channel)
            if frame is None:
                return None
            if frame.get("host_id") == self.host_id and frame.get("method") != "callback":
                return None  # this process's own emit, delivered here already
            if not self._fresh(frame):
                return None
            fast = self._fast(frame)
            return ("fast", fast) if fast is not None else ("slow", frame)
        if kind == b"ssubscribe" and len(reply) == 3:
            channel = reply[1].decode(errors="replace")
            room = room_of_channel(channel)
            if room is not None and room in self._last_chat and self.replay is not None:
                return ("replay", channel)
            return ("confirm", channel)
        return None

    def _fast(self, frame: dict[str, Any]) -> RoomEmit | None:
        """The frame (not this process's own: `_route` drops those) as a room emit this
        process delivers itself, or None when it is for python-socketio's listener."""
        if (frame.get("method") != "emit" or frame.get("callback") is not None
                or frame.get("binary")):
            return None
        room, data, namespace = frame.get("room"), frame.get("data"), frame.get("namespace")
        if (not isinstance(room, str) or not isinstance(data, list)
                or not isinstance(namespace, str) or namespace not in self.rooms):
            return None
        return RoomEmit(str(frame.get("event")), data, namespace, room, frame.get("skip_sid"))

    def _flush(self, run: list[RoomEmit]) -> None:
        if run:
            if not self.deliver(run):
                log.warning("bus batch not deliverable", extra={"count": len(run)})
            run.clear()

    def _fresh(self, frame: dict[str, Any]) -> bool:
        """Track the last chat message delivered per room; drop repeats."""
        if frame.get("event") != "chat:message":
            return True
        data = frame.get("data")
        msg = data[0] if isinstance(data, list) and data else None
        mid = msg.get("id") if isinstance(msg, dict) else None
        room = frame.get("room")
        if not isinstance(mid, str) or not isinstance(room, str):
            return True
        key = _id_key(mid)
        last = self._last_chat.get(room)
        if last is not None and key <= last[:2]:
            return False
        self._last_chat[room] = (*key, mid)
        return True

    async def _missed(self, channel: str) -> list[RoomEmit]:
        """Messages stored while the bus was down, oldest first, not yet delivered."""
        room = room_of_channel(channel)
        last = self._last_chat.get(room) if room else None
        if room is None or last is None or self.replay is None:
            return []
        try:
            messages = await self.replay(room, last[2])
        except Exception:
            log.warning("replay after bus loss failed", extra={"room": room})
            return []
        fresh = [RoomEmit("chat:message", [m], "/", room) for m in messages
                 if self._fresh({"event": "chat:message", "room": room, "data": [m]})]
        log.info("replayed after bus loss", extra={"room": room, "count": len(fresh)})
        return fresh

    def _decode(self, raw: Any, channel: str) -> dict[str, Any] | None:
        try:
            frame: Any = unpack(raw)
        except Exception:
            log.warning("undecodable bus frame", extra={"channel": channel})
            return None
        if not isinstance(frame, dict):
            return None
        room = room_of_channel(channel)
        if room is not None and frame.get("room") != room:
            return None  # a frame must speak only of its own channel's room
        return frame

    async def _close_sub(self) -> None:
        ps, self._ps = self._ps, None
        if ps is not None:
            await ps.aclose()

    async def close(self) -> None:
        self._closing = True
        await self._close_sub()
        await self._pub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._pub.ping())
        except (RedisError, OSError):
            return False
