"""What a transceiver negotiated (payload types, header extension ids), and the
transport-wide congestion control aiortc would not answer (`negotiate_transport_cc`)."""

from __future__ import annotations

from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc import sdp as _aiortc_sdp
from aiortc.rtcrtpparameters import (
    RTCRtcpFeedback,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)

from ..twcc import TRANSPORT_CC_URI


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


TRANSPORT_CC_FEEDBACK = RTCRtcpFeedback(type="transport-cc")


def negotiate_transport_cc(transceivers: list[RTCRtpTransceiver],
                           offer: _aiortc_sdp.SessionDescription) -> int | None:
    """Accept the transport-wide congestion control an offer proposes, on these transceivers.

    aiortc answers only the header extensions it sends itself (`HEADER_EXTENSIONS`) and keeps
    of each codec only the feedback it knows; a forwarding unit receiving from a browser owes
    the browser transport-cc feedback (`signaling.twcc`). Called between
    `setRemoteDescription(offer)` and `createAnswer()`: for each transceiver whose media in
    the offer has the transport-cc extension, adds it (at the offered id) to the
    transceiver's `_headerExtensions` and `transport-cc` to the feedback of each of its
    `_codecs` the offer (parsed, `aiortc.sdp.SessionDescription`) gave it to. Returns the
    extension id (one per transport under
    BUNDLE), or None if the offer has none.
    """
    found: int | None = None
    for transceiver in transceivers:
        media = next((m for m in offer.media if m.rtp.muxId == transceiver.mid), None)
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
                         if TRANSPORT_CC_FEEDBACK in c.rtcpFeedback}
        codecs: list[RTCRtpCodecParameters] = transceiver._codecs
        for codec in codecs:
            if codec.payloadType in with_feedback and \
                    TRANSPORT_CC_FEEDBACK not in codec.rtcpFeedback:
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="transport-cc"))
        found = offered.id
    return found


MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


def header_extension_id(transceiver: RTCRtpTransceiver, uri: str) -> int | None:
    """The id a transceiver negotiated for the header extension `uri`, if it did."""
    negotiated: list[Any] = transceiver._headerExtensions
    for ext in negotiated:
        if ext.uri == uri:
            return int(ext.id)
    return None
