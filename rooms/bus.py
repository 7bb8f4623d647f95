"""The room bus: how a room's events reach its members on every service process,
and how notices reach every process.

Why an interface of our own: a room's events (a message stored, a hand raised,
a poll's results) must reach members connected to any process, in one order,
and some news (a kick, a mute) must reach every *process* so each acts on its
own connections. The domain says what happens; a `Bus` carries it. `LocalBus`
serves one process (the default, with the in-memory store); the Redis bus
(`live/redis_backend/bus.py`) spans processes on one Redis. A backend is a
`Store` plus a `Bus`.

What a bus does:
- `publish(room, event, payload, skip)`: every member of the room, on every
  process, gets `event` with `payload` (but the connection `skip`). This
  process's members get it before `publish` returns.
- `attach(room)` / `detach(room)`: this process starts / stops hearing the
  room's events. `attach` returns once they flow, so a member who then reads
  history cannot miss a message published in between. Both are idempotent; the
  caller (`RoomService`) attaches on every join and detaches when the last
  connection of this process leaves the room.
- `announce(room, event, payload, skip)`: a `publish` for `presence:join`,
  coalesced: the first announcement in a quiet room goes out at once; those that
  follow within `ANNOUNCE_TICK` are held and go out together at the end of the tick
  (one batch per room per tick: a storm of N rejoins costs each member one write per
  tick, not one per joiner). Order in a room holds: a `publish` to the room, or
  `flush(room)`, first sends what is held. See docs/protocol.md "Presence".
  The tick adapts to the process (`AnnounceRate`): `ANNOUNCE_TICK` normally,
  `STORM_TICK` while this process announces more than `STORM_RATE` joins a second
  (a reconnect storm, every lesson starting at once). In a storm spread over many
  rooms a room's joins come one every few hundred milliseconds: a 50 ms tick would
  hold nothing, and every member would get one write per joiner.
- `handed(room, message_id)`: returns once this process's members of the room
  were handed the stored message (at once where the store delivers as it stores,
  as in memory). On Redis a stored message comes back on the room's channel; a
  send is acked after that, so a member here who leaves right after the ack has
  the message, and one who joins right after it does not get it live. Bounded by
  `HANDED_WAIT_S`: a slow or lost subscription delays no ack for longer.
- `notify(notice)`: every process's notice handlers get it, this one's included.
- Notices published while a process's bus connection is down are lost to it.
  When the bus is back (subscribed again), it runs the `on_reconnect` handlers,
  in line with notices (after those heard before, before those heard after): the
  domain re-reads from the store what lost notices would have told (mutes, bans).
- What a bus hears is handed to the local fan-out bound with `bind`: a batch of
  `RoomEvent`s, in order, synchronously (no awaiting between a read and the
  members' writes).
- `call(process, kind, payload, within)`: a directed call to ONE process (by
  its id), answered by the handler that process registered with `on_call(kind,
  handler)`. The handler's result comes back as the call's result; a `LiveError`
  it raises comes back as the same error (code, message, fields); anything else
  it raises comes back as `unavailable`. No answer within `within` seconds is
  `Unavailable`; a process that is not there (nobody listens under that id) is
  `ProcessGone` at once. Calls are served concurrently, each in its own task.
  This is how the `rtc:*` events of a room reach the process serving its media
  (`live/media_edge.py`).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

from .errors import LiveError, ProcessGone, Unavailable, from_wire
from .notices import Notice
from .tasks import stop_if_cancelled

log = logging.getLogger(__name__)

ANNOUNCE_TICK = 0.05  # s: at most one batch of presence announcements per room per tick
STORM_TICK = 0.5  # s: the tick while the process is in a storm of joins
STORM_RATE = 100  # announcements a second on this process from which it is in a storm
HANDED_WAIT_S = 1.0  # s: the longest `handed` waits for a stored message to come back


class AnnounceRate:
    """How many announcements this process made in the current second and the one
    before (fixed one-second windows of `now`, the event loop's clock by default): a
    storm begins with the `STORM_RATE`th announcement of a window and ends once a whole
    window passed under the rate. No I/O; `now` injected for tests."""

    def __init__(self, now: Callable[[], float], threshold: int = STORM_RATE) -> None:
        self._now = now
        self.threshold = threshold
        self._window = 0  # the current window (whole seconds of `now`)
        self._count = 0  # announcements in it
        self._before = 0  # announcements in the window before it

    def add(self) -> None:
        self._roll()
        self._count += 1

    def storm(self) -> bool:
        self._roll()
        return max(self._count, self._before) >= self.threshold

    def _roll(self) -> None:
        window = int(self._now())
        if window != self._window:
            self._before = self._count if window == self._window + 1 else 0
            self._window, self._count = window, 0


class RoomEvent(NamedTuple):
    room_key: str
    event: str
    payload: dict[str, Any]
    # a connection that does not get it (the sender); here, also a list (held
    # announcements skip the connections that joined after them: `Bus.entered`)
    skip: str | list[str] | None = None


Deliver = Callable[[Sequence[RoomEvent]], None]
NoticeHandler = Callable[[Notice], Awaitable[None]]
ReconnectHandler = Callable[[], Awaitable[None]]
# (calling process id, payload) -> result
CallHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


def _nowhere(events: Sequence[RoomEvent]) -> None:
    log.warning("room events with no fan-out bound", extra={"count": len(events)})


class Connections(Protocol):
    """This process's connections in rooms: the edge's local fan-out."""

    def enter(self, conn: str, room_key: str) -> None: ...

    def leave(self, conn: str, room_key: str) -> bool:
        """Forget `conn` in the room; true when no connection of this process is left there."""
        ...


class Bus(ABC):
    def __init__(self, proc_id: str = "local") -> None:
        self.proc_id = proc_id  # this process, as `call` names it
        self._deliver: Deliver = _nowhere
        self._notice_handlers: list[NoticeHandler] = []
        self._reconnect_handlers: list[ReconnectHandler] = []
        self._call_handlers: dict[str, CallHandler] = {}
        self.announce_tick = ANNOUNCE_TICK  # s, the tick of a room's announcements
        self.storm_tick = STORM_TICK  # s, the tick while the process is in a storm
        self.announce_rate = AnnounceRate(lambda: asyncio.get_running_loop().time())
        # room -> announcements held until the end of the room's tick (present while a
        # tick is open: the room announced something less than a tick ago)
        self._held: dict[str, list[RoomEvent]] = {}
        # room -> (connection, how many announcements were held when it entered the room):
        # a connection does not get what was announced before it joined
        self._late: dict[str, list[tuple[str, int]]] = {}
        self._sending: set[asyncio.Task[None]] = set()  # held batches going to Redis

    def bind(self, deliver: Deliver) -> None:
        """Where room events heard here go: this process's fan-out."""
        self._deliver = deliver

    def on_notice(self, handler: NoticeHandler) -> None:
        self._notice_handlers.append(handler)

    def on_reconnect(self, handler: ReconnectHandler) -> None:
        """Run `handler` each time the bus is subscribed again after losing its connection
        (notices may have been lost meanwhile)."""
        self._reconnect_handlers.append(handler)

    def on_call(self, kind: str, handler: CallHandler) -> None:
        """Answer directed calls of `kind` to this process with `handler`."""
        self._call_handlers[kind] = handler

    @abstractmethod
    async def call(self, process: str, kind: str, payload: dict[str, Any],
                   within: float) -> dict[str, Any]:
        """Have process `process` run its `kind` handler on `payload`; its result.
        Raises what the handler raised (a `LiveError`), `Unavailable` after `within`
        seconds, `ProcessGone` when no such process listens."""

    @abstractmethod
    async def publish(self, room_key: str, event: str, payload: dict[str, Any],
                      skip: str | None = None) -> None:
        """Deliver to this process's members now, and to every other process's."""

    async def announce(self, room_key: str, event: str, payload: dict[str, Any],
                       skip: str | None = None) -> None:
        """`publish`, coalesced with the room's other announcements of this tick."""
        ev = RoomEvent(room_key, event, payload, skip)
        self.announce_rate.add()
        held = self._held.get(room_key)
        if held is not None:  # the room announced something less than a tick ago
            held.append(ev)
            return
        self._held[room_key] = []
        asyncio.get_running_loop().call_later(self.tick(), self._tick_end, room_key)
        self.deliver((ev,))
        await self._send_remote(room_key, (ev,))

    def tick(self) -> float:
        """How long a room's tick opened now lasts: longer while the process is in a
        storm of joins (`AnnounceRate`)."""
        return self.storm_tick if self.announce_rate.storm() else self.announce_tick

    def entered(self, room_key: str, conn: str) -> None:
        """`conn` (of this process) hears the room from now on: what is held for the room
        was announced before, and is not for it."""
        held = self._held.get(room_key)
        if held:
            self._late.setdefault(room_key, []).append((conn, len(held)))

    def flush(self, room_key: str) -> asyncio.Task[None] | None:
        """Deliver the room's held announcements here now (before anything else reaches
        the room from this process) and start sending them to the other processes; the
        task sending them, or None when nothing was held. Never suspends, so a caller
        keeps its place (a member's messages are stored in the order sent)."""
        held = self._held.get(room_key)
        if not held:
            return None
        self._held[room_key] = []
        return self._send_held(room_key, held)

    def _tick_end(self, room_key: str) -> None:
        held = self._held.pop(room_key, None)
        if not held:
            return  # a quiet tick: the next announcement goes out at once
        self._held[room_key] = []
        asyncio.get_running_loop().call_later(self.tick(), self._tick_end, room_key)
        self._send_held(room_key, held)

    def _send_held(self, room_key: str, held: list[RoomEvent]) -> asyncio.Task[None]:
        late = self._late.pop(room_key, None)
        local = held
        if late:
            local = []
            for i, ev in enumerate(held):
                skip = [c for c, n in late if n > i]  # entered after this one was held
                if skip and isinstance(ev.skip, str):
                    skip.append(ev.skip)
                local.append(ev._replace(skip=skip) if skip else ev)
        self.deliver(local)  # here, synchronously: nothing published later can overtake it
        task = asyncio.ensure_future(self._send_remote(room_key, held))
        self._sending.add(task)
        task.add_done_callback(self._sent)
        return task

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("held announcements not sent", exc_info=task.exception())

    async def _send_remote(self, room_key: str, events: Sequence[RoomEvent]) -> None:
        """Send events already delivered here to the other processes (none: one process)."""
        return None

    async def handed(self, room_key: str, message_id: str) -> None:
        """Return once this process's members of the room were handed stored message
        `message_id` (or `HANDED_WAIT_S` passed)."""
        return None

    @abstractmethod
    async def attach(self, room_key: str) -> None:
        """Hear the room's events from now on; returns once they flow."""

    @abstractmethod
    async def detach(self, room_key: str) -> None:
        """Stop hearing the room's events."""

    @abstractmethod
    async def notify(self, notice: Notice) -> None:
        """Hand the notice to every process's handlers, this one's included."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def ping(self) -> bool:
        """True while the bus can carry events between processes."""
        return True

    def deliver(self, events: Sequence[RoomEvent]) -> None:
        """Hand events heard here to this process's members."""
        if events:
            self._deliver(events)

    async def dispatch(self, notice: Notice) -> None:
        """Run this process's handlers for a notice; a failing handler is logged alone."""
        for handler in list(self._notice_handlers):
            try:
                await handler(notice)
            except Exception:
                log.exception("notice handler failed",
                              extra={"kind": notice.kind, "room": notice.room_key})


    async def answer_call(self, origin: str, kind: str, payload: Any) -> dict[str, Any]:
        """Run this process's handler for a call: the reply record, `{r: result}` or
        `{e: error}` (never raises)."""
        handler = self._call_handlers.get(kind)
        if handler is None or not isinstance(payload, dict):
            return {"e": Unavailable("no such call").to_wire()}
        try:
            return {"r": await handler(origin, payload) or {}}
        except LiveError as err:
            return {"e": err.to_wire()}
        except Exception:
            stop_if_cancelled()
            log.exception("call handler failed", extra={"kind": kind, "origin": origin})
            return {"e": Unavailable("the call failed").to_wire()}

    @staticmethod
    def call_result(reply: Any) -> dict[str, Any]:
        """The result a reply record carries, or the error it describes, raised."""
        if isinstance(reply, dict) and isinstance(reply.get("r"), dict):
            result: dict[str, Any] = reply["r"]
            return result
        raise from_wire(reply.get("e") if isinstance(reply, dict) else None)

    async def reconnected(self) -> None:
        """Run this process's reconnect handlers; a failing handler is logged alone."""
        for handler in list(self._reconnect_handlers):
            try:
                await handler()
            except Exception:
                log.exception("reconnect handler failed")


class LocalBus(Bus):
    """One process: events go straight to its members, notices to its handlers."""

    async def publish(self, room_key: str, event: str, payload: dict[str, Any],
                      skip: str | None = None) -> None:
        self.flush(room_key)
        self.deliver((RoomEvent(room_key, event, payload, skip),))

    async def attach(self, room_key: str) -> None:
        return None

    async def detach(self, room_key: str) -> None:
        return None

    async def notify(self, notice: Notice) -> None:
        await self.dispatch(notice)

    async def call(self, process: str, kind: str, payload: dict[str, Any],
                   within: float) -> dict[str, Any]:
        if process != self.proc_id:
            raise ProcessGone()
        try:
            reply = await asyncio.wait_for(self.answer_call(process, kind, payload), within)
        except TimeoutError:
            raise Unavailable("the call was not answered in time") from None
        return self.call_result(reply)
