"""Encode once, send to everyone.

aiortc's default gives every RTCRtpSender its own encoder: with 20 offices that is 20 VP8 encodes of the
same leader frame (the cost: BENCHMARKS.md, "Fan-out of the leader's stream"). A SharedEncoder reads the
source track once, encodes each frame once with PyAV, and hands the same `av.Packet`s to one
`EncodedTrack` per receiver; aiortc's sender then only packetizes them (`Encoder.pack`).

Keyframes: a receiver that loses packets sends PLI/FIR to its RTCRtpSender, which would only set a flag
on its own (unused) encoder. `hook_keyframe_requests` forwards that to the shared encoder, which makes
the next frame a keyframe for everyone (rate-limited, so one lossy office cannot force a stream of
keyframes on all the others). A new receiver, or one that fell behind and had packets dropped, waits for
the next keyframe before it sends anything, so no office ever decodes from a broken reference."""
from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeAlias

import av
import numpy as np
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.pacing import Pacer, cancel_and_wait

log = logging.getLogger("apel.media.broadcast")

VIDEO_CLOCK = fractions.Fraction(1, 90000)
AUDIO_RATE = 48000
AUDIO_CLOCK = fractions.Fraction(1, AUDIO_RATE)

# What a SharedEncoder hands its receivers: encoded packets, or decoded frames from RawFrameFanout (whose
# senders encode them themselves). A string: PyAV's Packet is generic only to the type checker.
Outgoing: TypeAlias = "av.Packet[Any] | av.frame.Frame"


class EncodedTrack(MediaStreamTrack):
    """One receiver's view of a SharedEncoder: yields the shared `av.Packet`s."""

    def __init__(self, owner: SharedEncoder, kind: str, max_queue: int = 60) -> None:
        super().__init__()
        self.kind = kind
        self._owner = owner
        self._queue: deque[Outgoing] = deque()
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        self._needs_keyframe = kind == "video"
        self.packets_sent = 0
        self.packets_dropped = 0

    def _offer(self, packet: Outgoing) -> None:
        if self._needs_keyframe and isinstance(packet, av.Packet):
            if not packet.is_keyframe:
                return
            self._needs_keyframe = False
        if len(self._queue) >= self._max_queue:
            # This receiver is too slow. Dropping inter frames would corrupt its picture, so drop the
            # whole backlog and resume at the next keyframe.
            self.packets_dropped += len(self._queue)
            self._queue.clear()
            if self.kind == "video" and isinstance(packet, av.Packet):
                self._needs_keyframe = True
                self._owner.request_keyframe()
                return
        self._queue.append(packet)
        self._wakeup.set()

    async def recv(self) -> Outgoing:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        self.packets_sent += 1
        return self._queue.popleft()

    def stop(self) -> None:
        super().stop()
        self._owner._unsubscribe(self)
        self._wakeup.set()


def _abandon(task: asyncio.Future[Any]) -> None:
    """A read nobody will look at: cancel it, and take its end (a frame, or MediaStreamError if the
    track ended meanwhile) so that asyncio does not report it."""
    task.cancel()
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


