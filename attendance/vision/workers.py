"""VisionWorkerPool: office pipelines in worker processes (dlib holds the GIL).

Each stream lives in one worker. At most one frame per stream is in flight: `submit` drops a
frame while the previous one is still being worked on, so a slow worker means a lower
sampling rate, never a growing queue (memory stays flat however long the feed runs)."""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any

import numpy as np

from attendance.vision.config import DEFAULT_RECOGNISER, PipelineConfig
from attendance.vision.types import FrameResult, RosterPerson

log = logging.getLogger(__name__)


def warm_up(recogniser: str = DEFAULT_RECOGNISER) -> None:
    """Load the models and run each once, so an office's first frame does not pay for it
    (dlib's ResNet alone is a 20 MB file and its first descriptor allocates the network;
    FaceRes's graph is rebuilt from its files, ~0.2 s)."""
    from attendance.vision.faces import CHIP_SIZE
    from attendance.vision.mask import default_classifier
    from attendance.vision.recognise import dlib_models
    from attendance.vision.recognise.recognisers import FusedRecogniser, make_recogniser

    blank = np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    dlib_models.hog_detector().run(np.zeros((80, 80, 3), np.uint8), 0, 0.0)
    dlib_models.masked_hog_detector().run(np.zeros((80, 80, 3), np.uint8), 0, 0.0)
    dlib_models.shape5()
    dlib_models.cnn_detector()
    rec = make_recogniser(recogniser)
    emb = rec.embed([np.zeros((rec.chip[0], rec.chip[0], 3), np.uint8)])
    # With the fused recogniser the pipeline hands the mask classifier FaceRes's features from
    # its embeddings (the classifier need not load FaceRes again); otherwise it runs FaceRes itself.
    faceres = FusedRecogniser.faceres_of(emb) if isinstance(rec, FusedRecogniser) else None
    default_classifier().predict_proba([blank], faceres=faceres)


def _worker_main(inbox: mp.Queue[Any], outbox: mp.Queue[Any], parent: int,
                 recogniser: str = DEFAULT_RECOGNISER) -> None:
    """`parent`: the server's pid, passed in because the server may already be gone (and this
    process adopted) by the time a worker has imported its modules. `recogniser`: the one to
    warm up (the service's)."""
    from attendance.vision.pipeline import OfficePipeline

    try:
        warm_up(recogniser)
    except Exception:  # a model that fails to load will fail again, with its message, on the first frame
        log.exception("vision worker warm-up failed")
    pipelines: dict[str, OfficePipeline] = {}
    while True:
        try:
            msg = inbox.get(timeout=2.0)
        except queue.Empty:
            if os.getppid() != parent:   # the server was killed: do not linger as an orphan
                outbox.cancel_join_thread()   # nobody will read what is still queued
                return
            continue
        if msg is None:
            return
        kind, key = msg[0], msg[1]
        try:
            if kind == "configure":
                roster, config = msg[2], msg[3]
                if key in pipelines and pipelines[key].config == config:
                    pipelines[key].set_roster(roster)
                else:
                    pipelines[key] = OfficePipeline(roster, config)
                outbox.put(("configured", key, None))
            elif kind == "remove":
                pipelines.pop(key, None)
            elif kind == "frame":
                frame, t_s = msg[2], msg[3]
                p = pipelines.get(key)
                if p is None:
                    outbox.put(("error", key, f"stream {key!r} is not configured"))
                else:
                    outbox.put(("result", key, p.process(frame, t_s)))
        except Exception:  # a bad frame must not take the worker (and other offices) down
            outbox.put(("error", key, traceback.format_exc(limit=3)))


# Called once per frame the pool took (`submit` returned True), from the pool's reader thread: the
# frame's result, or None when the worker failed on it (the message is in `VisionWorkerPool.errors`).
# Either way the stream may take its next frame.
ResultCallback = Callable[[str, FrameResult | None], None]


