"""One codec per kind, on both legs: VP8 video (with RTX), Opus audio.

Forwarding cannot translate between codecs, so every publisher and every
subscriber must agree on the same one; `pin()` sets the transceiver's codec
preferences before the description that negotiates it.
"""

from __future__ import annotations

from aiortc import RTCRtpReceiver, RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

VIDEO_MIME = "video/VP8"
AUDIO_MIME = "audio/opus"


def preferred(kind: str) -> list[RTCRtpCodecCapability]:
    caps = RTCRtpReceiver.getCapabilities(kind)
    if caps is None:  # pragma: no cover - aiortc knows both kinds
        raise ValueError(kind)
    wanted = VIDEO_MIME if kind == "video" else AUDIO_MIME
    out = [c for c in caps.codecs if c.mimeType.lower() == wanted.lower()]
    if kind == "video":
        out += [c for c in caps.codecs if c.mimeType.lower() == "video/rtx"]
    return out


def pin(transceiver: RTCRtpTransceiver) -> None:
    transceiver.setCodecPreferences(preferred(transceiver.kind))


def vp8_is_keyframe(frame: bytes) -> bool:
    """RFC 6386 9.1: bit 0 of the frame tag is 0 on a key frame."""
    return len(frame) >= 3 and not (frame[0] & 0x01)
