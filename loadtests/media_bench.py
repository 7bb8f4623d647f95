"""CPU of the media service per forwarded video stream: forwarding vs stock transcoding.

One publisher (640x480 VP8 at 30 fps, constant bitrate, plus Opus audio) and N
subscribers, all aiortc peers on 127.0.0.1. Each mode runs the service in its
own child process and the peers in another; the service's CPU is its own
`time.process_time()` (every thread) over a fixed window, so the peers'
encoding and receiving never count. Modes, in one run:

- forward:   `signaling.MediaService` (encoded frames passed through, no codec)
- transcode: stock aiortc, `MediaRelay` fan-out of the decoded tracks, one
             VP8 + Opus encode per subscriber (what the issue measured at ~8%)

Also measures join-to-first-frame: from `subscribe` to the first video frame at
the subscriber, with the publisher long past its first keyframe. `--modes second`
measures it through a second service process (two real processes on one Redis,
`media_cluster.py`, target <= 1 s).

- turn: (`--modes turn`, root) forwarding again, every subscriber reaching the
        service only through coturn over TCP (aiortc with a relay-only ICE policy
        and the credentials the service hands out), coturn in a network namespace
        of its own (tests/netns.py, tests/media/coturn.py); the service and the
        publisher on the namespace's veth address. Reports join-to-first-frame
        through TURN (target <= 2 s) and the service's CPU.

    /work/venv/bin/python loadtests/media_bench.py [--steps 1,4,8] [--window 6]
    /work/venv/bin/python loadtests/media_bench.py --modes turn --steps 1,4,8

Prints progress, a table of raw numbers and ratios, writes a PNG plot to
loadtests/results/media_bench.png (matplotlib, optional). Bounded: ~80 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "media"), str(ROOT / "loadtests")]

from run import log  # noqa: E402  (the benchmarks' helpers)

WIDTH, HEIGHT, FPS, BITRATE = 640, 480, 30, 800_000
LOOPBACK = ("127.0.0.1",)


# -- the service side -------------------------------------------------------


class ForwardService:
    def __init__(self, addresses: tuple[str, ...] = LOOPBACK) -> None:
        from rooms.identity import Identity, Role
        from signaling.config import MediaConfig
        from signaling.service import MediaService

        async def on_event(room: str, event: str, payload: dict[str, Any]) -> None:
            if event == "rtc:stream":
                self.ready.set()

        self.ready = asyncio.Event()
        self.teacher = Identity("t", "Teacher", Role.TEACHER, "bench")
        self.pupils = [Identity(f"p{i}", f"P{i}", Role.STUDENT, "bench") for i in range(64)]
        self.service = MediaService(
            on_event=on_event, config=MediaConfig(addresses=addresses, last_n=64)
        )
        self.stream = ""
        self.n = 0

    async def publish(self, sdp: str) -> str:
        self.stream, answer = await self.service.publish(self.teacher, "bench/r", "camera", sdp)
        return answer

    async def wait_ready(self) -> None:
        await asyncio.wait_for(self.ready.wait(), 10)

    async def subscribe(self) -> tuple[str, str]:
        who = self.pupils[self.n]
        self.n += 1
        sub, offer = await self.service.subscribe(who, "bench/r", self.stream)
        return f"{who.sub}:{sub}", offer

    async def answer(self, sub: str, sdp: str) -> None:
        user, sub_id = sub.split(":")
        who = next(p for p in self.pupils if p.sub == user)
        await self.service.answer(who, sub_id, sdp)

    async def close(self) -> None:
        await self.service.close()


class TranscodeService:
    """Stock aiortc: decode the publisher once, encode once per subscriber."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        from signaling import ice

        ice.restrict_host_addresses(LOOPBACK)
        self.relay = MediaRelay()
        self.tracks: list[Any] = []
        self.pcs: dict[str, Any] = {}
        self.ready = asyncio.Event()

    async def publish(self, sdp: str) -> str:
        from aiortc import RTCSessionDescription
        from mediapeers import new_pc

        from signaling import codecs

        pc = new_pc()
        self.pcs["pub"] = pc
        for kind in ("audio", "video"):
            codecs.pin(pc.addTransceiver(kind, direction="recvonly"))

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "connected":
                self.ready.set()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self.tracks = [t.receiver.track for t in pc.getTransceivers()]
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def wait_ready(self) -> None:
        await asyncio.wait_for(self.ready.wait(), 10)

    async def subscribe(self) -> tuple[str, str]:
        from mediapeers import new_pc

        from signaling import codecs

        pc = new_pc()
        sub = f"sub{len(self.pcs)}"
        self.pcs[sub] = pc
        for track in self.tracks:
            codecs.pin(pc.addTransceiver(self.relay.subscribe(track), direction="sendonly"))
        await pc.setLocalDescription(await pc.createOffer())
        return sub, str(pc.localDescription.sdp)

    async def answer(self, sub: str, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pcs[sub].setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.pcs.values()))