class VisionWorkerPool:
    """Streams spread over worker processes; results are pushed to the `on_result` given to `start`.

    One reader thread per pool blocks on the workers' shared outbox and calls `on_result`: the caller
    (the live bridge) hands each result to its own event loop, so nothing here knows about asyncio."""

    def __init__(self, workers: int = 1, recogniser: str = DEFAULT_RECOGNISER) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.n = workers
        self.recogniser = recogniser
        self._ctx = mp.get_context("spawn")
        self._procs: list[BaseProcess] = []
        self._inboxes: list[mp.Queue[Any]] = []
        self._outbox: mp.Queue[Any] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()   # _home and _busy: the caller's thread and the reader share them
        self._home: dict[str, int] = {}
        self._busy: set[str] = set()
        self.errors: list[tuple[str, str]] = []   # (stream, message), last 100
        self.dropped = 0

    def start(self, on_result: ResultCallback) -> None:
        if self._procs:
            return
        self._outbox = self._ctx.Queue()
        for _ in range(self.n):
            inbox: mp.Queue[Any] = self._ctx.Queue()
            p = self._ctx.Process(target=_worker_main, args=(inbox, self._outbox, os.getpid(), self.recogniser),
                                  daemon=True)
            p.start()
            self._procs.append(p)
            self._inboxes.append(inbox)
        self._reader = threading.Thread(target=self._read_results, args=(self._outbox, on_result),
                                        name="apel-vision-results", daemon=True)
        self._reader.start()

    def _worker_for(self, key: str) -> int:
        if key not in self._home:
            load = [list(self._home.values()).count(i) for i in range(self.n)]
            self._home[key] = int(np.argmin(load))
        return self._home[key]

    def configure(self, stream_key: str, roster: Sequence[RosterPerson], config: PipelineConfig) -> None:
        config.validate()
        if not self._procs:
            raise RuntimeError("call start() first")
        with self._lock:
            worker = self._worker_for(stream_key)
        self._inboxes[worker].put(("configure", stream_key, list(roster), config))

    def submit(self, stream_key: str, frame_bgr: np.ndarray, t_s: float) -> bool:
        """Hand a frame to the stream's worker; False (the frame dropped) while its previous frame is
        still in work. KeyError for a stream that is not configured (or was removed)."""
        with self._lock:
            if stream_key not in self._home or not self._procs:
                raise KeyError(f"stream {stream_key!r} is not configured")
            if stream_key in self._busy:
                self.dropped += 1
                return False
            self._busy.add(stream_key)
            worker = self._home[stream_key]
        self._inboxes[worker].put(("frame", stream_key, np.ascontiguousarray(frame_bgr), float(t_s)))
        return True

    def _read_results(self, outbox: mp.Queue[Any], on_result: ResultCallback) -> None:
        """The reader thread: blocks on the outbox until `close` puts its end marker there."""
        while True:
            try:
                msg = outbox.get()
            except (EOFError, OSError):   # the queue was closed under us
                return
            if msg is None:
                return
            kind, key, payload = msg
            if kind not in ("result", "error"):
                continue
            with self._lock:
                self._busy.discard(key)
                known = key in self._home
            if kind == "error":
                self.errors = (self.errors + [(key, str(payload))])[-100:]
                log.warning("vision worker error on stream %s: %s", key, payload)
            if known:   # a removed stream's last result goes nowhere
                try:
                    on_result(key, payload if kind == "result" else None)
                except Exception:
                    log.exception("delivering a vision result for %s failed", key)

    def remove(self, stream_key: str) -> None:
        with self._lock:
            w = self._home.pop(stream_key, None)
            self._busy.discard(stream_key)
        if w is not None and self._procs:
            self._inboxes[w].put(("remove", stream_key))

    def close(self) -> None:
        """Stop the workers, then the reader. The reader keeps draining the outbox while the workers
        exit (a worker flushes what it has queued before it ends); nothing waits on a dead one."""
        with self._lock:
            self._home, self._busy = {}, set()   # results still arriving are delivered nowhere
        for q in self._inboxes:
            try:
                q.put(None)
            except Exception:
                pass
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=2)
        if self._outbox is not None:
            # A worker terminated while writing may have left the outbox's write lock taken: then this
            # end marker never arrives, and neither the reader nor the process exit may wait for it.
            self._outbox.cancel_join_thread()
            self._outbox.put(None)
        if self._reader is not None:
            self._reader.join(timeout=5)
            if self._reader.is_alive():
                log.warning("the vision result reader did not stop; leaving it (a daemon thread)")
        for q in self._inboxes:
            q.cancel_join_thread()   # a dead worker's inbox may still hold frames nobody will take
            q.close()
        self._procs, self._inboxes, self._outbox, self._reader = [], [], None, None
