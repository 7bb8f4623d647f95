"""The RTP forwarding path without a network: header rewriting, keyframe start, gaps, NACKs."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aioice.ice
import pylibsrtp
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from signaling import rtp, seam
from signaling.codecs import vp8_packet_starts
from signaling.relay import Forwarder, OutboundTrack

MID, ABS = 3, 5
EXTENSIONS = seam.extension_template(MID, "1", ABS)


def extensions_map() -> HeaderExtensionsMap:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=MID, uri=seam.MID_URI),
                RTCRtpHeaderExtensionParameters(id=ABS, uri=seam.ABS_SEND_TIME_URI),
            ]
        )
    )
    return ext_map


@dataclass
class FakeSink:
    payload_type: int = 96
    rtx_payload_type: int | None = 97
    ssrc: int = 0x1111
    rtx_ssrc: int = 0x2222
    up: bool = True
    packets: list[RtpPacket] = field(default_factory=list)
    reported: list[tuple[int, int, int]] = field(default_factory=list)
    newest: list[bool] = field(default_factory=list)

    def header_extensions(self, abs_send_time: bytes) -> bytes:
        before, after, _ = EXTENSIONS
        return before + abs_send_time + after

    def write(self, packet: bytes) -> bool:
        if self.up:
            self.packets.append(RtpPacket.parse(packet, extensions_map()))
        return self.up

    def sent(self, ntp: int, timestamp: int, octets: int, newest: bool) -> None:
        self.reported.append((ntp, timestamp, octets))
        self.newest.append(newest)


class Source(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        raise MediaStreamError


class Publisher:
    """A forwarder fed by hand, as the publish leg's RTP tap feeds it."""

    def __init__(self, kind: str = "video") -> None:
        self.open = True
        self.keyframe_requests = 0
        self.forwarder = Forwarder(
            Source(kind),
            label="test",
            gate=lambda: self.open,
            request_keyframe=self._ask,
            on_end=lambda: None,
        )
        self.seq = 65530  # wraps around during the tests
        self.timestamp = 4294960000

    def _ask(self) -> None:
        self.keyframe_requests += 1

    def output(self, sink: FakeSink | None = None) -> tuple[OutboundTrack, FakeSink]:
        sink = sink or FakeSink()
        out = self.forwarder.add_output()
        out.start(sink)
        return out, sink

    def frame(self, keyframe: bool, packets: int = 3) -> list[tuple[int, int, int, bytes]]:
        """One VP8 frame as RTP payloads (descriptor with a 15-bit picture id)."""
        sent = []
        for i in range(packets):
            descriptor = bytes([0x90 if i == 0 else 0x80, 0x80, 0x80 | (self.seq >> 8 & 0x7F)])
            descriptor += bytes([self.seq & 0xFF])
            tag = bytes([0x00 if keyframe else 0x01, 0x02, 0x03]) if i == 0 else b""
            payload = descriptor + tag + bytes([self.seq & 0xFF]) * 50
            marker = int(i == packets - 1)
            sent.append((self.seq, self.timestamp, marker, payload))
            self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + 3000) & 0xFFFFFFFF
        return sent

    def send(self, packets: list[tuple[int, int, int, bytes]]) -> None:
        for packet in packets:
            self.forwarder.on_rtp(*packet)


def assert_forwarded(sink: FakeSink, sent: list[tuple[int, int, int, bytes]]) -> None:
    """Packets out equal packets in: same payloads and markers, in order, contiguous
    sequence numbers, one timestamp offset, the subscriber's SSRC and payload type."""
    got = sink.packets[-len(sent) :]
    assert [p.payload for p in got] == [s[3] for s in sent]
    assert [p.marker for p in got] == [s[2] for s in sent]
    assert {p.ssrc for p in got} == {sink.ssrc}
    assert {p.payload_type for p in got} == {sink.payload_type}
    for a, b in zip(got, got[1:], strict=False):
        assert b.sequence_number == (a.sequence_number + 1) & 0xFFFF
    offsets = {(p.timestamp - s[1]) & 0xFFFFFFFF for p, s in zip(got, sent, strict=True)}
    assert len(offsets) == 1
    assert all(p.extensions.mid == "1" and p.extensions.abs_send_time is not None for p in got)


