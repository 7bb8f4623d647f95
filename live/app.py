"""Assembles one service process: store, bus, domain, edge, HTTP, loops."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from rooms.bus import Bus, LocalBus, RoomEvent
from rooms.clock import Clock, SystemClock
from rooms.links import LinkPolicy
from rooms.memory_store import MemoryStore
from rooms.ratelimit import Buckets, Limiter
from rooms.service import RoomService
from rooms.store import Store
from signaling.config import MediaConfig
from signaling.service import MediaService

from . import redis_backend, seam
from .api import api_routes
from .caps import ConnectionCaps
from .config import Config
from .edge import Edge
from .fanout import FastEmitManager
from .filter_api import filter_routes
from .groupwork_edge import GroupworkEdge
from .handshakes import Handshakes
from .http import Origins, metrics_app, own_origin, routes, security_headers
from .limits import EventLimits
from .loop_lag import watch_lag
from .loops import every
from .media_edge import MediaEdge
from .media_placement import MediaPlacement
from .metrics import Metrics
from .moderation_edge import ModerationEdge
from .polls_api import polls_routes
from .privacy_api import privacy_routes
from .redis_backend import client as redis_client
from .safeguard_edge import SafeguardEdge
from .server import LiveServer
from .tokens import Verifier
from .wire import LivePacket

log = logging.getLogger(__name__)

COMPACT_S = 600.0  # how often the store is asked to compact (the Redis AOF: at most daily)

HEARTBEAT_S = 5.0
STOP_WAIT_S = 2.0  # for a cancelled background task to end


@dataclass
class Service:
    cfg: Config
    app: web.Application
    sio: LiveServer
    store: Store
    bus: Bus
    edge: Edge
    rooms: RoomService
    metrics: Metrics
    proc_id: str
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    media: MediaService | None = None
    placement: MediaPlacement | None = None
    metrics_server: web.AppRunner | None = None  # GET /metrics on its own port


def _memory_backend(url: str, clock: Clock, retention_ms: int,
                    proc_id: str) -> tuple[Store, Bus]:
    """One process: history and presence in its memory, the bus within it."""
    bus = LocalBus(proc_id)
    return MemoryStore(clock, bus, retention_ms), bus


# A backend is a Store and a Bus, chosen by the scheme of the store URL (`--redis`).
BACKENDS: dict[str, Callable[[str, Clock, int, str], tuple[Store, Bus]]] = {
    "memory": _memory_backend,
    "redis": redis_backend.open_backend,
    "rediss": redis_backend.open_backend,
    "unix": redis_backend.open_backend,
    "redis+sentinel": redis_backend.open_backend,
}


def _memory_limiter(url: str, clock: Clock, enabled: bool) -> Limiter:
    return Buckets(clock, enabled=enabled)


# The rate-limit buckets go with the backend: in this process, or in Redis, shared by
# every process on it (live/redis_backend/limiter.py), keyed by the same schemes.
LIMITERS: dict[str, Callable[[str, Clock, bool], Limiter]] = {
    "memory": _memory_limiter,
    "redis": redis_backend.open_limiter,
    "rediss": redis_backend.open_limiter,
    "unix": redis_backend.open_limiter,
    "redis+sentinel": redis_backend.open_limiter,
}


def open_limiter(cfg: Config, clock: Clock) -> Limiter:
    """The rate-limit buckets of the configured backend."""
    url = cfg.redis_url or "memory:"
    return LIMITERS[url.partition(":")[0]](url, clock, cfg.rate_limits)


def open_backend(cfg: Config, clock: Clock, proc_id: str) -> tuple[Store, Bus]:
    """The store and the room bus the configuration names (none: this process's memory)."""
    url = cfg.redis_url or "memory:"
    scheme = url.partition(":")[0]
    if scheme not in BACKENDS:
        raise ValueError(f"no store backend for '{scheme}:' URLs")
    return BACKENDS[scheme](url, clock, cfg.retention_ms, proc_id)


def build(cfg: Config, clock: Clock | None = None) -> Service:
    seam.check()  # the libraries still have what the service reaches into
    clock = clock or SystemClock()
    cfg.ensure_secret()
    metrics = Metrics()
    origins = Origins(cfg)
    proc_id = uuid.uuid4().hex[:12]
    store, bus = open_backend(cfg, clock, proc_id)
    local = FastEmitManager()  # this process's connections in rooms, and the fan-out

    def cors(origin: str | None, environ: dict[str, Any]) -> bool:
        req = environ.get("aiohttp.request")
        return origins.allowed(origin, own_origin(req) if req is not None else None)

    sio = LiveServer(  # fast acks, malformed packets, draining (live/server.py)
        max_send_buffer=cfg.max_send_buffer_bytes,
        # sessions not signed in: closed after their deadline, capped per address
        handshakes=Handshakes(cfg.connect_timeout_s, cfg.max_connections_per_address,
                              cfg.trusted_proxies, enabled=cfg.rate_limits),
        async_mode="aiohttp",
        client_manager=local,
        serializer=LivePacket,
        cors_allowed_origins=cors,
        max_http_buffer_size=cfg.max_frame_bytes,
        ping_interval=20,
        ping_timeout=20,
        logger=False,
        engineio_logger=False,
    )
    buckets = open_limiter(cfg, clock)
    service = RoomService(store, bus, local, clock, buckets, open_rooms=cfg.rooms == "open")
    links = LinkPolicy(cfg.link_domains)
    service.link_policy = lambda _space: links  # one policy for every space, for now
    supervision = service.lesson.supervision

    def deliver(events: Sequence[RoomEvent]) -> None:
        supervision.observe(events)  # who of the teachers is in, before members hear it
        local.deliver_events(events)

    bus.bind(deliver)
    # anonymous voters' key: shared by the processes (one token secret), never in the store
    service.classroom.pepper = hmac.new(cfg.jwt_secret.encode(),
                                        b"twinspace-live anonymous poll voters",
                                        hashlib.sha256).digest()
    verifier = Verifier(cfg.jwt_secret, cfg.jwt_public_key, cfg.token_leeway_s)
    # every event takes its bucket, and a place among its connection's events, first
    limits = EventLimits(buckets, cfg.max_events_in_flight, enabled=cfg.rate_limits)
    edge = Edge(sio, service, verifier, metrics, limits)
    # counted in Redis with the Redis backend: one cap across processes
    edge.caps = (redis_backend.open_caps(cfg.redis_url, clock, proc_id,
                                         cfg.max_connections_per_user,
                                         cfg.max_connections_per_address,
                                         cfg.trusted_proxies, cfg.rate_limits)
                 if cfg.redis_url else
                 ConnectionCaps(cfg.max_connections_per_user, cfg.max_connections_per_address,
                                cfg.trusted_proxies, enabled=cfg.rate_limits))
    ModerationEdge(edge, service)  # polls, mod:*, private messages
    SafeguardEdge(edge, service)  # reports, lobby, teacher present, end of lesson
    GroupworkEdge(edge, service)  # reactions, the feedback bar

    async def media_events(room_key: str, event: str, payload: dict[str, Any]) -> None:
        await media_edge.router.relay(room_key, event, payload)  # store, then room bus

    media = MediaService(on_event=media_events, clock=clock, config=_media_config(cfg))
    placement = MediaPlacement(proc_id, redis_client.connect(cfg.redis_url) if cfg.redis_url
                               else None, busy=lambda key: bool(media.streams(key)))
    # rtc:* on any process; one forwarding unit per process serves the rooms it claimed
    media_edge = MediaEdge(edge, service, media, placement)

    app = web.Application(middlewares=[security_headers(origins)],
                          client_max_size=cfg.max_frame_bytes)
    sio.attach(app)

    async def ping() -> bool:
        return await store.ping() and await bus.ping()

    routes(app, cfg, metrics, ping)
    teacher_api = api_routes(app, verifier, service)  # /api/*
    privacy_routes(app, teacher_api)
    polls_routes(app, teacher_api)
    filter_routes(app, teacher_api)
    svc = Service(cfg, app, sio, store, bus, edge, service, metrics, proc_id,
                  media=media, placement=placement)
    app.on_startup.append(lambda _: _start(svc))
    app.on_shutdown.append(lambda _: _stop(svc))
    app.on_cleanup.append(lambda _: _close(svc))
    return svc


async def _start(svc: Service) -> None:
    await svc.bus.start()
    await _start_metrics(svc)
    if svc.placement is not None:
        svc.placement.watch()  # failover: rooms whose media process died
    extra = {"proc": svc.proc_id}
    svc.tasks.append(asyncio.create_task(
        every(HEARTBEAT_S, lambda: _heartbeat(svc), name="heartbeat", cap=30.0, extra=extra),
        name="heartbeat"))
    sweep_s = min(60.0, max(0.5, svc.cfg.retention_ms / 4000))
    svc.tasks.append(asyncio.create_task(
        every(sweep_s, lambda: _sweep(svc), name="retention", cap=60.0, extra=extra),
        name="retention"))
    svc.tasks.append(asyncio.create_task(
        every(COMPACT_S, svc.store.compact, name="compaction", cap=COMPACT_S, extra=extra),
        name="compaction"))
    svc.tasks.append(asyncio.create_task(watch_lag(svc.metrics.loop_lag.observe),
                                         name="loop-lag"))
    log.info("service started", extra={"proc": svc.proc_id,
                                       "store": type(svc.store).__name__})


async def _start_metrics(svc: Service) -> None:
    """Serve `GET /metrics` on `metrics_host:metrics_port` (none on port 0). A port already
    taken (several processes on one host, one port configured) costs this process its
    metrics, logged, never its service."""
    host, port = svc.cfg.metrics_host, svc.cfg.metrics_port
    if not port:
        return
    runner = web.AppRunner(metrics_app(svc.metrics), handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        log.error("metrics port unavailable: this process serves no metrics",
                  extra={"proc": svc.proc_id, "host": host, "port": port, "error": str(exc)})
        return
    svc.metrics_server = runner
    log.info("metrics served", extra={"proc": svc.proc_id, "host": host, "port": port})


async def _stop(svc: Service) -> None:
    # WebSocket connections are not aiohttp's to close (live/websocket.py): drained by
    # now when the CLI stops (live/cli.py), dropped here otherwise
    await svc.sio.eio.abort_websockets(STOP_WAIT_S)
    pending = set(svc.tasks)
    while pending:  # (cancelled again if a step swallowed it: rooms/tasks.py)
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=STOP_WAIT_S)
        if pending:
            log.warning("background tasks still running; cancelling again",
                        extra={"tasks": sorted(t.get_name() for t in pending)})


def _media_config(cfg: Config) -> MediaConfig:
    media = MediaConfig.from_env()
    if cfg.media_addresses:
        media = dataclasses.replace(media, addresses=tuple(cfg.media_addresses))
    if cfg.media_public_ip:
        media = dataclasses.replace(media, public_ip=cfg.media_public_ip)
    return dataclasses.replace(media,
                               pupil_cameras_teachers_only=cfg.pupil_cameras == "teachers")


async def _close(svc: Service) -> None:
    if svc.metrics_server is not None:
        await svc.metrics_server.cleanup()
        svc.metrics_server = None
    svc.edge.deadlines.close()
    if svc.media is not None:
        await svc.media.close()
    if svc.placement is not None:
        await svc.placement.close()
    await svc.bus.close()
    await svc.store.close()
    await svc.rooms.buckets.close()
    if svc.edge.caps is not None:
        await svc.edge.caps.close()


async def _heartbeat(svc: Service) -> None:
    for gone in await svc.store.heartbeat():
        await svc.rooms.announce_departure(gone)
    svc.metrics.rooms.set(len({r for s in svc.edge.sessions.values() for r in s.rooms}))


async def _sweep(svc: Service) -> None:
    removed = await svc.store.sweep()
    if removed:
        log.info("retention sweep", extra={"removed": removed})
