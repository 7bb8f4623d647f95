"""How every part of the service opens Redis: short timeouts, one quick retry.

After a Redis restart, pooled connections are stale; one retry on a fresh
connection makes the first command succeed instead of failing.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError, TimeoutError


def connect(url: str, *, for_pubsub: bool = False) -> Redis:
    return Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=None if for_pubsub else 2.0,
        health_check_interval=5 if for_pubsub else 0,
        retry=Retry(ConstantBackoff(0.05), 1),
        retry_on_error=[ConnectionError, TimeoutError],
    )
