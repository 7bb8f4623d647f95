"""What keeping private messages costs (issue #11 part 4), next to the chat message store.

    .venv/bin/python loadtests/private_bench.py [--messages N] [--concurrency C] [--rounds R]

Starts its own redis-server (loopback, a free port, no persistence) and, on one
`RedisStore`, stores N chat messages (`append`, the reference: what `chat:send` stores)
and N private messages (`keep_private`, what `chat:private` now stores), C at a time,
alternating the two R times in the same run; then reads a room's private messages page by
page (`private_page`, 50 a page) next to `history` pages of the same size. Prints each
median rate and the ratio private / chat. A store-level figure: the Socket.IO edge and the
bus are the same for both events and not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from live.redis_backend.store import RedisStore  # noqa: E402
from rooms.clock import SystemClock  # noqa: E402
from rooms.identity import RoomRef  # noqa: E402
from rooms.message import Author  # noqa: E402
from rooms.private_store import PrivateIds, PrivateMessage  # noqa: E402
from rooms.store import DAY_MS  # noqa: E402

ANA, BO = Author("ana", "Ana", "student"), Author("bo", "Bo", "student")
TEXT = "see you at the gate after the lesson, bring the poster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def rate(n: int, concurrency: int, one: Callable[[int], Awaitable[object]]) -> float:
    """Calls per second of `one(i)` for i < n, `concurrency` in flight."""
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await one(i)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def bench(url: str, n: int, concurrency: int, rounds: int) -> dict[str, float]:
    clock = SystemClock()
    store = RedisStore(Redis.from_url(url), clock, 90 * DAY_MS, "bench")
    ids = PrivateIds()
    chat: list[float] = []
    private: list[float] = []
    try:
        for r in range(rounds):
            room = RoomRef("sp", f"r{r}")

            async def send(i: int, room: RoomRef = room) -> object:
                return await store.append(room, ANA, f"c{i}", TEXT)

            async def keep(i: int, room: RoomRef = room) -> object:
                now = clock.now_ms()
                return await store.keep_private(room.space, PrivateMessage(
                    ids.next(now), room.name, f"p{i}", ANA, BO, TEXT, now))

            chat.append(await rate(n, concurrency, send))
            private.append(await rate(n, concurrency, keep))
        room = RoomRef("sp", "r0")
        pages = max(1, n // 50)
        cursor: dict[str, str | None] = {"chat": None, "pm": None}

        async def chat_page(_: int) -> object:
            page = await store.history(room, before=cursor["chat"], limit=50)
            cursor["chat"] = page.messages[0].id if page.more else None
            return page

        async def pm_page(_: int) -> object:
            page = await store.private_page(room.space, room.name, before=cursor["pm"],
                                            limit=50)
            cursor["pm"] = page.messages[0].id if page.more else None
            return page

        read_chat = await rate(pages, 1, chat_page)
        read_pm = await rate(pages, 1, pm_page)
    finally:
        await store.close()
    return {"chat_store_per_s": statistics.median(chat),
            "private_store_per_s": statistics.median(private),
            "chat_pages_per_s": read_chat, "private_pages_per_s": read_pm}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        redis = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.05)
            out = asyncio.run(bench(f"redis://127.0.0.1:{port}", args.messages,
                                    args.concurrency, args.rounds))
        finally:
            redis.terminate()
            redis.wait()
    print(f"{args.messages} messages x {args.rounds} rounds, {args.concurrency} in flight, "
          f"pid {os.getpid()}")
    print(f"store  chat   {out['chat_store_per_s']:9.0f}/s   private "
          f"{out['private_store_per_s']:9.0f}/s   private/chat "
          f"{out['private_store_per_s'] / out['chat_store_per_s']:.2f}")
    print(f"pages  chat   {out['chat_pages_per_s']:9.0f}/s   private "
          f"{out['private_pages_per_s']:9.0f}/s   private/chat "
          f"{out['private_pages_per_s'] / out['chat_pages_per_s']:.2f}")


if __name__ == "__main__":
    main()
