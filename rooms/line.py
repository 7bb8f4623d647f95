"""A connection's events in line: its messages are stored in the order sent.

Why: python-socketio runs each client event as its own task, so whatever an event
awaits before its write lets a later event of the same connection pass it: the
rate-limit bucket in Redis (replies come back in any order, one pool connection
each; a timeout and its retry; a bucket that fails open answers at once), the
space's filter read, a private message's member and flag reads, a vote's poll read.

How: the edge gives each event that stores something in order (`chat:send`,
`chat:private`, `poll:vote`) a `Turn` when it arrives, before any await
(`Line.take` does not suspend, and the events' tasks start in the order their
packets arrived). The event waits for the turn before it (`Turn.wait`), then takes
its bucket, reads and writes, and ends its turn (`Turn.end`) once its write is
handed over in order: `chat:send` just before its append (the store keeps the order
of calls), the others once stored and delivered; on any failure at once. A turn
ended before the one ahead of it (refused, or cancelled while waiting) lets the next
one go only once the one ahead has ended too, so nobody passes the one ahead; a
refused event never holds up the ones after it.

Cost: one future per event in line; an event with nobody ahead waits for nothing.
"""

from __future__ import annotations

import asyncio

from .eventloop import running_loop


def _open(gate: asyncio.Future[None]) -> None:
    if not gate.done():
        gate.set_result(None)


class Turn:
    """One event's place in its connection's line."""

    __slots__ = ("_ahead", "_gate", "_ended")

    def __init__(self, ahead: asyncio.Future[None] | None, gate: asyncio.Future[None]) -> None:
        self._ahead = ahead  # done once every event before this one has ended its turn
        self._gate = gate  # the same for the event after this one
        self._ended = False

    async def wait(self) -> None:
        """Until every event of the connection that arrived before this one has ended
        its turn. Cancelling the waiter leaves the one ahead alone."""
        ahead = self._ahead
        if ahead is not None and not ahead.done():
            await asyncio.wait((ahead,))

    def end(self) -> None:
        """The next event may go on (once the one ahead has ended too). Idempotent."""
        if self._ended:
            return
        self._ended = True
        ahead = self._ahead
        if ahead is None or ahead.done():
            _open(self._gate)
        else:
            ahead.add_done_callback(lambda _: _open(self._gate))


class Line:
    """The events of one connection that must keep their order, in arrival order."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None  # the gate of the last turn taken

    def take(self) -> Turn:
        """The next place in line (never suspends: call it as the event arrives)."""
        ahead = self._last
        # (the loop of the turn before: asking asyncio for it costs a system call)
        loop = ahead.get_loop() if ahead is not None else running_loop()
        if ahead is not None and ahead.done():
            ahead = None
        gate: asyncio.Future[None] = loop.create_future()
        self._last = gate
        return Turn(ahead, gate)
