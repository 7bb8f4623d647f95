"""Fan-out of one published track's encoded frames to its subscribers.

A `Forwarder` reads the publisher's remote track from the moment it exists
(so nobody inherits a backlog) and offers every encoded frame to each
`OutboundTrack`, the track a subscribe leg's sender reads. The same `av.Packet`
goes to every subscriber: the senders only `pack()` it, nothing is decoded.

Forwarding is gated twice: `gate()` on the publisher (hard mute drops at the
source) and `enabled` on each output (last-N, room policy). A video output
that starts, resumes or overflows drops frames until the next keyframe and asks
the publisher for one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .codecs import vp8_is_keyframe
from .seam import EncodedPacket

logger = logging.getLogger(__name__)

MAX_QUEUED = 120  # frames; a sender further behind than that is not keeping up


class OutboundTrack(MediaStreamTrack):
    def __init__(self, forwarder: Forwarder) -> None:
        super().__init__()
        self.kind = forwarder.kind
        self._forwarder = forwarder
        self._queue: asyncio.Queue[EncodedPacket | None] = asyncio.Queue()
        self._started = False
        self._need_keyframe = True
        self.enabled = True
        self.forwarded = 0

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    def set_enabled(self, enabled: bool) -> None:
        if enabled and not self.enabled and self.is_video:
            self._need_keyframe = True
            if self._started:
                self._forwarder.request_keyframe()
        self.enabled = enabled

    def offer(self, packet: EncodedPacket, keyframe: bool) -> None:
        if not self._started or not self.enabled:
            self._need_keyframe = True
            return
        if self.is_video and self._need_keyframe:
            if not keyframe:
                self._forwarder.request_keyframe()
                return
            self._need_keyframe = False
        if self._queue.qsize() >= MAX_QUEUED:
            logger.info("OutboundTrack(%s) overflow, dropping queue", self.id)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._need_keyframe = True
            return
        self.forwarded += 1
        self._queue.put_nowait(packet)

    def pause_source(self) -> None:
        """The publisher stopped sending (muted): resume only on a keyframe."""
        self._need_keyframe = True

    async def recv(self) -> EncodedPacket:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._started:
            self._started = True
            if self.is_video:
                self._forwarder.request_keyframe()
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
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
        self._outputs: set[OutboundTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._was_open = True
        self.received = 0
        self.keyframes = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def add_output(self) -> OutboundTrack:
        out = OutboundTrack(self)
        self._outputs.add(out)
        return out

    def remove(self, out: OutboundTrack) -> None:
        self._outputs.discard(out)

    @property
    def outputs(self) -> frozenset[OutboundTrack]:
        return frozenset(self._outputs)

    def request_keyframe(self) -> None:
        if self.kind == "video":
            self._request_keyframe()

    def reopened(self) -> None:
        """The gate opened again (unmute): get a keyframe for everyone."""
        self.request_keyframe()

    async def _run(self) -> None:
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
                keyframe = self.kind == "video" and vp8_is_keyframe(bytes(memoryview(packet)[:3]))
                if keyframe:
                    self.keyframes += 1
                is_open = self._gate()
                if is_open and not self._was_open:
                    self.reopened()
                self._was_open = is_open
                if not is_open:
                    for out in self._outputs:
                        out.pause_source()
                    continue
                for out in list(self._outputs):
                    out.offer(packet, keyframe)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Forwarder(%s) failed", self.label)
        logger.debug("Forwarder(%s) source ended", self.label)
        self._on_end()

    async def close(self) -> None:
        for out in list(self._outputs):
            out.stop()
        self._outputs.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
