"""The two kinds of PeerConnection: a publish leg and a subscribe leg.

One PeerConnection per published stream and one per subscription (as Galène
does): no renegotiation ever, and aiortc never has to re-offer. The browser
offers on a publish leg; the service offers on a subscribe leg. Both pin one
codec per kind before the description that negotiates it.

A leg's failures change its state (`on_state`), they never raise through the
event loop; negotiation errors are raised to the caller as `BadRequest`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rtcdtlstransport import RTCDtlsTransport

from rooms.clock import Clock
from rooms.errors import BadRequest
from rooms.identity import Identity

from . import codecs, seam
from .config import MediaConfig
from .ice import announce
from .keyframes import Keyframer
from .lastn import SpeakerMeter
from .relay import Forwarder, OutboundTrack, PacketSink, SinkFactory
from .twcc import TransportFeedback

logger = logging.getLogger(__name__)

SOURCES = {"camera": ("audio", "video"), "screen": ("video",)}
StateCallback = Callable[[str], None]


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def _peer_connection(config: MediaConfig) -> RTCPeerConnection:
    servers = [RTCIceServer(url) for url in config.stun_servers]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))


def parse_sdp(sdp: object, config: MediaConfig, expected: str) -> aiortc_sdp.SessionDescription:
    """An SDP of audio and video media only, parsed; BadRequest if it is not one."""
    if not isinstance(sdp, str) or not sdp.strip():
        raise BadRequest("sdp must be a non-empty string")
    if len(sdp) > config.max_sdp:
        raise BadRequest("sdp too large")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(sdp)
    except Exception as exc:
        raise BadRequest(f"sdp is not a valid {expected}") from exc
    kinds = [m.kind for m in parsed.media]
    if not kinds or any(k not in ("audio", "video") for k in kinds):
        raise BadRequest(f"sdp {expected} must hold only audio and video")
    return parsed


class PublishLeg:
    """A member's published stream: camera (video + audio) or screen (video)."""

    def __init__(
        self,
        *,
        who: Identity,
        room_key: str,
        source: str,
        config: MediaConfig,
        clock: Clock,
        gate: Callable[[str], bool],
        on_state: StateCallback,
    ) -> None:
        self.id = new_id("s")
        self.who = who
        self.room_key = room_key
        self.source = source
        self.published = clock.monotonic()
        self.meter = SpeakerMeter(clock)
        self._clock = clock
        self.forwarders: dict[str, Forwarder] = {}
        self.announced = False
        self.closed = False
        self._config = config
        self._gate = gate
        self._on_state = on_state
        self._video_ssrc: int | None = None
        self.pc = _peer_connection(config)
        self.keyframer = Keyframer(
            self._send_pli, clock=clock, interval=config.keyframe_interval, label=self.id
        )
        self.pc.on("connectionstatechange", self._state_changed)

    def __repr__(self) -> str:
        return f"PublishLeg({self.id} {self.who.sub} {self.source})"

    async def accept(self, offer: str) -> str:
        """Apply the browser's offer; return the answer SDP."""
        parsed = parse_sdp(offer, self._config, "offer")
        kinds = [m.kind for m in parsed.media]
        allowed = SOURCES[self.source]
        if any(k not in allowed for k in kinds) or len(set(kinds)) != len(kinds):
            raise BadRequest(f"a {self.source} stream carries one of each of {allowed}")
        if "video" not in kinds and self.source == "screen":
            raise BadRequest("a screen stream carries video")
        transceivers: dict[str, RTCRtpTransceiver] = {}
        for kind in kinds:
            transceivers[kind] = self.pc.addTransceiver(kind, direction="recvonly")
            codecs.pin(transceivers[kind])
            seam.drop_frames(transceivers[kind].receiver)  # forwarded from the RTP tap
        for connection in seam.ice_connections(self.pc):
            seam.patient_consent(connection)
        offer = self._config.candidates.clean(offer)  # never aimed at internal addresses
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
            transport_cc = seam.negotiate_transport_cc(list(transceivers.values()), parsed)
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:
            logger.info("%r offer refused: %s", self, exc)
            raise BadRequest("cannot negotiate this offer (VP8 video, Opus audio)") from exc
        for receiver in {id(t.receiver.transport): t.receiver
                         for t in transceivers.values()}.values():  # one per transport
            dtls = receiver.transport
            seam.fast_srtp(  # media packets handled in the datagram callback
                dtls, None if transport_cc is None else (
                    transport_cc, self._arrival_on(dtls, receiver)))
        for kind, transceiver in transceivers.items():
            track = transceiver.receiver.track
            if track is None:
                raise BadRequest(f"the offer does not send {kind}")
            forwarder = Forwarder(
                track,
                label=f"{self.id}/{kind}",
                gate=self._gate_for(kind),
                request_keyframe=self.keyframer.request,
                on_end=self._source_ended,
            )
            seam.lean_receive(  # the audio level, for last-N
                transceiver.receiver, self._tap_for(kind, transceiver, forwarder),
                self._config.publish_bitrate if kind == "video" else None,
                audio_level_id=seam.header_extension_id(transceiver, seam.AUDIO_LEVEL_URI)
                if kind == "audio" else None)
            self.forwarders[kind] = forwarder
            forwarder.start()
        return announce(self.pc.localDescription.sdp, self._config.public_ip)

    def _arrival_on(self, dtls: RTCDtlsTransport,
                    receiver: RTCRtpReceiver) -> Callable[[int], None]:
        """Record one packet's transport-wide sequence number; send the feedback when due.
        One `TransportFeedback` per transport: the sequence is transport-wide."""
        feedback = TransportFeedback()
        monotonic = self._clock.monotonic
        links: list[seam.SrtpLink] = []  # made with the first feedback: SRTP is up by then

        def arrived(sequence: int) -> None:
            now = int(monotonic() * 1_000_000)
            feedback.arrived(sequence, now)
            if feedback.due(now):
                if not links:
                    links.append(seam.rtcp_link(dtls))
                    logger.info("%r transport-cc feedback to the publisher", self)
                sender = seam.rtcp_ssrc(receiver)
                for packet in feedback.take(sender or 0, self._video_ssrc or 0, now):
                    links[0].write(packet)

        return arrived

    def _gate_for(self, kind: str) -> Callable[[], bool]:
        return lambda: self._gate(kind)

    def _tap_for(
        self, kind: str, transceiver: RTCRtpTransceiver, forwarder: Forwarder
    ) -> seam.MediaTap:
        primary = seam.primary_payload_type(transceiver)
        rtx = seam.rtx_payload_type(transceiver, primary) if primary is not None else None
        forward = forwarder.on_rtp
        gate = self._gate
        observe = self.meter.observe

        def video(ssrc: int, payload_type: int, marker: int, seq: int, timestamp: int,
                  payload: bytes, level: int | None) -> None:
            if payload_type == primary:
                self._video_ssrc = ssrc
                forward(seq, timestamp, marker, payload)
            elif payload_type == rtx and rtx is not None:
                if len(payload) > 2:  # a retransmission: original seq, then payload
                    forward((payload[0] << 8) | payload[1], timestamp, marker, payload[2:])

        def audio(ssrc: int, payload_type: int, marker: int, seq: int, timestamp: int,
                  payload: bytes, level: int | None) -> None:
            if payload_type != primary:
                return
            if level is not None and gate("audio"):
                observe(level)
            forward(seq, timestamp, marker, payload)

        return video if kind == "video" else audio

    async def _send_pli(self) -> None:
        forwarder = self.forwarders.get("video")
        if forwarder is None or self._video_ssrc is None or self.closed:
            return
        for transceiver in self.pc.getTransceivers():
            if transceiver.kind == "video":
                await seam.send_pli(transceiver.receiver, self._video_ssrc)

    def _state_changed(self) -> None:
        self._on_state(self.pc.connectionState)

    def _source_ended(self) -> None:
        if not self.closed:
            self._on_state("ended")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.keyframer.close()
        for forwarder in self.forwarders.values():
            await forwarder.close()
        await _close_pc(self.pc)


