"""Sending ready-made packets: `SrtpLink`, `RtpWriter`, their header extensions, and the
keyframe requests a subscriber's sender passes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aioice.ice import StunProtocol as _StunProtocol
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState

from .negotiate import (
    ABS_SEND_TIME_URI,
    MID_URI,
    primary_payload_type,
    rtx_payload_type,
)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback()` when the remote end of `sender` sends a PLI or FIR."""
    if not callable(getattr(sender, "_send_keyframe", None)):
        raise RuntimeError("aiortc RTCRtpSender._send_keyframe moved")
    sender._send_keyframe = callback  # type: ignore[method-assign]


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
