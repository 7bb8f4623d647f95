"""The forwarding path, end to end over loopback with in-process aiortc peers."""

from __future__ import annotations

import asyncio
from typing import Any

import aioice.ice
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, unpack_remb_fci
from conftest import ANNA, BEN, TEACHER, Harness, until

from signaling import seam
from signaling.codecs import vp8_is_keyframe


async def test_packets_out_equal_packets_in(media: Harness) -> None:
    stream, pub = await media.publish(TEACHER, amplitude=0.3)
    _, sub = await media.subscribe(ANNA, stream)
    await until(lambda: len(sub.frames["video"]) >= 45, what="45 video frames")
    await until(lambda: len(sub.frames["audio"]) >= 25, what="25 audio frames")

    assert pub.video is not None
    sent = pub.video.sent
    got = sub.frames["video"]
    assert vp8_is_keyframe(got[0]), "a new subscriber starts on a keyframe"
    start = sent.index(got[0])
    # every frame arrives, byte for byte, in order: nothing was decoded or re-encoded
    assert got == sent[start : start + len(got)]
    assert all(len(f) > 0 for f in sub.frames["audio"])


async def test_a_new_subscriber_starts_on_a_keyframe_asked_for_at_once(media: Harness) -> None:
    """The test publisher makes keyframes only when asked: a subscriber that joins later
    sees video only because the unit asked for one when it joined, not at its next
    periodic request. (How fast that is belongs to loadtests/, not to this test.)"""
    stream, pub = await media.publish(TEACHER)
    assert pub.video is not None
    # the publisher is well past its first keyframe: 30 frames at 30 fps, paced in real time
    await until(lambda: pub.video is not None and len(pub.video.sent) >= 30, what="30 frames")
    requests, sent = pub.video.keyframe_requests, len(pub.video.sent)
    loop = asyncio.get_running_loop()
    began = loop.time()
    _, sub = await media.subscribe(ANNA, stream)
    await asyncio.wait_for(sub.first_video.wait(), 10)
    assert pub.video.keyframe_requests > requests
    first = sub.frames["video"][0]
    assert vp8_is_keyframe(first) and first in pub.video.sent[sent:]  # a fresh keyframe
    # generous: a few keyframe-request intervals (0.3 s here) and a loaded machine
    assert loop.time() - began < 5.0


async def test_keyframe_requests_are_relayed_upstream(media: Harness) -> None:
    stream, pub = await media.publish(TEACHER)
    assert pub.video is not None
    await asyncio.sleep(1.0)
    before = pub.video.keyframe_requests
    _, sub = await media.subscribe(ANNA, stream)
    await asyncio.wait_for(sub.first_video.wait(), 5)
    await until(lambda: pub.video is not None and pub.video.keyframe_requests > before)

    # a subscriber's own PLI reaches the publisher (after the rate limit)
    await asyncio.sleep(0.4)
    asked = pub.video.keyframe_requests
    keyframes = sum(vp8_is_keyframe(f) for f in sub.frames["video"])
    await sub.send_pli()
    await until(lambda: pub.video is not None and pub.video.keyframe_requests > asked, what="PLI")
    await until(lambda: sum(vp8_is_keyframe(f) for f in sub.frames["video"]) > keyframes)


async def test_keyframe_requests_are_rate_limited(media: Harness) -> None:
    stream, pub = await media.publish(TEACHER)
    assert pub.video is not None
    _, sub = await media.subscribe(ANNA, stream)
    await asyncio.wait_for(sub.first_video.wait(), 5)
    await asyncio.sleep(0.4)
    asked = pub.video.keyframe_requests
    for _ in range(20):
        await sub.send_pli()
    await asyncio.sleep(0.5)
    # 20 PLIs within half a second: at most two go upstream at a 0.3 s interval
    assert 1 <= pub.video.keyframe_requests - asked <= 3


