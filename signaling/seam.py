"""Every use of aiortc's private surface, in one place.

aiortc 1.16 decodes what it receives and encodes what it sends. The forwarding
unit wants neither, and gets there through these seams (read from the pinned
aiortc==1.16.0 source; `tests/media/test_seam.py` fails loudly if one moves):

- `install()` replaces `get_decoder` in `aiortc.rtcrtpreceiver` (looked up by
  the decoder thread at run time) with `PassthroughDecoder`, so a remote track
  yields the depayloaded encoded frame as an `av.Packet`. Process-wide and
  idempotent; the media service calls it at start.
- Sending needs no patch: `RTCRtpSender._next_encoded_frame` passes anything
  that is not an `av.Frame` to the encoder's `pack()` unchanged.
- `lean_receive()` replaces one receiver's `_handle_rtp_packet` (what a publish leg
  uses), with a handler bound once per route (SSRC, payload type): the tap, then only
  what a forwarding unit owes the publisher: the statistics of its receiver reports
  (`RTCRtpReceiver.__remote_streams`), NACKs for video (`__nack_generator`, RTX
  unwrapped by `__rtx_ssrc`) and a REMB at a fixed cap once a second (as Janus's
  VideoRoom does with its room bitrate). aiortc's per-packet remote bitrate
  estimator, depacketizer and jitter buffer (which only fed the dropped frames)
  never run: at classroom load the estimator measured the unit's own event-loop
  delays and told every publisher ~30 kbit/s (loadtests/MEDIA.md, "side by side
  with Janus").
- `fast_srtp()` replaces one ICE connection's `data_received` (aioice): a publish
  leg's SRTP media packets are unprotected (`RTCDtlsTransport._rx_srtp`, through
  `srtp_unprotector`), read and handed to the `lean_receive` handler of their route in
  the datagram callback, instead of a queue, a task wake-up and
  `RTCDtlsTransport._recv_next`'s coroutines; STUN, DTLS and RTCP keep aioice's and
  aiortc's way. Once a (SSRC, payload type) has been routed (`RTCDtlsTransport._rtp_router`,
  on a fully parsed first packet), its packets are read as fields (the fixed header,
  `rtp_payload` of `signaling/rtp.py`: no `RtpPacket`, the header extensions only for
  the audio level of an audio leg): a publish leg never renegotiates, so the route holds.
  It also replaces the `datagram_received` of the connection's host `StunProtocol`s
  (`aioice.Connection._protocols`): a datagram whose first byte says RTP or RTCP
  (RFC 7983: 128..191) goes straight to that `data_received`, where aioice first tried
  each one as a STUN message and caught the parse error (a raise per media packet).
- `srtp_unprotector()` unprotects with a pylibsrtp `Session`'s `srtp_t` (`Session._srtp`,
  pylibsrtp==1.0.0) and libsrtp's `srtp_unprotect`, a buffer of its own: what
  `Session.unprotect` does without its three Python frames and an allocation per packet.
- `patient_consent()` replaces one aioice connection's `query_consent` (before ICE
  completes, when `connect()` starts it): aioice waits 0.5 s for each consent check,
  never retransmits, and closes after six late answers in a row; RFC 7675 ends consent
  after 30 s without any answer. Here each check is retransmitted twice (3.5 s) and the
  connection closes only after `CONSENT_EXPIRY` seconds with no answer at all: a pupil
  on a link (or a browser on a machine) slow for a while keeps the class.
- `on_keyframe_request()` replaces one sender's `_send_keyframe`, which the
  sender calls on a subscriber's PLI or FIR (it would only set a flag for an
  encoder that passthrough never runs).
- `send_pli()` asks a publisher for a keyframe through the receiver's PLI.
- `drop_frames()` swaps one receiver's decoder queue (`RTCRtpReceiver.__decoder_queue`,
  before `receive()` starts the decoder thread on it) for one that drops the
  complete frames and only passes the end-of-stream: the packets are forwarded
  from the RTP tap, so handing every frame to a thread and back to the event
  loop would be pure cost. The jitter buffer still runs (NACKs and PLIs upstream).
- `RtpWriter` sends ready-made RTP packets on one sender's transport: SRTP
  protect (`RTCDtlsTransport._tx_srtp`) and a datagram on the nominated ICE pair
  (`aioice.Connection._nominated`; straight to a `StunProtocol`'s transport, a
  TURN relay's protocol in a task), what `RTCDtlsTransport._send_rtp` does
  without its coroutines; the pair's transport and address are looked up once per
  nominated pair, not per packet. It keeps the sender's RTCP sender report right
  (`RTCRtpSender.__ntp_timestamp` and friends) and answers the subscriber's
  NACKs (it replaces `RTCRtpSender._retransmit`). The sender's own RTP loop
  stays idle: its track never yields. Its protect-and-send is `SrtpLink`, which
  `rtcp_link()` also gives a publish leg for RTCP of our own (SRTCP protect).
- `negotiate_transport_cc()` answers the transport-wide congestion control a
  browser offers (between `setRemoteDescription` and `createAnswer`: the
  extension into `RTCRtpTransceiver._headerExtensions`, the `transport-cc`
  feedback into `_codecs`), which aiortc would drop; `fast_srtp(dtls, arrivals)`
  then hands on each packet's transport-wide sequence number (`signaling/twcc.py`
  builds the feedback). `rtcp_ssrc()` reads `RTCRtpReceiver.__rtcp_ssrc`.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import random
import struct
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
import pylibsrtp
from aioice.ice import CONSENT_INTERVAL as _AIOICE_CONSENT_INTERVAL
from aioice.ice import Connection as _AioiceConnection
from aioice.ice import StunProtocol as _StunProtocol
from aioice.stun import TransactionError as _StunTransactionError
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc import sdp as _aiortc_sdp
from aiortc.codecs import get_decoder as _stock_get_decoder
from aiortc.codecs import is_rtx
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
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

from .rtp import RTP_HEADER, rtp_payload
from .twcc import TRANSPORT_CC_URI, transport_sequence

if TYPE_CHECKING:
    from av.stream import Stream

    EncodedPacket = av.Packet[Stream]
else:
    EncodedPacket = av.Packet

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"
PYLIBSRTP_VERSION = "1.0.0"


class PassthroughDecoder:
    """A 'decoder' that hands the encoded frame on as an `av.Packet`."""

    def __init__(self, clock_rate: int) -> None:
        self.time_base = fractions.Fraction(1, clock_rate)

    def decode(self, encoded_frame: JitterFrame) -> list[EncodedPacket]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = self.time_base
        return [packet]


def passthrough_get_decoder(codec: RTCRtpCodecParameters) -> PassthroughDecoder:
    return PassthroughDecoder(codec.clockRate)


def install() -> None:
    """Make every aiortc receiver of this process yield encoded packets."""
    current = getattr(_receiver_module, "get_decoder", None)
    if current is passthrough_get_decoder:
        return
    if current is not _stock_get_decoder:
        raise RuntimeError(
            "aiortc.rtcrtpreceiver.get_decoder is not aiortc's own: the seam moved "
            f"or someone else patched it (pinned aiortc=={AIORTC_VERSION})"
        )
    setattr(_receiver_module, "get_decoder", passthrough_get_decoder)  # noqa: B010
    logger.info("passthrough decoder installed in aiortc.rtcrtpreceiver")


def uninstall() -> None:
    """Restore aiortc's decoders (tests and the transcoding benchmark)."""
    setattr(_receiver_module, "get_decoder", _stock_get_decoder)  # noqa: B010


