"""Limits on client events, taken at the edge before any work (issue #14 item 3).

Why here: a limit taken inside a domain method comes after whatever that method
read first (`chat:private` read members and flags, `poll:vote` the poll), and an
event without one (`chat:delete`) had none. `Edge._dispatch` knows the event and
the session before any handler runs, so it asks `EventLimits` first:

1. at most `in_flight` events of one connection run at once (`admit`, as the event
   arrives): python-socketio runs each event as its own task, so a client that does
   not wait for its acks would otherwise pile up tasks (and store calls) without
   bound. Beyond, the event is answered `rate_limited` without running;
2. then (once an event kept in order has reached its place in line, rooms/line.py)
   the event's token bucket (`take`) (a `rooms.ratelimit.Limiter`, per user: in this
   process, or in Redis with the Redis backend so it holds across processes): the kind
   comes from `EVENT_KINDS`, else from its prefix (`mod:*`, `rtc:*`), else `other`,
   so an event added later is limited too.

Cost: a connection with nothing running holds nothing here; `_running` has an
entry only while one of its events runs. `LIVE_RATE_LIMITS=off` lifts both.
"""

from __future__ import annotations

from rooms.errors import RateLimited
from rooms.ratelimit import Limiter

# event -> bucket kind (rooms/ratelimit.py DEFAULT_RATES)
EVENT_KINDS: dict[str, str] = {
    "join": "join",
    "leave": "join",
    "chat:send": "chat",
    "chat:private": "chat",
    "chat:history": "read",
    "chat:delete": "delete",
    "typing": "typing",
    "hand": "hand",
    "poll:create": "moderate",
    "poll:close": "moderate",
    "poll:reveal": "moderate",
    "poll:publish": "moderate",
    "poll:scores": "read",
    "poll:vote": "vote",
    "chat:react": "vote",
    "mod:broadcast": "chat",
    "chat:reactors": "read",
    "feedback": "hand",
    "chat:report": "report",
    "rtc:publish": "media",
    "rtc:subscribe": "media",
    "rtc:settings": "moderate",
}
PREFIX_KINDS: tuple[tuple[str, str], ...] = (
    ("mod:", "moderate"),
    ("rtc:", "signal"),  # rtc:answer, rtc:unpublish, rtc:unsubscribe
)
OTHER = "other"

MAX_IN_FLIGHT = 32  # events of one connection running at once (LIVE_MAX_EVENTS_IN_FLIGHT)


def kind_of(event: str) -> str:
    """The bucket an event takes."""
    kind = EVENT_KINDS.get(event)
    if kind is not None:
        return kind
    for prefix, kind in PREFIX_KINDS:
        if event.startswith(prefix):
            return kind
    return OTHER


class TooManyInFlight(RateLimited):
    default_message = "too many requests waiting for an answer on this connection, slow down"


class EventLimits:
    """The rate-limit bucket and the in-flight cap of every client event."""

    def __init__(self, buckets: Limiter, in_flight: int = MAX_IN_FLIGHT,
                 enabled: bool = True) -> None:
        self.buckets = buckets
        self.in_flight = in_flight  # 0: no cap
        self.enabled = enabled
        self._running: dict[str, int] = {}  # connection -> events running (only while > 0)
        self.refused = 0  # events refused at the in-flight cap

    def admit(self, conn: str) -> None:
        """Count one more event of `conn` running, or raise `TooManyInFlight` (never
        suspends: the edge calls it as the event arrives). Pair it with `leave(conn)`."""
        if not self.enabled:
            return
        running = self._running.get(conn, 0)
        if self.in_flight and running >= self.in_flight:
            self.refused += 1
            raise TooManyInFlight()
        # counted before anything is awaited (its place in line, the possibly remote
        # bucket), so events arriving meanwhile see it
        self._running[conn] = running + 1

    async def take(self, user: str, event: str) -> None:
        """The event's token from user `user`'s bucket, or `RateLimited`."""
        if self.enabled:
            await self.buckets.take(user, kind_of(event))

    def leave(self, conn: str) -> None:
        """One event of `conn` admitted by `admit` has finished."""
        if not self.enabled:
            return
        running = self._running.get(conn, 0) - 1
        if running > 0:
            self._running[conn] = running
        else:
            self._running.pop(conn, None)

    def running(self, conn: str) -> int:
        return self._running.get(conn, 0)
