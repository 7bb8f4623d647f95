"""Receivers that yield encoded frames (`install`), or none at all (`drop_frames`)."""

from __future__ import annotations

import fractions
import logging
import queue
from typing import TYPE_CHECKING, Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder as _stock_get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
)

if TYPE_CHECKING:
    from av.stream import Stream

    EncodedPacket = av.Packet[Stream]
else:
    EncodedPacket = av.Packet

from .pins import AIORTC_VERSION

logger = logging.getLogger(__name__)


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
