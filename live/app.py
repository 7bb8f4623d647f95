"""Assembles one service process: store, bus, domain, edge, HTTP, loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web
from redis.asyncio import Redis

from rooms.clock import Clock, SystemClock
from rooms.memory_store import MemoryStore
from rooms.ratelimit import Buckets
from rooms.redis_store import RedisStore
from rooms.service import RoomService
from rooms.store import Store

from .config import Config
from .edge import Edge, SocketBus
from .http import Origins, own_origin, routes, security_headers
from .metrics import Metrics
from .redis_manager import LiveRedisManager
from .tokens import Verifier
from .wire import LivePacket

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0


@dataclass
class Service:
    cfg: Config
    app: web.Application
    sio: socketio.AsyncServer
    store: Store
    edge: Edge
    rooms: RoomService
    metrics: Metrics
    manager: LiveRedisManager | None
    proc_id: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build(cfg: Config, clock: Clock | None = None) -> Service:
    clock = clock or SystemClock()
    cfg.ensure_secret()
    metrics = Metrics()
    origins = Origins(cfg)
    proc_id = uuid.uuid4().hex[:12]
    manager = LiveRedisManager(cfg.redis_url) if cfg.redis_url else None

    def cors(origin: str | None, environ: dict[str, Any]) -> bool:
        req = environ.get("aiohttp.request")
        return origins.allowed(origin, own_origin(req) if req is not None else None)

    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        serializer=LivePacket,
        cors_allowed_origins=cors,
        max_http_buffer_size=cfg.max_frame_bytes,
        ping_interval=20,
        ping_timeout=20,
        logger=False,
        engineio_logger=False,
    )
    bus = SocketBus(sio)
    store: Store
    if cfg.redis_url:
        redis = Redis.from_url(cfg.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        store = RedisStore(redis, clock, cfg.retention_ms, proc_id)
    else:
        store = MemoryStore(clock, bus, cfg.retention_ms)
    service = RoomService(store, bus, clock, Buckets(clock, enabled=cfg.rate_limits))
    edge = Edge(sio, service, Verifier(cfg.jwt_secret, cfg.jwt_public_key), metrics)

    app = web.Application(middlewares=[security_headers(origins)],
                          client_max_size=cfg.max_frame_bytes)
    sio.attach(app)

    async def ping() -> bool:
        up = await store.ping()
        if up and manager is not None:
            up = await manager.ping()
        return up

    routes(app, cfg, metrics, ping)
    svc = Service(cfg, app, sio, store, edge, service, metrics, manager, proc_id)
    app.on_startup.append(lambda _: _start(svc))
    app.on_shutdown.append(lambda _: _stop(svc))
    app.on_cleanup.append(lambda _: _close(svc))
    return svc


async def _start(svc: Service) -> None:
    svc.tasks.append(asyncio.create_task(_every(svc, HEARTBEAT_S, _heartbeat), name="heartbeat"))
    sweep_s = min(60.0, max(0.5, svc.cfg.retention_ms / 4000))
    svc.tasks.append(asyncio.create_task(_every(svc, sweep_s, _sweep), name="retention"))
    log.info("service started", extra={"proc": svc.proc_id,
                                       "store": type(svc.store).__name__})


async def _stop(svc: Service) -> None:
    for t in svc.tasks:
        t.cancel()
    for t in svc.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t


async def _close(svc: Service) -> None:
    await svc.store.close()
    if svc.manager is not None:
        await svc.manager.close()


async def _heartbeat(svc: Service) -> None:
    for gone in await svc.store.heartbeat():
        await svc.rooms.announce_departure(gone)
    svc.metrics.rooms.set(len({r for s in svc.edge.sessions.values() for r in s.rooms}))


async def _sweep(svc: Service) -> None:
    removed = await svc.store.sweep()
    if removed:
        log.info("retention sweep", extra={"removed": removed})


async def _every(svc: Service, seconds: float, step: Any) -> None:
    """Run `step` forever; failures are logged and retried with capped backoff."""
    delay = seconds
    while True:
        try:
            await step(svc)
            delay = seconds
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("background step failed", extra={"step": step.__name__, "proc": svc.proc_id})
            delay = min(delay * 2, 30.0)
        await asyncio.sleep(delay)
