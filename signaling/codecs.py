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


def vp8_packet_starts(payload: bytes) -> tuple[bool, bool]:
    """(starts a frame, starts a key frame) for one VP8 RTP payload (RFC 7741 4.2).

    A frame starts in the packet with S=1 and partition index 0; its VP8 payload
    header (after the descriptor) holds the frame tag's key frame bit.
    """
    if not payload:
        return False, False
    first = payload[0]
    if not (first & 0x10) or first & 0x07:
        return False, False
    i = 1
    if first & 0x80:  # X: extension byte
        if len(payload) < 2:
            return False, False
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= i:
                return False, False
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            i += 1
    if len(payload) <= i:
        return True, False
    return True, not (payload[i] & 0x01)
