"""Reactions on messages: the fixed emoji set and who chose what.

A member toggles one of `EMOJIS` on a message (`chat:react`); every member
then gets the counts per emoji (`chat:reactions {room, id, counts}`), while who
reacted is for teachers only (`chat:reactors`, docs/protocol.md). A
`ReactionSet` is the frozen state of one message's reactions, as the store
returns it; `Reactions` holds the rules: teachers and students react (not
visitors, nor a member muted for chat), on a kept message of a room they joined.
A join and a history page carry the reactions of their messages (`reactions`:
message id -> `{counts, mine}`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import BadRequest, Forbidden, NotFound
from .identity import RoomRef
from .message import Message

if TYPE_CHECKING:
    from .service import RoomService, Session

HEART = "\u2764\ufe0f"
EMOJIS: tuple[str, ...] = ("\U0001f44d", HEART, "\U0001f602", "\U0001f62e", "\U0001f44f",
                           "\u2753")
# the same emoji as some keyboards type it (without the emoji presentation selector)
_ALIASES = {"\u2764": HEART}


def check_emoji(value: object) -> str:
    """One of `EMOJIS` (❤ without its variation selector is ❤️), else `bad_request`."""
    if isinstance(value, str):
        emoji = _ALIASES.get(value, value)
        if emoji in EMOJIS:
            return emoji
    raise BadRequest("emoji must be one of " + " ".join(EMOJIS))


class Reactor(NamedTuple):
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ReactionSet:
    """Who chose each emoji on one message, emojis in `EMOJIS` order, people by name."""

    who: tuple[tuple[str, tuple[Reactor, ...]], ...] = ()

    @classmethod
    def of(cls, pairs: list[tuple[str, Reactor]]) -> ReactionSet:
        by_emoji: dict[str, dict[str, Reactor]] = {}
        for emoji, reactor in pairs:
            if emoji in EMOJIS:
                by_emoji.setdefault(emoji, {})[reactor.id] = reactor
        return cls(tuple(
            (e, tuple(sorted(by_emoji[e].values(), key=lambda r: (r.name.casefold(), r.id))))
            for e in EMOJIS if e in by_emoji))

    def __bool__(self) -> bool:
        return bool(self.who)

    def counts(self) -> dict[str, int]:
        return {emoji: len(people) for emoji, people in self.who}

    def mine(self, user: str) -> list[str]:
        return [emoji for emoji, people in self.who if any(r.id == user for r in people)]

    def who_wire(self) -> dict[str, list[dict[str, str]]]:
        return {emoji: [{"id": r.id, "name": r.name} for r in people]
                for emoji, people in self.who}

    def to_wire(self, user: str) -> dict[str, Any]:
        """What one member learns of a message's reactions: `{counts, mine}`."""
        return {"counts": self.counts(), "mine": self.mine(user)}


class Reactions:
    def __init__(self, service: RoomService) -> None:
        self.svc = service

    async def react(self, s: Session, name: object, message_id: str,
                    emoji: object) -> dict[str, Any]:
        """Toggle the caller's `emoji` on the message: `{counts, mine}` after it; every
        member of the room gets `chat:reactions {room, id, counts}`."""
        room = self.svc.joined_room(s, name)
        if not s.who.can_write:
            raise Forbidden("visitors cannot react")
        self.svc.classroom.check_chat(s, room)
        chosen = check_emoji(emoji)
        store = self.svc.store
        msg = await store.get(room, message_id)
        if msg is None:
            raise NotFound("no such message")
        after = await store.toggle_reaction(room, message_id, chosen,
                                            Reactor(s.who.sub, s.who.name),
                                            msg.ts + store.retention_ms)
        if await store.get(room, message_id) is None:  # deleted meanwhile: keep nothing of it
            await store.drop_reactions(room, message_id)
            raise NotFound("no such message")
        await self.svc.bus.publish(room.key, "chat:reactions",
                                   {"room": room.name, "id": message_id,
                                    "counts": after.counts()})
        return after.to_wire(s.who.sub)

    async def reactors(self, s: Session, name: object, message_id: str) -> dict[str, Any]:
        """Who chose each emoji on the message (teachers only): `{who}`."""
        room = self.svc.joined_room(s, name)
        if not s.who.is_teacher:
            raise Forbidden("only teachers see who reacted")
        if await self.svc.store.get(room, message_id) is None:
            raise NotFound("no such message")
        found = await self.svc.store.reactions(room, [message_id])
        return {"who": found.get(message_id, ReactionSet()).who_wire()}

    async def of_page(self, s: Session, room: RoomRef,
                      messages: list[Message]) -> dict[str, dict[str, Any]]:
        """The reactions of a page's messages, for the caller: id -> `{counts, mine}`."""
        return self.for_caller(s, await self.svc.store.reactions(room, [m.id for m in messages]))

    @staticmethod
    def for_caller(s: Session, found: dict[str, ReactionSet]) -> dict[str, dict[str, Any]]:
        """Reactions as the caller sees them: id -> `{counts, mine}`."""
        return {mid: r.to_wire(s.who.sub) for mid, r in found.items()}
