"""Votes on polls whose pupils see less than teachers, side by side with plain polls.

A poll that is hidden, a quiz or a text poll goes out as two views (rooms/classroom.py
`announce`: a `direct` notice that each process delivers by scanning its sessions), where a
plain poll is one broadcast to the room (plus, when named, the teachers' `poll:voters`, also a
`direct` notice). This measures what that costs on one service process with Redis:

    .venv/bin/python loadtests/poll_views.py [--pupils 30] [--idle 300] [--votes 10] [--rounds 3]

One room of `--pupils` pupils and a teacher, `--idle` more members idle in other rooms of the
same process (they make each session scan longer). Per round and kind, one poll is created and
every pupil votes `--votes` times (each waiting for its ack, all pupils at once); the round
ends when the teacher has received every `poll:results`. Kinds alternate within a round, so
each is measured under the same conditions. Reported per kind (median round): votes/s
(votes ÷ first vote to the teacher's last result), server CPU ms per vote (from
/proc/<pid>/stat), and the ratio to the plain named poll (`choice`, the reference path).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import RedisServer, ServiceProcess, connect  # noqa: E402

KINDS: dict[str, dict[str, Any]] = {
    "choice": {"options": ["a", "b"]},  # the reference: one broadcast + poll:voters
    "hidden": {"options": ["a", "b"], "hidden": True},
    "quiz": {"kind": "quiz", "options": ["a", "b"], "correct": [1]},
    "anon-hidden": {"options": ["a", "b"], "hidden": True, "anonymous": True},
}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS


async def one_round(kind: str, teacher: Any, pupils: list[Any], votes: int,
                    pid: int) -> tuple[float, float]:
    ack = await teacher.call("poll:create", {"room": "r", "question": kind, **KINDS[kind]})
    assert ack["ok"], ack
    poll = ack["poll"]["id"]
    total = len(pupils) * votes
    cpu0, t0 = cpu_ms(pid), time.perf_counter()

    async def voter(c: Any) -> None:
        for i in range(votes):
            got = await c.call("poll:vote", {"room": "r", "poll": poll, "choices": [i % 2]})
            assert got == {"ok": True}, got

    await asyncio.gather(*(voter(c) for c in pupils))
    deadline = time.perf_counter() + 60
    while sum(1 for e in teacher.events["poll:results"] if e["poll"]["id"] == poll) < total:
        if time.perf_counter() > deadline:
            raise SystemExit(f"{kind}: the teacher did not get every result")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - t0
    used = cpu_ms(pid) - cpu0
    await teacher.call("poll:close", {"room": "r", "poll": poll})
    return total / elapsed, used / total


async def main(a: argparse.Namespace) -> None:
    redis = RedisServer()
    redis.start()
    proc = ServiceProcess(redis.url, env={"LIVE_RATE_LIMITS": "off", "LIVE_ROOMS": "open"})
    clients: list[Any] = []
    try:
        await proc.start()
        assert proc.proc is not None
        teacher = await connect(proc.url, sub="t", role="teacher", name="T")
        clients.append(teacher)
        assert (await teacher.call("join", {"room": "r"}))["ok"]
        pupils = [await connect(proc.url, sub=f"p{i}", name=f"P{i}") for i in range(a.pupils)]
        clients += pupils
        for c in pupils:
            assert (await c.call("join", {"room": "r"}))["ok"]
        for i in range(a.idle):
            c = await connect(proc.url, sub=f"idle{i}")
            clients.append(c)
            assert (await c.call("join", {"room": f"other{i % 20}"}))["ok"]
        print(f"{a.pupils} pupils voting, {a.idle} idle members on the process", flush=True)
        await one_round("choice", teacher, pupils, 2, proc.proc.pid)  # warm-up
        rates: dict[str, list[float]] = {k: [] for k in KINDS}
        cpus: dict[str, list[float]] = {k: [] for k in KINDS}
        for r in range(a.rounds):
            order = list(KINDS) if r % 2 == 0 else list(reversed(KINDS))
            for kind in order:
                rate, cpu = await one_round(kind, teacher, pupils, a.votes, proc.proc.pid)
                rates[kind].append(rate)
                cpus[kind].append(cpu)
                print(f"round {r + 1} {kind:12} {rate:8.1f} votes/s {cpu:6.2f} CPU ms/vote",
                      flush=True)
        ref_rate = statistics.median(rates["choice"])
        ref_cpu = statistics.median(cpus["choice"])
        print(f"\n{'kind':12} {'votes/s':>9} {'ratio':>6} {'CPU ms/vote':>12} {'ratio':>6}")
        for kind in KINDS:
            rate, cpu = statistics.median(rates[kind]), statistics.median(cpus[kind])
            print(f"{kind:12} {rate:9.1f} {rate / ref_rate:6.2f} {cpu:12.2f} {cpu / ref_cpu:6.2f}")
    finally:
        for c in clients:
            await c.close()
        proc.stop()
        redis.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pupils", type=int, default=30)
    p.add_argument("--idle", type=int, default=300)
    p.add_argument("--votes", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(p.parse_args()))
