#!/usr/bin/env python3
"""Where an idle joined connection's bytes go: our server under tracemalloc, N idle
members (socket.io-client, as `run.py idle`) connected and joined, a snapshot before and
after, the difference per connection by allocation site.

    .venv/bin/python loadtests/idle_memory.py [--connections 2000] [--rooms 20] [--frames 6]

Prints RSS per connection (as `run.py idle` measures it, under tracemalloc's own
overhead, so larger) and the top sites of Python allocations per connection (what
tracemalloc sees: not libuv's or the kernel's buffers). Every process is a child of this
script (run.py's helpers), on loopback, stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the benchmarks' process helpers)

SERVER = """
import os, signal, sys, tracemalloc
tracemalloc.start(int(os.environ["TM_FRAMES"]))
n = [0]
def dump(*_):
    n[0] += 1
    if os.environ.get("TM_COLLECT"):
        import gc
        print("collected", gc.collect(), flush=True)
    tracemalloc.take_snapshot().dump(f"{os.environ['TM_OUT']}.{n[0]}")
signal.signal(signal.SIGUSR1, dump)
from live.cli import main
sys.exit(main(sys.argv[1:]))
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--keep", action="store_true", help="keep the two snapshots")
    ap.add_argument("--collect", action="store_true",
                    help="gc.collect() before each snapshot (what is garbage not yet collected)")
    a = ap.parse_args()
    out = Path(f"/tmp/idle-memory-{os.getpid()}")
    redis, rport = run.start_redis(None)
    port = run.free_port()
    env = {"LIVE_JWT_SECRET": run.SECRET, "LIVE_RATE_LIMITS": "off", "LIVE_ROOMS": "open",
           "LIVE_METRICS_PORT": "0", "TM_FRAMES": str(a.frames), "TM_OUT": str(out),
           **({"TM_COLLECT": "1"} if a.collect else {})}
    server = run.Proc("ours-tm", [a.python, "-c", SERVER, "serve", "--port", str(port),
                                  "--redis", f"redis://127.0.0.1:{rport}/0"], env=env)
    gens: list[run.Gen] = []
    try:
        url = f"http://127.0.0.1:{port}"
        run.wait_http(url, server)
        time.sleep(2)
        rss0 = server.rss_kb()
        os.kill(server.pid, signal.SIGUSR1)
        time.sleep(3)
        lists: list[list[list[object]]] = [[] for _ in range(2)]
        for i in range(a.connections):
            lists[i % 2].append([f"m{i}", f"room{i % a.rooms}", 0, "student"])
        gens = run.start_gens("gen-mem", [url], "idle-mem", lists, None, concurrency=32,
                              timeout=600)
        connected = sum((g.ready or {}).get("connected", 0) for g in gens)
        time.sleep(5)
        rss1 = server.rss_kb()
        os.kill(server.pid, signal.SIGUSR1)
        time.sleep(5 + a.connections / 500)
        s0 = tracemalloc.Snapshot.load(f"{out}.1")
        s1 = tracemalloc.Snapshot.load(f"{out}.2")
        if a.keep:
            print(f"snapshots kept: {out}.1 {out}.2")
    finally:
        for g in gens:
            g.quit()
        server.stop()
        redis.stop()
    n = max(1, connected)
    print(f"{connected} connections; RSS {(rss1 - rss0) / n:.1f} KB per connection "
          "(under tracemalloc)")
    stats = s1.compare_to(s0, "filename")
    print("\n== per connection by file")
    for st in stats[: a.top]:
        print(f"{st.size_diff / n:8.0f} B {st.count_diff / n:6.2f} blocks  {st.traceback[-1].filename}")
    for key in ("lineno", "traceback"):
        stats = s1.compare_to(s0, key)
        total = sum(st.size_diff for st in stats)
        print(f"\n== Python allocations per connection: {total / n / 1024:.2f} KB; top by {key}")
        for st in stats[: a.top]:
            where = (str(st.traceback[-1]) if key == "lineno"
                     else " <- ".join(str(f) for f in reversed(st.traceback)))
            print(f"{st.size_diff / n:8.0f} B {st.count_diff / n:6.2f} blocks  {where}")
    for p in (f"{out}.1", f"{out}.2"):
        if not a.keep:
            Path(p).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