def test_vp8_packet_starts() -> None:
    assert vp8_packet_starts(b"\x10\x00\x9d\x01") == (True, True)  # no extension
    assert vp8_packet_starts(b"\x10\x01\x9d\x01") == (True, False)
    assert vp8_packet_starts(b"\x90\x80\x81\x23\x00") == (True, True)  # 15-bit picture id
    assert vp8_packet_starts(b"\x90\x80\x05\x01") == (True, False)  # 7-bit picture id
    assert vp8_packet_starts(b"\x90\xe0\x05\x07\x40\x00") == (True, True)  # I, L, T
    assert vp8_packet_starts(b"\x80\x80\x05\x00") == (False, False)  # not a frame start
    assert vp8_packet_starts(b"\x11\x00") == (False, False)  # partition 1
    assert vp8_packet_starts(b"") == (False, False)
    assert vp8_packet_starts(b"\x90\x80") == (False, False)  # truncated


def test_extension_block_is_what_aiortc_parses() -> None:
    before, after, has_abs = EXTENSIONS
    assert has_abs and len(before + b"abc" + after) % 4 == 0
    packet = RtpPacket(payload_type=96, sequence_number=1, timestamp=2, ssrc=3)
    data = bytearray(packet.serialize())
    data[0] |= 0x10
    parsed = RtpPacket.parse(bytes(data[:12]) + before + b"\x01\x02\x03" + after, extensions_map())
    assert parsed.extensions.mid == "1"
    assert parsed.extensions.abs_send_time == 0x010203
    assert seam.extension_template(None, "0", None) == (b"", b"", False)
    mid_only, rest, abs_too = seam.extension_template(1, "video", None)
    assert not abs_too and rest == b"" and len(mid_only) % 4 == 0
    assert seam.abs_send_time(seam.ntp_now()) != b"\x00\x00\x00"


def test_video_starts_on_a_keyframe_and_forwards_every_packet() -> None:
    pub = Publisher()
    out, sink = pub.output()
    assert pub.keyframe_requests == 1  # a new subscriber asks for a keyframe
    pub.send(pub.frame(keyframe=False))
    assert sink.packets == [] and pub.keyframe_requests == 2  # still waiting: asks again
    sent = pub.frame(keyframe=True) + pub.frame(keyframe=False) + pub.frame(keyframe=False)
    pub.send(sent)
    assert len(sink.packets) == 9 == out.forwarded
    assert_forwarded(sink, sent)
    assert [r[2] for r in sink.reported] == [len(s[3]) for s in sent]  # for the RTCP SR
    assert pub.keyframe_requests == 2


def test_every_subscriber_gets_the_same_packets_under_its_own_header() -> None:
    pub = Publisher()
    (_, one), (_, two) = pub.output(), pub.output(FakeSink(ssrc=0x3333, payload_type=120))
    sent = pub.frame(keyframe=True) + pub.frame(keyframe=False)
    pub.send(sent)
    assert_forwarded(one, sent)
    assert_forwarded(two, sent)
    assert {p.ssrc for p in two.packets} == {0x3333}
    late, three = pub.output()  # joins mid-stream: waits for the next keyframe
    more = pub.frame(keyframe=False)
    pub.send(more)
    assert three.packets == []
    key = pub.frame(keyframe=True)
    pub.send(key)
    assert_forwarded(three, key)
    assert_forwarded(one, sent + more + key)


def test_reordered_packets_keep_their_sequence_numbers() -> None:
    pub = Publisher()
    _, sink = pub.output()
    first, second = pub.frame(keyframe=True), pub.frame(keyframe=False)
    pub.send(first + [second[1], second[0], second[2]])
    offsets = {
        (p.sequence_number - s[0]) & 0xFFFF
        for p, s in zip(sink.packets, first + [second[1], second[0], second[2]], strict=True)
    }
    assert len(offsets) == 1  # the mapping holds whatever order packets come in
    assert sink.newest == [True, True, True, True, False, True]  # for the sender report
    pub.send(pub.frame(keyframe=False))
    seqs = [p.sequence_number for p in sink.packets[-3:]]
    assert seqs[0] == (sink.packets[5].sequence_number + 1) & 0xFFFF


