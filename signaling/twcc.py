"""Transport-wide congestion control feedback: what a publisher's browser needs to pace itself.

Chromium's congestion control (GCC, send side) runs on feedback from the receiver: each RTP
packet carries a transport-wide sequence number (header extension `TRANSPORT_CC_URI`), and the
receiver tells the sender, every `INTERVAL` seconds, which of them arrived and when
(draft-holmer-rmcat-transport-wide-cc-extensions-01, section 3.1: an RTCP transport-layer
feedback packet, PT=205, FMT=15). From the arrival times the sender sees queues grow before
packets are lost: on a school's crowded uplink it slows down before the picture breaks up.
Without it, Chromium falls back to receiver reports and REMB (loss only), and an SFU that gives
none gets more bytes than it needs (loadtests/MEDIA.md, "Transport-wide feedback").

`TransportFeedback` keeps the arrivals of one transport (one publish leg: its audio and video
share the sequence) and builds the feedback packets; the leg sends them. Packets that arrive
after the feedback that reported them missing are dropped, as libwebrtc's receiver does.
"""

from __future__ import annotations

import struct

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
INTERVAL = 0.1  # seconds between feedback packets (libwebrtc's receiver default)
TICK_US = 250  # a receive delta's unit
REFERENCE_TICKS = 256  # the reference time's unit (64 ms) in ticks
MAX_STATUSES = 0xFFFF  # packet status count is 16 bits
MAX_GAP = 0x4000  # a jump further than this restarts the window (a new sender, a reset)
RTPFB, FMT_TWCC = 205, 15

NOT_RECEIVED, SMALL, LARGE = 0, 1, 2
_HEADER = struct.Struct("!BBHIIHHI")


class TransportFeedback:
    """The arrivals of one transport's packets since the last feedback, as feedback packets.

    `arrived(sequence, at_us)` records one packet (the 16-bit transport-wide sequence number,
    the arrival time in microseconds on a monotonic clock); `due(now_us)` says whether a
    feedback is owed; `take(sender_ssrc, media_ssrc, now_us)` returns the RTCP packets that
    report everything since the last one (usually one, empty if nothing arrived).
    """

    def __init__(self) -> None:
        self._last: int | None = None  # the newest sequence number seen, unwrapped
        self._base: int | None = None  # the first sequence number the next feedback reports
        self._arrivals: dict[int, int] = {}  # unwrapped sequence -> arrival, microseconds
        self._count = 0  # feedback packet count, 8 bits on the wire
        self._due_us = 0

    def arrived(self, sequence: int, at_us: int) -> None:
        if self._last is None:
            unwrapped = sequence
        else:
            step = (sequence - self._last) & 0xFFFF
            if step >= 0x8000:
                step -= 0x10000
            if abs(step) > MAX_GAP:  # not this sender's sequence any more: start again
                self._arrivals.clear()
                self._base = None
            unwrapped = self._last + step
        if self._base is None:
            self._base = unwrapped
        elif unwrapped < self._base:
            return  # already reported missing: too late
        if self._last is None or unwrapped > self._last:
            self._last = unwrapped
        self._arrivals.setdefault(unwrapped, at_us)

    def due(self, now_us: int) -> bool:
        return bool(self._arrivals) and now_us >= self._due_us

    def take(self, sender_ssrc: int, media_ssrc: int, now_us: int) -> list[bytes]:
        """The feedback packets for every packet since the last feedback; the next is due
        `INTERVAL` from now."""
        self._due_us = now_us + int(INTERVAL * 1_000_000)
        if not self._arrivals or self._base is None:
            return []
        newest = max(self._arrivals)
        packets = []
        base = self._base
        while base <= newest:
            # the next arrival: within MAX_STATUSES of base, as arrivals are at most
            # MAX_GAP apart (a longer jump restarts) and a packet ends at one or at `end`
            first = min(seq for seq in self._arrivals if seq >= base)
            end = min(newest + 1, base + MAX_STATUSES)
            packet, end = self._packet(sender_ssrc, media_ssrc, base, first, end)
            packets.append(packet)
            base = end
        self._arrivals.clear()
        self._base = newest + 1
        return packets

    def _packet(self, sender_ssrc: int, media_ssrc: int, base: int, received: int,
                end: int) -> tuple[bytes, int]:
        """One feedback packet from `base` (`received` the first that arrived), up to `end`
        or the first delta that does not fit in 16 bits (the rest goes in the next packet);
        returns it and where it ended."""
        arrivals = self._arrivals
        first = arrivals[received]
        reference = (first // TICK_US) // REFERENCE_TICKS
        previous = reference * REFERENCE_TICKS
        statuses: list[int] = []
        deltas = bytearray()
        seq = base
        while seq < end:
            at = arrivals.get(seq)
            if at is None:
                statuses.append(NOT_RECEIVED)
            else:
                ticks = at // TICK_US
                delta = ticks - previous
                if 0 <= delta <= 0xFF:
                    statuses.append(SMALL)
                    deltas.append(delta)
                elif -0x8000 <= delta <= 0x7FFF:
                    statuses.append(LARGE)
                    deltas += delta.to_bytes(2, "big", signed=True)
                else:  # never the first received (its delta is under 64 ms): the next
                    break  # packet starts here, with its own reference time
                previous = ticks
            seq += 1
        body = _chunks(statuses) + deltas
        padding = -(_HEADER.size + len(body)) % 4  # the last byte says how many (P bit set)
        if padding:
            body += bytes(padding - 1) + bytes([padding])
        header = _HEADER.pack(0x80 | (0x20 if padding else 0) | FMT_TWCC, RTPFB,
                              (_HEADER.size + len(body)) // 4 - 1, sender_ssrc, media_ssrc,
                              base & 0xFFFF, len(statuses),
                              ((reference & 0xFFFFFF) << 8) | (self._count & 0xFF))
        self._count += 1
        return header + body, seq


def _chunks(statuses: list[int]) -> bytes:
    """Packet status chunks: a run-length chunk for a run of 7 or more of one symbol, a
    two-bit status vector chunk (7 symbols) otherwise."""
    out = bytearray()
    i, n = 0, len(statuses)
    while i < n:
        symbol = statuses[i]
        run = 1
        while i + run < n and statuses[i + run] == symbol and run < 0x1FFF:
            run += 1
        if run >= 7:
            out += ((symbol << 13) | run).to_bytes(2, "big")
            i += run
            continue
        word = 0xC000  # status vector, two-bit symbols
        for k in range(7):
            value = statuses[i + k] if i + k < n else NOT_RECEIVED
            word |= value << (2 * (6 - k))
        out += word.to_bytes(2, "big")
        i += 7
    return bytes(out)


def transport_sequence(data: bytes, extension_id: int) -> int | None:
    """The transport-wide sequence number in an RTP packet's RFC 8285 one-byte header
    extension `extension_id` (None if absent, malformed or not one-byte)."""
    end = len(data)
    if end < 12 or not data[0] & 0x10:
        return None
    pos = 12 + 4 * (data[0] & 0x0F)
    if end < pos + 4 or data[pos] != 0xBE or data[pos + 1] != 0xDE:
        return None
    stop = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    if end < stop:
        return None
    pos += 4
    while pos < stop:
        byte = data[pos]
        if not byte:
            pos += 1
            continue
        if byte >> 4 == 15:
            return None
        length = (byte & 0x0F) + 1
        if byte >> 4 == extension_id:
            return ((data[pos + 1] << 8) | data[pos + 2]) if length == 2 and \
                pos + 3 <= stop else None
        pos += 1 + length
    return None
