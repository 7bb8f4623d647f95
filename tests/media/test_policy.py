"""Who may publish, subscribe and end what; bad input is a BadRequest, never aiortc's error."""

from __future__ import annotations

import pytest
from conftest import ANNA, BEN, ROOM, TEACHER, VISITOR, Harness, person
from mediapeers import EncodedVideoTrack, Publisher, ToneTrack

from rooms.errors import BadRequest, Forbidden, LiveError, NotFound


async def offer(video: bool = True, audio: bool = True) -> str:
    pub = Publisher(
        video=EncodedVideoTrack() if video else None, audio=ToneTrack() if audio else None
    )
    try:
        return await pub.offer()
    finally:
        await pub.close()


@pytest.mark.parametrize(
    ("sdp", "source"),
    [
        ("", "camera"),
        ("v=0\r\nnot sdp at all", "camera"),
        (None, "camera"),
        ("x" * 70000, "camera"),
    ],
)
async def test_bad_offers_are_bad_requests(media: Harness, sdp: object, source: str) -> None:
    with pytest.raises(BadRequest):
        await media.service.publish(ANNA, ROOM, source, sdp)  # type: ignore[arg-type]
    assert media.service.stats()["streams"] == 0


async def test_bad_source_and_wrong_kinds(media: Harness) -> None:
    camera = await offer()
    with pytest.raises(BadRequest):
        await media.service.publish(ANNA, ROOM, "webcam", camera)
    with pytest.raises(BadRequest):  # a screen is video only
        await media.service.publish(ANNA, ROOM, "screen", camera)
    with pytest.raises(BadRequest):  # an offer without VP8 cannot be forwarded
        await media.service.publish(
            ANNA, ROOM, "camera", (await offer(audio=False)).replace("VP8/90000", "VP9/90000")
        )
    assert media.service.stats()["streams"] == 0


async def test_who_may_publish(media: Harness) -> None:
    with pytest.raises(Forbidden):
        await media.service.publish(VISITOR, ROOM, "camera", await offer())
    await media.service.set_policy(ROOM, teachers_only_publish=True)
    with pytest.raises(Forbidden):
        await media.service.publish(ANNA, ROOM, "screen", await offer(audio=False))
    stream, _ = await media.publish(TEACHER)
    assert [s["stream"] for s in media.service.streams(ROOM)] == [stream]


async def test_teachers_only_publish_ends_pupils_streams(media: Harness) -> None:
    stream, _ = await media.publish(ANNA)
    await media.service.set_policy(ROOM, teachers_only_publish=True)
    await media.events.wait("rtc:ended", stream)


async def test_no_hint_across_spaces_and_owners(media: Harness) -> None:
    stream, _ = await media.publish(ANNA)
    stranger = person("anna", space="other-space")
    with pytest.raises(NotFound):
        await media.service.subscribe(stranger, ROOM, stream)
    with pytest.raises(NotFound):
        await media.service.publish(stranger, ROOM, "camera", await offer())
    with pytest.raises(NotFound):
        await media.service.unpublish(stranger, stream)
    with pytest.raises(NotFound):
        await media.service.subscribe(BEN, ROOM, "s-unknown")
    sub, _ = await media.subscribe(BEN, stream)
    with pytest.raises(NotFound):  # someone else's subscription
        await media.service.unsubscribe(ANNA, sub)
    with pytest.raises(NotFound):
        await media.service.answer(ANNA, sub, "v=0")
    with pytest.raises(BadRequest):  # answered already
        await media.service.answer(BEN, sub, "v=0\r\n")
    await media.service.unsubscribe(BEN, sub)
    assert media.service.stats()["subscriptions"] == 0


async def test_bad_answer_ends_the_subscription(media: Harness) -> None:
    stream, _ = await media.publish(ANNA)
    sub, _offer = await media.service.subscribe(BEN, ROOM, stream)
    with pytest.raises(BadRequest):
        await media.service.answer(BEN, sub, "garbage")
    assert media.service.stats()["subscriptions"] == 0


async def test_bad_moderation_values(media: Harness) -> None:
    with pytest.raises(BadRequest):
        await media.service.set_muted(ROOM, ANNA.sub, "microphone", True)
    for n in (-1, 65, True, "3"):
        with pytest.raises(BadRequest):
            await media.service.set_last_n(ROOM, n)  # type: ignore[arg-type]


async def test_errors_carry_wire_codes(media: Harness) -> None:
    with pytest.raises(LiveError) as err:
        await media.service.subscribe(BEN, ROOM, "nope")
    assert err.value.to_wire()["code"] == "not_found"


async def test_pupil_cameras_for_teachers_only_ends_pupil_to_pupil_subscriptions(
        media: Harness) -> None:
    """Turned on, the setting ends every pupil's subscription to another pupil's camera at
    once, audio included (not only its video); teachers' and own streams stay."""
    anna_cam, _ = await media.publish(ANNA, amplitude=0.5)
    teacher_cam, _ = await media.publish(TEACHER)
    ben_sees_anna, _ = await media.subscribe(BEN, anna_cam)
    ben_sees_teacher, _ = await media.subscribe(BEN, teacher_cam)
    teacher_sees_anna, _ = await media.subscribe(TEACHER, anna_cam)
    await media.service.set_policy(ROOM, pupil_cameras_teachers_only=True)
    assert media.service.stats()["subscriptions"] == 2
    with pytest.raises(NotFound):  # gone, not only paused
        await media.service.unsubscribe(BEN, ben_sees_anna)
    with pytest.raises(Forbidden):
        await media.service.subscribe(BEN, ROOM, anna_cam)
    await media.service.unsubscribe(BEN, ben_sees_teacher)
    await media.service.unsubscribe(TEACHER, teacher_sees_anna)
