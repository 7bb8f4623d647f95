#!/usr/bin/env python3
"""Side-by-side load tests: twinspace-live ("ours") against the Node.js socket.io 4
reference server in loadtests/reference/ ("ref"), driven by the Node load generator in
loadtests/gen/.

    .venv/bin/python loadtests/run.py fanout|mix|acks|idle|storm|all [options]

Every process (a private redis-server, the servers, the generator workers) is a child of
this script, talks only over loopback, and is stopped when the run ends, fails or is
interrupted. Every benchmark is bounded in count and time. Results: a table on stdout,
`loadtests/results/<bench>-<stamp>.json` (raw numbers) and `.png` (plot), and each child's
log in `loadtests/results/logs/`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import queue
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOGS = RESULTS / "logs"
NODE = shutil.which("node") or "node"
REDIS = shutil.which("redis-server") or "redis-server"
REDIS_CLI = shutil.which("redis-cli") or "redis-cli"
DEFAULT_OURS = os.environ.get("TWINSPACE_LIVE") or str(
    Path(sys.executable).parent / "twinspace-live"
)
SECRET = "loadtest-secret-not-for-production-0123456789abcdef"
TICK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
SERVERS = ("ref", "ours")
LABEL = {"ref": "reference (Node socket.io 4)", "ours": "ours (twinspace-live)"}

_children: list[Proc] = []
NO_DEFLATE_OFFER = [False]  # --no-deflate-offer (raw members only)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpus_text(pid: int) -> str:
    try:
        c = sorted(os.sched_getaffinity(pid))
    except OSError:
        return "?"
    if len(c) == NCPU:
        return "any"
    return ",".join(map(str, c))


# --------------------------------------------------------------------------- processes
class Proc:
    """A child process with a log file, optional CPU pinning, and CPU/RSS sampling."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cpus: set[int] | None = None,
        env: dict[str, str] | None = None,
        pipe: bool = False,
    ) -> None:
        self.name = name
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / f"{name}.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115
        full_env = {**os.environ, **(env or {})}

        def pre() -> None:
            os.setpgid(0, 0)  # own process group: stopped as a group, never by name
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.p = subprocess.Popen(
            argv,
            cwd=HERE,
            env=full_env,
            stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipe else self.log_file,
            stderr=self.log_file,
            text=True,
            bufsize=1,
            preexec_fn=pre,
        )
        self.pid = self.p.pid
        _children.append(self)

    @property
    def cpus(self) -> str:
        return cpus_text(self.pid)

    def cpu_seconds(self) -> float:
        """user+system CPU of the process and its threads so far."""
        return sum(self.cpu_user_sys())

    def cpu_user_sys(self) -> tuple[float, float]:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            return int(parts[11]) / TICK, int(parts[12]) / TICK
        except (OSError, IndexError):
            return 0.0, 0.0

    def cpu_ns(self) -> tuple[frozenset[str], int]:
        """(its threads, CPU time they ran in ns): /proc/<pid>/task/*/schedstat, finer than
        the 10 ms ticks of /proc/<pid>/stat (valid across a window if no thread ended)."""
        tasks: set[str] = set()
        total = 0
        try:
            for t in os.listdir(f"/proc/{self.pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    with open(f"/proc/{self.pid}/task/{t}/schedstat") as f:
                        total += int(f.read().split()[0])
                    tasks.add(t)
        except OSError:
            pass
        return frozenset(tasks), total

    def rss_kb(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)
        with contextlib.suppress(Exception):
            if self.p.stdin:
                self.p.stdin.close()
        self.log_file.close()
        if self in _children:
            _children.remove(self)


def cleanup() -> None:
    for p in list(reversed(_children)):
        with contextlib.suppress(Exception):
            p.stop(3)


atexit.register(cleanup)


def _on_signal(signum: int, _frame: Any) -> None:
    cleanup()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def start_redis(cpus: set[int] | None) -> tuple[Proc, int]:
    port = free_port()
    p = Proc(
        "redis",
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--maxclients", "20000", "--loglevel", "warning"],
        cpus=cpus,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        r = subprocess.run([REDIS_CLI, "-p", str(port), "ping"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG":
            return p, port
        if not p.alive():
            break
        time.sleep(0.1)
    raise RuntimeError(f"redis-server did not start, see {p.log_path}")


def flush_redis(port: int) -> None:
    subprocess.run([REDIS_CLI, "-p", str(port), "flushall"], capture_output=True, check=False)


def wait_http(url: str, proc: Proc, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early; see {proc.log_path}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} did not answer {url}/healthz; see {proc.log_path}")


def start_server(
    kind: str, index: int, redis_port: int, cpus: set[int] | None, ours_cmd: str,
    ref_presence: bool = False,
) -> tuple[Proc, str]:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    # several processes: no metrics port each; generator members (students) open their rooms
    env = {"LIVE_JWT_SECRET": SECRET, "LIVE_RATE_LIMITS": "off", "LIVE_ROOMS": "open",
           "LIVE_METRICS_PORT": "0"}
    if kind == "ref":
        argv = [NODE, "reference/server.js", "--port", str(port), "--redis", redis_url]
        if ref_presence:  # keeps presence in Redis and announces joins, as ours
            argv.append("--presence")
    else:
        argv = [*ours_cmd.split(), "serve", "--port", str(port), "--redis", redis_url]
    p = Proc(f"{kind}{index}", argv, cpus=cpus, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(url, p)
    return p, url


# --------------------------------------------------------------------------- generator
class Gen(Proc):
    """One load-generator worker process (gen/gen.js), driven through JSON lines."""

    def __init__(self, name: str, config: dict[str, Any], cpus: set[int] | None,
                 env: dict[str, str] | None = None) -> None:
        node_args = os.environ.get("GEN_NODE_ARGS", "").split()  # e.g. "--cpu-prof"
        super().__init__(name, [NODE, *node_args, "gen/gen.js"], cpus=cpus, pipe=True, env=env)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.pending: list[dict[str, Any]] = []
        self.progress: dict[str, Any] = {}
        self.ready: dict[str, Any] | None = None
        threading.Thread(target=self._read, daemon=True).start()
        self.send(config)

    def _read(self) -> None:
        assert self.p.stdout
        for line in self.p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("ev") == "error":
                log(f"  {self.name}: {ev.get('error')}")
                continue
            if ev.get("ev") == "progress":
                self.progress = ev
                continue
            self.events.put(ev)
        self.events.put({"ev": "exit"})

    def send(self, obj: dict[str, Any]) -> None:
        assert self.p.stdin
        self.p.stdin.write(json.dumps(obj) + "\n")
        self.p.stdin.flush()

    def wait(self, ev: str, timeout: float) -> dict[str, Any]:
        """The next event `ev`; other events that come first are kept for later waits."""
        for i, got in enumerate(self.pending):
            if got["ev"] == ev:
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no '{ev}' within {timeout:.0f}s")
            try:
                got = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got["ev"] == ev:
                return got
            if got["ev"] == "exit":
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            self.pending.append(got)

    def quit(self) -> None:
        with contextlib.suppress(Exception):
            self.send({"cmd": "quit"})
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.p.wait(5)
        self.stop()


def start_gens(
    name: str, urls: list[str], space: str, member_lists: list[list[list[Any]]],
    cpus: set[int] | None, concurrency: int = 50, timeout: float = 120,
    client: list[str] | None = None, allow_partial: bool = False,
    extra: dict[str, Any] | None = None, env: dict[str, str] | None = None,
) -> list[Gen]:
    gens = []
    for i, ml in enumerate(member_lists):
        cfg = {"urls": urls, "secret": SECRET, "space": space, "members": ml,
               "label": f"{name}{i}", "connectConcurrency": concurrency,
               "client": client[i] if client else "sio", "deflate": not NO_DEFLATE_OFFER[0],
               **(extra or {})}
        gens.append(Gen(f"{name}{i}", cfg, cpus, env))
    deadline = time.monotonic() + timeout
    next_log = time.monotonic() + 10
    total = sum(map(len, member_lists))
    try:
        while any(g.ready is None for g in gens):
            if time.monotonic() >= deadline:
                if allow_partial:
                    log(f"   connect time limit ({timeout:.0f}s) reached; measuring with the "
                        "members connected so far")
                    for g in gens:
                        if g.ready is None:
                            g.send({"cmd": "halt"})
                    for g in gens:
                        if g.ready is None:
                            with contextlib.suppress(TimeoutError):
                                g.ready = g.wait("ready", 90)
                    return gens
                raise TimeoutError(f"{name}: members not all connected within {timeout:.0f}s")
            for g in gens:
                if g.ready is None:
                    with contextlib.suppress(TimeoutError):
                        g.ready = g.wait("ready", 0.2)
                        if g.ready["failed"] and not allow_partial:
                            raise RuntimeError(f"{g.name}: {g.ready['failed']} members failed: "
                                               f"{g.ready['firstError']}")
            if time.monotonic() >= next_log:
                next_log += 10
                n = sum((g.ready or g.progress).get("connected", 0) for g in gens)
                log(f"   connected {n:,}/{total:,}")
    except BaseException:
        for g in gens:
            g.quit()
        raise
    return gens


# --------------------------------------------------------------------------- profiling
class PySpy:
    """py-spy sampling our server while the measured rounds run (--profile)."""

    def __init__(self, server: Proc, bench: str, cpus: set[int] | None) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            raise RuntimeError("py-spy not found: pip install py-spy")
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.raw = RESULTS / f"pyspy-{bench}-{stamp}.txt"
        # PYSPY_NATIVE=1: C frames too (uvloop, msgpack, the kernel calls they make); it
        # pauses the server for each sample, so its numbers are not comparable
        native = ["--native"] if os.environ.get("PYSPY_NATIVE") else ["--nonblocking"]
        self.proc = Proc("py-spy", [exe, "record", "--pid", str(server.pid), "--rate", "250",
                                    *native, "--format", "raw", "-o", str(self.raw)],
                         cpus=cpus)
        time.sleep(1.0)
        log(f"py-spy recording {server.name} (pid {server.pid}) -> {self.raw}")

    def finish(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.p.wait(20)
        self.proc.stop()
        if not self.raw.exists():
            log(f"py-spy wrote nothing; see {self.proc.log_path}")
            return
        text = summarize_pyspy(self.raw)
        summary = self.raw.with_suffix(".top.txt")
        summary.write_text(text)
        print(text)
        log(f"py-spy top frames: {summary}")


def summarize_pyspy(path: Path, top: int = 25) -> str:
    """Self ("leaf") and inclusive time per function from py-spy's raw (collapsed) output."""
    self_t: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = []
        for fr in stack.split(";"):
            # "function (path/to/file.py:123)" -> "function (file.py)"
            name, _, loc = fr.partition(" (")
            file = loc.rsplit(":", 1)[0].rstrip(")")
            frames.append(f"{name} ({'/'.join(file.split('/')[-2:])})")
        if frames:
            self_t[frames[-1]] = self_t.get(frames[-1], 0) + count
        for fr in set(frames):
            incl[fr] = incl.get(fr, 0) + count
    if not total:
        return "py-spy: no samples"
    out = [f"py-spy: {total} samples of active (non-idle) stacks",
           "", f"top {top} by self time (the frame on top of the stack):"]
    for fr, c in sorted(self_t.items(), key=lambda x: -x[1])[:top]:
        out.append(f"  {100 * c / total:5.1f}%  {fr}")
    out += ["", f"top {top} by inclusive time:"]
    for fr, c in sorted(incl.items(), key=lambda x: -x[1])[:top]:
        out.append(f"  {100 * c / total:5.1f}%  {fr}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- numbers
def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(-(-p * len(s) // 100)) - 1))
    return s[i]


def lat_summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90),
            "p99": pct(values, 99), "max": max(values) if values else None}


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all CPUs, everything but idle/iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    return (sum(v[:8]) - idle - steal) / TICK


class CpuWindow:
    """CPU use of each process over a measured window (percent of one core), plus
    "(other)": what the rest of the machine used meanwhile (other sessions' work,
    kernel softirq time for loopback traffic)."""

    def __init__(self, procs: list[Proc]) -> None:
        self.procs = procs
        self.t0 = time.monotonic()
        self.m0 = machine_busy_seconds()
        self.c0 = {p.name: p.cpu_user_sys() for p in procs}
        self.n0 = {p.name: p.cpu_ns() for p in procs}

    def end(self) -> dict[str, dict[str, Any]]:
        wall = time.monotonic() - self.t0
        res = {}
        for p in self.procs:
            u, s = p.cpu_user_sys()
            u0, s0 = self.c0[p.name]
            cpu_s, sys_s = u - u0 + s - s0, s - s0
            tasks0, ns0 = self.n0[p.name]
            tasks1, ns1 = p.cpu_ns()
            if tasks1 == tasks0 and ns1 > ns0:
                # ns-exact total; the user/system split from the ticks
                fine = (ns1 - ns0) / 1e9
                sys_s = fine * sys_s / cpu_s if cpu_s > 0 else 0.0
                cpu_s = fine
            res[p.name] = {"cpu_pct": round(100 * cpu_s / wall, 1),
                           "sys_pct": round(100 * sys_s / wall, 1), "cpus": p.cpus,
                           "cpu_s": cpu_s, "sys_s": sys_s}
        self.wall = wall
        total = 100 * (machine_busy_seconds() - self.m0) / wall
        ours = sum(v["cpu_pct"] for v in res.values())
        res["(other)"] = {"cpu_pct": round(max(0.0, total - ours), 1), "cpus": "any"}
        return res


def wait_quiet(max_wait: float, limit: float = 25.0) -> float:
    """Wait (at most max_wait s) until the machine is nearly idle: the benchmarks share
    2 cores with whatever else runs here. Call it while this run's processes are idle.
    Returns the last busy percentage seen (of one core)."""
    deadline = time.monotonic() + max_wait
    busy = 0.0
    while True:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(0.5)
        busy = 100 * (machine_busy_seconds() - b0) / (time.monotonic() - t0)
        if busy <= limit or time.monotonic() >= deadline:
            break
    if busy > limit:
        log(f"   (machine still {busy:.0f}% busy with other work after {max_wait:.0f}s; going on)")
    return busy


def cpu_text(cpu: dict[str, dict[str, Any]]) -> str:
    return "CPU% " + ", ".join(f"{k}[{v['cpus']}] {v['cpu_pct']}" for k, v in cpu.items())


def fmt(v: Any, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(rows: list[tuple[str, Any, Any, str]], title: str) -> str:
    """rows: (metric, ref, ours, better) with better 'higher'/'lower'/'' -> ratio column."""
    head = ("metric", "reference", "ours", "ours/ref")
    lines = []
    body = []
    for metric, ref, ours, _better in rows:
        ratio = "-"
        if isinstance(ref, int | float) and isinstance(ours, int | float) and ref:
            ratio = f"{ours / ref:.2f}x"
        body.append((metric, fmt(ref), fmt(ours), ratio))
    w = [max(len(r[i]) for r in [head, *body]) for i in range(4)]
    sep = "+".join("-" * (x + 2) for x in w)
    lines.append(title)
    lines.append(" | ".join(h.ljust(w[i]) for i, h in enumerate(head)))
    lines.append(sep)
    for r in body:
        lines.append(" | ".join([r[0].ljust(w[0])] + [c.rjust(w[i]) for i, c in enumerate(r) if i]))
    return "\n".join(lines)


@dataclass
class Outcome:
    bench: str
    per_server: dict[str, dict[str, Any]] = field(default_factory=dict)
    rows: list[tuple[str, Any, Any, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def save(out: Outcome, stamp: str, plot_fn: Any) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"{out.bench}-{stamp}"
    raw = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
           for k, v in out.per_server.items()}
    base.with_suffix(".json").write_text(json.dumps(
        {"bench": out.bench, "stamp": stamp, "ours_version": ours_version(), "servers": raw,
         "table": [list(r) for r in out.rows], "notes": out.notes}, indent=1))
    try:
        plot_fn(out, base.with_suffix(".png"))
        log(f"plot: {base.with_suffix('.png')}")
    except ImportError:
        log("matplotlib missing: no plot (pip install matplotlib)")
    log(f"raw numbers: {base.with_suffix('.json')}")


def cdf_plot(out: Outcome, path: Path, key: str, title: str, bars: list[tuple[str, str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    ax = axes[0]
    for kind, data in out.per_server.items():
        vals = sorted(data.get(key) or [])
        if not vals:
            continue
        ys = [(i + 1) / len(vals) for i in range(len(vals))]
        ax.plot(vals, ys, label=LABEL[kind])
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("fraction ≤ x")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax = axes[1]
    kinds = list(out.per_server)
    width = 0.8 / max(1, len(kinds))
    for j, kind in enumerate(kinds):
        vals = [out.per_server[kind].get(b[0]) or 0 for b in bars]
        xs = [i + j * width for i in range(len(bars))]
        rects = ax.bar(xs, vals, width, label=LABEL[kind])
        ax.bar_label(rects, fmt=" %.1f", fontsize=8)
    ax.set_xticks([i + width * (len(kinds) - 1) / 2 for i in range(len(bars))])
    ax.set_xticklabels([b[1] for b in bars])
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"{out.bench}: " + "; ".join(out.notes[:1]))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- benchmarks
def bench_fanout(kinds: list[str], a: argparse.Namespace, client: str,
                 windows: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
    """1 room x 200 members, one sender keeping `window` messages unacked, 400 messages per
    round, for each window in `windows`; one server process each, one redis. Both servers
    run at once (each idle while the other is measured) and their rounds alternate, so
    background load hits both alike. Servers on CPU 0; redis and the generator workers on
    CPU 1. Returns {window: {server kind: results}}."""
    pin = not a.no_pin
    redis, rport = start_redis(({0} if a.redis_cpu == 0 else {1}) if pin else None)
    room = "fanout"
    n = a.members
    setups: dict[str, dict[str, Any]] = {}
    try:
        for kind in kinds:
            server, url = start_server(kind, 0, rport, {0} if pin else None, a.ours_cmd)
            # worker 0: the sender alone (socket.io-client; also a member, it receives its
            # own messages); the other members spread over the receiver workers
            lists: list[list[list[Any]]] = [[["sender", room, 0, "teacher"]]]
            for w in range(a.receivers):
                lists.append([[f"m{i}", room, 0, "student"]
                              for i in range(1, n) if i % a.receivers == w])
            gens = start_gens(f"gen-fan-{kind}-", [url], f"fan-{kind}", lists,
                              {1} if pin else None, client=["sio"] + [client] * a.receivers)
            setups[kind] = {"server": server, "gens": gens, "lists": lists,
                            "rounds": {w: [] for w in windows}}
            log(f"{kind}: {n} members in one room connected "
                f"(receivers: {client} client, {a.receivers} workers)")

        def one_round(kind: str, total: int, window: int) -> dict[str, Any]:
            wait_quiet(a.quiet_wait)
            st = setups[kind]
            server, gens, lists = st["server"], st["gens"], st["lists"]
            for g in gens[1:]:
                g.send({"cmd": "go", "mode": "listen"})
                g.wait("listening", 10)
            cw = CpuWindow([server, redis, *gens])
            gens[0].send({"cmd": "go", "mode": "window", "total": total, "window": window})
            for g, ml in zip(gens, lists, strict=True):
                g.send({"cmd": "expect", "count": total * len(ml), "timeout": 60000})
            sent = gens[0].wait("sent", 90)
            got = [g.wait("received", 90) for g in gens]
            cpu = cw.end()
            reps = []
            for g in gens:
                g.send({"cmd": "report"})
                reps.append(g.wait("report", 30))
            delivered = sum(r["received"] for r in reps)
            last = max(r["lastRecv"] for r in reps if r["lastRecv"])
            secs = (last - sent["firstSend"]) / 1000
            lats = [x for r in reps for x in r["lat"]["sample"]]
            server_cpu_s = cpu[server.name]["cpu_s"]
            server_sys_s = cpu[server.name]["sys_s"]
            return {
                "deliveries": delivered, "expected": total * n, "seconds": secs,
                "deliveries_per_s": delivered / secs if secs > 0 else 0,
                # server CPU from the go to the last delivery (what the server spent on the
                # round, its idle moments cost nothing)
                "server_cpu_s": server_cpu_s,
                "per_cpu_s": delivered / server_cpu_s if server_cpu_s > 0 else 0,
                # server CPU per delivery, in user space and in the kernel (the sends)
                "us_user": 1e6 * (server_cpu_s - server_sys_s) / max(1, delivered),
                "us_sys": 1e6 * server_sys_s / max(1, delivered),
                "lat": lat_summary(lats), "ack": lat_summary(reps[0]["ack"]["sample"]),
                "cpu": cpu, "timeouts": sum(1 for x in got if x.get("timeout")),
                "dupes": sum(r["dupes"] for r in reps),
                "out_of_order": sum(r["outOfOrder"] for r in reps),
                "ack_errors": sent["ackErrors"], "_lats": lats,
            }

        for kind in kinds:
            one_round(kind, 100, windows[0])  # warm-up
        spy = None
        if a.profile and "ours" in setups:
            spy = PySpy(setups["ours"]["server"], f"fanout-{client}-w{'_'.join(map(str, windows))}",
                        {1} if pin else None)
        for window in windows:
            for rnd in range(a.rounds):
                order = kinds if rnd % 2 == 0 else list(reversed(kinds))
                for kind in order:
                    rd = one_round(kind, a.messages, window)
                    setups[kind]["rounds"][window].append(rd)
                    log(f"{kind} {client} window {window} round {rnd + 1}/{a.rounds}: "
                        f"{rd['deliveries']:,}/{rd['expected']:,} in {rd['seconds']:.3f}s = "
                        f"{rd['deliveries_per_s']:,.0f}/s, {rd['per_cpu_s']:,.0f} per server "
                        f"CPU-s, p50 {rd['lat']['p50']:.1f} ms, p99 {rd['lat']['p99']:.1f} ms; "
                        + cpu_text(rd["cpu"]))
        if spy:
            spy.finish()
    finally:
        for st in setups.values():
            for g in st["gens"]:
                g.quit()
            st["server"].stop()
        redis.stop()
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for window in windows:
        results: dict[str, dict[str, Any]] = {}
        for kind, st in setups.items():
            rounds = st["rounds"][window]
            if rounds:
                results[kind] = fanout_summary(kind, rounds)
        out[window] = results
    return out


def fanout_summary(kind: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round of one server at one window (deliveries/s), and the median
    deliveries per server CPU-second over the rounds."""
    med = sorted(rounds, key=lambda r: r["deliveries_per_s"])[len(rounds) // 2]
    r = {
        "deliveries_per_s": med["deliveries_per_s"],
        "deliveries_per_s_rounds": [round(x["deliveries_per_s"]) for x in rounds],
        "p50": med["lat"]["p50"], "p99": med["lat"]["p99"],
        "ack_p50": med["ack"]["p50"], "ack_p99": med["ack"]["p99"],
        "delivered": med["deliveries"], "expected": med["expected"],
        "dupes": sum(x["dupes"] for x in rounds),
        "out_of_order": sum(x["out_of_order"] for x in rounds),
        "ack_errors": sum(x["ack_errors"] for x in rounds),
        "timeouts": sum(x["timeouts"] for x in rounds),
        "cpu": med["cpu"], "lat_all": med["_lats"],
        "server_cpu_pct": sum(v["cpu_pct"] for k, v in med["cpu"].items()
                              if k.startswith(kind)),
        "gen_cpu_pct": round(sum(v["cpu_pct"] for k, v in med["cpu"].items()
                                 if k.startswith("gen")), 1),
        "other_cpu_pct": med["cpu"]["(other)"]["cpu_pct"],
        "other_cpu_pct_max": max(x["cpu"]["(other)"]["cpu_pct"] for x in rounds),
    }
    r["per_cpu_s"] = [round(x["per_cpu_s"]) for x in rounds]
    by_cpu = sorted(rounds, key=lambda x: x["per_cpu_s"])[len(rounds) // 2]
    r["deliveries_per_server_cpu_s"] = by_cpu["per_cpu_s"]
    r["us_user"], r["us_sys"] = by_cpu["us_user"], by_cpu["us_sys"]  # (of that round)
    recv_cpu = sum(v["cpu_pct"] for k, v in med["cpu"].items()
                   if k.startswith(f"gen-fan-{kind}-") and not k.endswith("-0")) / 100
    r["deliveries_per_receiver_cpu_s"] = med["deliveries_per_s"] / max(1e-9, recv_cpu)
    return r


def rate_bench(
    kind: str, a: argparse.Namespace, *, servers: int, rooms: int, per_room: int, hz: float,
    senders_per_room: int, seconds: float, gens_n: int, pin_plan: dict[str, set[int] | None],
) -> dict[str, Any]:
    redis, rport = start_redis(pin_plan.get("redis"))
    srv = []
    try:
        for i in range(servers):
            srv.append(start_server(kind, i, rport, pin_plan.get(f"server{i}"), a.ours_cmd))
    except Exception:
        for p, _ in srv:
            p.stop()
        redis.stop()
        raise
    urls = [u for _, u in srv]
    space = f"rate-{kind}"
    members = []
    for i in range(rooms * per_room):
        r = i % rooms
        slot = i // rooms  # position inside the room
        members.append([f"u{i}", f"room{r}", slot % servers, "student", slot < senders_per_room])
    lists: list[list[list[Any]]] = [[] for _ in range(gens_n)]
    # senders first in each worker (the worker's `senders` count takes the first n)
    for j, m in enumerate(sorted(members, key=lambda m: not m[4])):
        lists[j % gens_n].append(m)
    senders = [sum(1 for m in ml if m[4]) for ml in lists]
    lists = [[m[:4] for m in ml] for ml in lists]
    gens = start_gens(f"gen-{a.bench}", urls, space, lists, pin_plan.get("gen"), timeout=180,
                      client=[a.client] * gens_n)
    procs = [*(p for p, _ in srv), redis, *gens]
    try:
        log(f"{kind}: {len(members)} members ({a.client} client) in {rooms} rooms on "
            f"{servers} process(es); warm-up {a.warmup:.0f}s")

        def phase(secs: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
            cw = CpuWindow(procs)
            for g, s in zip(gens, senders, strict=True):
                g.send({"cmd": "go", "mode": "rate", "hz": hz, "seconds": secs, "senders": s,
                        "drainMs": 10000})
            sent = [g.wait("sent", secs + 30) for g in gens]
            # late deliveries: wait until every expected one came or none came for 3 s
            # (bounded by --drain seconds), so that late and lost are told apart
            expected = sum(s["sent"] for s in sent) * per_room
            last_n, last_change, t_end = -1, time.monotonic(), time.monotonic() + a.drain
            while time.monotonic() < t_end:
                for g in gens:
                    g.send({"cmd": "count"})
                n = sum(g.wait("count", 10)["received"] for g in gens)
                if n >= expected:
                    break
                if n != last_n:
                    last_n, last_change = n, time.monotonic()
                elif time.monotonic() - last_change > 3:
                    break
                time.sleep(0.25)
            cpu = cw.end()
            cpu["(wall)"] = {"cpu_pct": round(cw.wall, 2), "cpus": "-"}
            reps = []
            for g in gens:
                g.send({"cmd": "report"})
                reps.append(g.wait("report", 30))
            return sent, reps, cpu

        if a.warmup > 0:
            phase(a.warmup)
        log(f"{kind}: measuring {seconds:.0f}s at {hz:g} msg/s x {sum(senders)} senders "
            f"= {hz * sum(senders):,.0f} msg/s")
        wait_quiet(a.quiet_wait)
        spy = PySpy(srv[0][0], a.bench, None) if a.profile and kind == "ours" else None
        t0 = time.monotonic()
        sent, reps, cpu = phase(seconds)
        if spy:
            spy.finish()
        wall = time.monotonic() - t0
    finally:
        for g in gens:
            g.quit()
        for p, _ in srv:
            p.stop()
        redis.stop()
    cpu_wall = cpu.pop("(wall)")["cpu_pct"]
    lats = [x for r in reps for x in r["lat"]["sample"]]
    acks = [x for r in reps for x in r["ack"]["sample"]]
    n_sent = sum(s["sent"] for s in sent)
    n_acked = sum(s["acked"] for s in sent)
    first = min(s["firstSend"] for s in sent if s["firstSend"])
    last_ack = max(s["lastAck"] for s in sent if s["lastAck"])
    expected_deliveries = n_sent * per_room
    res = {
        "sent": n_sent, "acked": n_acked, "skipped": sum(s.get("skipped", 0) for s in sent),
        "ack_errors": sum(s["ackErrors"] for s in sent),
        "sent_per_s": n_sent / seconds, "acked_per_s": n_acked / ((last_ack - first) / 1000),
        "delivered": sum(r["received"] for r in reps), "expected": expected_deliveries,
        "dupes": sum(r["dupes"] for r in reps), "out_of_order": sum(r["outOfOrder"] for r in reps),
        "lat": lat_summary(lats), "ack": lat_summary(acks),
        "p50": pct(lats, 50), "p99": pct(lats, 99),
        "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99),
        "cpu": cpu, "lat_all": lats, "ack_all": acks, "wall": wall,
        "server_cpu_pct": round(sum(v["cpu_pct"] for k, v in cpu.items()
                                    if k.startswith(kind)), 1),
        "gen_cpu_pct": round(sum(v["cpu_pct"] for k, v in cpu.items() if k.startswith("gen")), 1),
        "other_cpu_pct": cpu["(other)"]["cpu_pct"],
        # server CPU per stored+acked message over the window (sending, then draining)
        "server_cpu_ms_per_msg": sum(v["cpu_pct"] for k, v in cpu.items() if k.startswith(kind))
        / 100 * cpu_wall * 1000 / max(1, n_acked),
    }
    log(f"{kind}: sent {n_sent:,} acked {n_acked:,} delivered {res['delivered']:,}/"
        f"{expected_deliveries:,}; latency p50 {fmt(res['p50'], 2)} p99 {fmt(res['p99'], 2)} ms; "
        f"ack p50 {fmt(res['ack_p50'], 2)} p99 {fmt(res['ack_p99'], 2)} ms; " + cpu_text(cpu))
    return res


def bench_mix(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """20 rooms x 30 members, each member sends 1 msg/s; two server processes on one
    redis, each room's members split evenly across both. Server 0 on CPU 0, server 1 on
    CPU 1, redis and the generator unpinned (there are only 2 cores)."""
    pin = not a.no_pin
    plan = {"server0": {0}, "server1": {1}} if pin else {}
    return rate_bench(kind, a, servers=2, rooms=20, per_room=30, hz=1.0, senders_per_room=30,
                      seconds=a.seconds or 20, gens_n=2, pin_plan=plan)


def bench_acks(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """5,000 msg/s into history: 100 rooms, one member each sending 50 msg/s; one server
    process on CPU 0, redis and the generator on CPU 1."""
    pin = not a.no_pin
    plan = {"server0": {0}, "redis": {1}, "gen": {1}} if pin else {}
    return rate_bench(kind, a, servers=1, rooms=100, per_room=1, hz=a.rate / 100,
                      senders_per_room=1,
                      seconds=a.seconds or 10, gens_n=2, pin_plan=plan)


def bench_idle(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """10,000 members connected and joined (100 rooms x 100), idle: server RSS per
    connection = (RSS with them - RSS before) / connections. Server on CPU 0, redis and
    the generator workers on CPU 1."""
    pin = not a.no_pin
    redis, rport = start_redis({1} if pin else None)
    server, url = start_server(kind, 0, rport, {0} if pin else None, a.ours_cmd)
    n = a.connections
    workers = 4
    gens: list[Gen] = []
    try:
        time.sleep(2)
        base = server.rss_kb()
        log(f"{kind}: RSS before {base / 1024:.1f} MB; connecting {n:,} members")
        lists: list[list[list[Any]]] = [[] for _ in range(workers)]
        for i in range(n):
            lists[i % workers].append([f"i{i}", f"room{i % 100}", 0, "student"])
        spy = PySpy(server, "idle-connect", {1} if pin else None) \
            if a.profile and kind == "ours" else None
        t0 = time.monotonic()
        gens = start_gens("gen-idle", [url], f"idle-{kind}", lists, {1} if pin else None,
                          concurrency=64, timeout=a.connect_timeout, allow_partial=True)
        connect_s = time.monotonic() - t0
        counts = []
        for g in gens:
            g.send({"cmd": "count"})
            counts.append(g.wait("count", 30))
        if spy:
            spy.finish()
        connected = sum(c["connected"] for c in counts)
        failed = sum((g.ready or g.progress).get("failed", 0) for g in gens)
        errors = {(g.ready or {}).get("firstError") for g in gens} - {None}
        if errors:
            log(f"   first connect errors: {'; '.join(sorted(errors))[:500]}")
        log(f"{kind}: {connected:,} of {n:,} connected and joined in {connect_s:.1f}s "
            f"({failed} failed); settling")
        time.sleep(5)
        rss1 = server.rss_kb()
        cw = CpuWindow([server, redis])
        time.sleep(5)
        rss2 = server.rss_kb()
        idle_cpu = cw.end()
        rss = max(rss1, rss2)
        gen_rss = sum(g.rss_kb() for g in gens)
    finally:
        for g in gens:
            g.quit()
        server.stop()
        redis.stop()
    per = (rss - base) / max(1, connected)
    log(f"{kind}: RSS {rss / 1024:.1f} MB with {connected:,} members: {per:.1f} KB per connection")
    return {"connections": connected, "wanted": n, "failed": failed,
            "rss_base_kb": base, "rss_kb": rss, "kb_per_conn": per,
            "connect_s": connect_s, "connects_per_s": connected / connect_s,
            "idle_cpu": idle_cpu, "gen_rss_kb": gen_rss}


def cpu_until_idle(proc: Proc, before: float, t0: float, idle_s: float = 1.0,
                   limit_s: float = 120.0) -> tuple[float, float]:
    """(CPU seconds `proc` used since `before`, seconds from `t0` to the last reading in
    which it was still busy), once it has used less than a third of a core (/proc counts
    10 ms ticks) in every 0.1 s of `idle_s`."""
    last_busy, last_cpu = t0, before
    while time.monotonic() - t0 < limit_s:
        time.sleep(0.1)
        cpu = proc.cpu_seconds()
        now = time.monotonic()
        if cpu - last_cpu >= 0.03:  # a third of a core over the last 0.1 s
            last_busy = now
        last_cpu = cpu
        if now - last_busy >= idle_s:
            break
    return last_cpu - before, last_busy - t0


def bench_storm(kind: str, a: argparse.Namespace) -> dict[str, Any]:
    """A reconnect storm: `--connections` members (default 1,000) connect and join
    `--rooms` rooms (default 1) on one server process, 50 in flight at a time (2 worker
    processes x 25: each starts its next member when one of its own has joined: a
    closed loop of 50, as clients coming back after a restart are held back only by
    their own answers). Every join is announced: ours sends `presence:join` to the room's
    other members, the reference runs with --presence (presence hash in Redis, members in
    the ack, `presence:join` through the adapter). Reported: members joined per second
    (first connect to last join ack), the same until the last `presence:join` arrived,
    presence:join events received against the N(N-1)/2 per room a member-by-member
    announcement gives, server CPU-seconds per 1,000 joins. Then every member drops at
    once (the workers disconnect and exit): the server's CPU per leave and how long it
    stayed busy (`cpu_until_idle`). Server CPU 0, redis and the generator (lean members)
    CPU 1."""
    pin = not a.no_pin
    n = a.connections or 1000
    rooms = a.rooms
    workers = 2
    redis, rport = start_redis({1} if pin else None)
    server, url = start_server(kind, 0, rport, {0} if pin else None, a.ours_cmd,
                               ref_presence=True)
    gens: list[Gen] = []
    try:
        lists: list[list[list[Any]]] = [[] for _ in range(workers)]
        for i in range(n):
            lists[i % workers].append([f"s{i}", f"room{i % rooms}", 0, "student"])
        time.sleep(1)
        busy = wait_quiet(a.quiet_wait)
        spy = PySpy(server, "storm", {1} if pin else None) \
            if a.profile and kind == "ours" else None
        log(f"{kind}: storm of {n:,} members into {rooms} room(s), 50 in flight "
            f"(machine {busy:.0f}% busy before)")
        cw = CpuWindow([server, redis])
        gens = start_gens("gen-storm", [url], f"storm-{kind}", lists, {1} if pin else None,
                          concurrency=50 // workers, timeout=a.connect_timeout,
                          client=[a.client] * workers, allow_partial=True)
        # then wait for the announcements to stop arriving (at most 60 s)
        deadline = time.monotonic() + 60
        last = -1
        counts: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            counts = []
            for g in gens:
                g.send({"cmd": "count"})
                counts.append(g.wait("count", 30))
            heard = sum(c["presenceJoins"] for c in counts)
            if heard == last:
                break
            last = heard
            time.sleep(1.0)
        cpu = cw.end()
        server_cpu_s = cpu[server.name]["cpu_pct"] * cw.wall / 100
        # the workers started inside the window: their whole CPU time is in it
        gen_pct = round(100 * sum(g.cpu_seconds() for g in gens) / cw.wall, 1)
        cpu["(other)"]["cpu_pct"] = round(max(0.0, cpu["(other)"]["cpu_pct"] - gen_pct), 1)
        cpu["generator"] = {"cpu_pct": gen_pct, "cpus": "1" if pin else "any"}
        if spy:
            spy.finish()
        readies = [g.ready or {} for g in gens]
        connected = sum(c["connected"] for c in counts)
        failed = sum(r.get("failed", 0) for r in readies)
        errors = {r.get("firstError") for r in readies} - {None}
        if errors:
            log(f"   first connect errors: {'; '.join(sorted(errors))[:500]}")
        t0 = min(r["t0"] for r in readies if "t0" in r)
        t1 = max(r["t1"] for r in readies if "t1" in r)
        tp = max([t1, *(c["lastPresenceAt"] for c in counts)])
        heard = sum(c["presenceJoins"] for c in counts)
        per_room = [n // rooms + (1 if r < n % rooms else 0) for r in range(rooms)]
        expected = sum(k * (k - 1) // 2 for k in per_room)
        join_s = (t1 - t0) / 1000
        settled_s = (tp - t0) / 1000
        # the storm's other half: every member drops at once (the workers close their
        # sockets and exit, as a network cut drops a school); the server's CPU until it
        # is idle again
        drop_spy = PySpy(server, "storm-drop", {1} if pin else None) \
            if a.profile_drop and kind == "ours" else None
        before = server.cpu_seconds()
        t_quit = time.monotonic()
        for g in gens:
            g.quit()
        leave_cpu_s, leave_s = cpu_until_idle(server, before, t_quit)
        if drop_spy:
            drop_spy.finish()
    finally:
        for g in gens:
            g.quit()
        server.stop()
        redis.stop()
    log(f"{kind}: {connected:,} joined in {join_s:.2f}s ({connected / join_s:.0f}/s), "
        f"announcements settled at {settled_s:.2f}s; presence:join heard {heard:,} "
        f"(one per member and later joiner: {expected:,}); server CPU {server_cpu_s:.2f}s")
    log(f"{kind}: all {connected:,} dropped at once: server busy {leave_s:.2f}s, "
        f"CPU {leave_cpu_s:.2f}s")
    return {"connections": connected, "wanted": n, "rooms": rooms, "failed": failed,
            "leave_s": leave_s, "leave_cpu_s": leave_cpu_s,
            "server_cpu_ms_per_leave": 1000 * leave_cpu_s / max(1, connected),
            "join_s": join_s, "joins_per_s": connected / join_s,
            "settled_s": settled_s, "joins_per_s_settled": connected / settled_s,
            "presence_heard": heard, "presence_expected": expected,
            "server_cpu_s": server_cpu_s,
            "server_cpu_ms_per_join": 1000 * server_cpu_s / max(1, connected),
            "cpu": cpu, "busy_before_pct": busy}


# --------------------------------------------------------------------------- capacity
def redis_info(port: int, section: str) -> dict[str, str]:
    r = subprocess.run([REDIS_CLI, "-p", str(port), "info", section], capture_output=True,
                       text=True, timeout=30)
    out = {}
    for line in r.stdout.splitlines():
        k, sep, v = line.strip().partition(":")
        if sep and not k.startswith("#"):
            out[k] = v
    return out


def redis_calls(port: int) -> dict[str, int]:
    """Calls per command so far (INFO commandstats; commands run by scripts count too)."""
    calls = {}
    for k, v in redis_info(port, "commandstats").items():
        if k.startswith("cmdstat_"):
            for part in v.split(","):
                if part.startswith("calls="):
                    calls[k[len("cmdstat_"):]] = int(part[6:])
    return calls


MEM_FIELDS = ("used_memory", "used_memory_dataset", "used_memory_overhead",
              "mem_clients_normal", "used_memory_scripts", "mem_fragmentation_ratio")


def redis_used_memory(port: int) -> int:
    return int(redis_info(port, "memory").get("used_memory", 0))


def redis_key_breakdown(port: int, sample: int = 20_000) -> dict[str, dict[str, int]]:
    """Keys grouped by shape (room names, ids and numbers replaced by placeholders): count
    per group (every key) and bytes per group (MEMORY USAGE ... SAMPLES 0 of a uniform
    sample of at most `sample` keys, scaled to the group's count)."""
    import random
    import re

    keys = subprocess.run([REDIS_CLI, "-p", str(port), "--scan"],
                          capture_output=True, text=True, timeout=300).stdout.split()
    if not keys:
        return {}

    def shape_of(k: str) -> str:
        shape = re.sub(r"\{[^}]*\}", "{R}", k)
        shape = re.sub(r"^live:space:[^:]+:", "live:space:<S>:", shape)
        shape = re.sub(r"^live:proc:[^:]+:", "live:proc:<P>:", shape)
        for marker in (":cid:", ":user:", ":m:"):  # per message / per author: cut the rest
            if marker in shape:
                return shape[: shape.index(marker) + len(marker)] + "*"
        return shape

    groups: dict[str, dict[str, int]] = {}
    for k in keys:
        g = groups.setdefault(shape_of(k), {"keys": 0, "bytes": 0, "sampled": 0, "_b": 0})
        g["keys"] += 1
    picked = random.Random(1).sample(keys, min(sample, len(keys)))
    # keys never hold newlines or spaces here (room names are checked by the services)
    cmds = "".join(f"MEMORY USAGE {k} SAMPLES 0\n" for k in picked)
    sizes = subprocess.run([REDIS_CLI, "-p", str(port)], input=cmds, capture_output=True,
                           text=True, timeout=300).stdout.split()
    for k, n in zip(picked, sizes, strict=False):
        g = groups[shape_of(k)]
        g["sampled"] += 1
        g["_b"] += int(n) if n.isdigit() else 0
    for g in groups.values():
        g["bytes"] = round(g.pop("_b") / g["sampled"] * g["keys"]) if g["sampled"] else 0
    return dict(sorted(groups.items(), key=lambda x: -x[1]["bytes"]))


def rate_phase(gens: list[Gen], procs: list[Proc], *, hz: float, secs: float, per_room: int,
               drain: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any, float]:
    """Every member of every worker sends hz msg/s (random phase) for secs; then wait
    until every expected delivery came or none came for 3 s (at most `drain` s), so
    that late and lost are told apart. Returns (sent, reports, cpu, wall)."""
    cw = CpuWindow(procs)
    for g in gens:
        g.send({"cmd": "go", "mode": "rate", "hz": hz, "seconds": secs, "senders": None,
                "drainMs": 10000})
    sent = [g.wait("sent", secs + 30) for g in gens]
    expected = sum(s["sent"] for s in sent) * per_room
    last_n, last_change, t_end = -1, time.monotonic(), time.monotonic() + drain
    while time.monotonic() < t_end:
        for g in gens:
            g.send({"cmd": "count"})
        n = sum(g.wait("count", 10)["received"] for g in gens)
        if n >= expected:
            break
        if n != last_n:
            last_n, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > 3:
            break
        time.sleep(0.25)
    cpu = cw.end()
    reps = []
    for g in gens:
        g.send({"cmd": "report"})
        reps.append(g.wait("report", 60))
    return sent, reps, cpu, cw.wall


def capacity_run(kind: str, a: argparse.Namespace, nproc: int) -> dict[str, Any]:
    """Rooms of `--room-size` members, each member sending `--hz` msg/s (random phase),
    lean clients; rooms are added step by step (`--steps`, cumulative room counts) on
    `nproc` server processes sharing one Redis, each room's members spread over the
    processes. Connections are kept from step to step (new rooms are added to them).
    Each step: connect the new rooms, warm up, measure `--seconds`, drain."""
    pin = not a.no_pin
    if nproc == 1:
        plan: dict[str, set[int] | None] = {"server0": {0}, "redis": {1}, "gen": {1}}
    else:  # 2 cores: processes alternate over both; redis and generator float
        plan = {f"server{i}": {i % 2} for i in range(nproc)}
    if not pin:
        plan = {}
    redis, rport = start_redis(plan.get("redis"))
    srv: list[tuple[Proc, str]] = []
    gens: list[Gen] = []
    steps_out: list[dict[str, Any]] = []
    per_room = a.room_size
    try:
        for i in range(nproc):
            srv.append(start_server(kind, i, rport, plan.get(f"server{i}"), a.ours_cmd))
        urls = [u for _, u in srv]
        workers = a.gen_workers
        gens = start_gens(f"gen-cap-{kind}{nproc}-", urls, f"cap-{kind}",
                          [[] for _ in range(workers)], plan.get("gen"), concurrency=64,
                          client=[a.client] * workers,
                          extra={"lateMs": a.late_ms, "sample": 200_000},
                          env={"GEN_MAX_SECONDS": "3600"})
        servers = [p for p, _ in srv]
        procs = [*servers, redis, *gens]
        rooms = 0
        members = 0
        for target in a.steps:
            if target <= rooms:
                continue
            # ---- connect the new rooms (kept open for the later steps)
            lists: list[list[list[Any]]] = [[] for _ in range(workers)]
            j = 0
            for r in range(rooms, target):
                for slot in range(per_room):
                    lists[j % workers].append([f"c{r}s{slot}", f"room{r}", slot % nproc, "student"])
                    j += 1
            mem0 = redis_used_memory(rport)
            meminfo0 = redis_info(rport, "memory")
            rss0 = [p.rss_kb() for p in servers]
            t0 = time.monotonic()
            for g, ml in zip(gens, lists, strict=True):
                g.send({"cmd": "add", "members": ml})
            added = []
            next_log = time.monotonic() + 10
            for g in gens:
                while True:
                    try:
                        added.append(g.wait("added", 1))
                        break
                    except TimeoutError:
                        if time.monotonic() - t0 > a.connect_timeout:
                            raise TimeoutError(f"{g.name}: step {target} rooms not connected "
                                               f"within {a.connect_timeout:.0f}s") from None
                        if time.monotonic() >= next_log:
                            next_log += 10
                            n = sum(x.progress.get("connected", 0) for x in gens)
                            log(f"   connected {n:,}/{members + j:,}")
            connect_s = time.monotonic() - t0
            failed = sum(x["failed"] for x in added)
            connected = sum(x["connected"] for x in added)
            if failed:
                errs = {x["firstError"] for x in added} - {None}
                log(f"   {failed} members failed to connect: {'; '.join(sorted(errs))[:300]}")
            new = connected - members
            rooms, members = target, connected
            time.sleep(2)
            mem1 = redis_used_memory(rport)
            meminfo1 = redis_info(rport, "memory")
            keys1 = redis_key_breakdown(rport) if a.key_breakdown else {}
            rss1 = [p.rss_kb() for p in servers]
            log(f"{kind} x{nproc}: {rooms} rooms, {members:,} members ({new:,} new in "
                f"{connect_s:.1f}s, {new / max(connect_s, 1e-9):,.0f}/s, {failed} failed)")
            # ---- warm up, then measure
            if a.warmup > 0:
                rate_phase(gens, procs, hz=a.hz, secs=a.warmup, per_room=per_room, drain=a.drain)
            wait_quiet(a.quiet_wait)
            calls0 = redis_calls(rport)
            mem2 = redis_used_memory(rport)
            sent, reps, cpu, wall = rate_phase(gens, procs, hz=a.hz, secs=a.seconds,
                                               per_room=per_room, drain=a.drain)
            calls1 = redis_calls(rport)
            mem3 = redis_used_memory(rport)
            meminfo = redis_info(rport, "memory")
            keys3 = redis_key_breakdown(rport) if a.key_breakdown else {}
            lats = [x for r in reps for x in r["lat"]["sample"]]
            acks = [x for r in reps for x in r["ack"]["sample"]]
            n_sent = sum(s["sent"] for s in sent)
            n_ok = sum(s["acked"] - s["ackErrors"] for s in sent)
            expected = n_sent * per_room
            delivered = sum(r["received"] for r in reps)
            dcalls = {k: v - calls0.get(k, 0) for k, v in calls1.items()
                      if v - calls0.get(k, 0) > 0}
            ops = sum(dcalls.values()) / wall
            server_cpu = {p.name: cpu[p.name]["cpu_pct"] for p in servers}
            st = {
                "rooms": rooms, "members": members, "new_members": new, "connect_s": connect_s,
                "connect_failed": failed, "seconds": a.seconds, "wall": wall,
                "sent": n_sent, "sent_per_s": n_sent / a.seconds,
                "deliveries_per_s": delivered / a.seconds,
                "delivered": delivered, "expected": expected,
                "lost": max(0, expected - delivered),
                "late": sum(r.get("late", 0) for r in reps),
                "dupes": sum(r["dupes"] for r in reps),
                "out_of_order": sum(r["outOfOrder"] for r in reps),
                # refused, or never acked
                "ack_errors": sum(s["ackErrors"] for s in sent)
                + (n_sent - sum(s["acked"] for s in sent)),
                "skipped": sum(s.get("skipped", 0) for s in sent),
                "p50": pct(lats, 50), "p99": pct(lats, 99), "max": max(lats) if lats else None,
                "ack_p50": pct(acks, 50), "ack_p99": pct(acks, 99),
                "server_cpu": server_cpu, "server_cpu_sum": round(sum(server_cpu.values()), 1),
                "redis_cpu": cpu["redis"]["cpu_pct"],
                "gen_cpu": round(sum(v["cpu_pct"] for k, v in cpu.items()
                                     if k.startswith("gen")), 1),
                "other_cpu": cpu["(other)"]["cpu_pct"], "cpu": cpu,
                # per message and per member from counts (not from the window's wall time,
                # which includes the drain)
                "redis_calls": dcalls, "redis_ops_per_s": ops,
                "redis_calls_per_msg": sum(dcalls.values()) / max(1, n_sent),
                "redis_ops_per_member_s": sum(dcalls.values()) / a.seconds / max(1, members),
                "redis_used_memory": mem3,
                "redis_bytes_per_member_connect": (mem1 - mem0) / max(1, new),
                "redis_bytes_per_stored_msg": (mem3 - mem2) / max(1, n_ok),
                "stored": n_ok,
                "redis_memory_before_connect": {k: meminfo0.get(k) for k in MEM_FIELDS},
                "redis_memory_after_connect": {k: meminfo1.get(k) for k in MEM_FIELDS},
                "redis_memory": {k: meminfo.get(k) for k in (
                    "used_memory", "used_memory_dataset", "used_memory_overhead",
                    "mem_clients_normal", "used_memory_scripts", "mem_fragmentation_ratio")},
                "redis_keys_after_connect": keys1, "redis_keys_after_measure": keys3,
                "server_rss_kb": [p.rss_kb() for p in servers],
                "server_kb_per_member_connect": (sum(rss1) - sum(rss0)) / max(1, new),
                "_lats": lats,
            }
            # server CPU-seconds per member-second at this pace (for the plan)
            st["server_cpu_ms_per_msg"] = (st["server_cpu_sum"] / 100 * wall * 1000
                                           / max(1, n_ok))
            st["redis_cpu_ms_per_msg"] = st["redis_cpu"] / 100 * wall * 1000 / max(1, n_ok)
            st["ok"] = bool(st["p99"] is not None and st["p99"] <= a.p99_limit and not st["lost"]
                            and not st["late"] and not st["dupes"] and not st["out_of_order"]
                            and not st["ack_errors"] and not failed)
            steps_out.append(st)
            top = sorted(dcalls.items(), key=lambda x: -x[1])[:6]
            log(f"{kind} x{nproc} {rooms} rooms / {members:,} members: "
                f"{st['sent_per_s']:,.0f} msg/s, {st['deliveries_per_s']:,.0f} deliveries/s; "
                f"p50 {fmt(st['p50'], 2)} p99 {fmt(st['p99'], 2)} max {fmt(st['max'], 1)} ms; "
                f"ack p99 {fmt(st['ack_p99'], 2)} ms; delivered {delivered:,}/{expected:,} "
                f"late {st['late']} ack errors {st['ack_errors']}; {cpu_text(cpu)}; "
                f"redis {ops:,.0f} calls/s ({', '.join(f'{k} {v / wall:,.0f}' for k, v in top)}); "
                f"{'OK' if st['ok'] else 'OVER'}")
            if not st["ok"] and not a.no_stop:
                log(f"{kind} x{nproc}: step over the limit; ramp stopped")
                break
    finally:
        for g in gens:
            g.quit()
        for p, _ in srv:
            p.stop()
        redis.stop()
    good = [s for s in steps_out if s["ok"]]
    best = max(good, key=lambda s: s["members"]) if good else None
    return {"processes": nproc, "steps": steps_out,
            "capacity_members": best["members"] if best else 0,
            "capacity_rooms": best["rooms"] if best else 0}


def run_capacity(a: argparse.Namespace, stamp: str) -> Outcome:
    out = Outcome("capacity")
    out.notes.append(f"rooms of {a.room_size}, each member {a.hz:g} msg/s (random phase), "
                     f"{a.client} clients, {a.seconds:g} s measured per step, "
                     f"limit p99 <= {a.p99_limit:g} ms, none lost or later than "
                     f"{a.late_ms:g} ms")
    for kind in a.servers:
        for nproc in a.processes:
            log(f"== capacity: {LABEL[kind]}, {nproc} process(es), rooms of {a.room_size}, "
                f"{a.hz:g} msg/s per member, steps {a.steps}")
            try:
                out.per_server[f"{kind}-x{nproc}"] = capacity_run(kind, a, nproc)
            except Exception as e:  # noqa: BLE001 - report and go on
                log(f"!! capacity {kind} x{nproc} failed: {e}")
                out.notes.append(f"{kind} x{nproc} failed: {e}")
            save(out, stamp, _capacity_plot)  # what is done so far, if the run is cut short
            print(capacity_table(f"{kind}-x{nproc}", out.per_server.get(f"{kind}-x{nproc}")
                                 or {"steps": []}))
    print()
    print(f"== capacity ({out.notes[0]})")
    for key, res in out.per_server.items():
        print(capacity_table(key, res))
        print(f"   capacity {key}: {res['capacity_members']:,} members "
              f"({res['capacity_rooms']} rooms) at the largest step within the limit")
        print()
    for n in out.notes[1:]:
        print(f"   note: {n}")
    save(out, stamp, _capacity_plot)
    return out


def capacity_table(key: str, res: dict[str, Any]) -> str:
    head = ("rooms", "members", "msg/s", "deliv/s", "p50", "p99", "max", "ack p99",
            "lost/late", "server CPU%", "CPU ms/msg", "redis%", "gen%", "other%",
            "redis ops/s", "ops/s/member", "ok")
    body = []
    for s in res["steps"]:
        body.append((
            str(s["rooms"]), f"{s['members']:,}", f"{s['sent_per_s']:,.0f}",
            f"{s['deliveries_per_s']:,.0f}", fmt(s["p50"], 2), fmt(s["p99"], 2),
            fmt(s["max"], 1), fmt(s["ack_p99"], 2), f"{s['lost']}/{s['late']}",
            " ".join(f"{v:.0f}" for v in s["server_cpu"].values()),
            f"{s['server_cpu_ms_per_msg']:.3f}", f"{s['redis_cpu']:.0f}",
            f"{s['gen_cpu']:.0f}", f"{s['other_cpu']:.0f}", f"{s['redis_ops_per_s']:,.0f}",
            f"{s['redis_ops_per_member_s']:.3f}", "yes" if s["ok"] else "NO"))
    w = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [f"-- {key}",
             " | ".join(h.rjust(w[i]) for i, h in enumerate(head)),
             "+".join("-" * (x + 2) for x in w)]
    lines += [" | ".join(c.rjust(w[i]) for i, c in enumerate(r)) for r in body]
    return "\n".join(lines)


def _capacity_plot(o: Outcome, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for key, res in o.per_server.items():
        xs = [s["members"] for s in res["steps"]]
        axes[0].plot(xs, [s["p99"] or 0 for s in res["steps"]], marker="o", label=key)
        axes[1].plot(xs, [s["server_cpu_sum"] for s in res["steps"]], marker="o", label=key)
    axes[0].axhline(25, color="red", linestyle="--", label="p99 limit")
    axes[0].set_xlabel("members (rooms of 30)")
    axes[0].set_ylabel("send-to-receive p99 ms")
    axes[0].set_yscale("log")
    axes[1].set_xlabel("members")
    axes[1].set_ylabel("server CPU % (sum of processes)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"capacity: {o.notes[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- drivers
def ours_version() -> str:
    """The commit of the service measured, and whether its code differed from it."""
    repo = HERE.parent
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--",
                                "live", "rooms", "signaling"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head or 'no commit'}{' + uncommitted changes' if dirty else ''}"


def run(bench: str, a: argparse.Namespace, stamp: str) -> Outcome:
    a.bench = bench
    if bench == "capacity":
        return run_capacity(a, stamp)
    out = Outcome(bench)
    if bench == "fanout":
        return run_fanout(a, stamp)
    else:
        fn = {"mix": bench_mix, "acks": bench_acks, "idle": bench_idle,
              "storm": bench_storm}[bench]
        for kind in a.servers:
            log(f"== {bench}: {LABEL[kind]}")
            try:
                out.per_server[kind] = fn(kind, a)
            except Exception as e:  # noqa: BLE001 - report and go on with the other server
                log(f"!! {bench} {kind} failed: {e}")
                out.notes.append(f"{kind} failed: {e}")
    return report(out, a, stamp)


def run_fanout(a: argparse.Namespace, stamp: str) -> Outcome:
    """The fan-out for each receiver client kind and each window (`--client lean,sio
    --window 1,20,100`): a table per (client, window), then one table of them all."""
    sweep: list[tuple[str, int, dict[str, dict[str, Any]]]] = []
    last = Outcome("fanout")
    for client in a.clients:
        log(f"== fanout: {', '.join(LABEL[k] for k in a.servers)}, {client} receivers, "
            f"windows {', '.join(map(str, a.windows))}, rounds alternating")
        try:
            per_window = bench_fanout(a.servers, a, client, a.windows)
        except Exception as e:  # noqa: BLE001 - report what there is, go on with the next
            log(f"!! fanout ({client} receivers) failed: {e}")
            continue
        for window, per_server in per_window.items():
            one = argparse.Namespace(**{**vars(a), "window": window, "client": client})
            last = report(Outcome("fanout", per_server=per_server), one,
                          f"{stamp}-{client}-w{window}")
            sweep.append((client, window, per_server))
    if len(sweep) > 1 or not sweep:
        print(sweep_table(sweep, a))
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"fanout-sweep-{stamp}.json"
        path.write_text(json.dumps({
            "bench": "fanout-sweep", "stamp": stamp, "ours_version": ours_version(),
            "rows": [{"client": c, "window": w,
                      "servers": {k: {kk: vv for kk, vv in v.items()
                                      if kk not in ("lat_all", "cpu")}
                                  for k, v in ps.items()}} for c, w, ps in sweep]}, indent=1))
        log(f"sweep numbers: {path}")
    return last


def sweep_table(sweep: list[tuple[str, int, dict[str, dict[str, Any]]]],
                a: argparse.Namespace) -> str:
    """One row per (receiver client, window): deliveries/s and deliveries per server
    CPU-second of both servers, and ours/ref."""
    head = ("receivers", "in flight", "ref deliv/s", "ours deliv/s", "ratio",
            "ref per CPU-s", "ours per CPU-s", "ratio", "ref p50/p99 ms", "ours p50/p99 ms",
            "ref us/deliv user+sys", "ours us/deliv user+sys", "other CPU% max")
    body = []
    for client, window, ps in sweep:
        r, o = ps.get("ref", {}), ps.get("ours", {})

        def ratio(key: str, r: dict[str, Any] = r, o: dict[str, Any] = o) -> str:
            return f"{o[key] / r[key]:.2f}x" if r.get(key) and o.get(key) else "-"

        def lat(d: dict[str, Any]) -> str:
            return f"{fmt(d.get('p50'))} / {fmt(d.get('p99'))}" if d else "-"

        def us(d: dict[str, Any]) -> str:
            return f"{d['us_user']:.2f} + {d['us_sys']:.2f}" if d.get("us_user") else "-"

        body.append((client, str(window), fmt(r.get("deliveries_per_s"), 0),
                     fmt(o.get("deliveries_per_s"), 0), ratio("deliveries_per_s"),
                     fmt(r.get("deliveries_per_server_cpu_s"), 0),
                     fmt(o.get("deliveries_per_server_cpu_s"), 0),
                     ratio("deliveries_per_server_cpu_s"), lat(r), lat(o), us(r), us(o),
                     fmt(max(r.get("other_cpu_pct_max", 0), o.get("other_cpu_pct_max", 0)))))
    w = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    lines = [f"== fanout sweep (1 room x {a.members} members, {a.messages} msgs per round, "
             f"median of {a.rounds} rounds; target: per CPU-s >= 2x everywhere, deliveries/s "
             ">= 1.0x at 1, >= 1.2x at 20)",
             " | ".join(h.ljust(w[i]) for i, h in enumerate(head)),
             "+".join("-" * (x + 2) for x in w)]
    for row in body:
        lines.append(" | ".join([row[0].ljust(w[0])] + [c.rjust(w[i])
                                                         for i, c in enumerate(row) if i]))
    return "\n".join(lines) + "\n"


def report(out: Outcome, a: argparse.Namespace, stamp: str) -> Outcome:
    """Print the table of one benchmark's outcome and save its numbers and plot."""
    bench = out.bench
    r, o = out.per_server.get("ref", {}), out.per_server.get("ours", {})
    if bench == "fanout":
        out.notes.insert(0, f"1 room x {a.members} members, 1 sender, {a.window} in flight, "
                            f"{a.messages} msgs, {a.client} receivers, "
                            f"median of {a.rounds} rounds")
        out.rows = [
            ("deliveries/s", r.get("deliveries_per_s"), o.get("deliveries_per_s"), "higher"),
            ("deliveries per server CPU-second", r.get("deliveries_per_server_cpu_s"),
             o.get("deliveries_per_server_cpu_s"), "higher"),
            ("rounds deliveries per server CPU-s", " ".join(map(str, r.get("per_cpu_s", []))),
             " ".join(map(str, o.get("per_cpu_s", []))), ""),
            ("latency p50 ms", r.get("p50"), o.get("p50"), "lower"),
            ("latency p99 ms", r.get("p99"), o.get("p99"), "lower"),
            ("ack p50 ms", r.get("ack_p50"), o.get("ack_p50"), "lower"),
            ("ack p99 ms", r.get("ack_p99"), o.get("ack_p99"), "lower"),
            ("delivered (median round)", r.get("delivered"), o.get("delivered"), ""),
            ("dupes / out of order", f"{r.get('dupes')}/{r.get('out_of_order')}",
             f"{o.get('dupes')}/{o.get('out_of_order')}", ""),
            ("server CPU % (1 core = 100)", r.get("server_cpu_pct"), o.get("server_cpu_pct"), ""),
            ("generator CPU %", r.get("gen_cpu_pct"), o.get("gen_cpu_pct"), ""),
            ("deliveries per receiver-worker CPU-s", r.get("deliveries_per_receiver_cpu_s"),
             o.get("deliveries_per_receiver_cpu_s"), ""),
            ("rest of machine CPU %", r.get("other_cpu_pct"), o.get("other_cpu_pct"), ""),
            ("rounds deliveries/s", " ".join(map(str, r.get("deliveries_per_s_rounds", []))),
             " ".join(map(str, o.get("deliveries_per_s_rounds", []))), ""),
        ]
        target = ("target: ours >= 2x reference deliveries per server CPU-s; deliveries/s "
                  ">= 1.0x at 1 in flight, >= 1.2x at 20")
    elif bench in ("mix", "acks"):
        if bench == "mix":
            out.notes.insert(0, "20 rooms x 30 members, each 1 msg/s, 2 server processes, 1 redis")
            target = "target: ours latency p99 <= 25 ms"
        else:
            out.notes.insert(0, f"{a.rate:,.0f} msg/s: 100 rooms x 1 sender at {a.rate / 100:g} "
                                "msg/s, 1 server process")
            target = "target: ours ack p99 <= 10 ms"
        out.rows = [
            ("sent msg/s", r.get("sent_per_s"), o.get("sent_per_s"), ""),
            ("acked msg/s", r.get("acked_per_s"), o.get("acked_per_s"), "higher"),
            ("latency p50 ms", r.get("p50"), o.get("p50"), "lower"),
            ("latency p99 ms", r.get("p99"), o.get("p99"), "lower"),
            ("ack p50 ms", r.get("ack_p50"), o.get("ack_p50"), "lower"),
            ("ack p99 ms", r.get("ack_p99"), o.get("ack_p99"), "lower"),
            ("delivered / expected", f"{r.get('delivered')}/{r.get('expected')}",
             f"{o.get('delivered')}/{o.get('expected')}", ""),
            ("ack errors / skipped", f"{r.get('ack_errors')}/{r.get('skipped')}",
             f"{o.get('ack_errors')}/{o.get('skipped')}", ""),
            ("dupes / out of order", f"{r.get('dupes')}/{r.get('out_of_order')}",
             f"{o.get('dupes')}/{o.get('out_of_order')}", ""),
            ("server CPU % (sum)", r.get("server_cpu_pct"), o.get("server_cpu_pct"), ""),
            ("server CPU ms per acked msg", r.get("server_cpu_ms_per_msg"),
             o.get("server_cpu_ms_per_msg"), "lower"),
            ("generator CPU %", r.get("gen_cpu_pct"), o.get("gen_cpu_pct"), ""),
            ("rest of machine CPU %", r.get("other_cpu_pct"), o.get("other_cpu_pct"), ""),
        ]
    elif bench == "storm":
        out.notes.insert(0, f"{a.connections or 1000:,} members join {a.rooms} room(s), 50 in "
                            "flight, 1 process, every join announced")
        out.rows = [
            ("connect+join per s (to last ack)", r.get("joins_per_s"), o.get("joins_per_s"),
             "higher"),
            ("connect+join per s (to last presence:join)", r.get("joins_per_s_settled"),
             o.get("joins_per_s_settled"), "higher"),
            ("members joined", r.get("connections"), o.get("connections"), ""),
            ("connect failures", r.get("failed"), o.get("failed"), ""),
            ("presence:join heard / N(N-1)/2 per room",
             f"{r.get('presence_heard')}/{r.get('presence_expected')}",
             f"{o.get('presence_heard')}/{o.get('presence_expected')}", ""),
            ("server CPU s", r.get("server_cpu_s"), o.get("server_cpu_s"), "lower"),
            ("server CPU ms per join", r.get("server_cpu_ms_per_join"),
             o.get("server_cpu_ms_per_join"), "lower"),
            ("all dropped at once: server busy s", r.get("leave_s"), o.get("leave_s"),
             "lower"),
            ("all dropped at once: server CPU ms per leave", r.get("server_cpu_ms_per_leave"),
             o.get("server_cpu_ms_per_leave"), "lower"),
            ("server CPU %", r.get("cpu", {}).get("ref0", {}).get("cpu_pct"),
             o.get("cpu", {}).get("ours0", {}).get("cpu_pct"), ""),
            ("generator CPU %", r.get("cpu", {}).get("generator", {}).get("cpu_pct"),
             o.get("cpu", {}).get("generator", {}).get("cpu_pct"), ""),
            ("rest of machine CPU %", r.get("cpu", {}).get("(other)", {}).get("cpu_pct"),
             o.get("cpu", {}).get("(other)", {}).get("cpu_pct"), ""),
        ]
        target = "target: ours >= 2x reference connect+join per s"
    else:
        out.notes.insert(0, f"{a.connections:,} idle members joined in 100 rooms, 1 process")
        out.rows = [
            ("RSS per connection KB", r.get("kb_per_conn"), o.get("kb_per_conn"), "lower"),
            ("connections measured", r.get("connections"), o.get("connections"), ""),
            ("connect failures", r.get("failed"), o.get("failed"), ""),
            ("RSS before MB", (r.get("rss_base_kb") or 0) / 1024 or None,
             (o.get("rss_base_kb") or 0) / 1024 or None, ""),
            ("RSS with members MB", (r.get("rss_kb") or 0) / 1024 or None,
             (o.get("rss_kb") or 0) / 1024 or None, ""),
            ("connect+join per s", r.get("connects_per_s"), o.get("connects_per_s"), "higher"),
        ]
        target = "target: ours <= 14 KB per connection (issue 13)"
    print()
    print(table(out.rows, f"== {bench}  ({out.notes[0]}; {target})"))
    for kind, d in out.per_server.items():
        cpu = d.get("cpu") or d.get("idle_cpu") or {}
        cpu = {k: v for k, v in cpu.items() if isinstance(v, dict)}
        if cpu:
            print(f"   {kind}: processes [CPUs they may run on], " + cpu_text(cpu))
    for n in out.notes[1:]:
        print(f"   note: {n}")
    print()

    def plot(o: Outcome, path: Path) -> None:
        if bench == "fanout":
            cdf_plot(o, path, "lat_all", "send-to-receive latency (median round)",
                     [("p50", "p50 ms"), ("p99", "p99 ms")])
            _add_bar(path, o, "deliveries_per_s", "deliveries/s")
        elif bench == "mix":
            cdf_plot(o, path, "lat_all", "send-to-receive latency",
                     [("p50", "p50 ms"), ("p99", "p99 ms"), ("ack_p99", "ack p99 ms")])
        elif bench == "storm":
            _bar_plot(o, path, "joins_per_s", "%.0f", "members joined per second")
        elif bench == "acks":
            cdf_plot(o, path, "ack_all", "ack latency",
                     [("ack_p50", "ack p50 ms"), ("ack_p99", "ack p99 ms"), ("p99", "deliv p99")])
        else:
            _idle_plot(o, path)

    save(out, stamp, plot)
    return out


def _add_bar(path: Path, o: Outcome, key: str, label: str) -> None:
    """Redraw the fan-out plot with a third panel for deliveries/s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for kind, data in o.per_server.items():
        vals = sorted(data.get("lat_all") or [])
        if vals:
            axes[0].plot(vals, [(i + 1) / len(vals) for i in range(len(vals))], label=LABEL[kind])
    axes[0].set_xscale("log")
    axes[0].set_xlabel("send-to-receive latency (ms, log)")
    axes[0].set_ylabel("fraction ≤ x")
    axes[0].grid(True, which="both", alpha=0.3)
    axes[0].legend()
    kinds = list(o.per_server)
    vals = [o.per_server[k].get(key) or 0 for k in kinds]
    colors = ["tab:blue", "tab:orange"][: len(kinds)]
    rects = axes[1].bar([LABEL[k] for k in kinds], vals, color=colors)
    axes[1].bar_label(rects, fmt="%.0f")
    axes[1].set_title(label)
    axes[1].grid(True, axis="y", alpha=0.3)
    for j, k in enumerate(kinds):
        p = [o.per_server[k].get("p50") or 0, o.per_server[k].get("p99") or 0]
        rects = axes[2].bar([x + j * 0.4 for x in (0, 1)], p, 0.4, label=LABEL[k])
        axes[2].bar_label(rects, fmt="%.1f")
    axes[2].set_xticks([0.2, 1.2])
    axes[2].set_xticklabels(["p50 ms", "p99 ms"])
    axes[2].legend()
    axes[2].grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"fanout: {o.notes[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bar_plot(o: Outcome, path: Path, key: str, fmt_: str, ylabel: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    kinds = list(o.per_server)
    vals = [o.per_server[k].get(key) or 0 for k in kinds]
    rects = ax.bar([LABEL[k] for k in kinds], vals, color=["tab:blue", "tab:orange"][: len(kinds)])
    ax.bar_label(rects, fmt=fmt_)
    ax.set_ylabel(ylabel)
    ax.set_title(o.notes[0])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _idle_plot(o: Outcome, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    kinds = list(o.per_server)
    vals = [o.per_server[k].get("kb_per_conn") or 0 for k in kinds]
    rects = ax.bar([LABEL[k] for k in kinds], vals, color=["tab:blue", "tab:orange"][: len(kinds)])
    ax.bar_label(rects, fmt="%.1f KB")
    ax.axhline(25, color="red", linestyle="--", label="target 25 KB")
    ax.set_ylabel("server RSS per idle connection (KB)")
    ax.set_title(o.notes[0])
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("bench", choices=["fanout", "mix", "acks", "idle", "storm", "capacity", "all"])
    ap.add_argument("--servers", default="ref,ours",
                    help="which servers, comma-separated: ref,ours (default both)")
    ap.add_argument("--ours-cmd", default=DEFAULT_OURS,
                    help=f"command of our service (default {DEFAULT_OURS})")
    ap.add_argument("--no-deflate-offer", action="store_true",
                    help="raw members do not offer permessage-deflate (socket.io-client and "
                         "browsers do); to see what compression costs")
    ap.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    ap.add_argument("--members", type=int, default=200, help="fanout: room size")
    ap.add_argument("--messages", type=int, default=400, help="fanout: messages per round")
    ap.add_argument("--window", default="20",
                    help="fanout: messages in flight; a comma-separated list (1,20,100) "
                         "runs each, with one table of them all at the end")
    ap.add_argument("--rounds", type=int, default=5, help="fanout: measured rounds (median)")
    ap.add_argument("--redis-cpu", type=int, choices=[0, 1], default=0,
                    help="fanout: the CPU redis is pinned to (0: with the server, whose "
                         "deliveries wait on it; 1: with the generator)")
    ap.add_argument("--receivers", type=int, default=2, help="fanout: receiver workers")
    ap.add_argument("--client", default="lean",
                    help="members of fanout (receivers), mix and acks: lean (TCP + minimal "
                         "WebSocket, msgpack walked; default), raw (ws library + notepack) or "
                         "sio (socket.io-client); the fanout sender and idle members are "
                         "always socket.io-client); fanout takes a comma-separated list "
                         "(lean,sio) and runs each")
    ap.add_argument("--seconds", type=float, default=0, help="mix/acks: measured seconds")
    ap.add_argument("--drain", type=float, default=30,
                    help="mix/acks: at most this many seconds to wait for late deliveries")
    ap.add_argument("--rate", type=float, default=5000,
                    help="acks: messages per second in all (100 senders)")
    ap.add_argument("--warmup", type=float, default=3, help="mix/acks: warm-up seconds")
    ap.add_argument("--quiet-wait", type=float, default=20,
                    help="before each measured phase wait up to this many seconds for the "
                         "machine to be nearly idle (other sessions share the 2 cores)")
    ap.add_argument("--profile", action="store_true",
                    help="record our server (the first process) with py-spy: fanout and "
                         "mix/acks during the measured part, idle while connecting; best with "
                         "--servers ours; writes results/pyspy-<bench>-*.txt")
    ap.add_argument("--profile-drop", action="store_true",
                    help="storm: record our server with py-spy while every member drops at "
                         "once (results/pyspy-storm-drop-*.txt), not during the joins")
    ap.add_argument("--connect-timeout", type=float, default=300,
                    help="idle: seconds allowed for connecting; past it, measure those connected")
    ap.add_argument("--connections", type=int, default=None,
                    help="idle: members (default 10,000); storm: members (default 1,000)")
    ap.add_argument("--rooms", type=int, default=1,
                    help="storm: rooms the members join (10,000 over 100 rooms: "
                         "--connections 10000 --rooms 100)")
    ap.add_argument("--steps", default="80,160,320,480,640",
                    help="capacity: cumulative room counts, one measured step each (connections "
                         "are kept: each step adds rooms); the ramp stops after the first step "
                         "over the limit unless --no-stop")
    ap.add_argument("--processes", default="1,4",
                    help="capacity: server process counts to ramp, comma-separated (one Redis)")
    ap.add_argument("--room-size", type=int, default=30, help="capacity: members per room")
    ap.add_argument("--hz", type=float, default=0.1,
                    help="capacity: messages per second per member (0.1: one per 10 s)")
    ap.add_argument("--gen-workers", type=int, default=2, help="capacity: generator workers")
    ap.add_argument("--late-ms", type=float, default=1000,
                    help="capacity: a delivery later than this after its send counts as late")
    ap.add_argument("--p99-limit", type=float, default=25, help="capacity: p99 limit, ms")
    ap.add_argument("--key-breakdown", action="store_true",
                    help="capacity: after connecting and after measuring each step, size every "
                         "Redis key (MEMORY USAGE) and group them by shape")
    ap.add_argument("--no-stop", action="store_true",
                    help="capacity: measure every step, even past the limit")
    a = ap.parse_args()
    a.servers = [s for s in a.servers.split(",") if s]
    a.steps = [int(x) for x in str(a.steps).split(",") if x]
    a.processes = [int(x) for x in str(a.processes).split(",") if x]
    if a.bench == "capacity":
        a.seconds = a.seconds or 30
        if a.connect_timeout == 300:
            a.connect_timeout = 900
    if a.connections is None and a.bench != "storm":
        a.connections = 10_000
    a.clients = [c for c in a.client.split(",") if c]
    for c in a.clients:
        if c not in ("lean", "raw", "sio"):
            ap.error(f"unknown client {c} (lean, raw, sio)")
    if len(a.clients) != 1 and a.bench != "fanout":
        ap.error("several --client kinds only for fanout")
    a.client = a.clients[0]
    try:
        a.windows = [int(w) for w in a.window.split(",") if w]
    except ValueError:
        ap.error(f"--window: numbers, comma-separated ({a.window})")
    if not a.windows or min(a.windows) < 1:
        ap.error("--window: at least one window, each >= 1")
    a.window = a.windows[0]
    NO_DEFLATE_OFFER[0] = a.no_deflate_offer
    for s in a.servers:
        if s not in SERVERS:
            ap.error(f"unknown server {s}")
    if "ours" in a.servers and not Path(a.ours_cmd.split()[0]).exists() \
            and not shutil.which(a.ours_cmd.split()[0]):
        ap.error(f"our service not found: {a.ours_cmd} (install it, or --servers ref)")
    if not (HERE / "node_modules" / "socket.io").exists():
        ap.error("run `npm ci` (or `npm install`) in loadtests/ first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if a.bench == "idle" or a.bench == "all":
        if want < a.connections + 1000:
            log(f"warning: open-file limit {want} is low for {a.connections} connections")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    node_v = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    log(f"machine: {NCPU} CPUs; node {node_v}; ours at {ours_version()}; "
        f"servers: {', '.join(a.servers)}; pinning {'off' if a.no_pin else 'on'}")
    benches = ["fanout", "mix", "acks", "idle"] if a.bench == "all" else [a.bench]
    t0 = time.monotonic()
    for b in benches:
        run(b, a, stamp)
    log(f"done in {time.monotonic() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