def test_packets_from_before_the_start_are_not_forwarded() -> None:
    pub = Publisher()
    _, sink = pub.output()
    early = pub.frame(keyframe=False)
    key = pub.frame(keyframe=True)
    pub.send(key + early)  # a late packet from before the keyframe
    assert [p.payload for p in sink.packets] == [s[3] for s in key]


def test_disabled_then_enabled_resumes_on_a_keyframe_without_a_sequence_gap() -> None:
    pub = Publisher()
    out, sink = pub.output()
    pub.send(pub.frame(keyframe=True))
    last = sink.packets[-1].sequence_number
    out.set_enabled(False)
    pub.send(pub.frame(keyframe=False))
    assert len(sink.packets) == 3
    asked = pub.keyframe_requests
    out.set_enabled(True)
    assert pub.keyframe_requests == asked + 1
    pub.send(pub.frame(keyframe=False))
    assert len(sink.packets) == 3
    key = pub.frame(keyframe=True)
    pub.send(key)
    assert_forwarded(sink, key)
    assert sink.packets[3].sequence_number == (last + 1) & 0xFFFF


def test_publisher_mute_stops_forwarding_and_unmute_asks_for_a_keyframe() -> None:
    pub = Publisher()
    _, sink = pub.output()
    pub.send(pub.frame(keyframe=True))
    pub.open = False
    pub.send(pub.frame(keyframe=True))
    assert len(sink.packets) == 3
    asked = pub.keyframe_requests
    pub.open = True
    pub.send(pub.frame(keyframe=False))
    assert pub.keyframe_requests > asked and len(sink.packets) == 3
    pub.send(pub.frame(keyframe=True))
    assert len(sink.packets) == 6
    assert sink.packets[3].sequence_number == (sink.packets[2].sequence_number + 1) & 0xFFFF


def test_audio_forwards_from_any_packet() -> None:
    pub = Publisher("audio")
    _, sink = pub.output(FakeSink(payload_type=111, rtx_payload_type=None))
    assert pub.keyframe_requests == 0
    sent = [(pub.seq + i, pub.timestamp + 960 * i, 0, b"opus%d" % i) for i in range(5)]
    pub.send(sent)
    assert_forwarded(sink, sent)


def test_nack_is_answered_with_rtx_from_the_forwarders_history() -> None:
    pub = Publisher()
    out, sink = pub.output()
    sent = pub.frame(keyframe=True)
    pub.send(sent)
    lost = sink.packets[1]
    out.retransmit(lost.sequence_number)
    rtx = sink.packets[-1]
    assert (rtx.payload_type, rtx.ssrc) == (sink.rtx_payload_type, sink.rtx_ssrc)
    assert rtx.payload == lost.sequence_number.to_bytes(2, "big") + lost.payload
    assert rtx.timestamp == lost.timestamp
    out.retransmit(lost.sequence_number)  # again: the next RTX sequence number
    assert sink.packets[-1].sequence_number == (rtx.sequence_number + 1) & 0xFFFF
    count = len(sink.packets)
    out.retransmit((sink.packets[0].sequence_number - 1) & 0xFFFF)  # before the start
    out.retransmit((sink.packets[2].sequence_number + 100) & 0xFFFF)  # never sent
    assert len(sink.packets) == count
    assert out.retransmitted == 2


def test_nack_without_rtx_resends_the_packet() -> None:
    pub = Publisher()
    out, sink = pub.output(FakeSink(rtx_payload_type=None))
    pub.send(pub.frame(keyframe=True))
    lost = sink.packets[0]
    out.retransmit(lost.sequence_number)
    again = sink.packets[-1]
    assert (again.sequence_number, again.ssrc, again.payload) == (
        lost.sequence_number,
        lost.ssrc,
        lost.payload,
    )


def test_nothing_is_forwarded_before_the_sender_starts_or_while_the_transport_is_down() -> None:
    pub = Publisher()
    out = pub.forwarder.add_output()  # not started: no sink yet
    pub.send(pub.frame(keyframe=True))
    assert out.forwarded == 0
    sink = FakeSink(up=False)
    out.start(sink)
    pub.send(pub.frame(keyframe=True))
    assert out.forwarded == 0 and sink.reported == []
    out.stop()
    assert out not in pub.forwarder.outputs


