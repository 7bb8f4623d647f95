"""`ReactionStore` in Redis: the part of `RedisStore` for reactions.

One hash per reacted-to message, `live:{R}:react:<message id>` (hash tag of
the room, names in `keys.py`): field `<emoji>\\n<user id>` -> display name. A
toggle is one script (add the field, or delete it if it was there, then expire
the key when the message does), so two members reacting at once on two
processes both count. An empty hash is no key at all; a message's delete drops
its key (`drop_reactions`).
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from rooms.errors import Unavailable
from rooms.identity import RoomRef
from rooms.reaction_store import ReactionStore
from rooms.reactions import ReactionSet, Reactor

from . import keys

# KEYS: the message's reactions hash. ARGV: field, name, expire-at ms.
TOGGLE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
"""


def reactions_of(fields: list[tuple[bytes, bytes]]) -> ReactionSet:
    pairs = []
    for field, name in fields:
        emoji, _, user = field.decode().partition("\n")
        pairs.append((emoji, Reactor(user, name.decode())))
    return ReactionSet.of(pairs)


class RedisReactions(ReactionStore):
    _r: Any

    def _init_reactions(self) -> None:
        self._toggle = self._r.register_script(TOGGLE)

    async def toggle_reaction(self, room: RoomRef, message_id: str, emoji: str, who: Reactor,
                              expire_at_ms: int) -> ReactionSet:
        try:
            flat = await self._toggle(keys=[keys.reactions(room.key, message_id)],
                                      args=[f"{emoji}\n{who.id}", who.name, expire_at_ms])
        except RedisError as exc:
            raise Unavailable() from exc
        return reactions_of(list(zip(flat[::2], flat[1::2], strict=True)))

    async def reactions(self, room: RoomRef, message_ids: list[str]) -> dict[str, ReactionSet]:
        if not message_ids:
            return {}
        try:
            async with self._r.pipeline(transaction=False) as p:
                for mid in message_ids:
                    p.hgetall(keys.reactions(room.key, mid))
                rows = await p.execute()
        except RedisError as exc:
            raise Unavailable() from exc
        out = {}
        for mid, row in zip(message_ids, rows, strict=True):
            if row:
                out[mid] = reactions_of(list(row.items()))
        return out

    async def drop_reactions(self, room: RoomRef, message_id: str) -> None:
        try:
            await self._r.delete(keys.reactions(room.key, message_id))
        except RedisError as exc:
            raise Unavailable() from exc
