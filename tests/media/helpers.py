"""Real media sources for the tests: synthetic frames (no data needed) and real clips."""
from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class PatternTrack(MediaStreamTrack):
    """Moving bars at a fixed rate: enough for the media path, which does not care about faces."""

    kind = "video"

    def __init__(self, size: tuple[int, int] = (640, 360), fps: float = 15.0) -> None:
        super().__init__()
        self.size, self.interval = size, 1.0 / fps
        self.n = 0
        self.start = time.monotonic()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        target = self.start + self.n * self.interval
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        w, h = self.size
        img = np.zeros((h, w, 3), np.uint8)
        x = (self.n * 8) % w
        img[:, x:x + 40] = (0, 255, 0)
        img[h // 3: h // 3 + 20, :] = (self.n * 5 % 255, 100, 200)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = int(self.n * self.interval * 90000)
        frame.time_base = fractions.Fraction(1, 90000)
        self.n += 1
        return frame


class Collector:
    """Consumes a received track and counts what arrives."""

    def __init__(self) -> None:
        self.frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self.got_frame = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._run(track)))

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.frames += 1
                    self.sizes.add((frame.width, frame.height))
                    self.got_frame.set()
        except (MediaStreamError, asyncio.CancelledError):
            pass

    def stop(self) -> None:
        for t in self.tasks:
            t.cancel()


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()