async def serve(mode: str, conn: Connection, addresses: tuple[str, ...]) -> None:
    service: ForwardService | TranscodeService
    service = ForwardService(addresses) if mode != "transcode" else TranscodeService()
    loop = asyncio.get_running_loop()
    while True:
        op, args = await loop.run_in_executor(None, conn.recv)
        if op == "cpu":
            reply: Any = (time.process_time(), time.monotonic())
        elif op == "publish":
            reply = await service.publish(*args)
        elif op == "ready":
            reply = await service.wait_ready()
        elif op == "subscribe":
            reply = await service.subscribe()
        elif op == "answer":
            reply = await service.answer(*args)
        elif op == "close":
            await service.close()
            conn.send(None)
            return
        conn.send(reply)


def service_process(mode: str, conn: Connection, loop: str, addresses: tuple[str, ...]) -> None:
    profile = os.environ.get("MEDIA_BENCH_PROFILE")
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    if loop == "uvloop":
        import uvloop

        uvloop.run(serve(mode, conn, addresses))
    else:
        asyncio.run(serve(mode, conn, addresses))
    if profile:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{mode}")


# -- the peers' side ----------------------------------------------------------


class Rpc:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def __call__(self, op: str, *args: Any) -> Any:
        def call() -> Any:
            self.conn.send((op, args))
            return self.conn.recv()

        return await asyncio.get_running_loop().run_in_executor(None, call)


async def drive(mode: str, conn: Connection, steps: list[int], window: float,
                addresses: tuple[str, ...], turn: dict[str, str] | None,
                size: tuple[int, int]) -> dict[str, Any]:
    from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
    from mediapeers import EncodedVideoTrack, Publisher, Subscriber, ToneTrack

    from signaling import ice, seam

    if os.environ.get("MEDIA_BENCH_DEBUG"):
        import logging

        logging.basicConfig(level=logging.INFO)
    seam.install()  # the peers never decode: their CPU stays out of the way
    ice.restrict_host_addresses(addresses)
    relayed = None if turn is None else RTCConfiguration(
        iceServers=[RTCIceServer(urls=turn["url"], username=turn["username"],
                                 credential=turn["credential"])],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY)
    rpc = Rpc(conn)
    video = EncodedVideoTrack(*size, FPS, bitrate=BITRATE * size[0] * size[1] // (WIDTH * HEIGHT),
                              texture=8)
    pub = Publisher(video=video, audio=ToneTrack(0.3))
    await pub.accept(await rpc("publish", await pub.offer()))
    await rpc("ready")
    await asyncio.sleep(1.5)
    subs: list[Subscriber] = []
    joins: list[float] = []
    rows: list[dict[str, Any]] = []

    for n in [0, *steps]:
        while len(subs) < n:
            began = time.monotonic()
            sub = Subscriber(relayed)
            sub_id, offer = await rpc("subscribe")
            await rpc("answer", sub_id, await sub.answer(offer))
            await asyncio.wait_for(sub.first_video.wait(), 30)
            joins.append(sub.first_frame_at["video"] - began)
            subs.append(sub)
        await asyncio.sleep(2.0)  # warm up
        sent_before = sum(len(f) for f in video.sent)
        keyframes_before = video.keyframes_sent
        frames_before = [len(s.frames["video"]) for s in subs]
        cpu0, wall0 = await rpc("cpu")
        await asyncio.sleep(window)
        cpu1, wall1 = await rpc("cpu")
        frames = [len(s.frames["video"]) - b for s, b in zip(subs, frames_before, strict=True)]
        cores = (cpu1 - cpu0) / (wall1 - wall0)
        kbps = (sum(len(f) for f in video.sent) - sent_before) * 8 / window / 1000
        fps = statistics.mean(frames) / window if frames else 0.0
        keyframes = video.keyframes_sent - keyframes_before
        rows.append({"n": n, "cores": cores, "fps": fps, "kbps": kbps, "keyframes": keyframes})
        log(
            f"{mode:9} N={n:2}  service {cores:.4f} cores  subscriber fps {fps:5.1f}  "
            f"published {kbps:.0f} kbit/s, {keyframes} keyframes"
        )

    await rpc("close")
    await asyncio.gather(*(s.close() for s in subs), pub.close())
    return {"mode": mode, "rows": rows, "joins": joins}