async def test_mute_stops_forwarding_at_once(media: Harness) -> None:
    stream, pub = await media.publish(BEN, amplitude=0.3)
    _, sub = await media.subscribe(ANNA, stream)
    await until(lambda: len(sub.frames["video"]) > 10 and len(sub.frames["audio"]) > 10)

    await media.service.set_muted("ts1/class-a", BEN.sub, "all", True)
    # time is the subject: a muted stream is frames NOT arriving for a while
    await asyncio.sleep(0.3)  # what was already on the wire
    video, audio = len(sub.frames["video"]), len(sub.frames["audio"])
    await asyncio.sleep(1.0)
    assert (len(sub.frames["video"]), len(sub.frames["audio"])) == (video, audio)
    assert pub.video is not None and len(pub.video.sent) > video + 20  # still publishing

    await media.service.set_muted("ts1/class-a", BEN.sub, "audio", False)
    await until(lambda: len(sub.frames["audio"]) > audio + 10, what="audio back")
    assert len(sub.frames["video"]) == video  # video still muted

    await media.service.set_muted("ts1/class-a", BEN.sub, "video", False)
    await until(lambda: len(sub.frames["video"]) > video + 10, what="video back")
    # the subscriber's jitter buffer held the last frame before the mute until the
    # next packet came; the forwarded video resumes on a keyframe right after it
    after = sub.frames["video"][video:]
    assert vp8_is_keyframe(after[0]) or vp8_is_keyframe(after[1]), "resumes on a keyframe"
    assert after[1:] == pub.video.sent[pub.video.sent.index(after[1]) :][: len(after) - 1]


async def test_chat_mute_leaves_media_alone(media: Harness) -> None:
    stream, _ = await media.publish(BEN)
    _, sub = await media.subscribe(ANNA, stream)
    await until(lambda: len(sub.frames["video"]) > 5)
    await media.service.set_muted("ts1/class-a", BEN.sub, "chat", True)
    count = len(sub.frames["video"])
    await until(lambda: len(sub.frames["video"]) > count + 10)


def service_output(media: Harness, sub_id: str, kind: str) -> Any:
    room = media.service._sub_room[sub_id]  # white box: the subscription's output track
    return room.subs[sub_id].outputs[kind]


async def test_two_subscribers_get_every_frame_byte_for_byte(media: Harness) -> None:
    stream, pub = await media.publish(TEACHER, amplitude=0.3)
    _, one = await media.subscribe(ANNA, stream)
    _, two = await media.subscribe(BEN, stream)
    await until(lambda: min(len(one.frames["video"]), len(two.frames["video"])) >= 40)
    await until(lambda: min(len(one.frames["audio"]), len(two.frames["audio"])) >= 25)
    assert pub.video is not None
    sent = pub.video.sent
    for sub in (one, two):
        got = sub.frames["video"]
        assert vp8_is_keyframe(got[0])
        start = sent.index(got[0])
        assert got == sent[start : start + len(got)]
    # the same Opus packets, passed through: the later subscriber's run of audio
    # frames is a run of the earlier one's
    first, later = one.frames["audio"], two.frames["audio"][:20]
    assert any(first[i : i + len(later)] == later for i in range(len(first)))


async def test_forwarded_stream_is_rtp_passthrough_with_sane_reports(media: Harness) -> None:
    stream, _ = await media.publish(TEACHER, amplitude=0.3)
    sub_id, sub = await media.subscribe(ANNA, stream)
    await until(lambda: len(sub.frames["video"]) >= 30 and len(sub.frames["audio"]) >= 30)
    video = service_output(media, sub_id, "video")
    assert video.forwarded >= 30  # packets, written straight to the transport
    assert isinstance(video._sink, seam.RtpWriter)  # on the fast path: a host pair
    assert video._sink._nominated[1].protocol.__class__ is aioice.ice.StunProtocol
    # nothing decodes or encodes: the publisher's receivers hand no frame to a
    # decoder, the subscriber's senders never create an encoder
    room = media.service._sub_room[sub_id]
    publish_pc, subscribe_pc = room.streams[stream].pc, room.subs[sub_id].pc
    assert all(seam.drops_frames(t.receiver) for t in publish_pc.getTransceivers())
    # the publisher's media packets were handled in the datagram callback, not in a task
    publish_dtls = publish_pc.getTransceivers()[0].receiver.transport
    assert seam.fast_srtp_packets(publish_dtls) >= 60
    # and reached it without aioice trying each as a STUN message first
    assert seam.fast_srtp_datagrams(publish_dtls) >= seam.fast_srtp_packets(publish_dtls)
    senders = [t.sender for t in subscribe_pc.getTransceivers()]
    assert len(senders) == 2
    assert all(s.__dict__["_RTCRtpSender__encoder"] is None for s in senders)
    # the receiver depacketized what the service wrote: sender SSRCs as announced,
    # and the RTCP sender reports count the forwarded packets
    await asyncio.sleep(2.0)
    stats = {}
    for transceiver in sub.pc.getTransceivers():
        report = await transceiver.receiver.getStats()
        stats[transceiver.kind] = [s for s in report.values() if s.type == "remote-outbound-rtp"]
    for kind in ("audio", "video"):
        assert stats[kind], f"no sender report for {kind}"
        assert stats[kind][0].packetsSent > 10
        assert stats[kind][0].packetsSent <= service_output(media, sub_id, kind).forwarded