def test_datagrams_go_straight_to_a_stun_pair_and_through_other_protocols() -> None:
    sent: list[tuple[bytes, tuple[str, int]]] = []

    class Transport:
        def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
            sent.append((data, addr))

    stun = aioice.ice.StunProtocol.__new__(aioice.ice.StunProtocol)
    stun.transport = Transport()
    seam.send_datagram(SimpleNamespace(protocol=stun, remote_addr=("10.0.0.1", 9)), b"rtp")
    assert sent == [(b"rtp", ("10.0.0.1", 9))]

    class Relay:  # a TURN client protocol wraps what it sends
        async def send_data(self, data: bytes, addr: tuple[str, int]) -> None:
            sent.append((b"turn:" + data, addr))

    async def main() -> None:
        seam.send_datagram(SimpleNamespace(protocol=Relay(), remote_addr=("10.0.0.2", 9)), b"x")
        await asyncio.sleep(0)

    asyncio.run(main())
    assert sent[-1] == (b"turn:x", ("10.0.0.2", 9))


def _rtp(first: int = 0x80, csrc: bytes = b"", ext: bytes = b"", payload: bytes = b"vp8",
         padding: bytes = b"") -> bytes:
    return (bytes([first | (len(csrc) // 4), 0xE0]) + (1234).to_bytes(2, "big")
            + (90000).to_bytes(4, "big") + (0xDEADBEEF).to_bytes(4, "big")
            + csrc + ext + payload + padding)


def _extensions_map() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
        RTCRtpHeaderExtensionParameters(id=2, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
    ]))
    return extensions


@pytest.mark.parametrize("packet", [
    _rtp(),
    _rtp(csrc=bytes(range(8))),
    _rtp(first=0x90, ext=b"\xbe\xde\x00\x02" + b"\x10\xa5" + b"\x210a" + bytes(3)),
    _rtp(first=0xA0, padding=b"\x00\x00\x03"),
    _rtp(first=0xB0, csrc=bytes(4), ext=b"\xbe\xde\x00\x01\x10\x85\x00\x00",
         payload=b"opus", padding=b"\x02\x02"),
    # the level after another element, padding between, then a second level (the last wins)
    _rtp(first=0x90, ext=b"\xbe\xde\x00\x02" + b"\x210a" + b"\x00\x10\x33" + b"\x10\x14"),
    # two-byte elements (RFC 8285 4.3): mid "a", padding, the level
    _rtp(first=0x90, ext=b"\x10\x00\x00\x02" + b"\x02\x01a" + b"\x00" + b"\x01\x01\x9e" + b"\x00"),
    _rtp(first=0x90, ext=b"\x12\x34\x00\x01" + b"\x10\xa5\x00\x00"),  # a profile nobody reads
])
def test_rtp_payload_reads_what_aiortc_reads(packet: bytes) -> None:
    stock = RtpPacket.parse(packet, _extensions_map())
    level = seam.audio_level(stock)
    assert rtp.rtp_payload(packet, 1) == (stock.payload, level)
    assert rtp.rtp_payload(packet, None) == (stock.payload, None)  # the video path
    assert rtp.rtp_payload(packet, 9) == (stock.payload, None)  # another id


@pytest.mark.parametrize("packet", [
    b"\x80\x60\x00",                                    # shorter than a header
    bytes([0x40]) + bytes(11) + b"x",                   # version 1
    bytes([0x82]) + bytes(11) + bytes(4),               # two CSRCs announced, one there
    bytes([0x90]) + bytes(11) + b"\xbe\xde",            # extension header cut
    bytes([0x90]) + bytes(11) + b"\xbe\xde\x00\x02\x10\x01",  # extension value cut
    bytes([0xA0]) + bytes(11) + b"x\x00",               # padding length 0
    bytes([0xA0]) + bytes(11) + b"x\x09",               # padding longer than the payload
])
def test_rtp_payload_refuses_what_aiortc_refuses(packet: bytes) -> None:
    with pytest.raises(ValueError):
        RtpPacket.parse(packet, _extensions_map())
    for level_id in (1, None):
        with pytest.raises(ValueError):
            rtp.rtp_payload(packet, level_id)


@pytest.mark.parametrize("ext", [
    b"\xbe\xde\x00\x01" + b"\x13\x01\x02\x03",        # one-byte element cut by the block
    b"\x10\x00\x00\x01" + b"\x01\x05\x00\x00",        # two-byte element cut by the block
    b"\x10\x00\x00\x01" + b"\x00\x00\x00\x07",        # two-byte header cut by the block
])
def test_an_audio_level_refuses_a_block_aiortc_refuses(ext: bytes) -> None:
    packet = _rtp(first=0x90, ext=ext)
    with pytest.raises(ValueError):
        RtpPacket.parse(packet, _extensions_map())
    with pytest.raises(ValueError):
        rtp.rtp_payload(packet, 1)
    assert rtp.rtp_payload(packet, None)[0] == b"vp8"  # video never reads the block


def test_an_audio_level_of_two_bytes_is_refused() -> None:
    packet = _rtp(first=0x90, ext=b"\xbe\xde\x00\x01" + b"\x11\x05\x06\x00")
    with pytest.raises(struct.error):  # aiortc's own refusal
        RtpPacket.parse(packet, _extensions_map())
    with pytest.raises(ValueError):
        rtp.rtp_payload(packet, 1)


def _srtp_pair() -> tuple[pylibsrtp.Session, pylibsrtp.Session, pylibsrtp.Session]:
    key = bytes(range(30))
    sessions = [pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=kind)) for kind in (
        pylibsrtp.Policy.SSRC_ANY_OUTBOUND, pylibsrtp.Policy.SSRC_ANY_INBOUND,
        pylibsrtp.Policy.SSRC_ANY_INBOUND)]
    return sessions[0], sessions[1], sessions[2]


