"""The aiortc/aioice seams the forwarding unit stands on. If aiortc moves one, fail here.

Pinned: aiortc==1.16.0 (pyproject.toml). An upgrade must pass these first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import importlib.metadata
import inspect
from collections.abc import AsyncIterator
from typing import Any

import aioice.ice
import aioice.stun
import aiortc
import aiortc.rtcrtpreceiver as receiver_module
import av
import pylibsrtp
import pytest
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import get_decoder as stock_get_decoder
from aiortc.jitterbuffer import JitterFrame

from signaling import codecs, ice, seam


@contextlib.asynccontextmanager
async def recvonly_video(offer: bool = False) -> AsyncIterator[RTCRtpTransceiver]:
    """A receive-only video transceiver of a new PeerConnection (with its local offer set
    when `offer`: candidates gathered, the DTLS transport over them), closed after."""
    pc = aiortc.RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="recvonly")
        if offer:
            await pc.setLocalDescription(await pc.createOffer())
        yield transceiver
    finally:
        await pc.close()


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc.__version__ == seam.AIORTC_VERSION == "1.16.0"


def test_decoder_thread_looks_up_get_decoder_in_its_module() -> None:
    source = inspect.getsource(receiver_module.decoder_worker)
    assert "get_decoder(codec)" in source
    assert "decoder.decode(encoded_frame)" in source
    assert "output_q.put(frame)" in source


def test_sender_packs_anything_that_is_not_a_frame() -> None:
    source = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "isinstance(data, Frame)" in source
    assert "self.__encoder.pack(data)" in source


def test_private_hooks_exist() -> None:
    assert "self._send_keyframe()" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert inspect.iscoroutinefunction(RTCRtpReceiver._handle_rtp_packet)
    assert list(inspect.signature(RTCRtpReceiver._handle_rtp_packet).parameters) == [
        "self",
        "packet",
        "arrival_time_ms",
    ]
    assert inspect.iscoroutinefunction(RTCRtpReceiver._send_rtcp_pli)
    assert "_codecs" in inspect.getsource(RTCRtpTransceiver.__init__)
    assert "get_host_addresses(" in inspect.getsource(aioice.ice.Connection.gather_candidates)


def test_install_is_idempotent_and_refuses_a_foreign_patch() -> None:
    seam.install()
    seam.install()
    assert seam.installed()
    assert receiver_module.get_decoder is seam.passthrough_get_decoder  # type: ignore[attr-defined]
    seam.uninstall()
    assert receiver_module.get_decoder is stock_get_decoder  # type: ignore[attr-defined]
    receiver_module.get_decoder = lambda codec: None  # type: ignore[attr-defined]
    try:
        with pytest.raises(RuntimeError):
            seam.install()
    finally:
        seam.uninstall()
    seam.install()


def test_passthrough_decoder_yields_the_encoded_frame() -> None:
    decoder = seam.passthrough_get_decoder(
        next(c for c in aiortc.codecs.CODECS["video"] if c.name == "VP8")
    )
    (packet,) = decoder.decode(JitterFrame(b"\x10\x02\x00abc", timestamp=3000))
    assert isinstance(packet, av.Packet)
    assert bytes(packet) == b"\x10\x02\x00abc"
    assert packet.pts == 3000
    assert packet.time_base == fractions.Fraction(1, 90000)


def test_codec_preferences_pin_vp8_and_opus() -> None:
    assert [c.mimeType for c in codecs.preferred("video")] == ["video/VP8", "video/rtx"]
    assert [c.mimeType for c in codecs.preferred("audio")] == ["audio/opus"]
    assert codecs.vp8_is_keyframe(b"\x10\x02\x00")
    assert not codecs.vp8_is_keyframe(b"\x11\x02\x00")


def test_ice_addresses_are_restricted_and_loopback_allowed() -> None:
    ice.restrict_host_addresses(["127.0.0.1"])
    try:
        assert ice.host_addresses() == ["127.0.0.1"]
        ice.restrict_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1", "::1"]
        ice.restrict_host_addresses(None)
        assert "127.0.0.1" not in ice.host_addresses()  # aioice's default again
    finally:
        ice.restrict_host_addresses(["127.0.0.1"])


def test_parse_addresses() -> None:
    assert ice.parse_addresses(" 10.0.0.1, ::1 ,") == ["10.0.0.1", "::1"]
    assert ice.parse_addresses("") == []
    with pytest.raises(ValueError):
        ice.parse_addresses("10.0.0.1,eth0")


def test_announce_rewrites_host_candidates_only() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "m=video 40000 UDP/TLS/RTP/SAVPF 97",
            "c=IN IP4 10.0.0.5",
            "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host",
            "a=candidate:def 1 udp 1694498815 198.51.100.9 40000 typ srflx"
            " raddr 10.0.0.5 rport 40000",
            "",
        ]
    )
    out = ice.announce(sdp, "203.0.113.7")
    assert "a=candidate:abc 1 udp 2130706431 203.0.113.7 40000 typ host" in out
    assert "198.51.100.9 40000 typ srflx raddr 10.0.0.5" in out
    assert "c=IN IP4 203.0.113.7" in out
    assert ice.announce(sdp, None) == sdp


def test_rtp_writer_hooks_exist() -> None:
    """`seam.RtpWriter` does what `RTCDtlsTransport._send_rtp` and aioice's send do."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport, State

    send_rtp = inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self._state != State.CONNECTED" in send_rtp
    assert "self._tx_srtp.protect(data)" in send_rtp
    assert "await self.transport._send(data)" in send_rtp
    assert State.CONNECTED.name == "CONNECTED"
    assert "self._send = self._connection.send" in inspect.getsource(aiortc.RTCIceTransport)
    assert "await self.sendto(data, 1)" in inspect.getsource(aioice.ice.Connection.send)
    sendto = inspect.getsource(aioice.ice.Connection.sendto)
    assert "self._nominated.get(component)" in sendto
    assert "active_pair.protocol.send_data(data, active_pair.remote_addr)" in sendto
    assert "self.transport.sendto(data, addr)" in inspect.getsource(
        aioice.ice.StunProtocol.send_data
    )
    # the sender's RTCP sender report reads these; NACKs go through _retransmit
    rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"self.__{name}" in rtcp
        assert f"self.__{name} = 0" in inspect.getsource(RTCRtpSender.__init__)
    assert "await self._retransmit(seq)" in inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    init = inspect.getsource(RTCRtpSender.__init__)
    assert "self._ssrc = random32()" in init and "self._rtx_ssrc = random32()" in init
    assert "headerExtensions=transceiver._headerExtensions" in inspect.getsource(
        aiortc.RTCPeerConnection
    )


