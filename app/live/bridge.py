"""The frame bridge: office frames from media's FrameSink port to the vision worker pool, results back.

Everything is pushed: the tap calls `put` on the event loop for each sampled frame; the pool calls
`deliver` from its reader thread once per frame it took, and the bridge hands that over to the loop
(`call_soon_threadsafe`). Per stream at most one frame is at a worker and at most one waits here (the
latest: a newer frame replaces it, counted as not submitted), so a slow worker lowers the analysed
rate and never grows a queue. A frame's pixels are converted only when it goes to a worker."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from app.live.streams import StreamInfo
from attendance.vision.config import PipelineConfig
from attendance.vision.types import FrameResult, RosterPerson
from media.interfaces import SampledFrame

log = logging.getLogger("apel.live")

ResultCallback = Callable[[str, FrameResult | None], None]
# (the stream, its result, the (w, h) of the frame the result is about), on the event loop
ResultHandler = Callable[[StreamInfo, FrameResult, tuple[int, int] | None], None]


class WorkerPool(Protocol):
    """What the bridge and the service need of attendance.vision.workers.VisionWorkerPool."""

    def start(self, on_result: ResultCallback) -> None: ...

    def configure(self, stream_key: str, roster: Sequence[RosterPerson], config: PipelineConfig) -> None: ...

    def submit(self, stream_key: str, frame_bgr: NDArray[np.uint8], t_s: float) -> bool: ...

    def remove(self, stream_key: str) -> None: ...

    def close(self) -> None: ...


class NoAnalysis:
    """The pool of a web node that leaves every office to the vision nodes (APEL_MEDIA=janus with
    APEL_JANUS_ANALYSE=false): no worker processes and no models in memory; joins configure it as
    usual and it refuses every frame (none is offered: Janus forwards nothing to this node)."""

    def start(self, on_result: ResultCallback) -> None:
        pass

    def configure(self, stream_key: str, roster: Sequence[RosterPerson], config: PipelineConfig) -> None:
        pass

    def submit(self, stream_key: str, frame_bgr: NDArray[np.uint8], t_s: float) -> bool:
        return False

    def remove(self, stream_key: str) -> None:
        pass

    def close(self) -> None:
        pass


class FrameBridge:
    """A FrameSink for the media server; `deliver` is the pool's result callback."""

    def __init__(self, streams: Mapping[str, StreamInfo], on_result: ResultHandler) -> None:
        self._streams = streams
        self._on_result = on_result
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: WorkerPool | None = None
        self._latest: dict[str, SampledFrame] = {}        # the one frame waiting per stream
        self._in_flight: set[str] = set()                 # streams with a frame at a worker
        self._frame_sizes: dict[str, tuple[int, int]] = {}
        self._closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop results are handed to (the service's), before the pool starts delivering."""
        self._loop = loop

    def attach(self, pool: WorkerPool) -> None:
        """The pool is started: frames go to it from now on."""
        self._pool = pool

    def stop(self) -> None:
        """An orderly stop: no new frames go to the pool, and results still arriving are not taken."""
        self._closed = True
        self._latest.clear()

    def forget(self, stream_key: str) -> None:
        """The stream was removed from the pool (its apel ended): nothing of it is waiting or in work."""
        self._latest.pop(stream_key, None)
        self._in_flight.discard(stream_key)
        self._frame_sizes.pop(stream_key, None)

    def drop_waiting(self, stream_key: str) -> None:
        """The office left: its waiting frame goes (a frame in work still comes back)."""
        self._latest.pop(stream_key, None)

    # -- frames in (media's FrameSink port, on the loop)
    def put(self, frame: SampledFrame) -> None:
        key = frame.stream_key
        info = self._streams.get(key)
        if self._closed or self._pool is None or info is None:
            return
        if key in self._in_flight:
            if key in self._latest:
                info.not_submitted += 1
            self._latest[key] = frame
            return
        self._submit(self._pool, info, frame)

    def _submit(self, pool: WorkerPool, info: StreamInfo, frame: SampledFrame) -> None:
        key = info.stream_key
        try:
            pixels = frame.frame_bgr
            accepted = pool.submit(key, pixels, frame.t_s)
        except KeyError:   # the stream was removed (apel ended) after this frame was sampled
            return
        except Exception:
            log.exception("submitting a frame of %s failed", key)
            return
        self._in_flight.add(key)
        if accepted:
            info.submitted += 1
            h, w = pixels.shape[:2]
            self._frame_sizes[key] = (w, h)
        else:
            # The pool still works on an earlier frame of this stream (one of a previous connection):
            # this one waits for that frame's result like any other.
            self._latest[key] = frame

    # -- results out (the pool's reader thread, then the loop)
    def deliver(self, stream_key: str, result: FrameResult | None) -> None:
        """The pool's callback, on its reader thread: one call per frame it took."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._done, stream_key, result)
        except RuntimeError:   # the loop closed meanwhile: the service has stopped
            pass

    def _done(self, key: str, result: FrameResult | None) -> None:
        self._in_flight.discard(key)
        info = self._streams.get(key)
        if self._closed or info is None:
            self._latest.pop(key, None)
            return
        if result is not None:
            # (a frame of the previous connection may come back after a rejoin: not this join's first)
            if info.first_result_at is None and result.t_s >= info.joined_wall:
                info.first_result_at = time.monotonic()
                log.info("office %s: first analysed frame %.2f s after join", key,
                         info.first_result_at - info.joined_at)
            info.results += 1
            try:
                self._on_result(info, result, self._frame_sizes.get(key))
            except Exception:
                log.exception("handling the result of a frame of %s failed", key)
        waiting = self._latest.pop(key, None)
        if waiting is not None and self._pool is not None:
            self._submit(self._pool, info, waiting)
