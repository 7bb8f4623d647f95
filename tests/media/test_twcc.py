"""Transport-wide congestion control feedback (signaling/twcc.py): the bytes a browser reads.

Each feedback packet is read back by a decoder written here from the draft
(draft-holmer-rmcat-transport-wide-cc-extensions-01, 3.1), independently of the encoder:
run-length and both kinds of status vector chunks, small and large deltas, padding.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from conftest import ANNA, ROOM, TEACHER, Harness
from mediapeers import EncodedVideoTrack, Publisher, ToneTrack

from signaling.twcc import INTERVAL, TRANSPORT_CC_URI, TransportFeedback, transport_sequence

SENDER, MEDIA = 0x11223344, 0x55667788
START = 1_000_000_000  # µs on the monotonic clock


def decode(packet: bytes) -> dict[str, Any]:
    """One transport-cc feedback packet: header fields and {sequence: arrival µs or None}."""
    first, pt, length = packet[0], packet[1], struct.unpack_from("!H", packet, 2)[0]
    assert first >> 6 == 2 and first & 0x1F == 15 and pt == 205
    assert (length + 1) * 4 == len(packet)
    end = len(packet) - (packet[-1] if first & 0x20 else 0)
    sender, media, base, count, ref_count = struct.unpack_from("!IIHHI", packet, 4)
    reference = ref_count >> 8
    if reference & 0x800000:
        reference -= 1 << 24
    symbols: list[int] = []
    pos = 20
    while len(symbols) < count:
        chunk = struct.unpack_from("!H", packet, pos)[0]
        pos += 2
        if not chunk & 0x8000:  # run length
            symbols += [(chunk >> 13) & 0x3] * (chunk & 0x1FFF)
        elif not chunk & 0x4000:  # 14 one-bit symbols
            symbols += [(chunk >> (13 - k)) & 0x1 for k in range(14)]
        else:  # 7 two-bit symbols
            symbols += [(chunk >> (2 * (6 - k))) & 0x3 for k in range(7)]
    symbols = symbols[:count]
    arrivals: dict[int, int | None] = {}
    at = reference * 64_000
    for i, symbol in enumerate(symbols):
        seq = (base + i) & 0xFFFF
        if symbol == 0:
            arrivals[seq] = None
            continue
        if symbol == 1:
            delta = packet[pos]
            pos += 1
        else:
            assert symbol == 2
            delta = struct.unpack_from("!h", packet, pos)[0]
            pos += 2
        at += delta * 250
        arrivals[seq] = at
    assert pos <= end and not any(packet[pos:end]), "only zero padding after the deltas"
    return {"sender": sender, "media": media, "count": ref_count & 0xFF, "base": base,
            "arrivals": arrivals, "symbols": symbols}


def floor250(at: int) -> int:
    return at // 250 * 250


def test_every_packet_arrived_is_reported_with_its_time() -> None:
    fb = TransportFeedback()
    sent = {seq: START + 5_000 * i + 37 for i, seq in enumerate(range(100, 120))}
    for seq, at in sent.items():
        fb.arrived(seq, at)
    (packet,) = fb.take(SENDER, MEDIA, START + 200_000)
    got = decode(packet)
    assert (got["sender"], got["media"], got["base"], got["count"]) == (SENDER, MEDIA, 100, 0)
    assert got["arrivals"] == {seq: floor250(at) for seq, at in sent.items()}
    assert fb.take(SENDER, MEDIA, START + 400_000) == []  # nothing new: nothing to say


def test_losses_are_reported_missing_and_a_late_packet_is_not_reported_again() -> None:
    fb = TransportFeedback()
    for seq in [1, 2, 3] + list(range(13, 16)):  # 4..12 lost: a run of nine
        fb.arrived(seq, START + seq * 1_000)
    got = decode(fb.take(SENDER, MEDIA, START + 100_000)[0])
    arrivals = got["arrivals"]
    assert isinstance(arrivals, dict)
    assert [s for s, at in arrivals.items() if at is None] == list(range(4, 13))
    assert arrivals[13] == START + 13_000
    fb.arrived(7, START + 120_000)  # too late: already reported missing
    fb.arrived(16, START + 121_000)
    fb.arrived(16, START + 122_000)  # a duplicate keeps its first arrival
    got = decode(fb.take(SENDER, MEDIA, START + 200_000)[0])
    assert (got["base"], got["arrivals"], got["count"]) == (16, {16: START + 121_000}, 1)


def test_gaps_over_64_ms_and_reordering_use_large_deltas() -> None:
    fb = TransportFeedback()
    times = {1: START, 2: START + 200_000, 4: START + 200_500, 3: START + 201_000}
    for seq, at in times.items():  # 3 arrives after 4: a negative delta from 3 to 4
        fb.arrived(seq, at)
    got = decode(fb.take(SENDER, MEDIA, START + 300_000)[0])
    assert got["arrivals"] == {seq: floor250(at) for seq, at in times.items()}
    assert got["symbols"] == [1, 2, 1, 2]


def test_the_sequence_wraps_around() -> None:
    fb = TransportFeedback()
    seqs = [65533, 65534, 65535, 0, 1, 2]
    for i, seq in enumerate(seqs):
        fb.arrived(seq, START + i * 2_000)
    got = decode(fb.take(SENDER, MEDIA, START + 100_000)[0])
    assert got["base"] == 65533
    assert list(got["arrivals"]) == seqs
    fb.arrived(3, START + 110_000)
    assert decode(fb.take(SENDER, MEDIA, START + 200_000)[0])["base"] == 3


def test_a_silence_too_long_for_a_delta_starts_a_second_packet() -> None:
    fb = TransportFeedback()
    fb.arrived(10, START)
    fb.arrived(11, START + 9_000_000)  # 9 s: past what 16 bits of 250 µs hold (8.19 s)
    one, two = fb.take(SENDER, MEDIA, START + 9_100_000)
    assert decode(one)["arrivals"] == {10: START}
    assert decode(two)["arrivals"] == {11: START + 9_000_000}
    assert (decode(one)["count"], decode(two)["count"]) == (0, 1)


def test_a_new_sequence_far_away_starts_again() -> None:
    fb = TransportFeedback()
    fb.arrived(100, START)
    fb.arrived(40_000, START + 1_000)  # a restarted sender: not 39,900 packets lost
    got = decode(fb.take(SENDER, MEDIA, START + 100_000)[0])
    assert got["arrivals"] == {40_000: START + 1_000}


def test_feedback_is_due_every_interval_and_its_count_wraps() -> None:
    fb = TransportFeedback()
    step = int(INTERVAL * 1_000_000)
    now = START
    assert not fb.due(now)  # nothing arrived
    counts = []
    for i in range(300):
        fb.arrived(i, now)
        assert fb.due(now)
        counts.append(decode(fb.take(SENDER, MEDIA, now)[0])["count"])
        fb.arrived(i, now + 1)  # a duplicate of one reported: nothing owed
        fb.arrived(i + 1, now + 2)  # owed, but not before the interval is over
        assert not fb.due(now + step - 1)
        now += step
    assert counts[:3] == [0, 1, 2] and counts[256] == 0 and max(counts) == 255


def test_the_exact_bytes_of_two_small_feedbacks() -> None:
    fb = TransportFeedback()
    fb.arrived(5, 641_000)  # reference time 10 (640 ms): delta 4 ticks of 250 µs
    fb.arrived(7, 641_500)  # 6 missing; delta 2 ticks
    assert fb.take(1, 2, 700_000) == [bytes.fromhex(
        "8fcd0005"             # V=2, no padding, FMT=15; PT=205; 24 bytes
        "00000001" "00000002"  # sender, media source
        "0005" "0003"          # base 5, three statuses
        "00000a" "00"          # reference time 10, feedback 0
        "d100"                 # two-bit vector: small, missing, small (then unused)
        "04" "02")]            # the deltas
    fb.arrived(8, 900_000)  # reference 14 (896 ms): delta 16 ticks
    fb.arrived(10, 900_250)
    fb.arrived(11, 900_500)
    assert fb.take(1, 2, 1_000_000) == [bytes.fromhex(
        "afcd0006"             # padding: 25 bytes and 3 of padding
        "00000001" "00000002"
        "0008" "0004"          # base 8, four statuses
        "00000e" "01"          # reference time 14, feedback 1
        "d140"                 # small, missing, small, small
        "10" "01" "01"
        "000003")]             # padding, its length last


@pytest.mark.parametrize(("packet", "expected"), [
    # one-byte header extensions: mid (id 1), transport-cc (id 5) = 0x0102
    (bytes.fromhex("9060 0001 00000000 00000001 bede0002 10 61 51 0102 000000"), 0x0102),
    (bytes.fromhex("9060 0001 00000000 00000001 bede0001 10 61 0000"), None),  # absent
    (bytes.fromhex("8060 0001 00000000 00000001"), None),  # no extension at all
    (bytes.fromhex("9060 0001 00000000 00000001 1000 0001 51 01 02 00"), None),  # two-byte
    (bytes.fromhex("9060 0001 00000000 00000001 bede0003 51 01"), None),  # truncated
    (bytes.fromhex("9060 0001 00000000 00000001 bede0001 50 01 00 00"), None),  # 1 byte
])
def test_reading_the_transport_sequence_number(packet: bytes, expected: int | None) -> None:
    assert transport_sequence(packet, 5) == expected


async def test_an_offer_with_transport_cc_gets_it_answered(media: Harness) -> None:
    """aiortc's own offer has no transport-cc (its sender writes no transport-wide sequence
    numbers): the answer has none, as before. The same offer with the extension and the
    feedback a browser offers gets both answered, on video and audio."""
    plain = Publisher(video=EncodedVideoTrack(320, 240), audio=ToneTrack(0.0))
    offered = Publisher(video=EncodedVideoTrack(320, 240), audio=ToneTrack(0.0))
    media.peers += [plain, offered]
    _, answer = await media.service.publish(TEACHER, ROOM, "camera", await plain.offer())
    assert "transport-wide-cc" not in answer and "transport-cc" not in answer

    sdp = await offered.offer()
    lines = []
    for line in sdp.splitlines():
        lines.append(line)
        if line.startswith("a=mid:"):
            lines.append(f"a=extmap:7 {TRANSPORT_CC_URI}")
        if line.startswith("a=rtpmap:"):
            lines.append(f"a=rtcp-fb:{line.split(':')[1].split()[0]} transport-cc")
    _, answer = await media.service.publish(ANNA, ROOM, "camera", "\r\n".join(lines) + "\r\n")
    for section, codec in [(s, c) for s in answer.split("m=")[1:]
                           for c in ("VP8", "opus") if c in s]:
        assert f"a=extmap:7 {TRANSPORT_CC_URI}" in section
        pt = next(line.split(":")[1].split()[0] for line in section.splitlines()
                  if line.startswith("a=rtpmap:") and codec in line)
        assert f"a=rtcp-fb:{pt} transport-cc" in section


def test_steps_that_add_up_to_more_than_a_packet_can_report() -> None:
    """Jumps each under the restart threshold, 80,000 sequence numbers in all (a status
    count is 16 bits): every arrival is still reported, in two packets."""
    fb = TransportFeedback()
    sent = {i * 16_000: START + i * 1_000 for i in range(6)}
    for seq, at in sent.items():
        fb.arrived(seq & 0xFFFF, at)
    got: dict[int, int] = {}
    packets = fb.take(SENDER, MEDIA, START + 100_000)
    assert len(packets) == 2
    for packet in packets:
        got.update({s: at for s, at in decode(packet)["arrivals"].items() if at is not None})
    assert got == {seq & 0xFFFF: at for seq, at in sent.items()}
