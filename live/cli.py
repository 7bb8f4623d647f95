"""`twinspace-live serve` and `twinspace-live token`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys

import uvloop
from aiohttp import web

from . import logs, seam
from .app import build
from .config import Config, redacted_url
from .tokens import mint

log = logging.getLogger(__name__)

DEMO_SPACE = "demo"
DEMO_ROOM = "lobby"
SHUTDOWN_GRACE_S = 10.0
GC_THRESHOLD = 50_000  # container allocations between young collections (default 700)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="twinspace-live")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--redis", default=None, help="redis://… (or LIVE_REDIS_URL)")
    serve.add_argument("--metrics-port", type=int, default=None,
                       help="port of GET /metrics, on LIVE_METRICS_HOST (0: none; "
                            "or LIVE_METRICS_PORT)")
    serve.add_argument("--log-level", default="INFO")
    tok = sub.add_parser("token", help="print a signed token for demos and tests")
    tok.add_argument("--space", required=True)
    tok.add_argument("--role", required=True, choices=["teacher", "student", "visitor"])
    tok.add_argument("--name", required=True)
    tok.add_argument("--sub", required=True)
    tok.add_argument("--ttl", type=int, default=3600)
    tok.add_argument("--lang", default=None)
    tok.add_argument("--school", default=None)
    args = parser.parse_args(argv)

    try:
        cfg = Config.from_env()
    except ValueError as exc:
        print(f"twinspace-live: {exc}", file=sys.stderr)
        return 2
    if args.command == "token":
        if not cfg.jwt_secret:
            print("twinspace-live: set LIVE_JWT_SECRET to the service's secret", file=sys.stderr)
            return 2
        print(
            mint(
                cfg.jwt_secret,
                space=args.space,
                role=args.role,
                name=args.name,
                sub=args.sub,
                ttl=args.ttl,
                lang=args.lang,
                school=args.school,
            )
        )
        return 0

    cfg.host = args.host or cfg.host
    cfg.port = cfg.port if args.port is None else args.port
    cfg.redis_url = args.redis or cfg.redis_url
    cfg.metrics_port = cfg.metrics_port if args.metrics_port is None else args.metrics_port
    logs.setup(args.log_level)
    try:
        uvloop.run(_serve(cfg))
    except (ValueError, seam.SeamMoved) as exc:  # a store URL of no backend, a moved seam
        print(f"twinspace-live: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve(cfg: Config) -> None:
    svc = build(cfg)
    runner = web.AppRunner(
        svc.app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
    )
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _banner(cfg)
    _settle_gc()
    await stop.wait()
    log.info("stopping", extra={"proc": svc.proc_id})
    await site.stop()  # no new connections
    with contextlib.suppress(Exception):
        # in-flight events finish and their acks go out, then every transport is closed:
        # clients see "transport close" and reconnect, to another process (live/server.py)
        await svc.sio.drain(SHUTDOWN_GRACE_S)
        await asyncio.wait_for(svc.sio.shutdown(), SHUTDOWN_GRACE_S)
    await runner.cleanup()
    log.info("stopped", extra={"proc": svc.proc_id})


def _settle_gc() -> None:
    """What start-up built (modules, aiortc, the app) lives as long as the process: move
    it out of the collector's sight, and collect the young generation less often. A
    message makes dozens of short-lived containers (frames, futures, dicts); with the
    default threshold (700) the collector ran every few messages and, with the start-up
    heap to walk in older generations, took a sixth of the CPU under load
    (loadtests/README.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 100)


def _banner(cfg: Config) -> None:
    base = (
        cfg.public_url
        or f"http://{'localhost' if cfg.host in ('0.0.0.0', '::') else cfg.host}:{cfg.port}"
    )
    # the store URL may carry a password: never printed
    store = "in-memory (one process)"
    if cfg.redis_url:
        store = f"redis ({redacted_url(cfg.redis_url)})"
    lines = [f"twinspace-live serving on {base}  store: {store}"]
    if cfg.metrics_port:
        lines.append(f"metrics: http://{cfg.metrics_host}:{cfg.metrics_port}/metrics")
    if cfg.secret_generated:
        lines.append("dev mode: LIVE_JWT_SECRET not set; a secret was generated for this run:")
        lines.append(f"  LIVE_JWT_SECRET={cfg.jwt_secret}")
        teacher = mint(
            cfg.jwt_secret,
            space=DEMO_SPACE,
            role="teacher",
            name="Ms Teacher",
            sub="teacher-1",
            ttl=12 * 3600,
        )
        student = mint(
            cfg.jwt_secret,
            space=DEMO_SPACE,
            role="student",
            name="Pupil Ana",
            sub="student-1",
            ttl=12 * 3600,
        )
        lines += [
            "demo links (open each in its own browser window; a teacher opens a room by",
            "joining it, so open a teacher's link first unless LIVE_ROOMS=open):",
            f"  teacher chat:  {base}/embed/chat?room={DEMO_ROOM}#token={teacher}",
            f"  student chat:  {base}/embed/chat?room={DEMO_ROOM}#token={student}",
            f"  teacher console: {base}/console#token={teacher}",
            f"  teacher classroom: {base}/room/{DEMO_ROOM}#token={teacher}",
            f"  student classroom: {base}/room/{DEMO_ROOM}#token={student}",
        ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
