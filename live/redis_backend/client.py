"""How every part of the service opens Redis: short timeouts, one quick retry, a pool
that waits for a free connection instead of failing.

- After a Redis restart, pooled connections are stale; one retry on a fresh connection
  makes the first command succeed instead of failing.
- redis-py's default async pool raises `MaxConnectionsError` at once when its connections
  are all busy; under a burst (hundreds of members joining, a class sending at once) that
  turned into `unavailable` acks. A blocking pool lets a command wait (up to the timeout)
  for a connection to come back instead.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError, TimeoutError

MAX_CONNECTIONS = 256
POOL_WAIT_S = 2.0


def connect(url: str, *, for_pubsub: bool = False) -> Redis:
    options: dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "socket_timeout": None if for_pubsub else 2.0,
        "health_check_interval": 5 if for_pubsub else 0,
        "retry": Retry(ConstantBackoff(0.05), 1),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if for_pubsub:
        return Redis.from_url(url, **options)
    pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS,
                                           timeout=POOL_WAIT_S, **options)
    return Redis(connection_pool=pool)
