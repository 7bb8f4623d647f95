"""Schools in view: the teachers of a pupil's own school hear what happens to the pupil.

When a pupil is muted, removed (kicked or banned) or reported, whoever acted,
every teacher of the pupil's school (the token's `school` claim) who is online
anywhere in the space gets `school:notice {room, user, action, by, ts}`:
`user` the pupil `{id, name, role, school}`, `action` one of `mute`, `kick`,
`ban`, `report`, `flag`, `by` the actor `{id, name, role}` (or null for the
filter). The actor does not get it (they know). A pupil whose token names no school,
or who is not in the room (a ban given ahead), has no school to tell.
It travels as a `school` notice to every process, which hands it to its own
teacher connections of that space and school (live/moderation_edge.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .identity import Identity, RoomRef
from .notices import SCHOOL, Notice
from .presence import Member

if TYPE_CHECKING:
    from .service import RoomService

ACTIONS = ("mute", "kick", "ban", "report", "flag")


class Schools:
    def __init__(self, service: RoomService) -> None:
        self.svc = service

    async def tell(self, room: RoomRef, pupil: Member | None, action: str,
                   by: Identity | None) -> None:
        """Tell the teachers of `pupil`'s school, in the whole space, about `action`."""
        if pupil is None or pupil.school is None or pupil.role == "teacher":
            return
        assert action in ACTIONS, action
        user = {"id": pupil.id, "name": pupil.name, "role": pupil.role, "school": pupil.school}
        event: dict[str, Any] = {"room": room.name, "user": user, "action": action,
                                 "by": by.public() if by else None,
                                 "ts": self.svc.clock.now_ms()}
        await self.svc.bus.notify(Notice(SCHOOL, room.key, pupil.id, {
            "school": pupil.school, "event": event, "actor": by.sub if by else None}))