async def test_subscriber_nack_is_answered(media: Harness) -> None:
    stream, _ = await media.publish(TEACHER)
    sub_id, sub = await media.subscribe(ANNA, stream)
    await until(lambda: len(sub.frames["video"]) >= 10)
    video = service_output(media, sub_id, "video")
    (transceiver,) = [t for t in sub.pc.getTransceivers() if t.kind == "video"]
    (source,) = transceiver.receiver.getSynchronizationSources()
    recent = (video._next_seq - 3) & 0xFFFF
    await transceiver.receiver._send_rtcp_nack(source.source, [recent])
    await until(lambda: video.retransmitted >= 1, what="a retransmission")


def publish_receiver(media: Harness, stream: str, kind: str) -> Any:
    leg = media.service._stream_room[stream].streams[stream]  # white box: the publish leg
    (transceiver,) = [t for t in leg.pc.getTransceivers() if t.kind == kind]
    return transceiver.receiver


async def test_publisher_is_told_the_cap_once_a_second(media: Harness) -> None:
    """A REMB at `publish_bitrate`, as Janus's room bitrate: never an estimate of the unit's
    own event-loop delays (which told every publisher of a class ~30 kbit/s, see
    loadtests/MEDIA.md)."""
    stream, pub = await media.publish(TEACHER)
    (sender,) = [t.sender for t in pub.pc.getTransceivers() if t.kind == "video"]
    rembs: list[int] = []
    handle = sender._handle_rtcp_packet

    async def spy(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            rembs.append(unpack_remb_fci(packet.fci)[0])
        await handle(packet)

    sender._handle_rtcp_packet = spy
    await until(lambda: len(rembs) >= 2, limit=5, what="two REMBs")
    cap = media.service.config.publish_bitrate
    # the REMB mantissa keeps 18 bits: the cap, rounded down by less than one part in 2**17
    assert all(cap * (1 - 2**-17) <= r <= cap for r in rembs)


async def test_publisher_is_asked_again_for_a_lost_packet(media: Harness) -> None:
    stream, pub = await media.publish(TEACHER)
    receiver = publish_receiver(media, stream, "video")
    await until(lambda: bool(receiver.__dict__["_RTCRtpReceiver__remote_streams"]),
                what="video statistics for the receiver reports")
    ((ssrc, stats),) = [(s, st) for s, st in
                        receiver.__dict__["_RTCRtpReceiver__remote_streams"].items()]
    asked: list[tuple[int, list[int]]] = []

    async def nack(media_ssrc: int, lost: list[int]) -> None:
        asked.append((media_ssrc, lost))

    receiver._send_rtcp_nack = nack
    primary = seam.primary_payload_type(
        next(t for t in media.service._stream_room[stream].streams[stream].pc.getTransceivers()
             if t.kind == "video"))
    ahead = (stats.max_seq + 50) & 0xFFFF  # as if 49 packets were lost on the way
    await receiver._handle_rtp_packet(
        RtpPacket(payload_type=primary, sequence_number=ahead, ssrc=ssrc,
                  timestamp=0, payload=b"\x10\x00\x00"), arrival_time_ms=0)
    await until(lambda: bool(asked), what="a NACK upstream")
    assert asked[0][0] == ssrc and (ahead - 1) & 0xFFFF in asked[0][1]
