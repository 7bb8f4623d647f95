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
- `tap_rtp()` wraps one receiver's `_handle_rtp_packet` to see each RTP packet
  (SSRC, payload type, the ssrc-audio-level header extension).
- `on_keyframe_request()` replaces one sender's `_send_keyframe`, which the
  sender calls on a subscriber's PLI or FIR (it would only set a flag for an
  encoder that passthrough never runs).
- `send_pli()` asks a publisher for a keyframe through the receiver's PLI.
"""

from __future__ import annotations

import fractions
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import get_decoder as _stock_get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

if TYPE_CHECKING:
    from av.stream import Stream

    EncodedPacket = av.Packet[Stream]
else:
    EncodedPacket = av.Packet

logger = logging.getLogger(__name__)

AIORTC_VERSION = "1.16.0"


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


RtpTap = Callable[[RtpPacket], None]


def tap_rtp(receiver: RTCRtpReceiver, tap: RtpTap) -> None:
    """Call `tap(packet)` for each RTP packet this receiver gets, before aiortc."""
    handle: Callable[..., Awaitable[None]] = receiver._handle_rtp_packet

    async def tapped(packet: RtpPacket, arrival_time_ms: int) -> None:
        try:
            tap(packet)
        except Exception:  # a tap must never break the media path
            logger.exception("rtp tap failed")
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = tapped  # type: ignore[method-assign]


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
