"""Our forwarding unit side by side with Janus (VideoRoom), Chromium on both ends (issue #13, 3).

`media_bench.py --servers ours,janus [--shapes 1x3,1x8,1x29,screen,class]` runs this: one
network namespace (tests/netns.py) holds the unit under test (ours: `loadtests/media_sfu.py`,
`signaling.MediaService` behind a small HTTP shim, on uvloop; Janus: Debian's `janus` with only
its VideoRoom plugin and HTTP transport, its config written to a temp dir, free ports) and one
headless Chromium. Chromium's pages (`loadtests/media_driver.html`) publish fake camera,
microphone and screen, and hold many subscriber RTCPeerConnections each; they reach either
server by fetch through this process's HTTP server on the veth pair (same origin: the page,
/ours/* proxied to our shim, /janus/* to Janus's HTTP API, long poll included).

Per shape and server, in the same run, the servers alternating: start the server, publish,
subscribe every viewer, warm up, then over `--window` seconds: the server process's CPU time
from /proc/<pid>/stat (every thread; Janus's and ours alike) ÷ forwarded video streams ÷
seconds; the subscribers' received video frames and packets (so both servers are seen doing
the same work).

Shapes:
- 1xN: one publisher (camera + microphone), N viewers (1x3, 1x8, 1x29)
- screen: one publisher with camera + microphone + screen, 8 viewers (16 video streams)
- class: 10 publishers (camera + muted microphone, 320x240 at 15 fps: the tiles of a grid;
  180 decoding subscribers at 640x480 overload two cores), 20 viewers; ours
  with last-N 9 (each viewer
  subscribes to the 10 streams, gets 9 videos and 10 audios); Janus has no last-N, so each
  viewer subscribes to 9 feeds' video and the 10 feeds' audio (one PeerConnection, Janus's way)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from run import free_port, log  # the benchmarks' helpers (loadtests/ is on the path)

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "loadtests" / "media_driver.html"
JANUS_LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
TCK = os.sysconf("SC_CLK_TCK")
MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--enable-features=RTCInsertableStreams",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
]




def cpu_times(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process, every thread (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TCK, int(fields[12]) / TCK


def cpu_seconds(pid: int) -> float:
    return sum(cpu_times(pid))


def cpu_ns(pid: int) -> tuple[int, int]:
    """(CPU time in ns, threads) of every live thread of a process, from the scheduler's own
    accounting (/proc/<pid>/task/*/schedstat, first field), not /proc/<pid>/stat's 100 Hz ticks:
    at 1x3 the unit uses ~0.03 core, 45 ticks in 15 s, where one tick is 2 %. A thread that
    ends inside the window takes its time with it: the thread count is kept to see that."""
    total = threads = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
            threads += 1
    return total, threads


def load_average() -> float:
    """The 1-minute load average (the machine is shared: every row records it)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass(frozen=True)
class Shape:
    name: str
    publishers: int
    sources: tuple[str, ...]
    viewers: int
    last_n: int  # video streams a viewer receives (of the publishers' camera streams)
    tiles: bool = False  # cameras at 320x240, 15 fps (the tiles of a grid of nine), not --size

    @property
    def video_streams(self) -> int:
        per_viewer = min(self.last_n, self.publishers) * len(self.sources)
        return self.viewers * per_viewer


def shape(name: str) -> Shape:
    if name.startswith("1x"):
        return Shape(name, 1, ("camera",), int(name[2:]), 9)
    if name == "screen":
        return Shape(name, 1, ("camera", "screen"), 8, 9)
    if name == "class":
        return Shape(name, 10, ("camera",), 20, 9, tiles=True)
    raise ValueError(f"unknown shape {name!r}: 1xN, screen or class")


# -- the servers ------------------------------------------------------------------------


class Server:
    name = ""

    def __init__(self, ns: Any, tmp: Path, bitrate: int) -> None:
        self.ns = ns
        self.bitrate = bitrate  # ours: the publishers' REMB cap; Janus: the room's bitrate
        self.tmp = tmp
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = tmp / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self, shape: Shape) -> list[str]:
        raise NotImplementedError

    def spawn(self, shape: Shape) -> subprocess.Popen[bytes]:
        """The server inside the namespace (`ip netns exec` execs it: same pid)."""
        with open(self.log_path, "wb") as out:
            return subprocess.Popen(self.ns.command(*self.command(shape)), cwd=ROOT,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def start(self, shape: Shape) -> None:
        self.proc = self.spawn(shape)
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(self.ready_url(), timeout=aiohttp.ClientTimeout(2)) as r:
                        if r.status < 500:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready: {self.tail()}")

    def ready_url(self) -> str:
        raise NotImplementedError

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Ours(Server):
    name = "ours"

    def command(self, shape: Shape) -> list[str]:
        return [sys.executable, str(ROOT / "loadtests" / "media_sfu.py"), "--host",
                self.ns.inside, "--port", str(self.port), "--last-n", str(shape.last_n),
                "--bitrate", str(self.bitrate)]

    def ready_url(self) -> str:
        return f"http://{self.ns.inside}:{self.port}/streams"

    def upstream(self, tail: str) -> str:
        return f"http://{self.ns.inside}:{self.port}/{tail}"


class Before(Ours):
    """Ours from another checkout (`--before PATH`, e.g. a worktree of main)."""

    name = "before"
    root = ""

    def command(self, shape: Shape) -> list[str]:
        return [*super().command(shape), "--ours-root", self.root]


class Janus(Server):
    """Debian's janus: VideoRoom and the HTTP transport only, config in a temp dir."""

    name = "janus"

    def command(self, shape: Shape) -> list[str]:
        if shutil.which("janus") is None:
            raise RuntimeError("janus is not installed: apt-get install -y janus")
        conf = self.tmp / "janus"
        for sub in ("plugins", "transports", "events", "loggers"):
            (conf / sub).mkdir(parents=True, exist_ok=True)
        for sub, lib in (("plugins", "libjanus_videoroom.so"),
                         ("transports", "libjanus_http.so")):
            link = conf / sub / lib
            if not link.exists():
                link.symlink_to(JANUS_LIB / sub / lib)
        (conf / "janus.jcfg").write_text(f"""general: {{
  configs_folder = "{conf}"
  plugins_folder = "{conf}/plugins"
  transports_folder = "{conf}/transports"
  events_folder = "{conf}/events"
  loggers_folder = "{conf}/loggers"
  debug_level = 3
  log_to_stdout = true
  session_timeout = 120
}}
media: {{
  rtp_port_range = "20000-40000"
}}
nat: {{
  ice_enforce_list = "{self.ns.inside}"
  nice_debug = false
}}
""")
        (conf / "janus.transport.http.jcfg").write_text(f"""general: {{
  json = "plain"
  base_path = "/janus"
  http = true
  port = {self.port}
  ip = "{self.ns.inside}"
  https = false
}}
admin: {{
  admin_http = false
}}
""")
        (conf / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
        return ["janus", "-C", str(conf / "janus.jcfg"), "-F", str(conf), "--disable-colors"]

    def ready_url(self) -> str:
        return f"http://{self.ns.inside}:{self.port}/janus/info"

    def upstream(self, tail: str) -> str:
        return f"http://{self.ns.inside}:{self.port}/janus{tail}"


# -- the page side --------------------------------------------------------------------------


class Front:
    """Serves the driver page and proxies /ours/* and /janus* to the server under test."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = free_port()
        self.server: Ours | Janus | None = None
        self.runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90))
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_route("*", "/ours/{tail:.*}", self.proxy_ours)
        app.router.add_route("*", "/janus{tail:.*}", self.proxy_janus)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.http is not None:
            await self.http.close()

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=DRIVER.read_text(), content_type="text/html")

    async def forward(self, request: web.Request, url: str) -> web.Response:
        assert self.http is not None
        body = await request.read()
        try:
            async with self.http.request(request.method, url, data=body or None,
                                         params=request.query,
                                         headers={"content-type": "application/json"}) as r:
                return web.Response(body=await r.read(), status=r.status,
                                    content_type="application/json")
        except (TimeoutError, aiohttp.ClientError, OSError):
            # the server was stopped under a page's long poll: nothing to relay
            return web.json_response({"error": "the server under test is gone"}, status=502)

    async def proxy_ours(self, request: web.Request) -> web.Response:
        if not isinstance(self.server, Ours):
            return web.json_response({"error": "ours is not running"}, status=502)
        return await self.forward(request, self.server.upstream(request.match_info["tail"]))

    async def proxy_janus(self, request: web.Request) -> web.Response:
        if not isinstance(self.server, Janus):
            return web.json_response({"error": "janus is not running"}, status=502)
        return await self.forward(request, self.server.upstream(request.match_info["tail"]))


async def until(what: str, check: Any, limit: float) -> Any:
    deadline = time.monotonic() + limit
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.25)
    raise RuntimeError(f"timed out: {what} (last: {last})")


async def run_shape(browsers: tuple[Any, Any], front: Front, server: Ours | Janus, sh: Shape,
                    window: float, warmup: float, size: tuple[int, int, int],
                    bitrate: int, per_page: int, profile: Path | None = None,
                    native: bool = False, decode: bool = False) -> dict[str, Any]:
    if sh.tiles:
        size = (320, 240, 15)
    await server.start(sh)
    front.server = server
    contexts: list[Any] = []
    try:
        async def new_page(browser: Any) -> Any:
            ctx = await browser.new_context()
            contexts.append(ctx)
            page = await ctx.new_page()
            page.on("pageerror", lambda e: log(f"page error: {e}"))
            await page.goto(front.origin + ("/?decode=1" if decode else "/"))
            await page.wait_for_function("() => window.bench")
            return page

        # one page (one renderer process) per publisher: ten encoders in one renderer starve
        # its network thread, which then answers ICE consent checks late
        # and the publishers in a Chromium of their own, apart from the viewers' (its browser
        # process holds the network service: 200 viewer PeerConnections there starved the
        # publishers' ICE consent answers in `class`), the same for both servers
        pub_pages = [await new_page(browsers[0]) for _ in range(sh.publishers)]
        kind = "ours" if isinstance(server, Ours) else "janus"  # the page's driver
        if kind == "janus":
            await pub_pages[0].evaluate("(b) => window.bench.janus.create(b)", bitrate)
        feeds: list[Any] = []
        for i, pub_page in enumerate(pub_pages):
            if sh.tiles:
                # a class of muted microphones: nobody speaks, so our last-N keeps the same
                # nine (teacher first, then by age) instead of following the fake device's
                # beeps, which all publishers make at once; Janus's viewers have a fixed nine
                await pub_page.evaluate("() => window.bench.silent(true)")
            user = "t0" if i == 0 else f"p{i}"
            feeds += await pub_page.evaluate(
                "([k, u, s, sz, scr, b]) => window.bench[k].publish(u, s, sz, scr, b)",
                [kind, user, list(sh.sources), list(size), [1280, 720, 5], bitrate])

        async def published() -> dict[str, Any]:
            got = await asyncio.gather(
                *(p.evaluate("() => window.bench.published()") for p in pub_pages))
            out: dict[str, Any] = {"packets": 0, "bytes": 0, "connected": 0, "pcs": 0,
                                   "limits": {}, "available": [], "fps": [], "sizes": []}
            for g in got:
                for key in ("packets", "bytes", "connected", "pcs"):
                    out[key] += g[key]
                for why, n in g["limits"].items():
                    out["limits"][why] = out["limits"].get(why, 0) + n
                for key in ("available", "fps", "sizes"):
                    out[key] += g[key]
            return out

        async def publishing() -> bool:
            p = await published()
            return bool(p["connected"] == p["pcs"] and p["packets"] > 0)

        await until("publishers connected", publishing, 30)
        if kind == "ours":
            async def announced() -> bool:
                assert front.http is not None
                async with front.http.get(server.upstream("streams")) as r:
                    return len(await r.json()) == len(feeds)
            await until("streams announced", announced, 30)
        pages = [await new_page(browsers[1]) for _ in range(-(-sh.viewers // per_page))]
        async def subscribe_page(index: int, page: Any) -> None:
            # the pages in parallel, each its viewers one after another: a shorter set-up
            for v in range(index * per_page, min(sh.viewers, (index + 1) * per_page)):
                if kind == "ours":
                    await page.evaluate("([u, f]) => window.bench.ours.subscribe(u, f)",
                                        [f"v{v}", feeds])
                else:
                    await page.evaluate(
                        "([u, f, n]) => window.bench.janus.subscribe(u, f, n)",
                        [f"v{v}", feeds, sh.last_n])

        await asyncio.gather(*(subscribe_page(i, p) for i, p in enumerate(pages)))

        async def all_stats() -> list[dict[str, Any]]:
            got: list[dict[str, Any]] = await asyncio.gather(
                *(p.evaluate("() => window.bench.stats()") for p in pages))
            return got

        async def flowing() -> bool:
            got = await all_stats()
            return all(s["connected"] == s["pcs"] for s in got)

        await until("subscribers connected", flowing, 60)
        await asyncio.sleep(warmup)
        pub0 = await published()
        before = await all_stats()
        load0 = load_average()
        (user0, sys0), (ns0, threads0), wall0 = (cpu_times(server.pid), cpu_ns(server.pid),
                                                 time.monotonic())
        ticks0 = user0 + sys0
        spy = None
        if profile is not None and kind == "ours":
            profile = profile.with_name(f"{profile.name}-{server.name}")
            # py-spy on the unit over the window (sampling costs it a little CPU: these runs
            # are for the frames, not for the table)
            out = profile.with_name(f"{profile.name}-{sh.name}.txt")
            errors = out.with_suffix(".err").open("wb")  # noqa: ASYNC230, SIM115 - py-spy's
            spy = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid),
                "--duration", str(int(window)), "--rate", "200", "--format", "raw",
                # py-spy refuses --native with --nonblocking: native stacks pause the unit
                *(["--native"] if native else ["--nonblocking"]), "--output", str(out),
                stdout=asyncio.subprocess.DEVNULL, stderr=errors)
        await asyncio.sleep(window)
        if spy is not None:
            await spy.wait()
            errors.close()
            pyspy_top(out)
        (user1, sys1), (ns1, threads1), wall1 = (cpu_times(server.pid), cpu_ns(server.pid),
                                                 time.monotonic())
        ticks1 = user1 + sys1
        load1 = load_average()
        cpu0, cpu1 = ns0 / 1e9, ns1 / 1e9
        after = await all_stats()
        pub1 = await published()
        seconds = wall1 - wall0
        lost = [f"{s['pcs'] - s['connected']} of {s['pcs']} viewer PCs" for s in after
                if s["connected"] != s["pcs"]]
        if pub1["connected"] != pub1["pcs"]:
            lost.append(f"{pub1['pcs'] - pub1['connected']} of {pub1['pcs']} publisher PCs")
        if lost:  # a window with connections gone measures nothing: no row, a failure
            raise RuntimeError(f"lost during the window: {', '.join(lost)}")

        def total(key: str, rows: list[dict[str, Any]]) -> int:
            return sum(int(r[key]) for r in rows)

        frames = total("frames", after) - total("frames", before)
        packets = total("packets", after) - total("packets", before)
        cores = (cpu1 - cpu0) / seconds
        row = {
            "shape": sh.name, "server": server.name, "cores": cores, "seconds": seconds,
            "streams": sh.video_streams, "per_stream": cores / max(sh.video_streams, 1),
            "fps": frames / seconds / max(sh.video_streams, 1),
            "pps": packets / seconds,
            "per_kpacket": (cpu1 - cpu0) / max(packets, 1) * 1000,
            "published_kbps": (pub1["bytes"] - pub0["bytes"]) * 8 / seconds / 1000,
            # what the server asked of the publishers over the window
            "published": {k: pub1.get(k, 0) - pub0.get(k, 0) for k in (
                "packets", "keyframes", "plisIn", "firsIn", "nacksIn")},
            "nacks": total("nacks", after) - total("nacks", before),
            "plis": total("plis", after) - total("plis", before),
            "connected": total("connected", after), "pcs": total("pcs", after),
            "kernel_share": (sys1 - sys0) / max(ticks1 - ticks0, 1e-9),
            "ticks_cores": (ticks1 - ticks0) / seconds, "threads": [threads0, threads1],
            "load": [load0, load1],
        }
        log(f"{sh.name:7} {server.name:6} {cores:.4f} cores, "
            f"{row['per_stream'] * 1000:.3f} ms/s per "
            f"video stream ({sh.video_streams}), {row['fps']:.1f} fps/stream, "
            f"{row['pps']:.0f} pkt/s received, {row['per_kpacket'] * 1000:.1f} us CPU/packet, "
            f"published {row['published_kbps']:.0f} kbit/s, {row['connected']}/{row['pcs']} pcs; "
            f"ticks say {row['ticks_cores']:.4f} cores; load {load0:.1f} -> {load1:.1f}")
        log(f"        publishers: limited by {pub1['limits']}, available kbit/s "
            f"{pub1['available']}, fps {pub1['fps']}, sizes {sorted(set(pub1['sizes']))}; "
            f"subscribers sent {row['plis']} PLIs, {row['nacks']} NACKs; "
            f"{100 * row['kernel_share']:.0f}% of the unit's CPU in the kernel")
        p = row["published"]
        log(f"        published in the window: {p['packets']} packets, {p['keyframes']} "
            f"keyframes; the server sent {p['plisIn']} PLIs, {p['firsIn']} FIRs, "
            f"{p['nacksIn']} NACKs")
        row["publishers"] = pub1
        return row
    except Exception:
        log(f"{server.name} failed; its log (kept in {tempfile.gettempdir()}) ends:\n"
            f"{server.tail()}")
        raise
    finally:
        with contextlib.suppress(OSError):
            kept = Path(tempfile.gettempdir()) / f"media-side-{server.name}-{sh.name}.log"
            shutil.copy(server.log_path, kept)  # the legs' lives, for a failed or odd run
        for ctx in contexts:
            with contextlib.suppress(Exception):
                await ctx.close()
        server.stop()
        front.server = None


def pyspy_top(path: Path, top: int = 14) -> None:
    """The frames (function, file) with the largest inclusive and self shares of a raw
    py-spy profile (collapsed stacks, `frame;frame;... count` per line)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(":")[0] for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return
    print(f"py-spy {path.name}: {total} samples; inclusive, then self:")
    for table in (inclusive, own):
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * n / total:5.1f}%  {frame}")
        print("  --")


@contextlib.asynccontextmanager
async def chromium_in(ns: Any, origin: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    from tests.browser import ARGS, CHROMIUM

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=ns.wrapper(CHROMIUM), headless=True,
            args=ARGS + MEDIA_ARGS + [f"--unsafely-treat-insecure-origin-as-secure={origin}"])
        try:
            yield browser
        finally:
            await browser.close()


async def side_by_side(servers: list[str], shapes: list[str], window: float, warmup: float,
                       size: tuple[int, int, int], bitrate: int, per_page: int,
                       repeat: int, profile: Path | None = None,
                       native: bool = False, decode: bool = False,
                       before: str = "") -> list[dict[str, Any]]:
    """Every shape on every server, `repeat` rounds; the servers' order alternates between
    rounds (a drift of the machine's load over a round then biases no server)."""
    from tests.netns import netns

    rows: list[dict[str, Any]] = []
    with netns() as ns, tempfile.TemporaryDirectory(prefix="media-side-") as tmp:
        front = Front(ns.outside)
        await front.start()
        try:
            async with chromium_in(ns, front.origin) as publishers, \
                    chromium_in(ns, front.origin) as viewers:
                for round_ in range(repeat):
                    for name in shapes:
                        sh = shape(name)
                        order = servers if round_ % 2 == 0 else servers[::-1]
                        for server_name in order:
                            kinds: dict[str, type[Ours | Janus]] = {
                                "ours": Ours, "janus": Janus, "before": Before}
                            server = kinds[server_name](ns, Path(tmp), bitrate)
                            if isinstance(server, Before):
                                server.root = before
                            try:
                                row = await run_shape(
                                    (publishers, viewers), front, server, sh, window, warmup,
                                    size, bitrate, per_page, profile, native, decode)
                            except Exception as exc:  # noqa: BLE001 - the next shape still runs
                                log(f"{sh.name} {server.name} FAILED: {str(exc)[:300]}")
                                row = {"shape": sh.name, "server": server.name,
                                       "failed": str(exc)[:300]}
                            rows.append({**row, "round": round_})
        finally:
            await front.stop()
    return rows


def report(rows: list[dict[str, Any]]) -> None:
    """Per shape: each server's median over rounds, and each server's ratio to Janus as the
    median of the rounds' ratios (each round's pair ran minutes apart) with its spread."""
    servers = [n for n in ("before", "ours", "janus") if any(r["server"] == n for r in rows)]
    print()
    print("CPU of the forwarding unit per forwarded video stream: ms of CPU (schedstat) per "
          "second per stream, median of rounds; fps per stream and CPU per received packet "
          "beside it; ratio to Janus: median of the rounds' ratios [min-max], rounds")
    head = " | ".join(f"{n:>7} {'fps':>5} {'us/pkt':>6}" for n in servers)
    ratios = [n for n in servers if n != "janus" and "janus" in servers]
    print(f"{'shape':8} {'streams':>7} | {head} | "
          + " | ".join(f"{n + '/janus':>22}" for n in ratios) + " | load")
    for name in dict.fromkeys(r["shape"] for r in rows):
        mine = [r for r in rows if r["shape"] == name and "failed" not in r]
        failed = [r for r in rows if r["shape"] == name and "failed" in r]
        got: dict[str, dict[str, float]] = {}
        for server in servers:
            them = [r for r in mine if r["server"] == server]
            if them:
                got[server] = {
                    "ms": statistics.median(r["per_stream"] for r in them) * 1000,
                    "fps": statistics.median(r["fps"] for r in them),
                    "us": statistics.median(r["per_kpacket"] for r in them) * 1000,
                    "streams": them[0]["streams"],
                }
        if not got:
            print(f"{name:8} failed on every server")
            continue
        cells = [f"{got[n]['ms']:7.3f} {got[n]['fps']:5.1f} {got[n]['us']:6.1f}" if n in got
                 else f"{'-':>7} {'-':>5} {'-':>6}" for n in servers]
        cols = []
        for n in ratios:
            per_round = [a["per_stream"] / b["per_stream"] for a in mine for b in mine
                         if a["server"] == n and b["server"] == "janus"
                         and a["round"] == b["round"] and b["per_stream"] > 0]
            cols.append(f"{statistics.median(per_round):5.2f}x [{min(per_round):.2f}-"
                        f"{max(per_round):.2f}] n={len(per_round)}" if per_round
                        else f"{'-':>22}")
        loads = [v for r in mine for v in r["load"]]
        streams = int(next(iter(got.values()))["streams"])
        ratio_cells = " | ".join(f"{c:>22}" for c in cols)
        print(f"{name:8} {streams:7d} | {' | '.join(cells)} | {ratio_cells}"
              f" | {min(loads):.1f}-{max(loads):.1f}"
              + (f"; FAILED {', '.join(r['server'] for r in failed)}" if failed else ""))
