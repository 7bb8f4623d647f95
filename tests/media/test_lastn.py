"""Last-N: a subscriber receives at most N video streams, the teacher's and the speakers'."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conftest import ANNA, BEN, CARL, ROOM, TEACHER, Harness, person, until

from rooms.clock import FakeClock
from rooms.identity import Role
from signaling.lastn import Candidate, SpeakerMeter, rank, select


def test_rank_puts_teacher_then_screens_then_recent_speakers() -> None:
    ranking = rank(
        [
            Candidate("quiet", teacher=False, screen=False, last_spoke=None, published=1),
            Candidate("spoke-early", teacher=False, screen=False, last_spoke=5, published=2),
            Candidate("spoke-late", teacher=False, screen=False, last_spoke=9, published=3),
            Candidate("pupil-screen", teacher=False, screen=True, last_spoke=None, published=4),
            Candidate("teacher-cam", teacher=True, screen=False, last_spoke=None, published=5),
            Candidate("teacher-screen", teacher=True, screen=True, last_spoke=None, published=6),
        ]
    )
    assert ranking == [
        "teacher-screen",
        "teacher-cam",
        "pupil-screen",
        "spoke-late",
        "spoke-early",
        "quiet",
    ]
    assert select(ranking, ["quiet", "spoke-early", "teacher-cam"], 2) == {
        "teacher-cam",
        "spoke-early",
    }
    assert select(ranking, ["quiet"], 0) == set()


def test_speaker_meter_uses_the_rtp_audio_level() -> None:
    clock = FakeClock()
    meter = SpeakerMeter(clock)
    meter.observe(127)  # silence
    assert meter.last_spoke is None
    clock.advance(1)
    meter.observe(20)  # -20 dBov: speech
    assert meter.last_spoke == clock.monotonic()


async def settled(count: Callable[[], int], quiet_s: float = 0.4, within_s: float = 8.0) -> int:
    """The count once it stopped growing for `quiet_s`: frames already in flight when a
    stream left the last N (jitter buffer, queues; more of them on a loaded machine) land
    first. Fails if it never stops growing."""
    deadline = asyncio.get_running_loop().time() + within_s
    last = count()
    while True:
        await asyncio.sleep(quiet_s)
        now = count()
        if now == last:
            return now
        assert asyncio.get_running_loop().time() < deadline, "the stream never stopped"
        last = now


async def test_subscriber_gets_at_most_n_videos(media: Harness) -> None:
    await media.service.set_last_n(ROOM, 2)
    teacher, _ = await media.publish(TEACHER)
    loud, _ = await media.publish(ANNA, amplitude=0.5)
    quiet, _ = await media.publish(BEN, amplitude=0.0)
    viewer = person("viewer", Role.STUDENT)
    subs = {s: (await media.subscribe(viewer, s))[1] for s in (teacher, loud, quiet)}

    def growing(stream: str) -> int:
        return len(subs[stream].frames["video"])

    await until(lambda: growing(teacher) > 10 and growing(loud) > 10, what="two videos")
    stalled = await settled(lambda: growing(quiet))
    await asyncio.sleep(1.0)
    assert growing(quiet) <= stalled + 1  # at most the frame a jitter buffer held
    assert len(subs[quiet].frames["audio"]) > 20, "audio is not subject to last-N"

    await media.service.set_last_n(ROOM, 1)  # live from the console
    loud_count = await settled(lambda: growing(loud))
    await asyncio.sleep(1.0)
    assert growing(loud) <= loud_count + 1
    before = growing(teacher)
    await until(lambda: growing(teacher) > before + 10, what="teacher still flows")

    await media.service.set_last_n(ROOM, 3)
    before = growing(quiet)
    await until(lambda: growing(quiet) > before + 10, what="third video back")


async def test_the_subscriber_is_told_when_its_video_pauses_and_resumes(media: Harness) -> None:
    await media.service.set_last_n(ROOM, 1)
    teacher, _ = await media.publish(TEACHER)
    pupil, _ = await media.publish(ANNA, amplitude=0.0)
    viewer = person("viewer", Role.STUDENT)
    first = (await media.subscribe(viewer, teacher))[0]
    second = (await media.subscribe(viewer, pupil))[0]

    def told(sub: str) -> list[bool]:
        return [p["paused"] for p in media.events.of("rtc:paused") if p["sub"] == sub]

    # the teacher's video holds the one slot: only the other subscription hears, once
    await until(lambda: told(second) == [True], what="paused")
    assert told(first) == []
    assert next(p for p in media.events.of("rtc:paused") if p["sub"] == second) == {
        "room": ROOM.split("/")[1], "user": "viewer", "stream": pupil, "sub": second,
        "paused": True}
    await media.service.set_last_n(ROOM, 2)
    await until(lambda: told(second) == [True, False], what="resumed")
    await asyncio.sleep(2 * 0.5)  # two more last-N rounds: nothing new to tell
    assert told(second) == [True, False] and told(first) == []


async def test_the_speaker_takes_the_slot(media: Harness) -> None:
    await media.service.set_last_n(ROOM, 1)
    anna, _ = await media.publish(ANNA, amplitude=0.0)
    ben, ben_pub = await media.publish(BEN, amplitude=0.0)
    viewer = person("viewer", Role.STUDENT)
    subs = {s: (await media.subscribe(viewer, s))[1] for s in (anna, ben)}
    # nobody spoke: the older stream holds the slot
    await until(lambda: len(subs[anna].frames["video"]) > 10)
    assert ben_pub.audio is not None
    ben_pub.audio.amplitude = 0.5  # Ben starts speaking
    await until(lambda: len(subs[ben].frames["video"]) > 10, what="speaker's video")
    count = await settled(lambda: len(subs[anna].frames["video"]))
    await asyncio.sleep(0.8)
    assert len(subs[anna].frames["video"]) <= count + 1


async def test_pupil_cameras_for_teachers_only(media: Harness) -> None:
    stream, _ = await media.publish(ANNA)
    await media.service.set_policy(ROOM, pupil_cameras_teachers_only=True)
    _, teacher_view = await media.subscribe(TEACHER, stream)
    await until(lambda: len(teacher_view.frames["video"]) > 5)
    try:
        await media.subscribe(CARL, stream)
    except Exception as exc:
        assert getattr(exc, "code", None) == "forbidden"
    else:
        raise AssertionError("a pupil saw another pupil's camera")
