"""The service's own CPU per chat message, in one process, without the kernel.

Why: `run.py` measures the whole service over loopback, side by side with the
reference, which is what the targets are about; but there a run moves by 5–15 %
with the VM's state, so a change worth 2 % cannot be told from noise. Here the
real service (`live.app.build`: aiohttp's upgrade, our WebSocket connection,
Engine.IO, python-socketio, the edge, `RoomService`, the store and the fan-out)
runs in this process, and its members are in-process clients whose connections
are `Pipe`s: what a client sends is handed to the server's protocol
(`data_received`), what the server writes is handed to the client. No socket, no
system call (with the in-memory store), no other process: the thread's CPU time
per message (`time.thread_time`) is the interpreter's cost of a message, the
clients' small share included. That time still moves with the VM (by up to 2x
from one minute to the next on some boots); `--instructions` counts instructions
under valgrind instead, which repeats within ~0.3 % (the same tree twice: 1.0003x).

It is a yardstick for changes to the per-message path (before/after in the same
minutes, `--compare`), not a benchmark of the service: the kernel's share (a
write per recipient, ~half of a delivery's cost on loopback) is left out.

    .venv/bin/python loadtests/hotpath.py                     # 30 members, 1 in flight
    .venv/bin/python loadtests/hotpath.py --members 200 --window 1,20
    .venv/bin/python loadtests/hotpath.py --redis redis://127.0.0.1:6379/9   # + Redis I/O
    .venv/bin/python loadtests/hotpath.py --profile           # cProfile of one repetition
    .venv/bin/python loadtests/hotpath.py --compare /work/wt-before   # alternate two trees

One member (a student, so the safeguarding filter runs) sends `chat:send` with
the bench's text (`b <seq> t<ms>`), keeping `--window` unacked; every member of
the room gets each message. Per repetition: `--messages` messages after a
warm-up; reported: µs of CPU per message and per delivery, min and median over
`--reps`.

`--unit join` counts a member's visit instead (the `storm` bench's unit, with the
leave): a new member upgrades, signs in (its token verified), joins the room of
`--members` (its snapshot read, its arrival announced to them), and closes the
connection (its departure announced); the next starts once the room heard it leave,
`--window` of them at a time. `--messages` is then the number of visits:

    .venv/bin/python loadtests/hotpath.py --unit join --members 50 --messages 100 \
        --warmup 20 --instructions        # 3,959 k instructions a visit (2026-11-28)
    HOTPATH_SORT=cumulative .venv/bin/python loadtests/hotpath.py --unit join \
        --members 50 --messages 300 --warmup 50 --reps 1 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack
import uvloop

SECRET = "hotpath-bench-secret-0123456789abcdef"
# `--text chat`: what pupils write (taken in turn; a sequence number ends each)
CHAT = ("see you tomorrow at school", "What did you do at the weekend?",
        "I think the answer is 42 because the train leaves at 3 pm",
        "Wir treffen uns morgen um 10 Uhr in der Bibliothek.",
        "Je suis allée au musée avec ma classe, c'était génial !",
        "¿Cuántos alumnos hay en tu clase?", "ok", "Our project is about water :)")
SPACE = "hotpath"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked client frame (RFC 6455; the mask key 0 leaves the payload as is)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


def server_frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """Complete (unmasked) server frames taken off the front of `buf`."""
    out: list[tuple[int, bytes]] = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < off + n:
            break
        out.append((buf[0] & 0x0F, bytes(buf[off:off + n])))
        del buf[:off + n]
    return out


def _true() -> bool:
    return True


class Pipe(asyncio.Transport):
    """The server's end of an in-process connection: writes go to `sink`. Its hot
    methods are C functions, as uvloop's transport's are, so that the harness adds few
    instructions per delivery: `is_closing` is `bool` (False until closed),
    `get_write_buffer_size` is `int` (0)."""

    is_closing = bool
    get_write_buffer_size = int

    def __init__(self, sink: Callable[[bytes], None], port: int) -> None:
        super().__init__()
        self._protocol: Any = None
        self._closing = False
        self.sink = sink
        self._peer = ("127.0.0.1", port)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self._peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol

    def get_protocol(self) -> Any:
        return self._protocol

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self.is_closing = _true  # type: ignore[assignment]
            asyncio.get_running_loop().call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def write(self, data: Any) -> None:  # (a receiver's is `deque.append`: `discard`)
        self.sink(bytes(data))

    def writelines(self, chunks: Any) -> None:
        self.sink(b"".join(chunks))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def can_write_eof(self) -> bool:
        return False


class Client:
    """One member: upgrades, signs in, joins `room`; then either reads everything (the
    sender: its acks) or only answers pings (a receiver counts bytes)."""

    def __init__(self, make_protocol: Callable[[], Any], sub: str, room: str,
                 port: int) -> None:
        from live.tokens import mint
        self.token = mint(SECRET, space=SPACE, role="student", name=f"Bench {sub}", sub=sub)
        self.room = room
        self.buf = bytearray()
        self.upgraded = False
        self.next_id = 0
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.on_ack: Callable[[int], None] | None = None
        self.on_event: Callable[[str, Any], None] | None = None
        self.joined = asyncio.get_running_loop().create_future()
        self.transport = Pipe(self._data, port)
        proto = make_protocol()
        self.transport.set_protocol(proto)
        proto.connection_made(self.transport)
        self.feed(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                  b"Host: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")

    def discard(self) -> None:
        """From now on what the server writes is dropped by a C function (no Python call
        per delivery). The service's pings are off in this harness (`serve`)."""
        self.transport.write = collections.deque(maxlen=1).append  # type: ignore[assignment]

    def feed(self, data: bytes) -> None:
        self.transport.get_protocol().data_received(data)

    def emit(self, event: str, data: Any) -> asyncio.Future[Any]:
        i = self.next_id
        self.next_id += 1
        fut = self.acks[i] = asyncio.get_running_loop().create_future()
        self.feed(client_frame(2, msgpack.packb(
            {"type": 2, "nsp": "/", "data": [event, data], "id": i})))
        return fut

    def _data(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(f"upgrade refused: {bytes(self.buf[:80])!r}")
            del self.buf[:end + 4]
            self.upgraded = True
        for op, payload in server_frames(self.buf):
            if op == 1:
                if payload[:1] == b"0":  # Engine.IO open: sign in
                    self.feed(client_frame(2, msgpack.packb(
                        {"type": 0, "nsp": "/", "data": {"token": self.token}})))
                elif payload == b"2":
                    self.feed(client_frame(1, b"3"))
                continue
            if op != 2:
                continue
            pkt = msgpack.unpackb(payload)
            kind = pkt.get("type")
            if kind == 0:  # connected: join
                self.emit("join", {"room": self.room}).add_done_callback(self._joined)
            elif kind == 3:
                fut = self.acks.pop(pkt["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(pkt["data"][0])
                if self.on_ack is not None:
                    self.on_ack(pkt["id"])
            elif kind == 4:
                self.joined.set_exception(RuntimeError(f"connect refused: {pkt.get('data')}"))
            elif kind == 2 and self.on_event is not None:
                self.on_event(pkt["data"][0], pkt["data"][1])

    def _joined(self, fut: asyncio.Future[Any]) -> None:
        ack = fut.result()
        if isinstance(ack, dict) and ack.get("ok"):
            self.joined.set_result(None)
        else:
            self.joined.set_exception(RuntimeError(f"join refused: {ack}"))


async def serve(a: argparse.Namespace) -> list[dict[str, float]]:
    from aiohttp import web

    from live import cli
    from live.app import build
    from live.config import Config

    env = {"LIVE_JWT_SECRET": SECRET, "LIVE_RATE_LIMITS": "off", "LIVE_ROOMS": "open",
           "LIVE_METRICS_PORT": "0"}
    if a.redis:
        env["LIVE_REDIS_URL"] = a.redis
    svc = build(Config.from_env(env))
    # no pings: a receiver reads nothing (`Client.discard`), and a run under valgrind
    # lasts longer than the ping timeout
    svc.sio.eio.ping_interval = svc.sio.eio.ping_timeout = 24 * 3600
    runner = web.AppRunner(svc.app, handle_signals=False, access_log=None)
    await runner.setup()
    server = runner.server
    assert server is not None
    room = f"r{os.getpid()}"
    clients = [Client(server, f"m{i}", room, 20000 + i) for i in range(a.members)]
    await asyncio.wait_for(asyncio.gather(*(c.joined for c in clients)), 60)
    sender, receivers = clients[0], clients[1:]
    for c in receivers:
        c.discard()
    cli._settle_gc()
    results = []
    try:
        for window in a.windows:
            if a.unit == "join":
                await join_cycles(server, sender, room, a.warmup, window, "w")
            else:
                await run(sender, room, a.warmup, window, text=a.text)
            for rep in range(a.reps):
                prof = cProfile.Profile() if a.profile and rep == 0 else None
                if a.unit == "join":
                    cpu, wall = await join_cycles(server, sender, room, a.messages, window,
                                                  f"r{rep}", prof)
                else:
                    cpu, wall = await run(sender, room, a.messages, window, prof, a.text)
                per_msg = cpu / a.messages * 1e6
                results.append({"window": window, "rep": rep, "us_per_msg": per_msg,
                                "us_per_delivery": per_msg / a.members,
                                "msgs_per_s": a.messages / wall})
                if prof is not None:
                    s = io.StringIO()
                    stats = pstats.Stats(prof, stream=s)
                    stats.sort_stats(os.environ.get("HOTPATH_SORT", "tottime"))
                    stats.print_stats(int(os.environ.get("HOTPATH_ROWS", "30")))
                    print(s.getvalue(), file=sys.stderr)
    finally:
        await runner.cleanup()
    return results


async def run(sender: Client, room: str, n: int, window: int,
              prof: cProfile.Profile | None = None, text: str = "bench") -> tuple[float, float]:
    """`n` messages, `window` unacked at a time; the thread's CPU and wall seconds."""
    base = sender.next_id
    stamp = int(time.time() * 1000)

    def say(i: int) -> str:
        if text == "chat":
            return f"{CHAT[i % len(CHAT)]} {i}"
        return f"b {i} t{stamp + i}"

    frames = [client_frame(2, msgpack.packb({
        "type": 2, "nsp": "/", "id": base + i,
        "data": ["chat:send", {"room": room, "text": say(base + i),
                               "cid": f"{base + i}"}]})) for i in range(n)]
    sender.next_id = base + n
    done = asyncio.get_running_loop().create_future()
    state = {"sent": 0, "acked": 0}

    def send_next() -> None:
        i = state["sent"]
        state["sent"] = i + 1
        sender.feed(frames[i])

    def on_ack(_id: int) -> None:
        state["acked"] += 1
        if state["sent"] < n:
            send_next()
        elif state["acked"] >= n and not done.done():
            done.set_result(None)

    sender.on_ack = on_ack
    gc.collect(0)
    if prof is not None:
        prof.enable()
    t0, w0 = time.thread_time(), time.perf_counter()
    for _ in range(min(window, n)):
        send_next()
    await asyncio.wait_for(done, 120)
    cpu, wall = time.thread_time() - t0, time.perf_counter() - w0
    if prof is not None:
        prof.disable()
    sender.on_ack = None
    return cpu, wall


async def join_cycles(make_protocol: Callable[[], Any], sender: Client, room: str, n: int,
                      window: int, tag: str, prof: cProfile.Profile | None = None
                      ) -> tuple[float, float]:
    """`n` members who each connect, sign in, join the room (announced to its members)
    and leave by closing the connection (announced too), `window` of them at a time;
    the next one starts once the room's members have heard the last one leave. The
    thread's CPU and wall seconds."""
    loop = asyncio.get_running_loop()
    gone: dict[str, asyncio.Future[None]] = {}

    def on_event(name: str, payload: Any) -> None:
        if name == "presence:leave":
            fut = gone.get(payload.get("user"))
            if fut is not None and not fut.done():
                fut.set_result(None)

    async def cycles(worker: int, count: int) -> None:
        for i in range(count):
            sub = f"j{tag}-{worker}-{i}"
            gone[sub] = loop.create_future()
            c = Client(make_protocol, sub, room, 30000 + (worker * 1000 + i) % 30000)
            await c.joined
            c.discard()
            c.transport.close()
            await gone[sub]
            del gone[sub]

    sender.on_event = on_event
    gc.collect(0)
    if prof is not None:
        prof.enable()
    t0, w0 = time.thread_time(), time.perf_counter()
    shares = [n // window + (1 if k < n % window else 0) for k in range(window)]
    await asyncio.wait_for(asyncio.gather(*(cycles(k, c) for k, c in enumerate(shares))), 300)
    cpu, wall = time.thread_time() - t0, time.perf_counter() - w0
    if prof is not None:
        prof.disable()
    sender.on_event = None
    return cpu, wall


def instructions(tree: str, a: argparse.Namespace, window: int) -> float:
    """Instructions per message of `tree`'s service, by valgrind's count over two runs
    that differ only in their number of messages (start-up and warm-up cancel out)."""
    got = []
    for n in (a.messages // 5, a.messages):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable,
               os.path.abspath(__file__), "--members", str(a.members), "--window",
               str(window), "--messages", str(n), "--warmup", str(a.warmup), "--reps", "1",
               "--text", a.text, "--unit", a.unit]
        if a.redis:
            cmd += ["--redis", a.redis]
        env = {**os.environ, "PYTHONPATH": tree, "PYTHONHASHSEED": "0"}
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree,
                             timeout=1800)
        found = [ln for ln in out.stderr.splitlines() if "I   refs:" in ln]
        if out.returncode != 0 or not found:
            raise SystemExit(f"valgrind run failed ({out.returncode}): {out.stderr[-2000:]}")
        got.append(int(found[-1].split(":")[1].strip().replace(",", "")))
    return float((got[1] - got[0]) / (a.messages - a.messages // 5))


def summary(rows: list[dict[str, float]]) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for w in sorted({int(r["window"]) for r in rows}):
        us = [r["us_per_msg"] for r in rows if r["window"] == w]
        out[w] = {"min": min(us), "median": statistics.median(us), "n": len(us)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--members", type=int, default=30)
    ap.add_argument("--window", default="1", help="messages in flight; a list: 1,20")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--text", choices=["bench", "chat"], default="bench",
                    help="bench: run.py's text (`b <seq> t<ms>`); chat: sentences pupils write")
    ap.add_argument("--unit", choices=["message", "join"], default="message",
                    help="join: what is counted is a member's connect, sign-in, join and "
                         "leave (each announced to the room's --members), --messages of "
                         "them, --window at a time")
    ap.add_argument("--redis", default="", help="a Redis URL: the Redis store and bus")
    ap.add_argument("--profile", action="store_true", help="cProfile of the first repetition")
    ap.add_argument("--compare", default="",
                    help="another checkout: alternate runs of it and of this tree")
    ap.add_argument("--rounds", type=int, default=3, help="--compare: alternations")
    ap.add_argument("--instructions", action="store_true",
                    help="count instructions per message under valgrind (cachegrind): "
                         "exact where CPU time moves with the VM; with --compare, for both")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON (internal)")
    a = ap.parse_args()
    a.windows = [int(w) for w in a.window.split(",")]
    if a.instructions:
        trees = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        if a.compare:
            trees.append(os.path.abspath(a.compare))
        counts = {}
        for w in a.windows:
            for tree in trees:
                counts[(w, tree)] = instructions(tree, a, w)
                print(f"{a.members} members, {w} in flight{' (Redis)' if a.redis else ''}: "
                      f"{counts[(w, tree)] / 1e3:,.1f} k instructions per {a.unit} ({tree})",
                      flush=True)
            if a.compare:
                print(f"  this/other {counts[(w, trees[0])] / counts[(w, trees[1])]:.4f}x")
        return
    if a.compare:
        compare(a)
        return
    uvloop.install()
    rows = asyncio.run(serve(a))
    if a.json:
        print(json.dumps(rows))
        return
    for w, s in summary(rows).items():
        print(f"{a.members} members, {w} in flight{' (Redis)' if a.redis else ''}: "
              f"{s['min']:.1f} us CPU per {a.unit} (min of {s['n']}), median {s['median']:.1f}"
              + (f"; {s['min'] / a.members:.2f} us per delivery" if a.unit == "message" else ""))


def compare(a: argparse.Namespace) -> None:
    """This tree and `--compare`'s at the same time, one on each CPU (swapped every
    round): the VM's speed moves by up to 2x from one minute to the next, and both runs
    see the same minutes. Each repetition of one is paired with the same repetition of
    the other; reported: the median of the pairs' ratios, and the mins."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    trees = {"this": here, "other": os.path.abspath(a.compare)}
    args, skip = [], False
    for arg in sys.argv[1:]:  # this command's arguments, less --compare and its value
        if skip or arg.startswith("--compare"):
            skip = arg == "--compare"
            continue
        args.append(arg)
    got: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    ratios: dict[int, list[float]] = {}
    for r in range(a.rounds):
        procs = {}
        for name, cpu in (("this", r % 2), ("other", 1 - r % 2)):
            env = {**os.environ, "PYTHONPATH": trees[name]}
            procs[name] = subprocess.Popen(
                ["taskset", "-c", str(cpu), sys.executable, os.path.abspath(__file__),
                 *args, "--json"], env=env, stdout=subprocess.PIPE, text=True,
                cwd=trees[name])
        rows = {}
        for name, p in procs.items():
            out, _ = p.communicate(timeout=900)
            if p.returncode != 0:
                raise SystemExit(f"{name} failed ({p.returncode})")
            rows[name] = json.loads(out.strip().splitlines()[-1])
            got[name] += rows[name]
        for x, y in zip(rows["this"], rows["other"], strict=True):
            ratios.setdefault(int(x["window"]), []).append(x["us_per_msg"] / y["us_per_msg"])
    this, other = summary(got["this"]), summary(got["other"])
    for w in this:
        rs = sorted(ratios[w])
        q = len(rs) // 4
        print(f"{a.members} members, {w} in flight: this/other {statistics.median(rs):.3f}x "
              f"(median of {len(rs)} pairs, middle half {rs[q]:.3f}-{rs[-q - 1]:.3f}); "
              f"min this {this[w]['min']:.1f}, {a.compare} {other[w]['min']:.1f} us CPU "
              f"per {a.unit} ({this[w]['min'] / other[w]['min']:.3f}x)")


if __name__ == "__main__":
    main()
