"""Notices between service processes over Redis pub/sub (channel `live:notices`).

Every process subscribes, the publisher included, so each acts on its own
connections once. The listener reconnects with capped backoff; `start`
returns once the first subscription is confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from . import redis_client
from .bus import pack, unpack
from .errors import Unavailable
from .notices import Notice, Notices

log = logging.getLogger(__name__)

CHANNEL = "live:notices"
START_TIMEOUT_S = 5.0


class RedisNotices(Notices):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._pub: Redis = redis_client.connect(url)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, notice: Notice) -> None:
        try:
            await self._pub.publish(CHANNEL, pack(notice.to_record()))
        except RedisError as exc:
            raise Unavailable() from exc

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="notices")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), START_TIMEOUT_S)

    async def _listen(self) -> None:
        retry = 0.2
        while True:
            sub: Redis | None = None
            ps: Any = None
            try:
                sub = redis_client.connect(self._url, for_pubsub=True)
                ps = sub.pubsub(ignore_subscribe_messages=True)
                await ps.subscribe(CHANNEL)
                self._ready.set()
                retry = 0.2
                async for message in ps.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        notice = Notice.from_record(unpack(message["data"]))
                    except Exception:
                        log.warning("undecodable notice")
                        continue
                    await self._dispatch(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("notice listener lost its connection; reconnecting",
                            extra={"retry_s": retry})
            finally:
                with contextlib.suppress(Exception):
                    if ps is not None:
                        await ps.aclose()
                    if sub is not None:
                        await sub.aclose()
            await asyncio.sleep(retry)
            retry = min(retry * 2, 5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._pub.aclose()