def installed() -> bool:
    return getattr(_receiver_module, "get_decoder", None) is passthrough_get_decoder


class _EndOnlyQueue(queue.Queue[Any]):
    """A decoder queue that drops frames and passes only the end (None)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)


_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"


def drop_frames(receiver: RTCRtpReceiver) -> None:
    """Make `receiver` drop its reassembled frames; its track only ends.

    Call before the description that starts the receiver (its decoder thread).
    """
    fields: dict[str, Any] = receiver.__dict__
    if not isinstance(fields.get(_DECODER_QUEUE), queue.Queue) or _DECODER_THREAD not in fields:
        raise RuntimeError("aiortc RTCRtpReceiver.__decoder_queue moved")
    if fields[_DECODER_THREAD] is not None:
        raise RuntimeError("drop_frames() after the receiver started")
    fields[_DECODER_QUEUE] = _EndOnlyQueue()


def drops_frames(receiver: RTCRtpReceiver) -> bool:
    return isinstance(receiver.__dict__.get(_DECODER_QUEUE), _EndOnlyQueue)


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


CONSENT_EXPIRY = 30.0  # seconds without any consent answer (RFC 7675 section 5.1)
CONSENT_RETRANSMISSIONS = 2  # a check waits 0.5 + 1 + 2 s for its answer


def patient_consent(
    connection: _AioiceConnection,
    *,
    interval: float = _AIOICE_CONSENT_INTERVAL,
    expiry: float = CONSENT_EXPIRY,
) -> None:
    """Check consent on `connection` every ~`interval` s; close after `expiry` s unanswered."""
    if not callable(getattr(connection, "query_consent", None)) or not callable(
        getattr(connection, "build_request", None)
    ):
        raise RuntimeError("aioice Connection.query_consent or build_request moved")

    async def query_consent() -> None:
        loop = asyncio.get_running_loop()
        answered = loop.time()
        password = connection.remote_password
        if password is None:
            raise RuntimeError("consent checks before the remote password")
        while True:
            await asyncio.sleep(interval * (0.8 + 0.4 * random.random()))
            pairs = list(connection._nominated.values())
            if not pairs:  # nothing to check yet (aioice's own counts no miss either)
                answered = loop.time()
            for pair in pairs:
                request = connection.build_request(pair, nominate=False)
                try:
                    await pair.protocol.request(
                        request, pair.remote_addr, integrity_key=password.encode("utf8"),
                        retransmissions=CONSENT_RETRANSMISSIONS)
                    answered = loop.time()
                except _StunTransactionError:
                    pass
            if loop.time() - answered >= expiry:
                logger.info("consent expired: no answer for %.0f s", loop.time() - answered)
                connection._query_consent_task = None
                await connection.close()
                return

    connection.query_consent = query_consent  # type: ignore[method-assign]


def ice_connections(pc: Any) -> list[_AioiceConnection]:
    """The aioice connections of a PeerConnection's transceivers (one with BUNDLE)."""
    found: dict[int, _AioiceConnection] = {}
    for transceiver in pc.getTransceivers():
        connection = transceiver.sender.transport.transport._connection
        found[id(connection)] = connection
    return list(found.values())


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback()` when the remote end of `sender` sends a PLI or FIR."""
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RuntimeError("aiortc RTCRtpSender._send_keyframe moved")
    sender._send_keyframe = callback  # type: ignore[method-assign]


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


def primary_payload_type(transceiver: RTCRtpTransceiver) -> int | None:
    """The payload type of the negotiated media codec (not RTX) of a transceiver."""
    negotiated: list[RTCRtpCodecParameters] = transceiver._codecs
    for codec in negotiated:
        if codec.mimeType.lower() != f"{transceiver.kind}/rtx":
            return codec.payloadType
    return None


def rtx_payload_type(transceiver: RTCRtpTransceiver, primary: int) -> int | None:
    """The negotiated RTX payload type that repairs `primary`, if any."""
    negotiated: list[RTCRtpCodecParameters] = transceiver._codecs
    for codec in negotiated:
        if codec.mimeType.lower() == f"{transceiver.kind}/rtx":
            if codec.parameters.get("apt") == primary:
                return codec.payloadType
    return None


def negotiate_transport_cc(transceivers: list[RTCRtpTransceiver], offer: str) -> int | None:
    """Accept the transport-wide congestion control an offer proposes, on these transceivers.

    aiortc answers only the header extensions it sends itself (`HEADER_EXTENSIONS`) and keeps
    of each codec only the feedback it knows; a forwarding unit receiving from a browser owes
    the browser transport-cc feedback (`signaling.twcc`). Called between
    `setRemoteDescription(offer)` and `createAnswer()`: for each transceiver whose media in
    the offer has the transport-cc extension, adds it (at the offered id) to the
    transceiver's `_headerExtensions` and `transport-cc` to the feedback of each of its
    `_codecs` the offer gave it to. Returns the extension id (one per transport under
    BUNDLE), or None if the offer has none.
    """
    parsed = _aiortc_sdp.SessionDescription.parse(offer)
    found: int | None = None
    for transceiver in transceivers:
        media = next((m for m in parsed.media if m.rtp.muxId == transceiver.mid), None)
        if media is None:
            continue
        offered = next((x for x in media.rtp.headerExtensions
                        if x.uri == TRANSPORT_CC_URI), None)
        if offered is None or not 1 <= offered.id <= 14:  # one-byte headers only
            continue
        negotiated: list[RTCRtpHeaderExtensionParameters] = transceiver._headerExtensions
        if all(x.uri != TRANSPORT_CC_URI for x in negotiated):
            negotiated.append(RTCRtpHeaderExtensionParameters(id=offered.id,
                                                               uri=TRANSPORT_CC_URI))
        with_feedback = {c.payloadType for c in media.rtp.codecs
                         if RTCRtcpFeedback(type="transport-cc") in c.rtcpFeedback}
        codecs: list[RTCRtpCodecParameters] = transceiver._codecs
        for codec in codecs:
            if codec.payloadType in with_feedback and \
                    RTCRtcpFeedback(type="transport-cc") not in codec.rtcpFeedback:
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="transport-cc"))
        found = offered.id
    return found


def rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """The SSRC a receiver signs its RTCP with (`RTCRtpReceiver.__rtcp_ssrc`), once known."""
    value = receiver.__dict__.get("_RTCRtpReceiver__rtcp_ssrc")
    return value if isinstance(value, int) else None


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
NTP_EPOCH = 2208988800  # seconds from 1900 to 1970


def ntp_now() -> int:
    """The 64-bit NTP time now, as `aiortc.clock.current_ntp_time()` (but cheap)."""
    return int((time.time() + NTP_EPOCH) * (1 << 32))


def abs_send_time(ntp: int) -> bytes:
    """The 3-byte abs-send-time header extension value for an NTP time."""
    return ((ntp >> 14) & 0xFFFFFF).to_bytes(3, "big")


Retransmit = Callable[[int], None]


class SrtpLink:
    """Protects and sends packets on one DTLS transport's nominated ICE pair, at once.

    What `RTCDtlsTransport._send_rtp` does without its coroutines (aioice's `send` through
    `Connection.sendto`): `protect` (the transport's SRTP or SRTCP protect), then a datagram
    on the nominated pair, its transport and address looked up once per pair.
    """

    def __init__(self, dtls: RTCDtlsTransport, protect: Callable[[bytes], bytes]) -> None:
        self._dtls = dtls
        self._protect = protect
        self._nominated: dict[int, Any] = dtls.transport._connection._nominated
        self._pair: Any = None  # the nominated pair `_send` sends on
        self._send: Callable[[bytes], None] = _nothing

    def write(self, packet: bytes) -> bool:
        """Protect and send one packet; False if the transport is not up."""
        if self._dtls._state is not DtlsState.CONNECTED:
            return False
        pair = self._nominated.get(1)
        if pair is None:
            return False
        try:
            if pair is not self._pair:
                self._send = datagram_sender(pair)
                self._pair = pair
            self._send(self._protect(packet))
        except (AttributeError, OSError):  # closed under us
            return False
        return True


def rtcp_link(dtls: RTCDtlsTransport) -> SrtpLink:
    """How to send RTCP packets of our own (transport-cc feedback) on a transport, at once."""
    return SrtpLink(dtls, dtls._tx_srtp.protect_rtcp)


class RtpWriter(SrtpLink):
    """Sends ready-made RTP packets on one negotiated, started sender.

    `header_extensions(abs_send_time)` gives the RFC 8285 one-byte header
    extension block (with the 0xBEDE profile) carrying the mid and abs-send-time,
    as negotiated on this transceiver; `write(packet)` protects and sends one
    RTP packet; `sent()` records what went out for the sender's RTCP reports.
    """

    def __init__(self, transceiver: RTCRtpTransceiver, retransmit: Retransmit) -> None:
        sender = transceiver.sender
        primary = primary_payload_type(transceiver)
        if primary is None:
            raise RuntimeError("transceiver has no negotiated codec")
        self.payload_type = primary
        self.rtx_payload_type = rtx_payload_type(transceiver, primary)
        self.ssrc: int = sender._ssrc
        self.rtx_ssrc: int = sender._rtx_ssrc
        self._sender_fields: dict[str, Any] = sender.__dict__
        for name in _SENDER_FIELDS:
            if name not in self._sender_fields:
                raise RuntimeError(f"aiortc RTCRtpSender.{name} moved")
        dtls = sender.transport
        super().__init__(dtls, dtls._tx_srtp.protect)
        self._ext_before, self._ext_after, self._has_abs = _extension_template(transceiver)

        async def nack(sequence_number: int) -> None:
            retransmit(sequence_number)

        if not callable(getattr(sender, "_retransmit", None)):
            raise RuntimeError("aiortc RTCRtpSender._retransmit moved")
        sender._retransmit = nack  # type: ignore[method-assign]

    def header_extensions(self, abs_send_time: bytes) -> bytes:
        if self._has_abs:
            return self._ext_before + abs_send_time + self._ext_after
        return self._ext_before

    def sent(self, ntp: int, timestamp: int, octets: int, newest: bool) -> None:
        """Count a packet for the sender report; map NTP to RTP time on the newest."""
        fields = self._sender_fields
        if newest:
            fields["_RTCRtpSender__ntp_timestamp"] = ntp
            fields["_RTCRtpSender__rtp_timestamp"] = timestamp
        fields["_RTCRtpSender__octet_count"] += octets
        fields["_RTCRtpSender__packet_count"] += 1


def send_datagram(pair: Any, data: bytes) -> None:
    """Send on a nominated aioice candidate pair, as `StunProtocol.send_data` does."""
    datagram_sender(pair)(data)


def datagram_sender(pair: Any) -> Callable[[bytes], None]:
    """How to send on a nominated aioice candidate pair, as `StunProtocol.send_data` does.

    A host or server-reflexive pair's protocol is a `StunProtocol`: write to its
    datagram transport right away (the transport and the address looked up once).
    Anything else (a TURN relay wraps the data) goes through the protocol's own
    coroutine, in a task.
    """
    protocol = pair.protocol
    addr = pair.remote_addr
    if protocol.__class__ is _StunProtocol:
        sendto = protocol.transport.sendto

        def send(data: bytes) -> None:
            sendto(data, addr)

        return send

    def relay(data: bytes) -> None:
        asyncio.ensure_future(protocol.send_data(data, addr))

    return relay


def _nothing(data: bytes) -> None:
    return None


_SENDER_FIELDS = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
)


def header_extension_id(transceiver: RTCRtpTransceiver, uri: str) -> int | None:
    """The id a transceiver negotiated for the header extension `uri`, if it did."""
    negotiated: list[Any] = transceiver._headerExtensions
    for ext in negotiated:
        if ext.uri == uri:
            return int(ext.id)
    return None


def _extension_template(transceiver: RTCRtpTransceiver) -> tuple[bytes, bytes, bool]:
    """The negotiated mid and abs-send-time of a transceiver, as a block template."""
    mid_id = abs_id = None
    negotiated: list[Any] = transceiver._headerExtensions
    for ext in negotiated:
        if ext.uri == MID_URI:
            mid_id = ext.id
        elif ext.uri == ABS_SEND_TIME_URI:
            abs_id = ext.id
    return extension_template(mid_id, transceiver.mid, abs_id)


def extension_template(
    mid_id: int | None, mid: str | None, abs_id: int | None
) -> tuple[bytes, bytes, bool]:
    """An RFC 8285 one-byte header extension block with the mid and abs-send-time.

    Returns (the block up to the abs-send-time value, the rest, whether it has
    one): a packet's block is `before + abs_send_time(ntp) + after`.
    """
    elements = b""
    mid_bytes = (mid or "").encode()
    if mid_id is not None and 1 <= mid_id <= 14 and 1 <= len(mid_bytes) <= 16:
        elements += bytes([(mid_id << 4) | (len(mid_bytes) - 1)]) + mid_bytes
    has_abs = abs_id is not None and 1 <= abs_id <= 14
    size = len(elements) + (4 if has_abs else 0)
    if not size:
        return b"", b"", False
    padding = -size % 4
    head = b"\xbe\xde" + ((size + padding) // 4).to_bytes(2, "big")
    if abs_id is not None and has_abs:
        return head + elements + bytes([(abs_id << 4) | 2]), bytes(padding), True
    return head + elements + bytes(padding), b"", False