def test_drop_frames_hooks_exist() -> None:
    init = inspect.getsource(RTCRtpReceiver.__init__)
    assert "self.__decoder_queue: queue.Queue = queue.Queue()" in init
    assert "self.__decoder_thread: Optional[threading.Thread] = None" in init
    receive = inspect.getsource(RTCRtpReceiver.receive)
    assert "self.__decoder_queue," in receive  # handed to the thread when it starts
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in handle
    stop_decoder = inspect.getsource(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)  # type: ignore[attr-defined]
    assert "self.__decoder_queue.put(None)" in stop_decoder


async def test_drop_frames_passes_only_the_end() -> None:
    async with recvonly_video() as transceiver:
        receiver = transceiver.receiver
        assert not seam.drops_frames(receiver)
        seam.drop_frames(receiver)
        assert seam.drops_frames(receiver)
        q = receiver.__dict__["_RTCRtpReceiver__decoder_queue"]
        q.put(("codec", "frame"))
        assert q.empty()
        q.put(None)
        assert q.get_nowait() is None
        receiver.__dict__["_RTCRtpReceiver__decoder_thread"] = object()  # started
        with pytest.raises(RuntimeError):
            seam.drop_frames(receiver)
        receiver.__dict__["_RTCRtpReceiver__decoder_thread"] = None


