"""VisionWorkerPool: office pipelines in worker processes (dlib holds the GIL).

Each stream lives in one worker. At most one frame per stream is in flight: `submit` drops a
frame while the previous one is still being worked on, so a slow worker means a lower
sampling rate, never a growing queue (memory stays flat however long the feed runs)."""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import traceback
from typing import Sequence

import numpy as np

from attendance.vision.types import DEFAULT_RECOGNISER, FrameResult, PipelineConfig, RosterPerson

log = logging.getLogger(__name__)


def warm_up(recogniser: str = DEFAULT_RECOGNISER) -> None:
    """Load the models and run each once, so an office's first frame does not pay for it
    (dlib's ResNet alone is a 20 MB file and its first descriptor allocates the network;
    FaceRes's graph is rebuilt from its files, ~0.2 s)."""
    from attendance.vision.recognise import dlib_models
    from attendance.vision.faces import CHIP_SIZE
    from attendance.vision.mask import default_classifier
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


def _worker_main(inbox: mp.Queue, outbox: mp.Queue, parent: int, recogniser: str = DEFAULT_RECOGNISER) -> None:
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


class VisionWorkerPool:
    def __init__(self, workers: int = 1, recogniser: str = DEFAULT_RECOGNISER):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.n = workers
        self.recogniser = recogniser
        self._ctx = mp.get_context("spawn")
        self._procs: list = []
        self._inboxes: list = []
        self._outbox = None
        self._home: dict[str, int] = {}
        self._busy: set[str] = set()
        self.errors: list[tuple[str, str]] = []   # (stream, message), last 100
        self.dropped = 0

    def start(self) -> None:
        if self._procs:
            return
        self._outbox = self._ctx.Queue()
        for _ in range(self.n):
            inbox = self._ctx.Queue()
            p = self._ctx.Process(target=_worker_main, args=(inbox, self._outbox, os.getpid(), self.recogniser),
                                  daemon=True)
            p.start()
            self._procs.append(p)
            self._inboxes.append(inbox)

    def _worker_for(self, key: str) -> int:
        if key not in self._home:
            load = [list(self._home.values()).count(i) for i in range(self.n)]
            self._home[key] = int(np.argmin(load))
        return self._home[key]

    def configure(self, stream_key: str, roster: Sequence[RosterPerson], config: PipelineConfig) -> None:
        config.validate()
        if not self._procs:
            raise RuntimeError("call start() first")
        self._inboxes[self._worker_for(stream_key)].put(("configure", stream_key, list(roster), config))

    def is_busy(self, stream_key: str) -> bool:
        """True while the stream's previous frame is still in work (a submit now would be dropped),
        so a caller can skip preparing a frame nobody will take."""
        return stream_key in self._busy

    def submit(self, stream_key: str, frame_bgr: np.ndarray, t_s: float) -> bool:
        if stream_key not in self._home or not self._procs:
            raise KeyError(f"stream {stream_key!r} is not configured")
        if stream_key in self._busy:
            self.dropped += 1
            return False
        self._busy.add(stream_key)
        self._inboxes[self._home[stream_key]].put(("frame", stream_key, np.ascontiguousarray(frame_bgr), float(t_s)))
        return True

    def poll_results(self) -> list[tuple[str, FrameResult]]:
        out: list[tuple[str, FrameResult]] = []
        if self._outbox is None:
            return out
        while True:
            try:
                kind, key, payload = self._outbox.get_nowait()
            except queue.Empty:
                return out
            if kind == "result":
                self._busy.discard(key)
                if key in self._home:
                    out.append((key, payload))
            elif kind == "error":
                self._busy.discard(key)
                self.errors = (self.errors + [(key, str(payload))])[-100:]
                log.warning("vision worker error on stream %s: %s", key, payload)

    def remove(self, stream_key: str) -> None:
        w = self._home.pop(stream_key, None)
        self._busy.discard(stream_key)
        if w is not None and self._procs:
            self._inboxes[w].put(("remove", stream_key))

    def close(self) -> None:
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
        self._procs, self._inboxes, self._home, self._busy = [], [], {}, set()
        self._outbox = None
