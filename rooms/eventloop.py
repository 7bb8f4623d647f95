"""The running event loop, without a system call each time it is asked for.

Why: on Python 3.11, `asyncio.get_running_loop()` (and so `asyncio.ensure_future`,
`asyncio.get_event_loop`, a `Future()` made without a loop) checks that the loop
was started by this process, not by a parent before a fork, by asking the kernel
for the process id: one `getpid` system call per call, about 1 us on this VM. A
stored chat message asked for the loop 7 to 9 times (a future per send, a task per
event, the fan-out's end-of-turn callbacks): `perf stat` counted 9.5 system calls
per acked message, 7 of them `getpid` (loadtests/README.md, "acks, cheaper").
Python 3.12 dropped the check.

`running_loop()` keeps the loop it found last, with its thread, and gives it again
while that loop runs in that thread; otherwise (a later loop, as each test has
its own; another thread) it asks asyncio. A process forked while its loop runs
would be given its parent's loop: the service forks no such child.
"""

from __future__ import annotations

import asyncio
import threading

_last: tuple[int, asyncio.AbstractEventLoop] | None = None


def running_loop() -> asyncio.AbstractEventLoop:
    """What `asyncio.get_running_loop()` returns (RuntimeError when none runs)."""
    global _last
    last, thread = _last, threading.get_ident()
    if last is not None and last[0] == thread and last[1].is_running():
        return last[1]
    loop = asyncio.get_running_loop()
    _last = (thread, loop)
    return loop
