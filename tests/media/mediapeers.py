"""In-process aiortc peers with media generated on the fly (never stored files).

`EncodedVideoTrack` encodes VP8 itself with PyAV and hands the sender
`av.Packet`s, so a test knows the exact bytes it published; it makes a keyframe
when its sender receives a PLI/FIR. `ToneTrack` is Opus audio at a chosen
loudness, encoded by aiortc (which adds the ssrc-audio-level extension).
Shared by `tests/media` and `loadtests/media_bench.py`.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from signaling import codecs, seam

VIDEO_RATE = 90000


class EncodedVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(
        self,
        width: int = 320,
        height: int = 240,
        fps: int = 30,
        bitrate: int = 300_000,
        texture: int = 0,
    ) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._texture = texture
        self._rng = np.random.default_rng(1) if texture else None
        self.codec = av.CodecContext.create("libvpx", "w")
        self.codec.width = width
        self.codec.height = height
        self.codec.pix_fmt = "yuv420p"
        self.codec.bit_rate = bitrate
        self.codec.time_base = fractions.Fraction(1, fps)
        self.codec.gop_size = 100000  # keyframes only when asked
        self.codec.qmin, self.codec.qmax = 10, 56  # no 180 kB keyframe bursts
        self.codec.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            # constant bitrate, as a browser's camera stream, so frame sizes are realistic
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "bufsize": str(bitrate),
        }
        self.sent: list[bytes] = []
        self.keyframes_sent = 0
        self.keyframe_requests = 0
        self._force = True
        self._count = 0
        self._start: float | None = None
        self._pending: list[Any] = []

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        self._force = True

    def attach(self, sender: RTCRtpSender) -> None:
        seam.on_keyframe_request(sender, self.request_keyframe)

    def _image(self) -> av.VideoFrame:
        y = np.full((self.height, self.width), (self._count * 7) % 255, dtype=np.uint8)
        bar = (self._count * 4) % self.width
        y[:, bar : bar + 16] = 255
        if self._rng is not None:  # camera-like noise, so the encoder spends its bitrate
            y = np.minimum(y, 255 - self._texture) + self._rng.integers(
                0, self._texture, size=y.shape, dtype=np.uint8
            )
        uv = np.full((self.height // 2, self.width // 2), 128, dtype=np.uint8)
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for plane, data in zip(frame.planes, (y, uv, uv), strict=True):
            view = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
            view[: data.shape[0], : data.shape[1]] = data
        return frame

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        while not self._pending:
            if self._start is None:
                self._start = time.monotonic()
            wait = self._start + self._count / self.fps - time.monotonic()
            if wait < -0.1:  # CPU-starved: stay real time, never starve the loop
                self._start -= wait
                wait = 0
            await asyncio.sleep(max(wait, 0))
            frame = self._image()
            frame.pts = self._count
            frame.time_base = fractions.Fraction(1, self.fps)
            if self._force:
                frame.pict_type = av.video.frame.PictureType.I
                self._force = False
            self._count += 1
            self._pending.extend(self.codec.encode(frame))
        packet = self._pending.pop(0)
        data = bytes(packet)
        if codecs.vp8_is_keyframe(data):
            self.keyframes_sent += 1
        self.sent.append(data)
        out = av.Packet(data)
        out.pts = (self._count - 1) * (VIDEO_RATE // self.fps)
        out.time_base = fractions.Fraction(1, VIDEO_RATE)
        return out


class ToneTrack(MediaStreamTrack):
    """20 ms Opus frames of a sine at `amplitude` (0: silence)."""

    kind = "audio"

    def __init__(self, amplitude: float = 0.0) -> None:
        super().__init__()
        self.amplitude = amplitude
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        rate, n = 48000, 960
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._samples / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(n) + self._samples) / rate
        wave = (self.amplitude * 32767 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, rate)
        self._samples += n
        return frame


def new_pc(config: RTCConfiguration | None = None) -> RTCPeerConnection:
    return RTCPeerConnection(config or RTCConfiguration(iceServers=[]))


class Publisher:
    """A browser stand-in that publishes camera (video + audio) or screen (video)."""

    def __init__(self, *, video: EncodedVideoTrack | None, audio: ToneTrack | None) -> None:
        self.pc = new_pc()
        self.video = video
        self.audio = audio
        for track in (audio, video):
            if track is not None:
                transceiver = self.pc.addTransceiver(track, direction="sendonly")
                codecs.pin(transceiver)
                if isinstance(track, EncodedVideoTrack):
                    track.attach(transceiver.sender)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


class Subscriber:
    """Receives one subscription and records the encoded frames it gets."""

    def __init__(self, config: RTCConfiguration | None = None) -> None:
        self.pc = new_pc(config)  # (a TURN server, relay only: loadtests/media_bench.py)
        self.frames: dict[str, list[bytes]] = {"audio": [], "video": []}
        self.first_frame_at: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.first_video = asyncio.Event()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._tasks.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            self.frames[track.kind].append(bytes(packet))
            self.first_frame_at.setdefault(track.kind, time.monotonic())
            if track.kind == "video":
                self.first_video.set()

    async def answer(self, offer: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def send_pli(self) -> None:
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                ssrcs = transceiver.receiver.getSynchronizationSources()
                for source in ssrcs:
                    await seam.send_pli(transceiver.receiver, source.source)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
