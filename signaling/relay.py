"""Fan-out of one published track's RTP packets to its subscribers.

A `Forwarder` sees every RTP packet of the publisher's track as it arrives (the
publish leg's RTP tap, before aiortc's jitter buffer) and hands the payload to
each `OutboundTrack`, which rewrites only the header (its own SSRC, payload
type, sequence numbers and timestamps, its leg's mid and abs-send-time) and
writes the packet straight to its subscribe leg's transport (`seam.RtpWriter`).
Nothing is depayloaded, re-packetized, decoded or encoded on the way: the
payload bytes a subscriber gets are the publisher's, and each packet costs one
header, one SRTP protect and one datagram per subscriber.

An `OutboundTrack` is still the track of its subscribe leg's sender, so aiortc
negotiates it, sends its RTCP reports and routes the subscriber's feedback: its
`recv()` marks the sender as started and then never yields (the sender's own
RTP loop idles). The subscriber's PLI/FIR goes upstream (`seam.on_keyframe_request`),
its NACKs are answered from the forwarder's recent packets (RTX if negotiated).

The publisher's receiver still runs aiortc's jitter buffer (NACKs, PLI on loss,
receiver reports, REMB) but drops the frames it reassembles (`seam.drop_frames`):
`Forwarder._run` only waits for the remote track's end, which ends the stream.
(Should a frame come through anyway, it is counted and dropped, never decoded:
the passthrough decoder stays installed.)

Forwarding is gated twice: `gate()` on the publisher (hard mute drops at the
source) and `enabled` on each output (last-N, room policy). A video output
that starts or resumes waits for the first packet of a keyframe and asks the
publisher for one; its sequence numbers stay contiguous across the gap.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections.abc import Callable
from typing import Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from . import seam
from .codecs import vp8_is_keyframe, vp8_packet_starts

logger = logging.getLogger(__name__)

HISTORY = 512  # packets kept per published track, to answer subscribers' NACKs
_HEADER = struct.Struct("!BBHLL")


class PacketSink(Protocol):
    """Where an output writes its packets: `seam.RtpWriter` (or a test's fake)."""

    payload_type: int
    rtx_payload_type: int | None
    ssrc: int
    rtx_ssrc: int

    def header_extensions(self, abs_send_time: bytes) -> bytes: ...

    def write(self, packet: bytes) -> bool: ...

    def sent(self, ntp: int, timestamp: int, octets: int, newest: bool) -> None: ...


SinkFactory = Callable[[seam.Retransmit], PacketSink]


class OutboundTrack(MediaStreamTrack):
    def __init__(self, forwarder: Forwarder) -> None:
        super().__init__()
        self.kind = forwarder.kind
        self.is_video = forwarder.kind == "video"
        self._forwarder = forwarder
        self._factory: SinkFactory | None = None
        self._sink: PacketSink | None = None
        self._started = False
        self._stopped = asyncio.Event()
        self._synced = False  # the sequence mapping holds (no gap since it was set)
        self._seq_offset = 0
        self._start_seq = 0  # the publisher's sequence number forwarding (re)started at
        self._next_seq = random.getrandbits(15)  # ours, as aiortc: no early wraparound
        self._ts_offset = random.getrandbits(32)
        self._rtx_seq = random.getrandbits(15)
        self.enabled = True
        self.forwarded = 0  # packets
        self.retransmitted = 0

    def attach(self, factory: SinkFactory) -> None:
        """How to reach the subscriber, once its sender has started."""
        self._factory = factory

    def start(self, sink: PacketSink) -> None:
        """The subscriber's sender is up: forward from the next keyframe."""
        self._sink = sink
        self._started = True
        self._synced = False
        if self.is_video:
            self._forwarder.request_keyframe()

    def set_enabled(self, enabled: bool) -> None:
        if enabled and not self.enabled:
            self._synced = False
            if self._started:
                self._forwarder.request_keyframe()
        self.enabled = enabled

    def pause_source(self) -> None:
        """The publisher stopped sending (muted): resume only on a keyframe."""
        self._synced = False

    def forward(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        frame_start: bool,
        keyframe: bool,
        ntp: int,
        abs_time: bytes,
    ) -> None:
        sink = self._sink
        if sink is None or not self.enabled:
            self._synced = False
            return
        if not self._synced:
            if not keyframe:
                if frame_start and self.is_video:
                    self._forwarder.request_keyframe()
                return
            self._seq_offset = (self._next_seq - seq) & 0xFFFF
            self._start_seq = seq
            self._synced = True
        elif (seq - self._start_seq) & 0xFFFF >= 0x8000:
            return  # older than where this subscriber started
        out_seq = (seq + self._seq_offset) & 0xFFFF
        newest = (out_seq - self._next_seq) & 0xFFFF < 0x8000
        if newest:
            self._next_seq = (out_seq + 1) & 0xFFFF
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        ext = sink.header_extensions(abs_time)
        header = _HEADER.pack(
            0x90 if ext else 0x80, (marker << 7) | sink.payload_type, out_seq, out_ts, sink.ssrc
        )
        if sink.write(header + ext + payload):
            sink.sent(ntp, out_ts, len(payload), newest)
            self.forwarded += 1

    def retransmit(self, out_seq: int) -> None:
        """The subscriber lost `out_seq`: send it again (as RTX if negotiated)."""
        sink = self._sink
        if sink is None or not self._synced:
            return
        seq = (out_seq - self._seq_offset) & 0xFFFF
        if (seq - self._start_seq) & 0xFFFF >= 0x8000:
            return
        kept = self._forwarder.history(seq)
        if kept is None:
            return
        timestamp, marker, payload = kept
        out_ts = (timestamp + self._ts_offset) & 0xFFFFFFFF
        ext = sink.header_extensions(seam.abs_send_time(seam.ntp_now()))
        first = 0x90 if ext else 0x80
        rtx = sink.rtx_payload_type
        if rtx is not None:
            header = _HEADER.pack(first, (marker << 7) | rtx, self._rtx_seq, out_ts, sink.rtx_ssrc)
            packet = header + ext + out_seq.to_bytes(2, "big") + payload
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            header = _HEADER.pack(
                first, (marker << 7) | sink.payload_type, out_seq, out_ts, sink.ssrc
            )
            packet = header + ext + payload
        if sink.write(packet):
            self.retransmitted += 1

    async def recv(self) -> seam.EncodedPacket:
        """Called by the sender's RTP loop once it runs; never yields a frame."""
        if self.readyState != "live":
            raise MediaStreamError
        if not self._started and self._factory is not None:
            try:
                sink = self._factory(self.retransmit)
            except Exception:
                logger.exception("OutboundTrack(%s) cannot reach its transport", self.id)
                self.stop()
                raise MediaStreamError from None
            self.start(sink)
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._stopped.set()
        self._sink = None
        super().stop()
        self._forwarder.remove(self)


class Forwarder:
    """One kind (audio or video) of one published stream."""

    def __init__(
        self,
        source: MediaStreamTrack,
        *,
        label: str,
        gate: Callable[[], bool],
        request_keyframe: Callable[[], None],
        on_end: Callable[[], None],
    ) -> None:
        self.kind: str = source.kind
        self.label = label
        self._source = source
        self._gate = gate
        self._request_keyframe = request_keyframe
        self._on_end = on_end
        self._outputs: tuple[OutboundTrack, ...] = ()
        self._history: list[tuple[int, int, int, bytes] | None] = [None] * HISTORY
        self._task: asyncio.Task[None] | None = None
        self._was_open = True
        self.received = 0  # frames
        self.keyframes = 0
        self.packets = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def add_output(self) -> OutboundTrack:
        out = OutboundTrack(self)
        self._outputs = (*self._outputs, out)
        return out

    def remove(self, out: OutboundTrack) -> None:
        self._outputs = tuple(o for o in self._outputs if o is not out)

    @property
    def outputs(self) -> frozenset[OutboundTrack]:
        return frozenset(self._outputs)

    def request_keyframe(self) -> None:
        if self.kind == "video":
            self._request_keyframe()

    def reopened(self) -> None:
        """The gate opened again (unmute): get a keyframe for everyone."""
        self.request_keyframe()

    def history(self, seq: int) -> tuple[int, int, bytes] | None:
        """(timestamp, marker, payload) of a recent packet, by its sequence number."""
        kept = self._history[seq % HISTORY]
        if kept is None or kept[0] != seq:
            return None
        return kept[1], kept[2], kept[3]

    def on_rtp(self, seq: int, timestamp: int, marker: int, payload: bytes) -> None:
        """One media packet from the publisher (RTX already unwrapped)."""
        is_open = self._gate()
        if is_open != self._was_open:
            self._was_open = is_open
            if is_open:
                self.reopened()
            else:
                for out in self._outputs:
                    out.pause_source()
        if not is_open:
            return
        self.packets += 1
        self._history[seq % HISTORY] = (seq, timestamp, marker, payload)
        outputs = self._outputs
        if not outputs:
            return
        if self.kind == "video":
            frame_start, keyframe = vp8_packet_starts(payload)
        else:
            frame_start = keyframe = True
        ntp = seam.ntp_now()
        abs_time = seam.abs_send_time(ntp)
        for out in outputs:
            out.forward(seq, timestamp, marker, payload, frame_start, keyframe, ntp, abs_time)

    async def _run(self) -> None:
        """Wait for the publisher's track to end (draining any frame it yields)."""
        try:
            while True:
                try:
                    packet = await self._source.recv()
                except MediaStreamError:
                    break
                if not isinstance(packet, av.Packet):  # passthrough not installed
                    logger.error("Forwarder(%s) got a decoded frame, stopping", self.label)
                    break
                self.received += 1
                if self.kind == "video" and vp8_is_keyframe(bytes(memoryview(packet)[:3])):
                    self.keyframes += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Forwarder(%s) failed", self.label)
        logger.debug("Forwarder(%s) source ended", self.label)
        self._on_end()

    async def close(self) -> None:
        for out in self._outputs:
            out.stop()
        self._outputs = ()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
