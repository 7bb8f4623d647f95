"""Assembles one service process: store, bus, domain, edge, HTTP, loops."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from rooms import redis_client
from rooms.clock import Clock, SystemClock
from rooms.identity import RoomRef
from rooms.memory_store import MemoryStore
from rooms.notices import LocalNotices, Notices
from rooms.ratelimit import Buckets
from rooms.redis_notices import RedisNotices
from rooms.redis_store import RedisStore
from rooms.service import RoomService
from rooms.store import Store
from signaling.config import MediaConfig
from signaling.service import MediaService

from . import fanout
from .api import api_routes
from .config import Config
from .edge import Edge, SocketBus
from .guards import ConnectionCaps, LiveServer
from .http import Origins, own_origin, routes, security_headers
from .media_edge import MediaEdge
from .media_placement import MediaPlacement
from .metrics import Metrics
from .moderation_edge import ModerationEdge
from .redis_manager import LiveRedisManager
from .tokens import Verifier
from .wire import LivePacket

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0


@dataclass
class Service:
    cfg: Config
    app: web.Application
    sio: LiveServer
    store: Store
    edge: Edge
    rooms: RoomService
    metrics: Metrics
    manager: LiveRedisManager | None
    proc_id: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    media: MediaService | None = None
    placement: MediaPlacement | None = None


def build(cfg: Config, clock: Clock | None = None) -> Service:
    clock = clock or SystemClock()
    cfg.ensure_secret()
    metrics = Metrics()
    origins = Origins(cfg)
    proc_id = uuid.uuid4().hex[:12]
    manager = LiveRedisManager(cfg.redis_url) if cfg.redis_url else None
    local_manager = manager or fanout.FastEmitManager()

    def cors(origin: str | None, environ: dict[str, Any]) -> bool:
        req = environ.get("aiohttp.request")
        return origins.allowed(origin, own_origin(req) if req is not None else None)

    sio = LiveServer(  # guards: garbage frames, slow consumers, draining (live/guards.py)
        max_send_buffer=cfg.max_send_buffer_bytes,
        async_mode="aiohttp",
        client_manager=local_manager,
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
        redis = redis_client.connect(cfg.redis_url)
        store = RedisStore(redis, clock, cfg.retention_ms, proc_id)
    else:
        store = MemoryStore(clock, bus, cfg.retention_ms)
    notices: Notices = RedisNotices(cfg.redis_url) if cfg.redis_url else LocalNotices()
    service = RoomService(store, bus, clock, Buckets(clock, enabled=cfg.rate_limits), notices)
    verifier = Verifier(cfg.jwt_secret, cfg.jwt_public_key)
    edge = Edge(sio, service, verifier, metrics)
    edge.caps = ConnectionCaps(cfg.max_connections_per_user, cfg.max_connections_per_address,
                               cfg.trusted_proxies, enabled=cfg.rate_limits)
    ModerationEdge(edge, service)  # polls, mod:*, private messages
    media = MediaService(on_event=bus.emit, clock=clock, config=_media_config(cfg))
    placement = MediaPlacement(proc_id, redis_client.connect(cfg.redis_url) if cfg.redis_url
                               else None, busy=lambda key: bool(media.streams(key)))
    MediaEdge(edge, service, media, placement)  # rtc:*, one forwarding unit per process

    app = web.Application(middlewares=[security_headers(origins)],
                          client_max_size=cfg.max_frame_bytes)
    sio.attach(app)

    async def ping() -> bool:
        up = await store.ping()
        if up and manager is not None:
            up = await manager.ping()
        return up

    if manager is not None:
        manager.replay = _replayer(store)
    routes(app, cfg, metrics, ping)
    api_routes(app, verifier, service)  # /api/*, /console
    svc = Service(cfg, app, sio, store, edge, service, metrics, manager, proc_id,
                  media=media, placement=placement)
    app.on_startup.append(lambda _: _start(svc))
    app.on_shutdown.append(lambda _: _stop(svc))
    app.on_cleanup.append(lambda _: _close(svc))
    return svc


def _replayer(store: Store) -> Any:
    async def replay(room_key: str, after: str) -> list[dict[str, Any]]:
        room, out = RoomRef.from_key(room_key), []
        while True:
            page = await store.history(room, after=after, limit=100)
            out += [m.to_wire() for m in page.messages]
            if not page.more or not page.messages:
                return out
            after = page.messages[-1].id

    return replay


async def _start(svc: Service) -> None:
    await svc.rooms.notices.start()
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


def _media_config(cfg: Config) -> MediaConfig:
    media = MediaConfig.from_env()
    if cfg.media_addresses:
        media = dataclasses.replace(media, addresses=tuple(cfg.media_addresses))
    if cfg.media_public_ip:
        media = dataclasses.replace(media, public_ip=cfg.media_public_ip)
    return media


async def _close(svc: Service) -> None:
    if svc.media is not None:
        await svc.media.close()
    if svc.placement is not None:
        await svc.placement.close()
    await svc.rooms.notices.close()
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
            log.warning("background step failed",
                        extra={"step": step.__name__, "proc": svc.proc_id})
            delay = min(delay * 2, 30.0)
        await asyncio.sleep(delay)
