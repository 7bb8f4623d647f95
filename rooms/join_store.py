"""What a join reads from the store, in two reads instead of fifteen.

Why: a member's join needs to know whether it may enter (the room opened, a ban,
the room's flags, the group the room was opened for, an admission from the lobby)
and, once it entered, everything its ack carries (members, the last messages and
their reactions, open polls, flags, mutes, the breakout or group, live streams and
media settings). Read one by one that is about fifteen store calls; against Redis
each is a round trip costing this process more CPU than Redis spends answering it.
A reconnect storm over many small rooms, where joins rarely overlap in one room,
paid all of them per join. Here they are two operations: `admission` (before
entering) and `snapshot` (after), both `Store` methods: `RedisStore` answers each in
one round trip (live/redis_backend/join_reads.py); the base class composes them from
the single reads, which the memory store uses (nothing to save in memory).

Order: `admission` is read before the member enters, `snapshot` after (and, shared by
joins in flight, begun after each of them entered: rooms/shared_read.py), as the
single reads were. A join into a room no other join is reading enters and reads in one
step (`Store.enter_and_snapshot`; Redis: one script, so one round trip less, the read
atomic with the entry); joins of the room coming meanwhile share the next read.
Neither read is atomic with the writes of others: a ban or a lock that lands between
`admission` and `enter` is applied by the moderation path that made it (it kicks
whoever is in the room), exactly as before.

On failure: each raises `Unavailable` (the Redis store) and reads nothing partial;
the join answers `unavailable` (rooms/service.py says what is undone).
"""

from __future__ import annotations

from dataclasses import dataclass

from .breakouts import Breakout, Group
from .media_rules import MediaSettings
from .media_store import LiveStream
from .message import Page
from .polls import Poll
from .presence import Member
from .reactions import ReactionSet


@dataclass(frozen=True, slots=True)
class Admission:
    """What decides whether a user who is not a teacher may enter a room."""

    opened: bool  # a teacher opened the room (rooms/lesson.py)
    banned_until: int | None  # ms, while a ban lasts
    flags: dict[str, bool]  # locked, lobby, ...
    group: Group | None  # the group the room was opened for
    admitted: bool  # let in from the lobby


@dataclass(frozen=True, slots=True)
class RoomSnapshot:
    """A room as a join ack shows it (shared by joins in flight at once: read-only)."""

    members: list[Member]
    page: Page  # the last messages, oldest first
    reactions: dict[str, ReactionSet]  # of the page's messages that have any
    polls: list[Poll]  # the open ones, oldest first
    flags: dict[str, bool]
    mutes: dict[str, frozenset[str]]
    group: Group | None
    breakout: Breakout | None
    streams: list[LiveStream]
    media_settings: MediaSettings | None  # None: nobody changed them
