"""A video file as an office's camera (`apel camera FILE [--loop]`): played at the file's own pace,
once or over and over, on one clock that never goes back.

Why not aiortc's MediaPlayer(loop=True): it starts a fresh decode for every frame, so with PyAV 18 a
file's end arrives as `av.error.EOFError`, not the `StopIteration` it loops on, and the feed stops
after one pass; and it cannot tell the file's end from a broken file, both end the track the same
way. Here one decode runs per pass, both ways a file can end start the next pass, and a feed that
stopped for an error says why (`error`), so the command can refuse to call it a normal end."""
from __future__ import annotations

import asyncio
import fractions
import threading
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_CLOCK = fractions.Fraction(1, 90000)


class FileVideoTrack(MediaStreamTrack):
    """The first video stream of a file. `passes`: passes played to the end; `error`: why the feed
    stopped when it was not the end of the file (None while it plays, and after a normal end)."""

    kind = "video"

    def __init__(self, path: str, *, loop: bool = False) -> None:
        super().__init__()
        self.path, self.loop = path, loop
        self._container: av.container.InputContainer | None = av.open(path)   # av's errors are OSErrors
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"{path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._frames = self._container.decode(self._stream)
        self._frame_s = 1.0 / float(self._stream.average_rate or 25)
        self._lock = threading.Lock()   # the decoding thread and stop()
        self.passes = 0
        self.frames = 0
        self.error: str | None = None
        self._pass_at = 0.0                 # the track's time at which this pass began
        self._first: float | None = None    # the file's time of this pass's first frame
        self._last = 0.0                    # ... and of its latest
        self._t0: float | None = None       # the monotonic time of the track's time 0

    def _next(self) -> tuple[av.VideoFrame, float] | None:
        """The next frame and its time on the track; None at the end (or once stopped)."""
        with self._lock:
            while self._container is not None:
                try:
                    frame = next(self._frames)
                except (StopIteration, av.error.EOFError):   # the two ways PyAV ends a file
                    empty = self._first is None
                    self.passes += not empty
                    if not self.loop:
                        return None
                    if empty:
                        raise ValueError(f"{self.path}: no video frame in a whole pass") from None
                    self._container.seek(0)
                    self._frames = self._container.decode(self._stream)
                    self._pass_at += (self._last - (self._first or 0.0)) + self._frame_s
                    self._first = None
                    continue
                assert isinstance(frame, av.VideoFrame)
                t = frame.time if frame.time is not None else self.frames * self._frame_s
                if self._first is None:
                    self._first = t
                self._last = max(t, self._first)
                self.frames += 1
                return frame, self._pass_at + (self._last - self._first)
            return None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            got = await asyncio.to_thread(self._next)
        except Exception as exc:   # a broken file: the feed stops, and says why
            self.error = f"{self.path}: {exc.__class__.__name__}: {exc}"
            self.stop()
            raise MediaStreamError(self.error) from exc
        if got is None:
            self.stop()
            raise MediaStreamError
        frame, t = got
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now - t
        delay = self._t0 + t - now
        if delay > 0:
            await asyncio.sleep(delay)
        frame.pts, frame.time_base = int(t * 90000), VIDEO_CLOCK
        return frame

    def stop(self) -> None:
        super().stop()
        with self._lock:
            if self._container is not None:
                self._container.close()
                self._container = None


class FilePlayer:
    """The shape `apel camera` uses of aiortc's MediaPlayer (`audio`, `video`), for a file."""

    audio = None

    def __init__(self, path: str, *, loop: bool = False) -> None:
        self.video = FileVideoTrack(path, loop=loop)
