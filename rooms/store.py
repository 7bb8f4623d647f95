"""The one store interface; `MemoryStore` and `RedisStore` implement it.

A store keeps history (with its retention), presence and idempotency keys,
and publishes each new message on the room bus in the same step as it is
stored, so every process sees messages in id order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from .breakout_store import BreakoutStore
from .classroom_store import ClassroomStore
from .filter_store import FilterStore
from .identity import RoomRef
from .join_store import Admission, RoomSnapshot
from .media_store import MediaStore
from .message import Appended, Author, Message, Page
from .presence import Departure, Member
from .privacy import DAY_MS, PrivacyStore, Visit
from .private_store import PrivateStore
from .reaction_store import ReactionStore
from .safeguard_store import SafeguardStore

DEFAULT_PAGE = 50
MAX_PAGE = 100
__all__ = ["DAY_MS", "DEFAULT_PAGE", "MAX_PAGE", "Store", "clamp_limit"]


class Store(ClassroomStore, PrivacyStore, MediaStore, ReactionStore, BreakoutStore,
            SafeguardStore, FilterStore, PrivateStore, ABC):
    """History, presence and idempotency for every room of the service
    (from `ClassroomStore`, polls, moderation and audit; from `PrivacyStore`,
    per-school retention, purge receipts, erasure and attendance; from `MediaStore`, the
    videoconference's settings and live streams; from `ReactionStore`, reactions on
    messages; from `BreakoutStore`, breakout rooms; from `SafeguardStore`, opened rooms,
    reports and the lobby; from `FilterStore`, the message filter's rules, held messages
    and flags; from `PrivateStore`, the supervised private messages).

    `retention_ms` is the service's retention (`LIVE_HISTORY_DAYS`); a space whose
    schools set a shorter one (`set_policy`) keeps its messages that long."""

    def __init__(self, retention_ms: int) -> None:
        if retention_ms <= 0:
            raise ValueError("retention must be positive")
        self.retention_ms = retention_ms

    # -- history -------------------------------------------------------
    @abstractmethod
    async def append(self, room: RoomRef, author: Author, cid: str, text: str) -> Appended:
        """Store a message and announce it to the room as `chat:message`.

        Idempotent on `(room, author, cid)`: a known cid returns the first
        message with `created=False` and announces nothing. A new message of an
        author muted for chat in the room (`set_mutes`; never a teacher) is refused
        with `Muted`, in the same step, so a mute holds on every process. Appends are stored in
        the order they were called (each takes its place before it first
        suspends), so a member's messages keep their order without waiting for
        one another.
        """

    @abstractmethod
    async def history(
        self,
        room: RoomRef,
        *,
        before: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page:
        """A page of kept messages, oldest first (contract `chat:history`)."""

    @abstractmethod
    async def get(self, room: RoomRef, message_id: str) -> Message | None: ...

    @abstractmethod
    async def delete(self, room: RoomRef, message_id: str) -> bool:
        """Remove a message for good; false if it was not there."""

    @abstractmethod
    async def sweep(self) -> int:
        """Delete every message older than its space's retention, and every visit and
        receipt past theirs; returns how many messages. Leaves a receipt (reason
        `retention`) per room it removed messages from."""

    # -- presence ------------------------------------------------------
    @abstractmethod
    async def enter(self, room: RoomRef, conn: str, member: Member,
                    visit: Visit | None = None) -> bool:
        """Record a connection in the room; true if it is the user's first. Entering
        again with a connection already in (a call sent again) counts it once. With `visit`,
        a first connection also begins the user's visit (attendance, `visit_begin`) in
        the same step: both are written or neither."""

    @abstractmethod
    async def leave(self, room: RoomRef, conn: str) -> Departure | None:
        """Forget a connection; None if it was not in the room, or if the store could
        not reach its backend: it then retries on its heartbeat, which returns the
        departure, and no longer keeps the connection's entry alive meanwhile. The user's
        last connection in the room also ends their open visit (`visit_end`, at the
        store's clock) in the same step, as `enter` begins it; so does a departure the
        heartbeat returns."""

    @abstractmethod
    async def members(self, room: RoomRef) -> list[Member]:
        """One member per user, in order of arrival."""

    @abstractmethod
    async def set_hand(self, room: RoomRef, user: str, at: int | None) -> Member | None:
        """Raise (`at` = ms) or lower (`None`) a user's hand on all their connections."""

    @abstractmethod
    async def heartbeat(self) -> list[Departure]:
        """Say this process is alive; clear the entries of processes that died.

        Returns the departures that clearing caused, for the edge to announce.
        """

    @abstractmethod
    async def rooms(self, space: str) -> dict[str, list[Member]]:
        """Rooms of a space with members online."""

    # -- a join's reads (rooms/join_store.py) ----------------------------
    async def admission(self, room: RoomRef, user: str) -> Admission:
        """What the entry rules need about `user` (not a teacher) and the room, read
        before it enters (`opened`: a teacher opened it, or it still has history).
        Composed of the single reads here; Redis: one round trip."""
        opened = await self.opened(room) or bool((await self.history(room, limit=1)).messages)
        return Admission(opened, await self.banned_until(room, user),
                         await self.flags(room), await self.group(room),
                         await self.admitted(room, user))

    async def snapshot(self, room: RoomRef) -> RoomSnapshot:
        """The room as a join ack shows it: members, the last `DEFAULT_PAGE` messages
        with their reactions, open polls, flags, mutes, breakout or group, streams and
        media settings. Composed of the single reads here; Redis: one round trip."""
        members = await self.members(room)
        page = await self.history(room)
        return RoomSnapshot(
            members, page, await self.reactions(room, [m.id for m in page.messages]),
            await self.open_polls(room), await self.flags(room), await self.mutes(room),
            await self.group(room), await self.breakout(room), await self.streams(room),
            await self.media_settings(room))

    async def enter_and_snapshot(self, room: RoomRef, conn: str, member: Member,
                                 visit: Visit | None = None) -> tuple[bool, RoomSnapshot]:
        """`enter`, then `snapshot` begun after it, in one step where the store can
        (Redis: one round trip, the read atomic with the write). On failure the entry
        may have been written (the read failed after it); `enter` is idempotent, so the
        caller can make sure of it and leave again."""
        first = await self.enter(room, conn, member, visit)
        return first, await self.snapshot(room)

    async def compact(self) -> bool:
        """Make the backend's files forget what was purged (Redis: the append-only file,
        `live/redis_backend/compaction.py`); true if something was asked. Run on a timer."""
        return False

    # -- lifecycle -----------------------------------------------------
    @abstractmethod
    async def ping(self) -> bool:
        """True while the store can be reached."""

    async def close(self) -> None:
        return None


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    return max(1, min(MAX_PAGE, limit))
