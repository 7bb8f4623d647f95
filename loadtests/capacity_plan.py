#!/usr/bin/env python3
"""The capacity plan's arithmetic, from measured numbers only.

    python loadtests/capacity_plan.py loadtests/results/capacity-<stamp>.json [options]

Reads a `run.py capacity` result (ours with 1 and with 4 processes) and prints, with every
step of the arithmetic: chat processes for `--members` concurrent members at classroom pace,
Redis (calls/s, CPU, memory for the history at `--retention-days`), and media processes for
`--lessons` simultaneous video lessons from the forwarding costs measured in
loadtests/MEDIA.md (passed as options, defaults: the worst of its four runs, 2026-11-25).
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def best_step(res: dict[str, Any]) -> dict[str, Any] | None:
    ok = [s for s in res["steps"] if s["ok"]]
    return max(ok, key=lambda s: s["members"]) if ok else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", help="results/capacity-<stamp>.json with ours-x1 and ours-x4")
    ap.add_argument("--members", type=int, default=50_000)
    ap.add_argument("--headroom", type=float, default=0.5,
                    help="chat: fraction of the measured capacity a process is planned for")
    ap.add_argument("--chat-hours", default="1,2,6",
                    help="hours per school day a member chats at classroom pace (history size)")
    ap.add_argument("--retention-days", type=float, default=90)
    ap.add_argument("--school-days-share", type=float, default=5 / 7,
                    help="share of retention days that are school days")
    ap.add_argument("--text-bytes", type=int, default=60,
                    help="mean message text in real use (bytes); the bench's are ~25")
    ap.add_argument("--lessons", type=int, default=500)
    ap.add_argument("--pupils", type=int, default=29)
    ap.add_argument("--fwd-n8", type=float, default=0.0125,
                    help="MEDIA.md: cores per subscriber at N=8 (video+audio), worst run")
    ap.add_argument("--fwd-n1", type=float, default=0.0538,
                    help="MEDIA.md: cores per subscriber at N=1 (one publisher, one "
                         "subscriber), worst run")
    ap.add_argument("--media-util", type=float, default=0.7,
                    help="media: planned busy fraction of a core")
    a = ap.parse_args()

    d = json.loads(Path(a.result).read_text())
    srv = d["servers"]
    p = print
    p(f"capacity plan from {a.result} (ours at {d.get('ours_version')}, run {d['stamp']})")
    p(f"load: {d['notes'][0]}")
    x1, x4 = srv.get("ours-x1"), srv.get("ours-x4")
    if not x1 or not x4:
        p("needs ours-x1 and ours-x4 in the result")
        return 1
    s1, s4 = best_step(x1), best_step(x4)
    if not s1 or not s4:
        p("no step within the limit in ours-x1 or ours-x4")
        return 1
    M = a.members

    # ---- chat processes
    p("\n== chat processes (one process per core)")
    c1 = s1["members"]
    cores1 = s1["server_cpu_ms_per_msg"] * s1["sent_per_s"] / 1000
    c4 = s4["members"]
    cores4 = s4["server_cpu_ms_per_msg"] * s4["sent_per_s"] / 1000
    p(f"1 process (pinned to one core): largest step within the limit {c1:,} members "
      f"({s1['rooms']} rooms), server {cores1:.2f} core busy, p99 {s1['p99']:.1f} ms, "
      f"CPU {s1['server_cpu_ms_per_msg']:.3f} ms per message")
    p(f"4 processes on 2 cores, every room spread over all 4: {c4:,} members "
      f"({s4['rooms']} rooms), servers {cores4:.2f} cores busy in all, p99 {s4['p99']:.1f} ms, "
      f"CPU {s4['server_cpu_ms_per_msg']:.3f} ms per message (sum of the processes)")
    for name, res in (("1 process", x1), ("4 processes", x4)):
        big = max(res["steps"], key=lambda s: s["members"])
        cores = big["server_cpu_ms_per_msg"] * big["sent_per_s"] / 1000
        p(f"CPU ceiling, {name}: at the largest step ({big['members']:,} members, p99 "
          f"{big['p99']:.1f} ms) {big['server_cpu_ms_per_msg']:.3f} ms per message x "
          f"{big['sent_per_s']:,.0f} msg/s = {cores:.2f} cores busy while sending: "
          f"{big['members']:,} / {cores:.2f} = {big['members'] / max(cores, 1e-9):,.0f} members "
          f"per fully busy core")
    per_core4 = c4 / 2
    b = (s4["server_cpu_ms_per_msg"] - s1["server_cpu_ms_per_msg"]) / 3
    p(f"cost of spreading a room over one more process: ({s4['server_cpu_ms_per_msg']:.3f} - "
      f"{s1['server_cpu_ms_per_msg']:.3f}) / 3 = {b:.3f} ms per message")
    per_core = min(c1, per_core4)
    p(f"members per core: min(1-process {c1:,}, 4-process {c4:,} / 2 cores = {per_core4:,.0f})"
      f" = {per_core:,.0f}")
    planned = per_core * a.headroom
    procs = math.ceil(M / planned)
    p(f"planned at {a.headroom:.0%} of it: {planned:,.0f} members per process; "
      f"{M:,} / {planned:,.0f} = {M / planned:.1f} -> {procs} processes, +1 spare (N+1) "
      f"= {procs + 1} processes on {procs + 1} cores")
    rate = M * s1["sent_per_s"] / s1["members"]
    p(f"messages at {M:,} members: {rate:,.0f}/s; deliveries {rate * 30:,.0f}/s (rooms of 30)")
    n = procs + 1
    k = n * (1 - (1 - 1 / n) ** 30)
    per_msg_random = s1["server_cpu_ms_per_msg"] + (k - 1) * b
    p(f"if members land on processes at random, a room of 30 spans {k:.1f} of {n} processes: "
      f"{s1['server_cpu_ms_per_msg']:.3f} + {k - 1:.1f} x {b:.3f} = {per_msg_random:.3f} ms "
      f"per message -> {rate * per_msg_random / 1000:.1f} cores busy for {rate:,.0f} msg/s; "
      f"with a room's members on one process: {rate * s1['server_cpu_ms_per_msg'] / 1000:.1f}"
      " cores")

    # ---- redis
    p("\n== Redis (one instance, single-threaded)")
    opms = []
    for name, s in (("1 process", s1), ("4 processes", s4)):
        top = sorted(s["redis_calls"].items(), key=lambda x: -x[1])
        per_msg = sum(s["redis_calls"].values()) / s["sent"]
        per_member = per_msg * s["sent_per_s"] / s["members"]
        opms.append(per_member)
        p(f"{name}: {per_msg:.2f} calls per message (commands run by scripts counted; "
          f"{sum(s['redis_calls'].values()):,} calls / {s['sent']:,} messages) x "
          f"{s['sent_per_s'] / s['members']:.2f} msg/s per member = {per_member:.3f} calls/s "
          f"per member; Redis CPU {s.get('redis_cpu_ms_per_msg', 0):.3f} ms per message; "
          "calls per message: " + ", ".join(f"{k} {v / s['sent']:.2f}" for k, v in top[:10]))
    opm = max(opms)
    rcpu = max(s1.get("redis_cpu_ms_per_msg", 0), s4.get("redis_cpu_ms_per_msg", 0))
    p(f"at {M:,} members: {opm:.3f} x {M:,} = {opm * M:,.0f} calls/s; "
      f"CPU {rcpu:.3f} ms x {rate:,.0f} msg/s = {rcpu * rate / 1000:.2f} core")
    largest = max((s for r in (x1, x4) for s in r["steps"]), key=lambda s: s["members"])
    keys = largest.get("redis_keys_after_measure") or {}
    per_msg = [s["redis_bytes_per_stored_msg"] for r in (x1, x4) for s in r["steps"]
               if s["stored"] > 1000]
    bpm = max(per_msg) if per_msg else 0.0
    p(f"memory per stored message (used_memory growth / messages stored, steps with > 1,000 "
      f"stored): {', '.join(f'{x:.0f}' for x in per_msg)} B; planned {bpm:.0f} B + "
      f"({a.text_bytes} - 25) B of longer text = {bpm + a.text_bytes - 25:.0f} B")
    if keys:
        p("  key shapes at the largest step (MEMORY USAGE), bytes: " + ", ".join(
            f"{k} {v['bytes'] / max(1, v['keys']):.0f}/key x {v['keys']:,}"
            for k, v in list(keys.items())[:8]))
    bpm += a.text_bytes - 25
    per_member_keys = [s["redis_bytes_per_member_connect"] for r in (x1, x4) for s in r["steps"]
                       if s["new_members"] >= 1000]
    bmem = max(per_member_keys) if per_member_keys else 0.0
    p(f"memory per connected member (growth while a step's members joined, steps with >= 1,000 "
      f"new): {', '.join(f'{x:.0f}' for x in per_member_keys)} B -> {M:,} x {bmem:.0f} B = "
      f"{M * bmem / 2**20:,.0f} MiB")
    school_days = a.retention_days * a.school_days_share
    for h in [float(x) for x in a.chat_hours.split(",")]:
        msgs = rate * 3600 * h * school_days
        p(f"history, {h:g} h of classroom-pace chat per school day: {rate:,.0f} msg/s x 3600 x "
          f"{h:g} x {school_days:.0f} school days in {a.retention_days:g} = {msgs / 1e6:,.0f} M "
          f"messages x {bpm:.0f} B = {msgs * bpm / 2**30:,.1f} GiB")

    # ---- media
    p("\n== media processes (loadtests/MEDIA.md, forwarding, 640x480 VP8 ~0.8 Mbit/s + Opus)")
    teacher = a.pupils * a.fwd_n8
    screen = a.pupils * a.fwd_n8
    pupils = a.pupils * a.fwd_n1
    lesson = teacher + screen + pupils
    p(f"teacher camera+audio to {a.pupils} pupils: {a.pupils} x {a.fwd_n8} (per subscriber at "
      f"N=8; it only falls with N) = {teacher:.3f} core")
    p(f"teacher screen to {a.pupils} pupils (costed as a camera stream: not measured) = "
      f"{screen:.3f} core")
    p(f"{a.pupils} pupils' cameras to the teacher: {a.pupils} x {a.fwd_n1} (N=1: the "
      f"publisher's whole receive cost on one subscriber) = {pupils:.3f} core")
    p(f"one lesson: {lesson:.2f} cores; {a.lessons} lessons: {a.lessons * lesson:,.0f} cores; "
      f"at {a.media_util:.0%} busy: {math.ceil(a.lessons * lesson / a.media_util):,} media "
      f"processes (one per core), +1 spare")
    if lesson > 1:
        p(f"NOTE: a room's media is served by one process (docs/protocol.md, 'Media on any "
          f"process'), one core at most: a lesson of this shape ({lesson:.2f} cores) does not "
          f"fit in one process at these costs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
