"""Reading an RTP packet on the forwarding path without building an `RtpPacket`.

A routed publisher packet needs only its fixed header (`RTP_HEADER`, read by the caller),
its payload and, on an audio leg, its ssrc-audio-level. `rtp_payload` reads those with
the checks and `ValueError`s of aiortc's `RtpPacket.parse` (RFC 3550 section 5.1, RFC 8285
one- and two-byte header extensions), and nothing else: no CSRC list, no
`HeaderExtensions` object. No library internals are touched here (the SRTP and routing
seams that call it are in `signaling/seam/`); `tests/media/test_relay.py` checks it
against aiortc's parser, packet by packet.
"""

from __future__ import annotations

import struct

RTP_HEADER = struct.Struct("!BBHLL")
_ONE_BYTE_PROFILE = 0xBEDE
_TWO_BYTE_PROFILE = 0x1000


def rtp_payload(data: bytes, audio_level_id: int | None) -> tuple[bytes, int | None]:
    """The payload of an RTP packet and its ssrc-audio-level (-dBov, from the header
    extension `audio_level_id`; None if not asked for or absent), with the checks and
    `ValueError`s of `RtpPacket.parse`; the CSRCs skipped, the other extensions not read.
    What a routed packet on the forwarding path needs: its fixed header is read by the
    caller (`RTP_HEADER`)."""
    end = len(data)
    if end < 12:
        raise ValueError("RTP packet length is less than 12 bytes")
    first = data[0]
    if first >> 6 != 2:
        raise ValueError("RTP packet has invalid version")
    pos = 12 + 4 * (first & 0x0F)
    if end < pos:
        raise ValueError("RTP packet has truncated CSRC")
    level = None
    if first & 0x10:
        if end < pos + 4:
            raise ValueError("RTP packet has truncated extension profile / length")
        profile = (data[pos] << 8) | data[pos + 1]
        start = pos + 4
        pos = start + 4 * ((data[pos + 2] << 8) | data[pos + 3])
        if end < pos:
            raise ValueError("RTP packet has truncated extension value")
        if audio_level_id is not None:
            level = _audio_level(data, start, pos, profile, audio_level_id)
    if first & 0x20:
        padding = data[-1]
        if not padding or padding > end - pos:
            raise ValueError("RTP packet padding length is invalid")
        end -= padding
    return data[pos:end], level


def _audio_level(data: bytes, pos: int, end: int, profile: int, wanted: int) -> int | None:
    """The ssrc-audio-level in an RFC 8285 extension block `data[pos:end]`, as aiortc's
    `unpack_header_extensions` and `HeaderExtensionsMap.get` read it (the last one wins;
    a truncated element, or a level that is not one byte, refuses the packet)."""
    level = None
    if profile == _ONE_BYTE_PROFILE:
        while pos < end:
            byte = data[pos]
            if not byte:  # padding
                pos += 1
                continue
            length = (byte & 0x0F) + 1
            pos += 1
            if end < pos + length:
                raise ValueError("RTP one-byte header extension value is truncated")
            if byte >> 4 == wanted:
                if length != 1:
                    raise ValueError("RTP audio level is not one byte")
                level = data[pos] & 0x7F
            pos += length
    elif profile == _TWO_BYTE_PROFILE:
        while pos < end:
            if not data[pos]:
                pos += 1
                continue
            if end < pos + 2:
                raise ValueError("RTP two-byte header extension is truncated")
            ident, length = data[pos], data[pos + 1]
            pos += 2
            if end < pos + length:
                raise ValueError("RTP two-byte header extension value is truncated")
            if ident == wanted:
                if length != 1:
                    raise ValueError("RTP audio level is not one byte")
                level = data[pos] & 0x7F
            pos += length
    return level
