"""A publish leg's packets: read in the datagram callback (`fast_srtp`), unprotected by
libsrtp directly (`srtp_unprotector`), handled as a forwarding unit needs (`lean_receive`)."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pylibsrtp
from aioice.ice import Connection as _AioiceConnection
from aioice.ice import StunProtocol as _StunProtocol
from aiortc import RTCRtpReceiver
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
)
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtpPacket,
    pack_remb_fci,
)
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

from ..rtp import RTP_HEADER, rtp_payload
from ..twcc import transport_sequence
from .pins import PYLIBSRTP_VERSION

logger = logging.getLogger(__name__)


_RECEIVER_FIELDS = (
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__remote_streams",
    "_RTCRtpReceiver__nack_generator",
    "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__rtcp_ssrc",
)
REMB_INTERVAL = 1.0  # seconds

MediaTap = Callable[[int, int, int, int, int, bytes, "int | None"], None]
"""`tap(ssrc, payload_type, marker, sequence_number, timestamp, payload, audio_level)`:
one received RTP packet (RTX not unwrapped), the ssrc-audio-level in -dBov or None."""

PacketHandler = Callable[[int, int, int, bytes, "int | None"], "Awaitable[None] | None"]
"""`handle(marker, sequence_number, timestamp, payload, audio_level)` of one route (one
SSRC and payload type); returns the RTCP it calls for (rarely) as a coroutine to await."""

RouteHandlers = Callable[[int, int], PacketHandler]


def lean_receive(receiver: RTCRtpReceiver, tap: MediaTap, remb_bitrate: int | None,
                 *, audio_level_id: int | None = None) -> None:
    """Handle each RTP packet of `receiver` as a forwarding unit needs, in place of aiortc.

    `tap(...)` sees each packet first (RTX not unwrapped), with its ssrc-audio-level read
    from the header extension `audio_level_id` (audio legs; None: not read). Then:
    receiver-report statistics per SSRC, NACKs for lost video packets, and for video a REMB
    of `remb_bitrate` (bit/s; None sends none) once a second. No bitrate estimator, no
    depacketizing, no jitter buffer: the frames were only ever dropped.

    The work is bound once per route (SSRC, payload type): its codec, statistics, whether it
    is RTX. `fast_srtp` calls a route's handler with the fields it read off the datagram (no
    `RtpPacket` per packet); aiortc's own path (`_handle_rtp_packet`) with a parsed packet's.
    """
    fields: dict[str, Any] = receiver.__dict__
    for name in _RECEIVER_FIELDS:
        if name not in fields:
            raise RuntimeError(f"aiortc RTCRtpReceiver.{name} moved")
    if not callable(getattr(receiver, "_send_rtcp_nack", None)):
        raise RuntimeError("aiortc RTCRtpReceiver._send_rtcp_nack moved")
    codecs: dict[int, RTCRtpCodecParameters] = fields["_RTCRtpReceiver__codecs"]
    streams: dict[int, StreamStatistics] = fields["_RTCRtpReceiver__remote_streams"]
    rtx_ssrc: dict[int, int] = fields["_RTCRtpReceiver__rtx_ssrc"]
    nacks: NackGenerator | None = fields["_RTCRtpReceiver__nack_generator"]
    remb_due = [0.0]  # time.monotonic() (aiortc's arrival times are wall clock)

    async def feedback(lost: tuple[int, list[int]] | None, remb: RtcpPsfbPacket | None) -> None:
        if lost is not None:
            await receiver._send_rtcp_nack(*lost)
        if remb is not None:
            await receiver._send_rtcp(remb)

    def remb_now(media_ssrc: int) -> RtcpPsfbPacket | None:
        if remb_bitrate is None or time.monotonic() < remb_due[0]:
            return None
        rtcp_ssrc = fields["_RTCRtpReceiver__rtcp_ssrc"]
        if rtcp_ssrc is None:
            return None
        remb_due[0] = time.monotonic() + REMB_INTERVAL
        return RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0,
                              fci=pack_remb_fci(remb_bitrate, [media_ssrc]))

    def route(ssrc: int, payload_type: int) -> PacketHandler:
        """The handler of one SSRC and payload type, its lookups done once."""
        codec = codecs.get(payload_type)
        # what StreamStatistics.add and NackGenerator.add read of a packet: its sequence
        # number and timestamp, set on one reused packet instead of a new one each time
        seen = RtpPacket(payload_type=payload_type, ssrc=ssrc)
        stats: list[StreamStatistics] = []
        apt = codec.parameters.get("apt") if codec is not None and is_rtx(codec) else None
        repair = codec is not None and is_rtx(codec)

        def handle(marker: int, seq: int, timestamp: int, payload: bytes,
                   level: int | None) -> Awaitable[None] | None:
            if not receiver._enabled:
                return None
            try:
                tap(ssrc, payload_type, marker, seq, timestamp, payload, level)
            except Exception:  # a tap must never break the media path
                logger.exception("rtp tap failed")
            if codec is None:
                return None
            if not stats:
                found = streams.get(ssrc)
                if found is None:
                    found = streams[ssrc] = StreamStatistics(codec.clockRate)
                stats.append(found)
            seen.sequence_number = seq
            seen.timestamp = timestamp
            stats[0].add(seen)
            if nacks is None:  # audio
                return None
            media_ssrc = ssrc
            if repair:  # RTX: the original sequence number, then the payload
                original = rtx_ssrc.get(ssrc)
                if original is None or len(payload) < 2 or not isinstance(apt, int):
                    return None
                media_ssrc = original
                seen.sequence_number = (payload[0] << 8) | payload[1]
            lost = (media_ssrc, sorted(nacks.missing)) if nacks.add(seen) else None
            remb = (remb_now(media_ssrc) if remb_bitrate is not None
                    and time.monotonic() >= remb_due[0] else None)
            if lost is None and remb is None:
                return None
            return feedback(lost, remb)

        return handle

    handlers: dict[int, PacketHandler] = {}

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        key = (packet.ssrc << 7) | packet.payload_type
        handle = handlers.get(key)
        if handle is None:
            handle = handlers[key] = route(packet.ssrc, packet.payload_type)
        later = handle(packet.marker, packet.sequence_number, packet.timestamp, packet.payload,
                       audio_level(packet) if audio_level_id is not None else None)
        if later is not None:
            await later

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
    fields[_LEAN] = (route, audio_level_id)


_LEAN = "_seam_lean_handler"


_SESSION_FIELDS = ("_srtp", "_cdata", "_buffer")
SRTP_BUFFER = 1500  # bytes: pylibsrtp's own Session buffer


def srtp_unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes | None]:
    """`session.unprotect(data)` without pylibsrtp's per-call work (three Python frames, an
    `int *` allocated per packet): one buffer and one length of our own, libsrtp's
    `srtp_unprotect` on the session's `srtp_t` (`Session._srtp`). None where pylibsrtp
    raises (authentication, replay, a packet too long)."""
    fields: dict[str, Any] = session.__dict__
    if any(name not in fields for name in _SESSION_FIELDS) or not callable(
        getattr(_srtp_lib, "srtp_unprotect", None)
    ):
        raise RuntimeError("pylibsrtp Session._srtp or srtp_unprotect moved "
                           f"(pinned pylibsrtp=={PYLIBSRTP_VERSION})")
    owner = fields["_srtp"]  # keeps the srtp_t alive as long as this closure
    srtp = owner[0]
    cdata = _srtp_ffi.new("char[]", SRTP_BUFFER)
    buffer = _srtp_ffi.buffer(cdata)
    length = _srtp_ffi.new("int *")
    unprotect = _srtp_lib.srtp_unprotect
    ok = _srtp_lib.srtp_err_status_ok

    def run(data: bytes) -> bytes | None:
        n = len(data)
        if n > SRTP_BUFFER:
            return None
        buffer[0:n] = data
        length[0] = n
        if unprotect(srtp, cdata, length) != ok:
            return None
        clear: bytes = buffer[0:length[0]]
        return clear

    return run


TransportSequence = tuple[int, Callable[[int], None]]
"""(the transport-cc header extension id, what to call with each packet's transport-wide
sequence number)."""


def fast_srtp(dtls: RTCDtlsTransport, arrivals: TransportSequence | None = None) -> None:
    """Take this transport's SRTP media packets straight from its ICE connection.

    aioice puts each datagram on a queue that `RTCDtlsTransport` reads in a task
    (a task wake-up and five coroutine frames per packet). Here an SRTP RTP packet
    (not STUN, DTLS or RTCP) is unprotected, parsed, routed and handed to its
    receiver's `lean_receive` handler in the datagram callback itself, as
    `RTCDtlsTransport._recv_next` would; the rest takes aioice's queue as before.
    Only receivers set up by `lean_receive` get packets this way. The first packet of
    each (SSRC, payload type) is parsed in full and routed by aiortc's router; the
    route's handler is then kept, and later packets are read as fields (`signaling.rtp.RTP_HEADER`,
    `rtp_payload`): no `RtpPacket` per packet. The connection's host `StunProtocol`s hand
    RTP and RTCP datagrams (first byte 128..191, RFC 7983) straight to this callback
    instead of trying each as STUN first. With `arrivals`, each unprotected RTP packet's
    transport-wide sequence number (negotiated by `negotiate_transport_cc`) is handed on as
    it arrives, for the publisher's congestion control (`signaling.twcc`).
    """
    connection = dtls.transport._connection
    queued: Callable[[bytes, int], None] = connection.data_received
    if getattr(queued, "__func__", None) is not _AioiceConnection.data_received:
        raise RuntimeError("aioice Connection.data_received moved or is patched")
    protocols: list[Any] = connection.__dict__.get("_protocols", ())
    stun_protocols = [p for p in protocols if p.__class__ is _StunProtocol]
    if not stun_protocols or any(
        getattr(p.datagram_received, "__func__", None) is not _StunProtocol.datagram_received
        for p in stun_protocols
    ):
        raise RuntimeError("aioice Connection._protocols or StunProtocol.datagram_received "
                           "moved or is patched")
    router = dtls._rtp_router
    extensions = dtls._rtp_header_extensions_map
    routes: dict[int, tuple[PacketHandler, int | None]] = {}
    counts = [0, 0]  # packets on the fast path, datagrams past aioice's STUN parse
    session: list[Any] = [None, None]  # the SRTP session seen last, its unprotector
    unpack = RTP_HEADER.unpack_from

    def route(clear: bytes, key: int) -> tuple[PacketHandler, int | None] | None:
        """A first packet: parse it all, route it; keep the route if it is a lean one."""
        packet = RtpPacket.parse(clear, extensions)
        receiver = router.route_rtp(packet)
        lean: tuple[RouteHandlers, int | None] | None = getattr(
            receiver, "__dict__", {}).get(_LEAN)
        if lean is None:
            if receiver is not None:  # not lean: aiortc's own way
                asyncio.ensure_future(receiver._handle_rtp_packet(
                    packet, arrival_time_ms=int(time.time() * 1000)))
            return None
        handlers, level_id = lean
        found = routes[key] = (handlers(packet.ssrc, packet.payload_type), level_id)
        return found

    def data_received(data: bytes, component: int) -> None:
        rx = dtls._rx_srtp
        if rx is None or len(data) < 12 or not 127 < data[0] < 192 or 191 < data[1] < 209:
            queued(data, component)  # not SRTP media (RTCP: 192..208, RFC 5761)
            return
        if rx is not session[0]:
            session[0], session[1] = rx, srtp_unprotector(rx)
        clear = session[1](data)
        if clear is None:
            return
        if arrivals is not None:
            sequence = transport_sequence(clear, arrivals[0])
            if sequence is not None:
                arrivals[1](sequence)
        try:
            _first, m_pt, seq, timestamp, ssrc = unpack(clear)
            key = (ssrc << 7) | (m_pt & 0x7F)
            known = routes.get(key)
            if known is None:
                known = route(clear, key)
                if known is None:
                    return
            payload, level = rtp_payload(clear, known[1])
        except (ValueError, IndexError, struct.error):
            return
        counts[0] += 1
        later = known[0](m_pt >> 7, seq, timestamp, payload, level)
        if later is not None:
            asyncio.ensure_future(later)

    for protocol in stun_protocols:
        protocol.datagram_received = _media_first(  # type: ignore[method-assign,assignment]
            protocol.datagram_received, data_received, protocol.local_candidate.component, counts)
    connection.data_received = data_received  # type: ignore[method-assign]
    dtls.__dict__[_FAST_COUNT] = counts


def _media_first(
    stun_received: Callable[[bytes | str, tuple[Any, ...]], None],
    media_received: Callable[[bytes, int], None],
    component: int,
    counts: list[int],
) -> Callable[[bytes | str, tuple[Any, ...]], None]:
    """A `StunProtocol.datagram_received` that passes RTP and RTCP on without a STUN parse."""

    def datagram_received(data: bytes | str, addr: tuple[Any, ...]) -> None:
        if data and isinstance(data, bytes) and 127 < data[0] < 192:  # RTP or RTCP; STUN
            counts[1] += 1  # is 0..3 (RFC 7983)
            media_received(data, component)
        else:
            stun_received(data, addr)

    return datagram_received


_FAST_COUNT = "_seam_fast_srtp_packets"


def fast_srtp_packets(dtls: RTCDtlsTransport) -> int:
    """Packets taken by `fast_srtp` on this transport (tests)."""
    counts: list[int] | None = dtls.__dict__.get(_FAST_COUNT)
    return counts[0] if counts is not None else 0


def fast_srtp_datagrams(dtls: RTCDtlsTransport) -> int:
    """RTP and RTCP datagrams `fast_srtp` took past aioice's STUN parse (tests)."""
    counts: list[int] | None = dtls.__dict__.get(_FAST_COUNT)
    return counts[1] if counts is not None else 0




async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a Picture Loss Indication for `media_ssrc` to the remote sender."""
    send: Callable[[int], Awaitable[None]] = receiver._send_rtcp_pli
    await send(media_ssrc)


def audio_level(packet: RtpPacket) -> int | None:
    """The ssrc-audio-level of a packet in -dBov (0 loudest, 127 silence)."""
    value: Any = packet.extensions.audio_level
    if value is None:
        return None
    _vad, level = value
    return int(level)


def rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """The SSRC a receiver signs its RTCP with (`RTCRtpReceiver.__rtcp_ssrc`), once known."""
    value = receiver.__dict__.get("_RTCRtpReceiver__rtcp_ssrc")
    return value if isinstance(value, int) else None