def test_lean_receive_hooks_exist() -> None:
    """`seam.lean_receive` keeps what `_handle_rtp_packet` owes a publisher (receiver-report
    statistics, NACKs with RTX unwrapped, a REMB) from these fields."""
    init = inspect.getsource(RTCRtpReceiver.__init__)
    for field in ("self.__codecs: dict[int, RTCRtpCodecParameters] = {}",
                  "self.__remote_streams: dict[int, StreamStatistics] = {}",
                  "self.__nack_generator = NackGenerator()",
                  "self.__nack_generator = None",
                  "self.__rtx_ssrc: dict[int, int] = {}",
                  "self.__rtcp_ssrc: Optional[int] = None"):
        assert field in init, field
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__remote_streams[packet.ssrc].add(packet)" in handle
    assert "packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)" in handle
    assert "self.__nack_generator.add(packet)" in handle
    assert "sorted(self.__nack_generator.missing)" in handle
    assert "fci=pack_remb_fci(*remb)" in handle
    run_rtcp = inspect.getsource(RTCRtpReceiver._run_rtcp)
    assert "self.__remote_streams.items()" in run_rtcp  # the receiver reports read them
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in (
        inspect.getsource(aiortc.rtcdtlstransport.RTCDtlsTransport._handle_rtp_data))


async def test_lean_receive_refuses_a_receiver_it_does_not_know() -> None:
    async with recvonly_video() as transceiver:
        receiver = transceiver.receiver
        del receiver.__dict__["_RTCRtpReceiver__nack_generator"]
        with pytest.raises(RuntimeError, match="moved"):
            seam.lean_receive(receiver, lambda packet: None, 500_000)


def test_fast_srtp_hooks_exist() -> None:
    """`seam.fast_srtp` does in aioice's datagram callback what `_recv_next` does in a task."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    received = inspect.getsource(aioice.ice.StunProtocol.datagram_received)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in received
    assert "self._queue.put_nowait((data, component))" in inspect.getsource(
        aioice.ice.Connection.data_received)
    recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
    assert "elif first_byte > 127 and first_byte < 192 and self._rx_srtp:" in recv_next
    assert "data = self._rx_srtp.unprotect(data)" in recv_next
    assert "if is_rtcp(data):" in recv_next
    handle = inspect.getsource(RTCDtlsTransport._handle_rtp_data)
    assert "RtpPacket.parse(data, self._rtp_header_extensions_map)" in handle
    assert "receiver = self._rtp_router.route_rtp(packet)" in handle
    init = inspect.getsource(RTCDtlsTransport.__init__)
    assert "self._rx_srtp: Session = None" in init
    assert "self._rtp_router = RtpRouter()" in init
    # the host protocols it hands RTP and RTCP past the STUN parse, and what aioice did
    # with a datagram that is no STUN message
    assert "self._protocols: list[StunProtocol] = []" in inspect.getsource(
        aioice.ice.Connection.__init__)
    assert "message = stun.parse_message(data)" in received
    assert "except ValueError:" in received
    # the routes it keeps: a receiver found by SSRC and payload type stays found
    route = inspect.getsource(aiortc.rtcdtlstransport.RtpRouter.route_rtp)
    assert "self.ssrc_table.get(packet.ssrc)" in route
    assert "self.payload_type_table.get(packet.payload_type, set())" in route


async def test_fast_srtp_refuses_a_patched_connection() -> None:
    async with recvonly_video(offer=True) as transceiver:
        dtls = transceiver.receiver.transport
        dtls.transport._connection.data_received = lambda data, component: None
        with pytest.raises(RuntimeError, match="moved or is patched"):
            seam.fast_srtp(dtls)


async def test_fast_srtp_refuses_a_patched_stun_protocol() -> None:
    async with recvonly_video(offer=True) as transceiver:
        dtls = transceiver.receiver.transport
        (protocol, *_) = dtls.transport._connection._protocols
        protocol.datagram_received = lambda data, addr: None
        with pytest.raises(RuntimeError, match="StunProtocol.datagram_received"):
            seam.fast_srtp(dtls)


async def test_fast_srtp_hands_media_past_the_stun_parse_and_stun_to_aioice() -> None:
    async with recvonly_video(offer=True) as transceiver:
        dtls = transceiver.receiver.transport
        connection = dtls.transport._connection
        (protocol, *_) = connection._protocols
        seam.fast_srtp(dtls)
        # no SRTP session yet: media goes to aioice's queue, as aioice itself would put it
        protocol.datagram_received(b"\x80" + bytes(20), ("10.0.0.1", 9))
        assert seam.fast_srtp_datagrams(dtls) == 1
        assert connection._queue.get_nowait() == (b"\x80" + bytes(20), 1)
        # a STUN binding request (first byte 0) still goes through aioice's STUN handling
        request = aioice.stun.Message(message_method=aioice.stun.Method.BINDING,
                                      message_class=aioice.stun.Class.REQUEST)
        protocol.datagram_received(bytes(request), ("10.0.0.1", 9))
        assert connection._queue.empty()  # a request is answered, never queued
        protocol.datagram_received(b"", ("10.0.0.1", 9))  # neither: aioice's way, as before
        assert seam.fast_srtp_datagrams(dtls) == 1
        assert connection._queue.get_nowait() == (b"", 1)


def test_srtp_unprotector_hooks_exist() -> None:
    """`seam.srtp_unprotector` does what pylibsrtp's `Session.unprotect` does, with the
    session's `srtp_t` and a buffer of its own."""
    assert importlib.metadata.version("pylibsrtp") == seam.PYLIBSRTP_VERSION == "1.0.0"
    session = pylibsrtp.Session
    assert "self.__process(packet, lib.srtp_unprotect)" in inspect.getsource(session.unprotect)
    process = inspect.getsource(session._Session__process)  # type: ignore[attr-defined]
    assert "_srtp_assert(func(self._srtp[0], self._cdata, len_p))" in process
    assert "return self._buffer[0 : len_p[0]]" in process
    init = inspect.getsource(session.__init__)
    assert 'self._srtp = ffi.gc(srtp, lambda x: lib.srtp_dealloc(x[0]))' in init
    assert 'self._cdata = ffi.new("char[]", 1500)' in init
    assert "_rx_srtp = Session(" in inspect.getsource(aiortc.rtcdtlstransport)