def peers_process(mode: str, conn: Connection, steps: list[int], window: float,
                  addresses: tuple[str, ...], turn: dict[str, str] | None,
                  size: tuple[int, int], out: Any) -> None:
    out.put(json.dumps(asyncio.run(drive(mode, conn, steps, window, addresses, turn, size))))


def run_mode(mode: str, steps: list[int], window: float, loop: str,
             addresses: tuple[str, ...] = LOOPBACK, turn: dict[str, str] | None = None,
             size: tuple[int, int] = (WIDTH, HEIGHT)) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    results = ctx.Queue()
    service = ctx.Process(target=service_process, args=(mode, theirs, loop, addresses),
                          name=f"{mode}-service")
    peers = ctx.Process(target=peers_process,
                        args=(mode, ours, steps, window, addresses, turn, size, results))
    service.start()
    peers.start()
    try:
        result: dict[str, Any] = json.loads(results.get(timeout=100 + 40 * len(steps)))
    finally:
        peers.join(10)
        service.join(10)
        for proc in (peers, service):
            if proc.is_alive():
                proc.kill()
    return result


# -- report ---------------------------------------------------------------------


def per_stream(rows: list[dict[str, Any]]) -> dict[int, tuple[float, float]]:
    """N -> (cores per subscriber, marginal cores per subscriber above N=0)."""
    base = rows[0]["cores"]
    return {r["n"]: (r["cores"] / r["n"], (r["cores"] - base) / r["n"]) for r in rows if r["n"]}


