"""How every part of the service opens Redis: short timeouts, one quick retry, a pool
that waits for a free connection instead of failing, and the primary the sentinels name.

- After a Redis restart, pooled connections are stale; one retry on a fresh connection
  makes the first command succeed instead of failing.
- redis-py's default async pool raises `MaxConnectionsError` at once when its connections
  are all busy; under a burst (hundreds of members joining, a class sending at once) that
  turned into `unavailable` acks. A blocking pool lets a command wait (up to the timeout)
  for a connection to come back instead.
- With Redis Sentinel (`redis+sentinel://` URLs, below), every connection asks the
  sentinels for the current primary when it connects (redis-py's `SentinelConnectionPool`),
  so after a failover each new connection goes to the new primary: the store's pool, the
  append pipeline's and the bus reader's own connections (taken over from such a pool,
  seam `redis-sentinel-connection`), the bus's publish client and media placement all
  follow it. While no primary is known (the few seconds of a failover) connecting fails,
  and the callers answer `unavailable`.
- Every connection is told the same `DRIVER_INFO` (CLIENT SETINFO's library name and
  version), made once: without it redis-py 8 reads its own version from the installed
  package's metadata for each new connection, about 2 ms of CPU each (a mass leave,
  thousands of members dropping at once, grew the pool by ~500 connections: ~1 s).

The sentinel URL: `redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db]`,
e.g. `redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0`. The password (and user)
are those of the Redis primary and replicas; the sentinels are asked without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ConstantBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError, TimeoutError

MAX_CONNECTIONS = 256
POOL_WAIT_S = 2.0
SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_TIMEOUT_S = 1.0  # to connect to, and hear from, one sentinel
DRIVER_INFO = DriverInfo()  # redis-py's name and version, read once


@dataclass(frozen=True)
class SentinelTarget:
    """Where a `redis+sentinel://` URL points: its sentinels, the primary's name, a db."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        scheme, sep, rest = url.partition("://")
        if scheme != SENTINEL_SCHEME or not sep:
            raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
        netloc, _, path = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        username = password = None
        if at:
            user, colon, pw = userinfo.partition(":")
            username = unquote(user) or None
            password = unquote(pw) if colon else None
        sentinels = tuple(parse_address(h) for h in hosts.split(",") if h.strip())
        if not sentinels:
            raise ValueError(f"{SENTINEL_SCHEME}:// URL names no sentinel (host:port,...)")
        master, _, db = path.split("?")[0].strip("/").partition("/")
        if not master:
            raise ValueError(f"{SENTINEL_SCHEME}:// URL names no primary: …/<name>[/<db>]")
        if db and not db.isdigit():
            raise ValueError(f"{SENTINEL_SCHEME}:// URL: the database must be a number")
        return cls(sentinels, unquote(master), int(db or 0), username, password)

    def url(self) -> str:
        """The URL again (without the password: for logs)."""
        hosts = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.sentinels)
        return f"{SENTINEL_SCHEME}://{hosts}/{self.master}/{self.db}"


def parse_address(text: str) -> tuple[str, int]:
    """`host:port` (`[v6]:port`) of one sentinel."""
    host, colon, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"a sentinel is host:port, not '{text.strip()}'")
    return host, int(port)


class _SentinelPool(SentinelConnectionPool):
    """Owns its sentinel clients: closing the pool closes them too."""

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


class _BlockingSentinelPool(_SentinelPool, BlockingConnectionPool):
    """The primary the sentinels name, and a command waits for a free connection."""


def pool(url: str, *, blocking: bool = False, **options: Any) -> ConnectionPool:
    """A connection pool for `url` (`redis://`, `rediss://`, `unix://` or
    `redis+sentinel://`); `options` are redis-py connection options."""
    options.setdefault("driver_info", DRIVER_INFO)
    if url.partition(":")[0] != SENTINEL_SCHEME:
        if blocking:
            return BlockingConnectionPool.from_url(url, **options)
        return ConnectionPool.from_url(url, **options)
    target = SentinelTarget.parse(url)
    sentinels = Sentinel(list(target.sentinels), sentinel_kwargs={  # type: ignore[no-untyped-call]
        "socket_connect_timeout": SENTINEL_TIMEOUT_S, "socket_timeout": SENTINEL_TIMEOUT_S})
    cls = _BlockingSentinelPool if blocking else _SentinelPool
    return cls(target.master, sentinels, db=target.db,  # type: ignore[no-untyped-call]
               username=target.username, password=target.password, **options)


def connect(url: str, *, for_pubsub: bool = False) -> Redis:
    options: dict[str, Any] = {
        "socket_connect_timeout": 2.0,
        "socket_timeout": None if for_pubsub else 2.0,
        "health_check_interval": 5 if for_pubsub else 0,
        "retry": Retry(ConstantBackoff(0.05), 1),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if for_pubsub:
        return Redis.from_pool(pool(url, **options))
    return Redis.from_pool(pool(url, blocking=True, max_connections=MAX_CONNECTIONS,
                                timeout=POOL_WAIT_S, **options))
