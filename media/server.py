"""Rooms and peers: one room per assembly, with the leader (camera + microphone in, mosaic out), the
offices (camera in, the leader's shared stream out) and read-only observers (mosaic out).

Signaling is one HTTP round trip per peer (offer in, answer out, ICE candidates gathered before
answering), so the HTTP layer needs nothing but `join_*` and `leave`. Media knows offices only by an
opaque key: the stream key `"<room>/<office>"` is what the FrameSink and OverlaySource see."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from attendance.errors import ApelError
from media.broadcast import RawFrameFanout, SharedAudioEncoder, SharedVideoEncoder, SlateTrack, hook_keyframe_requests
from media.events import EventCallback, MediaEvents
from media.interfaces import FrameSink, MediaTexts, NoOverlays, OverlaySource
from media.mosaic import MosaicTrack, Tile
from media.sampling import FrameTap, office_status
from media.signaling import parse_offer, require

log = logging.getLogger("apel.media")



@dataclass
class MediaConfig:
    ice_servers: list[RTCIceServer] = field(default_factory=list)
    sample_fps: float = 5.0              # office frames handed to the sink per second
    mosaic_size: tuple[int, int] = (1280, 720)
    mosaic_fps: float = 5.0
    leader_bitrate: int = 1_000_000
    mosaic_bitrate: int = 1_200_000
    frozen_after_s: float = 2.0          # an office with no frame for this long is shown as frozen
    connect_timeout_s: float = 30.0      # a peer that never connects is dropped
    shared_encoding: bool = True         # False: aiortc's default, one encoder per office (baseline)
    texts: MediaTexts = field(default_factory=MediaTexts)   # the words drawn into pictures, translated by the app


def ice_servers_from_urls(urls: list[str], username: str | None = None,
                          credential: str | None = None) -> list[RTCIceServer]:
    out = []
    for url in urls:
        if url.startswith(("turn:", "turns:")):
            out.append(RTCIceServer(urls=url, username=username, credential=credential))
        else:
            out.append(RTCIceServer(urls=url))
    return out


def _codecs(kind: str, mime: str) -> list[RTCRtpCodecCapability]:
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == mime]


class Peer:
    def __init__(self, room: Room, role: str, pc: RTCPeerConnection, office_key: str | None = None,
                 label: str = "") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.room = room
        self.role = role
        self.pc = pc
        self.office_key = office_key
        self.label = label
        self.tap: FrameTap | None = None
        self.joined_at = time.monotonic()
        self.joined_wall = time.time()
        self.connected = asyncio.Event()
        self.closed = False
        self._tasks: list[asyncio.Task[None]] = []

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.tap is not None:
            await self.tap.stop()
        for t in self._tasks:
            t.cancel()
        for sender in self.pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        await self.pc.close()


class Room:
    def __init__(self, server: MediaServer, room_id: str) -> None:
        self.server = server
        self.room_id = room_id
        cfg = server.config
        fanout = SharedVideoEncoder if cfg.shared_encoding else RawFrameFanout
        self.leader_video = fanout(idle_source=SlateTrack(cfg.texts.waiting_for_leader), bitrate=cfg.leader_bitrate)
        self.leader_audio = SharedAudioEncoder()
        self.mosaic = SharedVideoEncoder(MosaicTrack(self.tiles, server.overlays, size=cfg.mosaic_size,
                                                     fps=cfg.mosaic_fps, texts=cfg.texts),
                                         bitrate=cfg.mosaic_bitrate, pull_when_idle=False)
        self.offices: dict[str, Peer] = {}
        self.office_labels: dict[str, str] = {}
        self.leader: Peer | None = None
        self.observers: dict[str, Peer] = {}
        for enc in (self.leader_video, self.leader_audio, self.mosaic):
            enc.start()

    def stream_key(self, office_key: str) -> str:
        return f"{self.room_id}/{office_key}"

    def tiles(self) -> list[Tile]:
        out: list[Tile] = []
        for key in sorted(self.office_labels):
            peer = self.offices.get(key)
            frame = peer.tap.latest if peer and peer.tap else None
            since = peer.tap.seconds_since_frame() if peer and peer.tap else None
            frozen = since is not None and since > self.server.config.frozen_after_s
            out.append((self.stream_key(key), self.office_labels[key], frame, frozen))
        return out

    def peers(self) -> list[Peer]:
        return [p for p in [self.leader, *self.offices.values(), *self.observers.values()] if p is not None]

    def status(self) -> dict[str, Any]:
        offices = [office_status(key, self.office_labels[key], self.offices.get(key), self.server.config.frozen_after_s)
                   for key in sorted(self.office_labels)]
        return {"room": self.room_id, "leader_connected": self.leader is not None,
                "observers": len(self.observers), "offices": offices,
                "leader_stream": {"frames_encoded": self.leader_video.frames_encoded,
                                  "receivers": self.leader_video.subscriber_count,
                                  "keyframes": self.leader_video.keyframes}}

    async def close(self) -> None:
        for peer in self.peers():
            await peer.close()
        for enc in (self.leader_video, self.leader_audio, self.mosaic):
            await enc.stop()


class MediaServer(MediaEvents):
    def __init__(self, sink: FrameSink, overlays: OverlaySource | None = None, config: MediaConfig | None = None,
                 on_event: EventCallback | None = None) -> None:
        self.sink = sink
        self.overlays = overlays or NoOverlays()
        self.config = config or MediaConfig()
        self.on_event = on_event
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()

    # -- helpers
    def room(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(self, room_id)
        return room

    def _new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=list(self.config.ice_servers)))

    def _watch(self, peer: Peer) -> None:
        @peer.pc.on("connectionstatechange")
        async def _on_state() -> None:
            state = peer.pc.connectionState
            if state == "connected":
                peer.connected.set()
            elif state in ("failed", "closed"):
                await self.leave(peer)

        async def _timeout() -> None:
            try:
                await asyncio.wait_for(peer.connected.wait(), self.config.connect_timeout_s)
            except TimeoutError:
                log.info("peer %s (%s) never connected; dropping it", peer.id, peer.role)
                await self.leave(peer)

        peer._tasks.append(asyncio.ensure_future(_timeout()))

    @staticmethod
    async def _drain(track: MediaStreamTrack) -> None:
        """Consume a track nobody needs so aiortc does not queue its frames forever."""
        try:
            while True:
                await track.recv()
        except (MediaStreamError, asyncio.CancelledError):
            pass

    async def _answer(self, peer: Peer, offer: RTCSessionDescription) -> RTCSessionDescription:
        try:
            await peer.pc.setRemoteDescription(offer)
            answer = await peer.pc.createAnswer()
            await peer.pc.setLocalDescription(answer)
        except Exception as exc:
            await peer.close()
            raise ApelError("negotiation_failed", f"the offer could not be negotiated: {exc}") from exc
        return peer.pc.localDescription

    def _add_sender(self, pc: RTCPeerConnection, track: MediaStreamTrack, direction: str, mime: str,
                    on_keyframe: Callable[[], None] | None = None) -> None:
        transceiver = pc.addTransceiver(track, direction=direction)
        transceiver.setCodecPreferences(_codecs(track.kind, mime))
        if on_keyframe is not None:
            hook_keyframe_requests(transceiver.sender, on_keyframe)

    # -- joins
    async def join_office(self, room_id: str, office_key: str, sdp: object, type_: object = "offer", *,
                          label: str | None = None) -> tuple[RTCSessionDescription, Peer]:
        offer, summary = parse_offer(sdp, type_)
        require(summary, sends_video=True)
        room = self.room(room_id)
        previous = room.offices.get(office_key)
        if previous is not None:  # a rejoin replaces the old connection; the stream key stays the same
            await self.leave(previous, rejoining=True)
        pc = self._new_pc()
        peer = Peer(room, "office", pc, office_key, label or office_key)
        if summary.receives_video:
            self._add_sender(pc, room.leader_video.subscribe(), "sendrecv", "video/vp8",
                             room.leader_video.request_keyframe)
        else:
            pc.addTransceiver("video", direction="recvonly").setCodecPreferences(_codecs("video", "video/vp8"))
        if summary.receives_audio:
            self._add_sender(pc, room.leader_audio.subscribe(), "sendonly", "audio/opus")
        stream_key = room.stream_key(office_key)

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video" and peer.tap is None:
                peer.tap = FrameTap(stream_key, track, self.sink, sample_fps=self.config.sample_fps)
                peer.tap.start()
            else:
                peer._tasks.append(asyncio.ensure_future(self._drain(track)))

        answer = await self._answer(peer, offer)
        room.offices[office_key] = peer
        room.office_labels[office_key] = peer.label
        self._watch(peer)
        self._emit(type="office_joined", room=room_id, office=office_key, stream=stream_key,
                   rejoin=previous is not None)
        return answer, peer

    async def join_leader(self, room_id: str, sdp: object,
                          type_: object = "offer") -> tuple[RTCSessionDescription, Peer]:
        offer, summary = parse_offer(sdp, type_)
        require(summary, receives_video=True)
        room = self.room(room_id)
        if room.leader is not None:
            await self.leave(room.leader, rejoining=True)
        pc = self._new_pc()
        peer = Peer(room, "leader", pc)
        self._add_sender(pc, room.mosaic.subscribe(), "sendrecv", "video/vp8", room.mosaic.request_keyframe)
        if summary.sends_audio:
            pc.addTransceiver("audio", direction="recvonly").setCodecPreferences(_codecs("audio", "audio/opus"))

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                room.leader_video.set_source(track)
            elif track.kind == "audio":
                room.leader_audio.set_source(track)

        answer = await self._answer(peer, offer)
        room.leader = peer
        self._watch(peer)
        self._emit(type="leader_joined", room=room_id)
        return answer, peer

    async def join_observer(self, room_id: str, sdp: object,
                            type_: object = "offer") -> tuple[RTCSessionDescription, Peer]:
        offer, summary = parse_offer(sdp, type_)
        require(summary, receives_video=True)
        room = self.room(room_id)
        pc = self._new_pc()
        peer = Peer(room, "observer", pc)
        self._add_sender(pc, room.mosaic.subscribe(), "sendonly", "video/vp8", room.mosaic.request_keyframe)
        if summary.receives_audio:
            self._add_sender(pc, room.leader_audio.subscribe(), "sendonly", "audio/opus")

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            peer._tasks.append(asyncio.ensure_future(self._drain(track)))

        answer = await self._answer(peer, offer)
        room.observers[peer.id] = peer
        self._watch(peer)
        return answer, peer

    # -- teardown
    async def leave(self, peer: Peer, *, rejoining: bool = False) -> None:
        if peer.closed:
            return
        room = peer.room
        if peer.role == "office" and room.offices.get(peer.office_key or "") is peer:
            del room.offices[peer.office_key]  # type: ignore[arg-type]
        elif peer.role == "leader" and room.leader is peer:
            room.leader = None
            room.leader_video.set_source(None)
            room.leader_audio.set_source(None)
        elif peer.role == "observer":
            room.observers.pop(peer.id, None)
        await peer.close()
        self._emit_left(room.room_id, peer.role, peer.office_key, room.stream_key(peer.office_key or ""), rejoining)

    async def close_room(self, room_id: str) -> None:
        room = self.rooms.pop(room_id, None)
        if room is not None:
            await room.close()
            self._emit(type="room_closed", room=room_id)

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)