def hook_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Make PLI/FIR arriving at `sender` reach the shared encoder (aiortc calls `_send_keyframe`)."""
    original = sender._send_keyframe

    def _send_keyframe() -> None:
        original()
        on_request()

    sender._send_keyframe = _send_keyframe  # type: ignore[method-assign]


class SharedEncoder:
    """Pulls frames from a source track, encodes each once, fans packets out to subscribers.

    The source can be swapped (leader joins, leaves, rejoins) without touching the receivers."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack | None = None, *, idle_source: MediaStreamTrack | None = None,
                 pull_when_idle: bool = True, keyframe_min_interval_s: float = 0.5) -> None:
        self._source = source
        self._idle_source = idle_source
        self._pull_when_idle = pull_when_idle
        self._subs: list[EncodedTrack] = []
        self._has_subs = asyncio.Event()
        self._source_changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._force_keyframe = True
        self._keyframe_min_interval = keyframe_min_interval_s
        self._last_keyframe_at = 0.0
        self.frames_encoded = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.encode_seconds = 0.0

    # -- receivers
    def subscribe(self) -> EncodedTrack:
        track = EncodedTrack(self, self.kind)
        self._subs.append(track)
        self._has_subs.set()
        self.request_keyframe(urgent=True)
        return track

    def _unsubscribe(self, track: EncodedTrack) -> None:
        if track in self._subs:
            self._subs.remove(track)
        if not self._subs:
            self._has_subs.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def request_keyframe(self, urgent: bool = False) -> None:
        self.keyframe_requests += 1
        if urgent or time.monotonic() - self._last_keyframe_at >= self._keyframe_min_interval:
            self._force_keyframe = True

    # -- source
    def set_source(self, source: MediaStreamTrack | None) -> None:
        self._source = source
        self._force_keyframe = True
        self._source_changed.set()

    @property
    def source(self) -> MediaStreamTrack | None:
        return self._source

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for sub in list(self._subs):
            sub.stop()

    async def _next_frame(self) -> av.frame.Frame | None:
        source = self._source or self._idle_source
        if source is None:
            self._source_changed.clear()
            await self._source_changed.wait()
            return None
        recv = asyncio.ensure_future(source.recv())
        changed = asyncio.ensure_future(self._source_changed.wait())
        try:
            done, _ = await asyncio.wait({recv, changed}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The encoder stops (the apel ended): its read of the source must not outlive it. Left
            # running, it ends with MediaStreamError once the leader's track stops, and asyncio logs
            # that as a traceback ("Task exception was never retrieved").
            _abandon(recv)
            raise
        finally:
            changed.cancel()
        if recv in done:
            try:
                frame = recv.result()
            except MediaStreamError:
                if source is self._source:  # the leader went away: fall back to the idle source
                    self._source = None
                return None
            # Sources are decoded tracks (a camera, the slate); an encoded packet cannot be encoded again.
            return frame if isinstance(frame, av.frame.Frame) else None
        _abandon(recv)
        self._source_changed.clear()
        return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pull_when_idle and not self._subs:
                await self._has_subs.wait()
            frame = await self._next_frame()
            if frame is None or not self._subs:
                continue
            force = self._force_keyframe
            self._force_keyframe = False
            t0 = time.perf_counter()
            try:
                packets = await loop.run_in_executor(None, self._encode, frame, force)
            except Exception:
                log.exception("shared %s encode failed", self.kind)
                continue
            self.encode_seconds += time.perf_counter() - t0
            self.frames_encoded += 1
            for packet in packets:
                if isinstance(packet, av.Packet) and packet.is_keyframe:
                    self.keyframes += 1
                    self._last_keyframe_at = time.monotonic()
                for sub in list(self._subs):
                    sub._offer(packet)

    def _encode(self, frame: av.frame.Frame, force_keyframe: bool) -> list[Outgoing]:
        raise NotImplementedError


class SharedVideoEncoder(SharedEncoder):
    """VP8 with the settings aiortc uses for real-time (CBR, deadline realtime, no lag)."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack | None = None, *, bitrate: int = 1_000_000,
                 idle_source: MediaStreamTrack | None = None, pull_when_idle: bool = True) -> None:
        super().__init__(source, idle_source=idle_source, pull_when_idle=pull_when_idle)
        self.bitrate = bitrate
        self._codec: av.VideoCodecContext | None = None
        self._pts0: int | None = None
        self._last_pts = -1

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.bit_rate = self.bitrate
        codec.pix_fmt = "yuv420p"
        codec.gop_size = 3000
        codec.qmin, codec.qmax = 2, 56
        codec.time_base = VIDEO_CLOCK
        codec.options = {
            "bufsize": str(self.bitrate), "cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0",
            "minrate": str(self.bitrate), "maxrate": str(self.bitrate), "noise-sensitivity": "4",
            "overshoot-pct": "15", "partitions": "0", "static-thresh": "1", "undershoot-pct": "100",
        }
        codec.thread_count = 1
        return codec

    def _encode(self, frame: av.frame.Frame, force_keyframe: bool) -> list[Outgoing]:
        assert isinstance(frame, av.VideoFrame)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self._codec is None or (frame.width, frame.height) != (self._codec.width, self._codec.height):
            self._codec = self._open(frame.width, frame.height)
        # One clock for all sources (slate, leader, rejoined leader): receivers see monotonic timestamps.
        pts = int(time.monotonic() * 90000)
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame.pts, frame.time_base = pts, VIDEO_CLOCK
        frame.pict_type = av.video.frame.PictureType.I if force_keyframe else av.video.frame.PictureType.NONE
        out: list[Outgoing] = []
        for packet in self._codec.encode(frame):
            packet.pts, packet.time_base = pts, VIDEO_CLOCK
            out.append(packet)
        return out


class SharedAudioEncoder(SharedEncoder):
    """Opus, 20 ms packets, once for all receivers."""

    kind = "audio"

    def __init__(self, source: MediaStreamTrack | None = None) -> None:
        super().__init__(source)
        self._codec: av.AudioCodecContext | None = None
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=960)
        self._pts = 0

    def _encode(self, frame: av.frame.Frame, force_keyframe: bool) -> list[Outgoing]:
        assert isinstance(frame, av.AudioFrame)
        if self._codec is None:
            codec = av.CodecContext.create("libopus", "w")
            codec.bit_rate = 64000
            codec.format = "s16"
            codec.layout = "stereo"
            codec.sample_rate = AUDIO_RATE
            codec.time_base = AUDIO_CLOCK
            codec.options = {"application": "voip"}
            self._codec = codec
        out: list[Outgoing] = []
        for chunk in self._resampler.resample(frame):
            for packet in self._codec.encode(chunk):
                packet.pts, packet.time_base = self._pts, AUDIO_CLOCK
                self._pts += 960
                out.append(packet)
        return out


class SlateTrack(MediaStreamTrack):
    """A still picture at a low rate: what offices see before the leader's camera arrives."""

    kind = "video"

    def __init__(self, text: str = "Apel", size: tuple[int, int] = (640, 360), fps: float = 2.0) -> None:
        super().__init__()
        import cv2

        w, h = size
        img = np.full((h, w, 3), (60, 40, 20), np.uint8)
        cv2.putText(img, text, (24, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
        self._img = img
        self._pacer = Pacer(fps)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pacer.wait()
        return av.VideoFrame.from_ndarray(self._img, format="bgr24")


class RawFrameFanout(SharedVideoEncoder):
    """The baseline aiortc gives by default (what MediaRelay does): every receiver gets the decoded
    frames and its own RTCRtpSender encodes them. Kept for comparison (`MediaConfig.shared_encoding`)."""

    def _encode(self, frame: av.frame.Frame, force_keyframe: bool) -> list[Outgoing]:
        assert isinstance(frame, av.VideoFrame)
        pts = int(time.monotonic() * 90000)
        if pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        frame.pts, frame.time_base = pts, VIDEO_CLOCK
        return [frame]