def test_patient_consent_hooks_exist() -> None:
    connect = inspect.getsource(aioice.ice.Connection.connect)
    assert "self._query_consent_task = asyncio.create_task(self.query_consent())" in connect
    consent = inspect.getsource(aioice.ice.Connection.query_consent)
    assert "request = self.build_request(pair, nominate=False)" in consent
    assert "retransmissions=0" in consent  # what the seam replaces
    assert "self._query_consent_task = None" in consent and "await self.close()" in consent
    assert "self._query_consent_task: asyncio.Task[None] | None = None" in inspect.getsource(
        aioice.ice.Connection.__init__)


class _Pair:
    """A nominated pair whose consent checks are answered as `answers` says, in turn."""

    def __init__(self, answers: list[bool]) -> None:
        self.remote_addr = ("192.0.2.1", 4000)
        self.protocol = self
        self.answers = answers
        self.retransmissions: list[int | None] = []

    async def request(self, request: object, addr: object, integrity_key: bytes,
                      retransmissions: int | None = None) -> None:
        self.retransmissions.append(retransmissions)
        if not (self.answers.pop(0) if self.answers else False):
            raise aioice.stun.TransactionTimeout()


class _Connection:
    def __init__(self, pair: _Pair) -> None:
        self._nominated = {1: pair}
        self.remote_password = "pw"
        self._query_consent_task: object = "running"
        self.closed = False

    def build_request(self, pair: object, nominate: bool) -> object:
        return object()

    async def query_consent(self) -> None:
        raise AssertionError("aioice's own consent checks ran")

    async def close(self) -> None:
        self.closed = True


async def test_patient_consent_keeps_a_slow_peer_and_ends_a_gone_one() -> None:
    # late answers, then one in time, again and again: aioice (6 misses in a row) would stay,
    # but 8 misses in a row would end it; the patient one waits for the expiry only
    slow = _Connection(_Pair(([False] * 7 + [True]) * 3))
    seam.patient_consent(slow, interval=0.01, expiry=0.5)  # type: ignore[arg-type]
    task = asyncio.ensure_future(slow.query_consent())
    await asyncio.sleep(0.3)
    assert not slow.closed and not task.done()
    task.cancel()
    assert set(slow._nominated[1].retransmissions) == {seam.CONSENT_RETRANSMISSIONS}

    unnominated = _Connection(_Pair([]))
    unnominated._nominated = {}
    seam.patient_consent(unnominated, interval=0.01, expiry=0.1)  # type: ignore[arg-type]
    task = asyncio.ensure_future(unnominated.query_consent())
    await asyncio.sleep(0.3)
    assert not unnominated.closed and not task.done()
    task.cancel()

    gone = _Connection(_Pair([]))
    seam.patient_consent(gone, interval=0.01, expiry=0.2)  # type: ignore[arg-type]
    await asyncio.wait_for(gone.query_consent(), 5)
    assert gone.closed and gone._query_consent_task is None


