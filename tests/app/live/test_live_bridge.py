"""The frame bridge: frames pushed in by the tap, results pushed back by the pool's reader thread, one
waiting frame per stream (a newer one replaces it), and a pool whose shutdown never hangs on a dead worker."""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import numpy as np

from app.live.bridge import FrameBridge, ResultCallback
from app.live.streams import StreamInfo
from attendance.vision.types import FrameResult
from media.interfaces import SampledFrame


class HandPool:
    """A pool whose worker is the test: it takes one frame per stream and answers when told to,
    from another thread, as the real pool's reader thread does."""

    def __init__(self) -> None:
        self.on_result: ResultCallback | None = None
        self.taken: list[float] = []
        self.busy: set[str] = set()

    def start(self, on_result: ResultCallback) -> None:
        self.on_result = on_result

    def configure(self, stream_key, roster, config) -> None:
        pass

    def submit(self, stream_key, frame_bgr, t_s) -> bool:
        if stream_key in self.busy:
            return False
        self.busy.add(stream_key)
        self.taken.append(t_s)
        return True

    def answer(self, stream_key: str, ok: bool = True) -> None:
        def reader() -> None:
            self.busy.discard(stream_key)
            assert self.on_result is not None
            self.on_result(stream_key, FrameResult(t_s=self.taken[-1]) if ok else None)
        t = threading.Thread(target=reader)
        t.start()
        t.join()

    def remove(self, stream_key) -> None:
        self.busy.discard(stream_key)

    def close(self) -> None:
        pass


def frame(key: str, t: float) -> SampledFrame:
    return SampledFrame(key, np.zeros((4, 6, 3), np.uint8), t_s=t)


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_frames_and_results_are_pushed_with_one_waiting_frame_per_stream() -> None:
    info = StreamInfo("1/OPD1", 1, 1, 1, "OPD1", track_prefix="t", names={}, joined_at=time.monotonic())
    seen: list[tuple[str, float, tuple[int, int] | None]] = []
    bridge = FrameBridge({info.stream_key: info}, lambda i, r, size: seen.append((i.stream_key, r.t_s, size)))
    pool = HandPool()
    bridge.bind(asyncio.get_running_loop())
    pool.start(bridge.deliver)
    bridge.attach(pool)

    bridge.put(frame("1/OPD1", 1.0))          # a worker is free: straight to it
    bridge.put(frame("1/OPD1", 2.0))          # waits
    bridge.put(frame("1/OPD1", 3.0))          # replaces the waiting one
    bridge.put(frame("9/NOPE", 1.0))          # not a joined stream: dropped
    assert pool.taken == [1.0] and (info.submitted, info.not_submitted) == (1, 1)

    pool.answer("1/OPD1")                     # its result comes back; the waiting frame goes at once
    await settle()
    assert seen == [("1/OPD1", 1.0, (6, 4))] and pool.taken == [1.0, 3.0] and info.results == 1
    assert info.first_result_at is not None

    pool.answer("1/OPD1", ok=False)           # the worker failed on it: no result, the stream is free
    await settle()
    assert len(seen) == 1 and info.results == 1
    bridge.put(frame("1/OPD1", 4.0))
    assert pool.taken == [1.0, 3.0, 4.0] and info.submitted == 3

    bridge.stop()                             # an orderly stop: nothing more goes in or comes out
    bridge.put(frame("1/OPD1", 5.0))
    pool.answer("1/OPD1")
    await settle()
    assert pool.taken == [1.0, 3.0, 4.0] and len(seen) == 1


def test_pool_closes_promptly_after_a_worker_was_killed() -> None:
    from attendance.vision.workers import VisionWorkerPool

    pool = VisionWorkerPool(workers=1, recogniser="dlib")
    pool.start(lambda key, result: None)
    reader = pool._reader
    os.kill(pool._procs[0].pid, signal.SIGKILL)
    t0 = time.monotonic()
    pool.close()
    assert time.monotonic() - t0 < 10
    assert reader is not None and not reader.is_alive()