class SubscribeLeg:
    """One member's view of one published stream."""

    def __init__(
        self,
        *,
        who: Identity,
        stream: PublishLeg,
        config: MediaConfig,
        on_state: StateCallback,
    ) -> None:
        self.id = new_id("u")
        self.who = who
        self.stream = stream
        self.answered = False
        self.closed = False
        self.video_paused = False  # what the subscriber was last told (`rtc:paused`)
        self.outputs: dict[str, OutboundTrack] = {}
        self._config = config
        self._on_state = on_state
        self.pc = _peer_connection(config)
        self.pc.on("connectionstatechange", self._state_changed)

    def __repr__(self) -> str:
        return f"SubscribeLeg({self.id} {self.who.sub} <- {self.stream.id})"

    async def offer(self) -> str:
        for kind, forwarder in self.stream.forwarders.items():
            out = forwarder.add_output()
            self.outputs[kind] = out
            transceiver = self.pc.addTransceiver(out, direction="sendonly")
            codecs.pin(transceiver)
            out.attach(_sink_factory(transceiver))
            if kind == "video":
                seam.on_keyframe_request(transceiver.sender, forwarder.request_keyframe)
        for connection in seam.ice_connections(self.pc):
            seam.patient_consent(connection)
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        return announce(self.pc.localDescription.sdp, self._config.public_ip)

    async def answer(self, sdp: str) -> None:
        if self.answered:
            raise BadRequest("this subscription is already answered")
        parse_sdp(sdp, self._config, "answer")
        sdp = self._config.candidates.clean(sdp)  # never aimed at internal addresses
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:
            logger.info("%r answer refused: %s", self, exc)
            raise BadRequest("cannot apply this answer") from exc
        self.answered = True

    def set_video(self, enabled: bool) -> None:
        out = self.outputs.get("video")
        if out is not None:
            out.set_enabled(enabled)

    def _state_changed(self) -> None:
        self._on_state(self.pc.connectionState)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for out in self.outputs.values():
            out.stop()
        await _close_pc(self.pc)


def _sink_factory(transceiver: RTCRtpTransceiver) -> SinkFactory:
    """The subscribe leg's transport, reached once its sender has started."""

    def factory(retransmit: seam.Retransmit) -> PacketSink:
        return seam.RtpWriter(transceiver, retransmit)

    return factory


async def _close_pc(pc: RTCPeerConnection) -> None:
    # aiortc closes a PeerConnection itself when the remote end closes DTLS, and a
    # second close() awaits the first one's future: cancelling that await would
    # cancel the shared future and break aiortc's own close. Shield it.
    await asyncio.shield(pc.close())


async def close_all(legs: list[PublishLeg] | list[SubscribeLeg]) -> None:
    results = await asyncio.gather(*(leg.close() for leg in legs), return_exceptions=True)
    for leg, result in zip(legs, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("%r close failed: %r", leg, result)