async def test_every_leg_checks_consent_patiently(media: Any) -> None:
    from conftest import ANNA, TEACHER

    stream, _ = await media.publish(TEACHER)
    sub_id, _ = await media.subscribe(ANNA, stream)
    room = media.service._sub_room[sub_id]
    for pc in (room.streams[stream].pc, room.subs[sub_id].pc):
        for connection in seam.ice_connections(pc):
            assert connection.query_consent.__qualname__.startswith("patient_consent")


async def test_lean_routes_count_nack_and_unwrap_rtx() -> None:
    """A lean receiver's handler per route: the tap sees each packet's fields (RTX as it
    came), the statistics count each SSRC, a gap is NACKed for the media SSRC, an RTX
    packet repairs it, and the REMB goes out once a second."""
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import RtcpPacket, RtcpPsfbPacket, RtcpRtpfbPacket, RtpPacket

    async with recvonly_video() as transceiver:
        receiver = transceiver.receiver
        fields = receiver.__dict__
        fields["_RTCRtpReceiver__codecs"].update({
            96: RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96),
            97: RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=97,
                                      parameters={"apt": 96})})
        fields["_RTCRtpReceiver__rtx_ssrc"][2222] = 1111
        fields["_RTCRtpReceiver__rtcp_ssrc"] = 5
        receiver._enabled = True
        rtcp: list[bytes] = []

        async def sent(data: bytes) -> None:
            rtcp.append(data)

        receiver.transport._send_rtp = sent  # the I/O boundary: what would go out
        seen: list[tuple[int, int, int, int, int, bytes, int | None]] = []
        seam.lean_receive(receiver, lambda *packet: seen.append(packet), 500_000)

        async def receive(ssrc: int, pt: int, seq: int, payload: bytes) -> None:
            packet = RtpPacket(payload_type=pt, sequence_number=seq, timestamp=seq * 3000,
                               ssrc=ssrc, payload=payload)
            await receiver._handle_rtp_packet(packet, arrival_time_ms=0)

        for seq in (10, 11, 13):
            await receive(1111, 96, seq, b"vp8")
        await receive(2222, 97, 1, b"\x00\x0cvp8")  # the retransmission of 12
        assert seen == [(1111, 96, 0, 10, 30000, b"vp8", None),
                        (1111, 96, 0, 11, 33000, b"vp8", None),
                        (1111, 96, 0, 13, 39000, b"vp8", None),
                        (2222, 97, 0, 1, 3000, b"\x00\x0cvp8", None)]
        streams = fields["_RTCRtpReceiver__remote_streams"]
        assert streams[1111].packets_received == 3 and streams[2222].packets_received == 1
        assert fields["_RTCRtpReceiver__nack_generator"].missing == set()  # repaired
        feedback = [p for data in rtcp for p in RtcpPacket.parse(data)]
        nacks = [p for p in feedback if isinstance(p, RtcpRtpfbPacket)]
        assert [(p.media_ssrc, p.lost) for p in nacks] == [(1111, [12])]
        rembs = [p for p in feedback if isinstance(p, RtcpPsfbPacket)]
        assert len(rembs) == 1  # the first packet's; the next is a second away


def test_transport_cc_hooks_exist() -> None:
    """`seam.negotiate_transport_cc` edits what `setRemoteDescription` negotiated and
    `createAnswer` answers; `rtcp_link` protects with the transport's SRTCP."""
    from aiortc.rtcdtlstransport import RTCDtlsTransport

    remote = inspect.getsource(aiortc.RTCPeerConnection.setRemoteDescription)
    assert "transceiver._codecs = common" in remote
    assert "transceiver._headerExtensions = find_common_header_extensions(" in remote
    answer = inspect.getsource(aiortc.rtcpeerconnection.create_media_description_for_transceiver)
    assert "codecs=transceiver._codecs" in answer
    assert "headerExtensions=transceiver._headerExtensions" in answer
    assert "self._tx_srtp.protect_rtcp(data)" in inspect.getsource(RTCDtlsTransport._send_rtp)
    assert "self.__rtcp_ssrc" in inspect.getsource(aiortc.RTCRtpReceiver._send_rtcp_nack)
