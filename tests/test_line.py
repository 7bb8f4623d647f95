"""A connection's line (rooms/line.py): each event waits for the ones that arrived
before it, a turn ended early never lets the next one pass the one ahead of it, and
a waiter cancelled leaves the line going."""

from __future__ import annotations

import asyncio

from rooms.line import Line, Turn


async def _settle() -> None:
    """Let every callback and task that can run now run (no timing involved)."""
    for _ in range(5):
        await asyncio.sleep(0)


def _waiting(turn: Turn) -> asyncio.Task[None]:
    return asyncio.ensure_future(turn.wait())


async def test_each_turn_waits_for_the_one_before() -> None:
    line = Line()
    first, second, third = line.take(), line.take(), line.take()
    await first.wait()  # nobody ahead
    w2, w3 = _waiting(second), _waiting(third)
    await _settle()
    assert not w2.done() and not w3.done()
    first.end()
    await _settle()
    assert w2.done() and not w3.done()
    second.end()
    second.end()  # idempotent
    await _settle()
    assert w3.done()
    third.end()
    await line.take().wait()  # the line is empty again


async def test_a_turn_ended_early_does_not_let_the_next_pass_the_one_ahead() -> None:
    """The second event is refused (rate limited, bad input) while the first still runs:
    the third goes on only once the first has ended, and not later."""
    line = Line()
    first, second, third = line.take(), line.take(), line.take()
    second.end()
    w3 = _waiting(third)
    await _settle()
    assert not w3.done()
    first.end()
    await _settle()
    assert w3.done()


async def test_a_waiter_cancelled_leaves_the_line_going() -> None:
    """The edge ends the turn of an event cancelled while it waited (its `finally`)."""
    line = Line()
    first, second, third = line.take(), line.take(), line.take()
    w2, w3 = _waiting(second), _waiting(third)
    await _settle()
    w2.cancel()
    await asyncio.gather(w2, return_exceptions=True)
    second.end()
    await _settle()
    assert not w3.done()  # the first still runs: cancelling its follower did not end it
    first.end()
    await _settle()
    assert w3.done()