def report(forward: dict[str, Any], transcode: dict[str, Any], out: Path) -> None:
    fw, tc = per_stream(forward["rows"]), per_stream(transcode["rows"])
    print()
    print("service CPU (cores) with one 640x480 VP8 30 fps + Opus publisher, N subscribers")
    print(
        f"{'N':>3} | {'fwd total':>9} {'fwd/sub':>8} {'fwd marg':>8} {'fps':>5} | "
        f"{'tc total':>9} {'tc/sub':>8} {'tc marg':>8} {'fps':>5} | {'ratio':>6}"
    )
    for f_row, t_row in zip(forward["rows"], transcode["rows"], strict=True):
        n = f_row["n"]
        if n == 0:
            print(
                f"{0:>3} | {f_row['cores']:9.4f} {'-':>8} {'-':>8} {'-':>5} | "
                f"{t_row['cores']:9.4f} {'-':>8} {'-':>8} {'-':>5} | {'-':>6}"
            )
            continue
        ratio = tc[n][0] / fw[n][0] if fw[n][0] > 0 else float("inf")
        print(
            f"{n:>3} | {f_row['cores']:9.4f} {fw[n][0]:8.4f} {fw[n][1]:8.4f} {f_row['fps']:5.1f} | "
            f"{t_row['cores']:9.4f} {tc[n][0]:8.4f} {tc[n][1]:8.4f} {t_row['fps']:5.1f} | "
            f"{ratio:5.1f}x"
        )
    top = max(fw)
    joins = forward["joins"]
    print()
    print(f"published video: {statistics.mean(r['kbps'] for r in forward['rows']):.0f} kbit/s")
    print(
        f"forwarding, per subscriber at N={top}: {fw[top][0]:.4f} cores "
        f"(target <= 0.015) -> {'OK' if fw[top][0] <= 0.015 else 'MISSED'}"
    )
    print(
        f"transcoding / forwarding at N={top}: {tc[top][0] / fw[top][0]:.1f}x "
        f"(target >= 10x) -> {'OK' if tc[top][0] >= 10 * fw[top][0] else 'MISSED'}"
    )
    print(
        f"join-to-first-frame, forwarding: median {statistics.median(joins):.3f} s, "
        f"max {max(joins):.3f} s (target <= 1 s) -> {'OK' if max(joins) <= 1 else 'MISSED'}"
    )
    print(f"join-to-first-frame, transcoding: median {statistics.median(transcode['joins']):.3f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.with_suffix(".json")).write_text(json.dumps({"forward": forward, "transcode": transcode}))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for data, label in ((forward, "forward (this service)"), (transcode, "MediaRelay transcode")):
        ns = [r["n"] for r in data["rows"]]
        left.plot(ns, [r["cores"] for r in data["rows"]], marker="o", label=label)
    left.set_xlabel("subscribers")
    left.set_ylabel("service CPU (cores)")
    left.legend()
    ns = sorted(fw)
    right.bar([str(n) for n in ns], [fw[n][0] for n in ns], label="forward")
    right.axhline(0.015, color="red", linestyle="--", label="target 0.015")
    right.set_xlabel("subscribers")
    right.set_ylabel("cores per forwarded stream")
    right.legend()
    fig.suptitle("640x480 VP8 30 fps + Opus, one publisher to N subscribers")
    fig.tight_layout()
    fig.savefig(out)
    print(f"plot: {out}")


def run_turn(steps: list[int], window: float, loop: str, size: tuple[int, int]) -> dict[str, Any]:
    """The forwarding run with every subscriber behind coturn (TCP), coturn in a namespace."""
    from coturn import Coturn

    from rooms.clock import SystemClock
    from signaling.turn import TurnConfig
    from tests.netns import netns

    secret = os.urandom(16).hex()
    with netns() as ns:
        coturn = Coturn(ns.inside, secret, wrap=ns.command)
        asyncio.run(coturn.start())
        try:
            url = f"turn:{coturn.ip}:{coturn.port}?transport=tcp"
            (server,) = TurnConfig(urls=(url,), secret=secret).ice_servers("bench", SystemClock())
            turn = {"url": url, "username": server["username"],
                    "credential": server["credential"]}
            log(f"coturn on {coturn.ip}:{coturn.port} (TCP); service on {ns.outside}")
            return run_mode("turn", steps, window, loop, (ns.outside,), turn, size)
        finally:
            coturn.stop()


def report_turn(result: dict[str, Any]) -> None:
    joins = result["joins"]
    print()
    print("through TURN (coturn over TCP, relay-only subscribers)")
    for row in result["rows"]:
        per = f"{row['cores'] / row['n']:.4f}/sub" if row["n"] else "-"
        print(f"  N={row['n']:2}  service {row['cores']:.4f} cores ({per})  fps {row['fps']:5.1f}")
    print(
        f"join-to-first-frame through TURN: median {statistics.median(joins):.3f} s, "
        f"max {max(joins):.3f} s (target <= 2 s) -> {'OK' if max(joins) <= 2 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="1,4,8", help="subscriber counts, ascending")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds measured per step (with --servers: 30 unless given)")
    parser.add_argument("--modes", default="forward,transcode",
                        help="any of forward, transcode, second (join through a second process), turn (root: a network namespace)")
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the service's event loop (production runs uvloop)",
    )
    parser.add_argument("--size", default=f"{WIDTH}x{HEIGHT}",
                        help="published video; a smaller one on a loaded machine (bitrate scales)")
    parser.add_argument("--out", type=Path, default=ROOT / "loadtests/results/media_bench.png")
    parser.add_argument("--servers", default="",
                        help="ours,janus: Chromium side by side with Janus VideoRoom (root: a "
                             "network namespace; loadtests/media_side.py); the other modes are "
                             "then not run")
    parser.add_argument("--shapes", default="1x3,1x8,1x29,screen,class",
                        help="with --servers: 1xN, screen, class")
    parser.add_argument("--repeat", type=int, default=1, help="with --servers: rounds")
    parser.add_argument("--warmup", type=float, default=4.0, help="with --servers: seconds")
    parser.add_argument("--bitrate", type=int, default=BITRATE,
                        help="with --servers: each published video's maxBitrate")
    parser.add_argument("--per-page", type=int, default=5,
                        help="with --servers: viewers per Chromium page")
    parser.add_argument("--pyspy", type=Path, default=None,
                        help="with --servers: py-spy (raw, 200 Hz) of ours over each window, "
                             "to PATH-<shape>.txt")
    parser.add_argument("--native", action="store_true", help="with --pyspy: native frames")
    parser.add_argument("--before", default="",
                        help="with --servers before,...: the checkout whose signaling/ the "
                             "'before' server runs (e.g. a worktree of main)")
    parser.add_argument("--no-decode", action="store_true",
                        help="with --servers: subscribers only count frames, never decode "
                             "(lighter pages, but Chromium then asks for keyframes ~3/s)")
    args = parser.parse_args()
    if args.window is None:
        args.window = 30.0 if args.servers else 6.0
    if args.servers:
        from media_side import report as report_side
        from media_side import side_by_side

        size = tuple(int(v) for v in args.size.split("x"))
        rows = asyncio.run(side_by_side(
            args.servers.split(","), args.shapes.split(","), args.window, args.warmup,
            (size[0], size[1], FPS), args.bitrate, args.per_page, args.repeat, args.pyspy,
            args.native, not args.no_decode, args.before))
        report_side(rows)
        out = args.out.with_name("media_side.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1))
        print(f"raw: {out}")
        return
    steps = sorted({int(s) for s in args.steps.split(",") if s.strip()})
    log(
        f"{args.loop} service loop, steps {steps}, window {args.window}s, "
        f"{WIDTH}x{HEIGHT} VP8 {FPS} fps {BITRATE} bit/s"
    )
    modes = args.modes.split(",")
    if "second" in modes:
        from media_cluster import measure
        from media_cluster import report as report_second

        modes.remove("second")
        report_second(asyncio.run(measure(pupils=max(steps))))
    size = tuple(int(v) for v in args.size.split("x"))
    assert len(size) == 2, "--size is WIDTHxHEIGHT"
    results = {mode: run_mode(mode, steps, args.window, args.loop, size=(size[0], size[1]))
               for mode in modes if mode != "turn"}
    if "forward" in results and "transcode" in results:
        report(results["forward"], results["transcode"], args.out)
    elif "forward" in results:
        joins = results["forward"]["joins"]
        print(f"join-to-first-frame, forwarding: median {statistics.median(joins):.3f} s, "
              f"max {max(joins):.3f} s")
    if "turn" in modes:
        report_turn(run_turn(steps, args.window, args.loop, (size[0], size[1])))


if __name__ == "__main__":
    main()
