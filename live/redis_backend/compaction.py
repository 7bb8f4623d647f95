"""The append-only file forgets too: a `BGREWRITEAOF` after purges, at least daily.

Redis's append-only file (AOF, on in docker-compose) logs every write, the `SET`
of a message's content included, until the file is rewritten from what Redis
holds now. So after a delete or a purge the text is still on disk in the AOF.
Every purge (delete, retention, policy, erasure) sets `live:aof:dirty` (in the
scripts that remove content, `scripts.py`). Every `CHECK_S` each process runs
`step`: if something was purged, the AOF is on, and no process asked for a rewrite
in the last `REWRITE_EVERY_MS` (the lock `live:aof:rewrite`, taken with `SET NX
PX`: one process asks), it asks Redis for `BGREWRITEAOF`. Redis writes the new
file from memory in a child process, then drops the old ones.

Without an AOF (`aof_enabled:0`) nothing is asked. RDB snapshots need nothing:
each is written from memory, where purged content no longer is.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ResponseError

from . import keys
from .scripts import DIRTY_MS

log = logging.getLogger(__name__)

CHECK_S = 600.0
REWRITE_EVERY_MS = 23 * 3_600_000  # with CHECK_S, a rewrite within a day of a purge


class AofCompactor:
    def __init__(self, redis: Any, proc_id: str) -> None:
        self._r = redis
        self.proc_id = proc_id
        self.rewrites = 0  # asked by this process (for tests and logs)

    async def step(self) -> bool:
        """Ask for a rewrite if one is due; true if this process asked."""
        if not await self._r.exists(keys.AOF_DIRTY):
            return False
        info = await self._r.info("persistence")
        if not int(info.get("aof_enabled", 0)):
            return False
        if not await self._r.set(keys.AOF_LOCK, self.proc_id, nx=True, px=REWRITE_EVERY_MS):
            return False  # another process asked within the day
        await self._r.delete(keys.AOF_DIRTY)
        try:
            await self._r.bgrewriteaof()
        except ResponseError as exc:
            # one already running, begun maybe before the purge: ask again next time
            await self._r.set(keys.AOF_DIRTY, "1", px=DIRTY_MS)
            await self._r.delete(keys.AOF_LOCK)
            log.info("append-only file rewrite not started", extra={"reason": str(exc)})
            return False
        self.rewrites += 1
        log.info("append-only file rewrite asked", extra={"proc": self.proc_id})
        return True
