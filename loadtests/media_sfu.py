"""Our forwarding unit (`signaling.MediaService`) behind a tiny HTTP API, for the Chromium bench.

`media_bench.py --servers ours,janus` starts this inside its network namespace, as it starts
Janus, and the bench's driver page reaches both the same way (fetch, through the bench's own
HTTP server). The process is only the unit and this signaling shim on uvloop, as `live.cli`
runs it: its CPU time (from /proc) is the unit's, like Janus's is Janus's.

    POST /publish   {user, source, sdp}     -> {stream, sdp}       (browser offers)
    POST /subscribe {user, stream}          -> {sub, sdp}          (the unit offers)
    POST /answer    {user, sub, sdp}        -> {}
    GET  /streams                            -> [{stream, user, source}]

Users whose name starts with `t` are teachers, the others pupils; one room, `bench/r`.

    python loadtests/media_sfu.py --host 10.213.5.1 --port 8700 --last-n 9 --bitrate 800000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# --ours-root: another checkout's rooms/ and signaling/ (before/after in one run)
_AT = sys.argv.index("--ours-root") if "--ours-root" in sys.argv else -1
sys.path[:0] = [sys.argv[_AT + 1] if _AT >= 0 else str(ROOT)]

from aiohttp import web  # noqa: E402

from rooms.errors import LiveError  # noqa: E402
from rooms.identity import Identity, Role  # noqa: E402
from signaling.config import MediaConfig  # noqa: E402
from signaling.service import MediaService  # noqa: E402

ROOM = "bench/r"


def identity(user: str) -> Identity:
    role = Role.TEACHER if user.startswith("t") else Role.STUDENT
    return Identity(user, user, role, "bench")


def make_app(addresses: tuple[str, ...], last_n: int, bitrate: int) -> web.Application:
    async def on_event(room: str, event: str, payload: dict[str, Any]) -> None:
        return None

    capped = {"publish_bitrate": bitrate} if "publish_bitrate" in MediaConfig.__slots__ else {}
    service = MediaService(on_event=on_event, config=MediaConfig(
        addresses=addresses, last_n=last_n, max_legs=2000, max_legs_per_member=200,
        connect_timeout=120.0, **capped))  # type: ignore[arg-type]

    async def call(request: web.Request, what: str) -> web.Response:
        body = await request.json()
        who = identity(str(body["user"]))
        try:
            if what == "publish":
                stream, sdp = await service.publish(who, ROOM, body["source"], body["sdp"])
                return web.json_response({"stream": stream, "sdp": sdp})
            if what == "subscribe":
                sub, sdp = await service.subscribe(who, ROOM, body["stream"])
                return web.json_response({"sub": sub, "sdp": sdp})
            await service.answer(who, body["sub"], body["sdp"])
            return web.json_response({})
        except LiveError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    async def publish(request: web.Request) -> web.Response:
        return await call(request, "publish")

    async def subscribe(request: web.Request) -> web.Response:
        return await call(request, "subscribe")

    async def answer(request: web.Request) -> web.Response:
        return await call(request, "answer")

    async def streams(request: web.Request) -> web.Response:
        return web.json_response([
            {"stream": s["stream"], "user": s["user"], "source": s["source"]}
            for s in service.streams(ROOM)])

    async def close(app: web.Application) -> None:
        await service.close()

    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_post("/answer", answer)
    app.router.add_get("/streams", streams)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--last-n", type=int, default=9)
    parser.add_argument("--ours-root", default=str(ROOT),
                        help="the checkout whose signaling/ runs (before/after)")
    parser.add_argument("--bitrate", type=int, default=1_000_000,
                        help="the REMB cap for publishers (Janus's room bitrate)")
    args = parser.parse_args()
    import logging

    import uvloop

    # legs' lives (no packet is logged): why a subscription ended shows in the bench's log
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("signaling.service").setLevel(logging.DEBUG)
    logging.getLogger("aioice.ice").setLevel(logging.INFO)
    logging.getLogger("signaling.seam").setLevel(logging.INFO)

    uvloop.install()
    app = make_app((args.host,), args.last_n, args.bitrate)
    stall = os.environ.get("MEDIA_SFU_STALL", "")  # "<ms>/<every ms>": a busy unit, simulated
    if stall:
        app.on_startup.append(_stalls(*(float(v) / 1000 for v in stall.split("/"))))
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


def _stalls(block: float, every: float) -> Any:
    """Block the event loop `block` s every `every` s, as a unit busy with other rooms would
    (the packets queue in the socket meanwhile and are read in a burst after)."""
    async def start(app: web.Application) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(every)
                time.sleep(block)  # noqa: ASYNC251 (the point: a blocked loop)

        app["stalls"] = asyncio.ensure_future(loop())

    return start


if __name__ == "__main__":
    main()
