"""Cancellation that holds: a loop stops when its task is cancelled, whatever the step
it was in turned the cancellation into.

A cancellation that arrives as a library's timeout expires can come out as that
timeout's error (Python 3.11's `asyncio.timeout`, redis-py's connection timeouts);
a loop that logs errors and goes on would take it for one more failure and run for
ever, holding up shutdown. Loops call `stop_if_cancelled()` where they catch errors.
"""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Raise `CancelledError` when the current task has a cancellation pending."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()
