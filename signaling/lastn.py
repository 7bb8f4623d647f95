"""Last-N: which video streams a subscriber receives on a weak network.

Audio level comes from the RTP ssrc-audio-level header extension (RFC 6464)
that browsers put on every Opus packet and aiortc negotiates for audio; the
publish leg reads it off each packet (`seam.lean_receive`), no audio is decoded.
A member "speaks" while the level is at or above SPEAKING_DBOV.

Ranking, best first: the teacher's streams (screen before camera), then other
screen shares, then cameras by who spoke most recently (a speaker keeps their
place until someone else speaks: a stable last-N, as Jitsi's), then by age.
Each subscriber gets the first N of the streams it subscribed to.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rooms.clock import Clock

SPEAKING_DBOV = -45  # louder than this is speech, not room noise


class SpeakerMeter:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.last_spoke: float | None = None
        self.level: int = 127  # -dBov of the latest packet, 127 is silence

    def observe(self, minus_dbov: int) -> None:
        self.level = minus_dbov
        if -minus_dbov >= SPEAKING_DBOV:
            self.last_spoke = self._clock.monotonic()


@dataclass(frozen=True, slots=True)
class Candidate:
    stream: str
    teacher: bool
    screen: bool
    last_spoke: float | None
    published: float


def rank(candidates: Iterable[Candidate]) -> list[str]:
    def key(c: Candidate) -> tuple[int, int, float, float]:
        spoke = -c.last_spoke if c.last_spoke is not None else float("inf")
        return (0 if c.teacher else 1, 0 if c.screen else 1, spoke, c.published)

    return [c.stream for c in sorted(candidates, key=key)]


def select(ranking: Sequence[str], subscribed: Iterable[str], n: int) -> set[str]:
    """The streams, among `subscribed`, that a subscriber receives video of."""
    wanted = set(subscribed)
    return set([s for s in ranking if s in wanted][: max(n, 0)])
