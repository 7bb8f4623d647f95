"""The audit log: every moderation action, append-only, kept for the retention.

An entry is `{ts, actor, action, room, target}`; `action` is the name of the
event that did it (`chat:delete`, `mod:mute`, `mod:kick`, `mod:lock`,
`mod:permissions`, `poll:close`). Nothing offers to edit or remove entries.
"""

from __future__ import annotations

import logging
from typing import Any

from .classroom_store import MAX_AUDIT_PAGE, AuditEntry, ClassroomStore
from .clock import Clock
from .identity import Identity, RoomRef

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, store: ClassroomStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(self, actor: Identity, action: str, room: RoomRef, target: str | None,
                     detail: dict[str, Any] | None = None) -> AuditEntry:
        entry = AuditEntry(self._clock.now_ms(), actor.public(), action, room.name, target,
                           detail)
        await self._store.audit_add(room.space, entry)
        log.info("audit", extra={"action": action, "room": room.key, "actor": actor.sub})
        return entry

    async def read(self, space: str, room: str | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        return await self._store.audit(space, room, max(1, min(MAX_AUDIT_PAGE, limit)))
