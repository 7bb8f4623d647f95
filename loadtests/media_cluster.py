"""Join-to-first-frame through a second service process (issue #10, target <= 1 s).

Two real `twinspace-live serve` processes on one private redis-server (all on
127.0.0.1, rate limits off, media on loopback). A teacher connected to process A
publishes one 640x480 VP8 stream (aiortc peer), so A serves the room's media.
Pupils connect to A (same process, the reference) or to B (the other process: every
`rtc:*` request goes over the bus to A). Measured per pupil: from sending
`rtc:subscribe` to the first video frame at the pupil, after `join` (the same span as
media_bench.py's join-to-first-frame, plus the Socket.IO round trips and, through B,
the bus hops).

Used by `media_bench.py --modes second`; also runs alone:

    .venv/bin/python loadtests/media_cluster.py [--pupils 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "media")]

ROOM = "bench"


async def _join(url: str, **tok: Any) -> Any:
    from tests.support import connect

    c = await connect(url, **tok)
    ack = await c.call("join", {"room": ROOM})
    assert ack["ok"], ack
    return c


async def _first_frame(url: str, stream: str, n: int) -> tuple[float, Any, Any]:
    from mediapeers import Subscriber

    c = await _join(url, sub=f"p{n}")
    sub = Subscriber()
    began = time.monotonic()
    ack = await c.call("rtc:subscribe", {"room": ROOM, "stream": stream}, timeout=20)
    assert ack["ok"], ack
    done = await c.call("rtc:answer", {"sub": ack["sub"], "sdp": await sub.answer(ack["sdp"])})
    assert done["ok"], done
    await asyncio.wait_for(sub.first_video.wait(), 20)
    return sub.first_frame_at["video"] - began, c, sub


async def measure(pupils: int) -> dict[str, list[float]]:
    from mediapeers import EncodedVideoTrack, Publisher, ToneTrack

    from signaling import ice, seam
    from tests.support import RedisServer, ServiceProcess

    seam.install()  # the peers never decode (media_bench.py does the same)
    ice.restrict_host_addresses(("127.0.0.1",))
    redis = RedisServer()
    redis.start()
    env = {"LIVE_RATE_LIMITS": "off", "LIVE_MEDIA_ADDRESSES": "127.0.0.1"}
    a, b = ServiceProcess(redis.url, env=env), ServiceProcess(redis.url, env=env)
    closing: list[Any] = []
    try:
        await asyncio.gather(a.start(), b.start())
        teacher = await _join(a.url, sub="t", role="teacher")
        pub = Publisher(video=EncodedVideoTrack(640, 480, 30, bitrate=800_000, texture=8),
                        audio=ToneTrack(0.3))
        closing += [teacher, pub]
        ack = await teacher.call("rtc:publish", {"room": ROOM, "source": "camera",
                                                 "sdp": await pub.offer()}, timeout=20)
        assert ack["ok"], ack
        await pub.accept(ack["sdp"])
        await teacher.wait_for("rtc:stream", lambda e: e["stream"] == ack["stream"], 20)
        await asyncio.sleep(1.5)  # past the first keyframe
        joins: dict[str, list[float]] = {"same process": [], "second process": []}
        for _ in range(pupils):  # alternate, one at a time: no pupil waits on another
            for label, url in (("same process", a.url), ("second process", b.url)):
                took, c, sub = await _first_frame(url, ack["stream"], len(closing))
                joins[label].append(took)
                closing += [c, sub]
        return joins
    except Exception:
        print("process B's log:", b.output()[-2500:])
        raise
    finally:
        await asyncio.gather(*(x.close() for x in closing), return_exceptions=True)
        for p in (a, b):
            p.stop()
        redis.stop()


def report(joins: dict[str, list[float]]) -> None:
    for label, values in joins.items():
        print(f"join-to-first-frame, {label}: median {statistics.median(values):.3f} s, "
              f"max {max(values):.3f} s over {len(values)} pupils")
    worst = max(joins["second process"])
    print(f"through a second process: max {worst:.3f} s (target <= 1 s) -> "
          f"{'OK' if worst <= 1 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pupils", type=int, default=8, help="pupils on each process")
    report(asyncio.run(measure(parser.parse_args().pupils)))


if __name__ == "__main__":
    main()