def test_srtp_unprotector_reads_what_pylibsrtp_reads() -> None:
    tx, stock, rx = _srtp_pair()
    unprotect = seam.srtp_unprotector(rx)
    for seq in range(5):
        clear = _rtp(payload=bytes([seq]) * (200 + seq))[:2] + seq.to_bytes(2, "big") + (
            _rtp(payload=bytes([seq]) * (200 + seq))[4:])
        protected = tx.protect(clear)
        assert unprotect(protected) == stock.unprotect(protected) == clear
    assert unprotect(protected) is None  # a replay, refused as pylibsrtp refuses it
    with pytest.raises(pylibsrtp.Error):
        stock.unprotect(protected)
    fresh = tx.protect(clear[:2] + (5).to_bytes(2, "big") + clear[4:])
    tampered = fresh[:-1] + bytes([fresh[-1] ^ 1])
    assert unprotect(tampered) is None  # authentication fails
    assert unprotect(fresh) == clear[:2] + (5).to_bytes(2, "big") + clear[4:]
    assert unprotect(bytes(seam.SRTP_BUFFER + 1)) is None  # longer than its buffer


def test_srtp_unprotector_refuses_a_session_it_does_not_know() -> None:
    _tx, _stock, rx = _srtp_pair()
    del rx.__dict__["_srtp"]
    with pytest.raises(RuntimeError, match="pylibsrtp"):
        seam.srtp_unprotector(rx)


def test_a_writer_sends_on_the_pair_nominated_now() -> None:
    sent: list[tuple[bytes, tuple[str, int]]] = []

    class Transport:
        def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
            sent.append((data, addr))

    def pair(host: str) -> SimpleNamespace:
        stun = aioice.ice.StunProtocol.__new__(aioice.ice.StunProtocol)
        stun.transport = Transport()
        return SimpleNamespace(protocol=stun, remote_addr=(host, 9))

    writer = seam.RtpWriter.__new__(seam.RtpWriter)
    writer._dtls = SimpleNamespace(_state=DtlsState.CONNECTED)
    writer._protect = lambda packet: b"srtp:" + packet
    writer._nominated = {}
    writer._pair, writer._send = None, seam._nothing
    assert not writer.write(b"a")  # no pair nominated yet
    writer._nominated[1] = pair("10.0.0.1")
    assert writer.write(b"b")
    writer._nominated[1] = pair("10.0.0.2")  # ICE restart or a better pair
    assert writer.write(b"c")
    writer._dtls._state = DtlsState.CLOSED
    assert not writer.write(b"d")
    assert sent == [(b"srtp:b", ("10.0.0.1", 9)), (b"srtp:c", ("10.0.0.2", 9))]
