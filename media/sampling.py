"""The office-feed tap: reads every decoded frame of an office track (so aiortc never buffers), keeps the
latest one for the leader's mosaic, and pushes a sample of them (at a configurable rate) into a FrameSink
as they arrive.

Why read every frame: aiortc's remote track queues decoded frames without bound if nobody consumes them;
a tap that only woke up at the sample rate would make latency and memory grow with the apel's length."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.interfaces import FrameSink, SampledFrame
from media.pacing import cancel_and_wait

log = logging.getLogger("apel.media.tap")


class DropOldestQueue:
    """A bounded FrameSink for a consumer that pulls (tests, benchmarks): when full, the oldest frame is
    dropped, so the newest always gets in and the consumer never works on stale video. Thread-safe
    (the consumer may be a thread)."""

    def __init__(self, maxsize: int = 2) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self._items: deque[SampledFrame] = deque()
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self.put_count = 0
        self.dropped = 0

    def put(self, frame: SampledFrame) -> None:
        with self._lock:
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(frame)
            self.put_count += 1

    def get_nowait(self) -> SampledFrame | None:
        with self._lock:
            return self._items.popleft() if self._items else None

    def drain(self) -> list[SampledFrame]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            return items

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class TapStats:
    frames_in: int = 0
    frames_sampled: int = 0
    first_frame_at: float | None = None   # monotonic
    last_frame_at: float | None = None    # monotonic
    max_gap_s: float = 0.0                # longest time without a frame since the first one
    width: int = 0
    height: int = 0


class FrameTap:
    """Consumes one office video track until it ends or `stop()` is called."""

    def __init__(self, stream_key: str, track: MediaStreamTrack, sink: FrameSink, *, sample_fps: float = 5.0) -> None:
        self.stream_key = stream_key
        self.track = track
        self.sink = sink
        self.sample_interval = 1.0 / sample_fps if sample_fps > 0 else float("inf")
        self.stats = TapStats()
        self.latest: av.VideoFrame | None = None
        self.first_frame = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_sample_at = 0.0
        self._seq = 0

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                if isinstance(frame, av.VideoFrame):
                    self._on_frame(frame)
        except (MediaStreamError, asyncio.CancelledError):
            pass
        except Exception:  # a broken frame must not take the server down; the peer gets closed instead
            log.exception("tap %s failed", self.stream_key)

    def _on_frame(self, frame: av.VideoFrame) -> None:
        now = time.monotonic()
        st = self.stats
        if st.last_frame_at is not None:
            st.max_gap_s = max(st.max_gap_s, now - st.last_frame_at)
        else:
            st.first_frame_at = now
            self.first_frame.set()
        st.last_frame_at = now
        st.frames_in += 1
        st.width, st.height = frame.width, frame.height
        self.latest = frame
        if now >= self._next_sample_at:
            # Schedule from `now`, not from the previous slot: after a stall we do not burst.
            self._next_sample_at = now + self.sample_interval
            self._seq += 1
            st.frames_sampled += 1
            self.sink.put(SampledFrame(self.stream_key, t_s=time.time(), seq=self._seq, source=frame))

    def seconds_since_frame(self) -> float | None:
        if self.stats.last_frame_at is None:
            return None
        return time.monotonic() - self.stats.last_frame_at

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None


class _HasTap(Protocol):
    tap: FrameTap | None


def office_status(office: str, label: str, peer: _HasTap | None, frozen_after_s: float) -> dict[str, Any]:
    """One office's feed in a room's status, the same fields whichever media server carries it (the
    embedded one or Janus's forwards): the console and the capacity benches read them."""
    tap = peer.tap if peer else None
    since = tap.seconds_since_frame() if tap else None
    return {
        "office": office, "label": label, "connected": peer is not None,
        "frames": tap.stats.frames_in if tap else 0,
        "sampled": tap.stats.frames_sampled if tap else 0,
        "resolution": [tap.stats.width, tap.stats.height] if tap and tap.stats.width else None,
        "seconds_since_frame": round(since, 2) if since is not None else None,
        "frozen": since is not None and since > frozen_after_s,
        "max_gap_s": round(tap.stats.max_gap_s, 2) if tap else None,
    }
