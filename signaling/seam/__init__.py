"""Every use of aiortc's private surface, in one place: this package.

Its modules, by concept: `decoder` (receivers that yield encoded frames or none),
`receive` (a publish leg's packets, from the datagram callback to the forwarding unit),
`send` (protect-and-send of ready-made packets), `negotiate` (what a transceiver
negotiated, and transport-cc), `consent` (ICE consent), `pins` (the versions read).
Callers import the package (`from signaling import seam`), never a module of it.

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

from .consent import (
    CONSENT_EXPIRY,
    CONSENT_RETRANSMISSIONS,
    ice_connections,
    patient_consent,
)
from .decoder import (
    EncodedPacket,
    PassthroughDecoder,
    drop_frames,
    drops_frames,
    install,
    installed,
    passthrough_get_decoder,
    uninstall,
)
from .negotiate import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    header_extension_id,
    negotiate_transport_cc,
    primary_payload_type,
    rtx_payload_type,
)
from .pins import AIORTC_VERSION, PYLIBSRTP_VERSION
from .receive import (
    REMB_INTERVAL,
    SRTP_BUFFER,
    MediaTap,
    PacketHandler,
    RouteHandlers,
    TransportSequence,
    audio_level,
    fast_srtp,
    fast_srtp_datagrams,
    fast_srtp_packets,
    lean_receive,
    rtcp_ssrc,
    send_pli,
    srtp_unprotector,
)
from .send import (
    NTP_EPOCH,
    Retransmit,
    RtpWriter,
    SrtpLink,
    _nothing,
    abs_send_time,
    datagram_sender,
    extension_template,
    ntp_now,
    on_keyframe_request,
    rtcp_link,
    send_datagram,
)

__all__ = [
    "ABS_SEND_TIME_URI", "AIORTC_VERSION", "AUDIO_LEVEL_URI", "CONSENT_EXPIRY",
    "CONSENT_RETRANSMISSIONS", "MID_URI", "NTP_EPOCH", "PYLIBSRTP_VERSION", "REMB_INTERVAL",
    "SRTP_BUFFER", "EncodedPacket", "MediaTap", "PacketHandler", "PassthroughDecoder",
    "Retransmit", "RouteHandlers", "RtpWriter", "SrtpLink", "TransportSequence", "_nothing",
    "abs_send_time", "audio_level", "datagram_sender", "drop_frames", "drops_frames",
    "extension_template", "fast_srtp", "fast_srtp_datagrams", "fast_srtp_packets",
    "header_extension_id", "ice_connections", "install", "installed", "lean_receive",
    "negotiate_transport_cc", "ntp_now", "on_keyframe_request", "passthrough_get_decoder",
    "patient_consent", "primary_payload_type", "rtcp_link", "rtcp_ssrc", "rtx_payload_type",
    "send_datagram", "send_pli", "srtp_unprotector", "uninstall",
]
