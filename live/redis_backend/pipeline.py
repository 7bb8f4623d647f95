"""Calls of one Lua script, sent to Redis in pipelines.

Why: a round trip per stored message costs a pool checkout, a write and a
read each (about 0.2 ms of this process's CPU with redis-py), and Redis
answers each on its own. Here the calls made in one turn of the event loop go
out together at its end (`call_soon`: the events of one socket read each store
their message in that turn), and the calls made while a pipeline is in flight
wait for it and then go together in the next one: no added wait when the room
is quiet, one write and one read for a whole burst when it is busy (and Redis
publishes the burst's messages in one write to every subscribed process, which
the fan-out then writes to each member at once).

Order: calls are sent in the order they were made, on the pipeline's own
connection, one pipeline at a time, so Redis runs them in that order. A call
enqueues before its first suspension, so a caller that starts calls A then B
(even without awaiting A) gets A stored before B.

The replies are parsed (hiredis) in the connection's `data_received`, which
settles the callers' futures and sends the next pipeline at once: no task
stands between Redis and the callers. redis-py opens the connection (URL, TLS,
AUTH, SELECT), then this module takes its transport over. Failures: a call
whose connection was lost is sent once more on a fresh one (the script is
idempotent on its cid key); NOSCRIPT reloads the script and sends those calls
again, ahead of later ones; no reply within `REPLY_TIMEOUT_S` fails the calls
(and drops the connection: later calls go on a new one); a READONLY reply (the
connection's server was demoted to a replica) drops the connection, and the calls
are sent once more on a new one, to the primary.
A call failed by the timeout may still have been stored (Redis ran what it had
read of the dropped connection; its senders were told `unavailable` and resend
with the same cid), but not after a later call: Redis's first answer on the
closed socket draws a reset, which ends that connection and drops its unread
input, while the new connection needs its handshake's round trip before it sends
a call (tests/test_batching.py stops Redis with a pipeline buffered to check it).

Replicas (`ok: true` means stored): when the server has a replica, a stored
message is not acked until one replica has it, so a failover right after the
ack cannot lose it. Each pipeline then ends with `WAIT 1 REPLICA_WAIT_MS`, in
the same write (still one round trip); if no replica confirmed in time, the
pipeline's calls fail (the client resends with the same cid, which is
idempotent, and the resend's WAIT confirms the first write too). How many
replicas the server has comes from `INFO replication`, asked on the pipeline's
connection before its first pipeline, every `REPLICAS_CHECK_S` and after a
WAIT that failed. Without replicas (one Redis) no WAIT is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError, NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from rooms.eventloop import running_loop

from ..seam import taken_over

log = logging.getLogger(__name__)

Arg = bytes | str | int

MAX_BATCH = 256  # calls per pipeline
REPLY_TIMEOUT_S = 2.0
REPLICA_WAIT_MS = 1500  # for one replica to confirm a pipeline's writes
REPLICAS_CHECK_S = 5.0  # how long a replica count is trusted
REPLICA_MAX_LAG_S = 10  # a replica not heard from for longer is not waited for

_INFO = b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n"
# what follows a pipeline's calls on the wire: nothing, or WAIT; a probe is INFO alone
_NOTHING, _WAIT, _PROBE = range(3)


class NotReplicated(RedisError):
    """No replica confirmed the writes in time: they may be lost in a failover."""


def online_replicas(info: bytes | str) -> int:
    """Replicas in sync and heard from lately, from an `INFO replication` reply
    (`slave0:ip=…,port=…,state=online,offset=…,lag=0`). A replica silent for more than
    `REPLICA_MAX_LAG_S` (Redis's own `min-replicas-max-lag` default) no longer counts:
    a frozen replica makes sends `unavailable` for that long, not until the primary
    drops it (`repl-timeout`)."""
    text = info.decode(errors="replace") if isinstance(info, bytes) else info
    count = 0
    for line in text.splitlines():
        name, _, fields = line.strip().partition(":")
        if not (name.startswith("slave") and name[5:].isdigit()):
            continue
        f = dict(kv.partition("=")[::2] for kv in fields.split(","))
        lag = f.get("lag", "")
        if f.get("state") == "online" and lag.isdigit() and int(lag) <= REPLICA_MAX_LAG_S:
            count += 1
    return count


@dataclass(slots=True)
class _Call:
    wire: bytes  # the call's EVALSHA, packed
    fut: asyncio.Future[Any]
    resent: bool = False


def settle(fut: asyncio.Future[Any], result: Any) -> None:
    """`fut` gets `result` (raised if it is an exception), unless its caller gave up."""
    if fut.done():
        return
    if isinstance(result, BaseException):
        fut.set_exception(result)
    else:
        fut.set_result(result)


class LinkOwner(Protocol):
    """What drives a `Link`: each reply read, in order (false: none was awaited), and
    the end of the connection."""

    def on_reply(self, link: Link, reply: Any) -> bool: ...

    def on_lost(self, link: Link) -> None: ...


class Link(asyncio.Protocol):
    """A connection once redis-py has opened it, driven by its owner (the script
    pipeline, live/redis_backend/publisher.py): replies parsed by hiredis, a refusal as
    `NoScriptError` or `ResponseError`."""

    def __init__(self, owner: LinkOwner, conn: AbstractConnection,
                 transport: asyncio.Transport) -> None:
        self.owner = owner
        self.conn = conn  # kept: redis-py would close the transport when it is collected
        self.transport = transport
        self.parser = hiredis.Reader()
        self.closed = False

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (reply := self.parser.gets()) is not False:
            if isinstance(reply, hiredis.ReplyError):
                text = str(reply)
                reply = NoScriptError(text) if text.startswith("NOSCRIPT") else ResponseError(text)
            if not self.owner.on_reply(self, reply):
                self.transport.abort()  # a reply nobody asked for: out of step
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.owner.on_lost(self)


async def open_link(owner: LinkOwner, redis: Redis, within: float) -> Link:
    """A new connection from `redis`'s pool, driven by `owner` (seam `redis-connection`);
    any failure to open it `within` seconds, as a `RedisError`."""
    try:
        async with asyncio.timeout(within):
            conn, transport = await taken_over(redis.connection_pool)
        link = Link(owner, conn, transport)
        transport.set_protocol(link)
    except RedisError:
        raise
    except Exception as exc:
        raise ConnectionError(repr(exc)) from exc
    return link


class LinkHolder:
    """One `Link` at a time, opened again once it is lost: `_usable_link()` gives it, or
    None while a new one is being opened (`_connect`, begun there, one at a time)."""

    def __init__(self) -> None:
        self._link: Link | None = None
        self._connecting: asyncio.Task[None] | None = None

    def _usable_link(self) -> Link | None:
        link = self._link
        if link is not None and not link.closed:
            return link
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
        return None

    async def _connect(self) -> None:
        raise NotImplementedError


class ScriptPipeline(LinkHolder):
    def __init__(self, redis: Redis, script: str, confirm: bool = True) -> None:
        """`confirm=False`: a script that writes nothing (a read), which no replica needs
        to confirm: no replica count is asked, no WAIT sent."""
        super().__init__()
        self._redis = redis
        self._confirm = confirm
        self._script = redis.register_script(script)  # its sha, and SCRIPT LOAD
        self._head = b"EVALSHA", self._script.sha.encode()
        self._pending: list[_Call] = []
        self._inflight: list[_Call] | None = None  # sent, replies awaited
        self._tail = _NOTHING  # what follows the in-flight calls
        self._results: list[Any] = []
        self._replicas: int | None = None  # of the link's server; None: ask first
        self._replicas_checked = 0.0  # loop time
        self._timer: asyncio.TimerHandle | None = None
        self._reloading = False
        self._soon = False  # a `_pump` is due at the end of this turn of the event loop
        self.pipelines = 0  # sent (for tests)
        self.resent = 0  # calls sent again after a lost connection
        self.unconfirmed = 0  # pipelines no replica confirmed in time

    async def __call__(self, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.call_packed(pack_command(self._head, len(keys), *keys, *args))

    def head(self, keys: int, args: int) -> bytes:
        """The start of a call with that many keys and args (`EVALSHA sha keys`), which
        `call_packed` takes followed by each key and arg as a `bulk`."""
        name, sha = self._head
        return b"*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            keys + args + 3, len(name), name, len(sha), sha) + bulk(keys)

    async def call_packed(self, wire: bytes) -> Any:
        """A call already packed (`head`, then each key and arg as a `bulk`), for a
        caller that keeps the parts that do not change from call to call."""
        loop = running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Call(wire, fut))
        if not self._soon:  # at the end of this turn, with the calls made in it
            self._soon = True
            loop.call_soon(self._pump_soon)
        return await fut

    def _pump_soon(self) -> None:
        self._soon = False
        self._pump()

    def _pump(self) -> None:
        if self._inflight is not None or self._reloading or not self._pending:
            return
        link = self._usable_link()
        if link is None:
            return
        loop = running_loop()
        if self._confirm and (self._replicas is None
                              or loop.time() - self._replicas_checked > REPLICAS_CHECK_S):
            # how many replicas must confirm is asked before acking anything on it
            self._inflight, self._results, self._tail = [], [], _PROBE
            link.transport.write(_INFO)
            self._timer = loop.call_later(REPLY_TIMEOUT_S, self._timed_out, link)
            return
        self._send(link)

    def _send(self, link: Link) -> None:
        """The next pipeline of pending calls, on `link`."""
        loop = running_loop()
        batch = self._pending[:MAX_BATCH]
        del self._pending[:MAX_BATCH]
        self._inflight, self._results = batch, []
        self._tail = _WAIT if self._confirm and self._replicas else _NOTHING
        self.pipelines += 1
        wire = [c.wire for c in batch]
        timeout = REPLY_TIMEOUT_S
        if self._tail == _WAIT:
            wire.append(pack_command((b"WAIT", b"1"), REPLICA_WAIT_MS))
            timeout += REPLICA_WAIT_MS / 1000
        link.transport.write(b"".join(wire))
        self._timer = loop.call_later(timeout, self._timed_out, link)

    def on_reply(self, link: Link, reply: Any) -> bool:
        """One reply read on `link`; false if none was awaited (the link is then cut)."""
        batch = self._inflight
        if batch is None or link is not self._link:
            return False
        self._results.append(reply)
        if len(self._results) < len(batch) + (self._tail != _NOTHING):
            return True
        results, tail = self._results, self._tail
        self._inflight, self._results, self._tail = None, [], _NOTHING
        if self._timer is not None:
            self._timer.cancel()
        if tail == _PROBE:
            self._count_replicas(results[0])
            if self._pending and not self._reloading:
                self._send(link)  # (not _pump: the count is fresh for this pipeline)
            return True
        if tail == _WAIT:
            confirmed = results.pop()
            if not isinstance(confirmed, int) or confirmed < 1:
                # stored on the primary only: not acked (and the count asked again)
                self.unconfirmed += 1
                self._replicas = None
                log.warning("no replica confirmed a pipeline: its calls fail",
                            extra={"calls": len(batch), "wait_ms": REPLICA_WAIT_MS})
                failure = NotReplicated(f"no replica confirmed within {REPLICA_WAIT_MS} ms")
                results = [r if isinstance(r, ResponseError) else failure
                           for r in results]
        if any(_read_only(r) for r in results):
            self._demoted(link, batch, results)
            return True
        again = [c for c, r in zip(batch, results, strict=True) if isinstance(r, NoScriptError)]
        for c, r in zip(batch, results, strict=True):
            if not isinstance(r, NoScriptError):
                settle(c.fut, r)
        if again:
            # Redis lost its scripts (a restart, SCRIPT FLUSH): those calls did not
            # run; load the script and send them again, ahead of what came later
            self._pending[0:0] = again
            self._reloading = True
            asyncio.ensure_future(self._reload())
        else:
            self._pump()
        return True

    def _count_replicas(self, reply: Any) -> None:
        if isinstance(reply, bytes | str):
            self._replicas = online_replicas(reply)
        else:  # INFO refused (renamed, ACL): acked on the primary alone
            log.warning("cannot ask Redis for its replicas", extra={"reply": repr(reply)})
            self._replicas = 0
        self._replicas_checked = asyncio.get_running_loop().time()

    def _demoted(self, link: Link, batch: list[_Call], results: list[Any]) -> None:
        """`link`'s server is a replica now (a failover): drop the link; the calls it
        refused go once more, on a new connection (to the primary), ahead of the rest."""
        again = []
        for c, r in zip(batch, results, strict=True):
            if _read_only(r) and not c.resent:
                c.resent = True
                self.resent += 1
                again.append(c)
            else:
                settle(c.fut, r)
        log.warning("Redis answered READONLY: reconnecting to the primary",
                    extra={"calls": len(batch)})
        self._link = None
        link.transport.abort()
        self._pending[0:0] = again
        self._pump()

    async def _reload(self) -> None:
        try:
            await self._redis.script_load(self._script.script)
        except RedisError as exc:
            self._fail_pending(exc)
        finally:
            self._reloading = False
        self._pump()

    def on_lost(self, link: Link) -> None:
        """`link` closed: what was in flight on it is sent once more on a new one."""
        if link is not self._link:
            return
        self._link = None
        if self._timer is not None:
            self._timer.cancel()
        batch, self._inflight, self._results = self._inflight or [], None, []
        self._tail = _NOTHING
        again = []
        for c in batch:
            if c.resent:
                settle(c.fut, ConnectionError("lost the connection to Redis"))
            else:
                # maybe stored, maybe not: the script is idempotent, send it once more
                c.resent = True
                self.resent += 1
                again.append(c)
        self._pending[0:0] = again
        self._pump()

    def _timed_out(self, link: Link) -> None:
        batch, self._inflight, self._results = self._inflight or [], None, []
        if self._tail == _PROBE:  # what waits for the probe fails with it
            batch, self._pending = self._pending, []
        self._tail = _NOTHING
        for c in batch:
            settle(c.fut, RedisTimeoutError("no reply from Redis"))
        link.transport.abort()  # its replies could no longer be matched

    async def _connect(self) -> None:
        try:
            self._link = await open_link(self, self._redis, REPLY_TIMEOUT_S)
            self._replicas = None  # maybe another server: ask again
        except RedisError as exc:
            # nobody may wait for ever: what is waiting fails now (and is answered
            # `unavailable`); the next call tries to connect again
            self._fail_pending(exc)
        finally:
            self._connecting = None
        self._pump()

    def _fail_pending(self, failure: BaseException) -> None:
        """Every call waiting to be sent fails with `failure` (answered `unavailable`)."""
        pending, self._pending = self._pending, []
        for c in pending:
            settle(c.fut, failure)

    async def aclose(self) -> None:
        link, self._link = self._link, None
        if self._timer is not None:
            self._timer.cancel()
        calls = (self._inflight or []) + self._pending
        self._inflight, self._pending, self._tail = None, [], _NOTHING
        for c in calls:
            settle(c.fut, ConnectionError("the store is closing"))
        if link is not None:
            link.transport.close()


def _read_only(reply: Any) -> bool:
    return isinstance(reply, ResponseError) and str(reply).startswith("READONLY")


def bulk(arg: Arg) -> bytes:
    """One argument of a command in RESP (a bulk string)."""
    b = arg if isinstance(arg, bytes) else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def pack_command(head: tuple[bytes, bytes], *args: Arg) -> bytes:
    """One command in RESP (an array of bulk strings), `head` (name and first argument)
    already encoded."""
    parts = [b"*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
             % (len(args) + 2, len(head[0]), head[0], len(head[1]), head[1])]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)
