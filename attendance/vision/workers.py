"""VisionWorkerPool: office pipelines in worker processes (dlib holds the GIL).

Each stream lives in one worker. At most one frame per stream is in flight: `submit` drops a
frame while the previous one is still being worked on, so a slow worker means a lower
sampling rate, never a growing queue (memory stays flat however long the feed runs).

A worker has at most SENT_AHEAD frames sent to it (the one in work and the next, so it never waits
for a frame to come through its pipe); the others wait in the pool, which picks the next to send
when the worker answers: the first frame of a stream not looked at yet before other streams' frames
(offices joining together each get their first answer before the next frames of offices already in
view), and a first look is hurried while other first frames wait behind it (the pool counts the first
frames it was handed for the worker where the worker reads it) or came just before it (the last office
of those joining together is not kept waiting by a dearer look of its own). (Sent as they came, the
frames would queue in the worker's inbox pipe, where a first frame cannot pass the frames ahead.)

Nothing here may keep a process from ending: frames go to a worker through a queue whose feeder
thread is never waited for (at close or at exit), each worker answers on its own pipe (so one
worker killed mid-write cannot block the others), and the reader thread watches the workers'
process sentinels, so a dead worker is noticed at once, its frame failed and the worker replaced."""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MPQueue
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


def _exit_with(parent: int) -> None:
    """A worker's watch on its server: once the server is gone (killed: no cleanup ran), end at once,
    whatever the worker is doing (loading its models, or a frame): nobody will take its results."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def _next_message(inbox: mp.Queue[Any], pending: deque[Any], fresh: set[str]) -> Any:
    """The worker's next message: the first frame of a stream not looked at yet (in `fresh`) before
    other streams' frames, anything else in the order sent. Offices that join together each get
    their first answer before the offices already in view get their next frames (which can be whole
    looks, a second each), so a joining office does not wait for a round of the others. Each stream
    has at most one frame in flight, so no stream's own frames change order; a message that is not
    a frame (configure, remove, stop) is never passed by a frame sent after it."""
    if not pending:
        pending.append(inbox.get())   # a server that is gone ends this process from its watch thread
    while True:
        try:
            pending.append(inbox.get_nowait())
        except queue.Empty:
            break
    for i, msg in enumerate(pending):
        if msg is None or msg[0] != "frame":
            break
        if msg[1] in fresh:
            del pending[i]
            return msg
    return pending.popleft()


class _PoolGone(Exception):
    """The worker's result pipe is closed: the pool closed it, or the server is gone."""


# A first frame that comes within this long after the worker finished another stream's first look is
# of offices joining together: its look is hurried too, though no first frame waits behind it.
FIRST_LOOKS_TOGETHER_S = 1.0


def _worker_main(inbox: mp.Queue[Any], results: Connection, parent: int,
                 recogniser: str = DEFAULT_RECOGNISER, nice: int = 0, firsts: Any = None) -> None:
    """`parent`: the server's pid, passed in because the server may already be gone (and this
    process adopted) by the time a worker has imported its modules. `recogniser`: the one to
    warm up (the service's). `results`: this worker's own pipe to the pool's reader, written
    directly (no feeder thread): a send to a server that is gone fails, and the worker ends.
    `nice`: how far below the server this worker runs. Analysis samples frames and catches up when
    it is behind; a request or a media packet that waits for the CPU is a late page or a frozen
    feed. When the cores are short, the server goes first. `firsts`: a shared count the pool keeps of
    the first frames (of streams not looked at yet) it was handed for this worker: those this worker
    has not taken yet wait behind the frame it takes."""
    if nice > 0:
        os.nice(nice)
    threading.Thread(target=_exit_with, args=(parent,), name="apel-parent-watch", daemon=True).start()
    from attendance.vision.pipeline import OfficePipeline

    try:
        warm_up(recogniser)
    except Exception:  # a model that fails to load will fail again, with its message, on the first frame
        log.exception("vision worker warm-up failed")
    pipelines: dict[str, OfficePipeline] = {}
    pending: deque[Any] = deque()   # messages taken from the inbox, not handled yet
    fresh: set[str] = set()         # streams whose pipeline has not had a frame yet
    firsts_taken = 0                # first frames of such streams this worker took
    last_first_done = -1e9          # monotonic: when it last finished one

    def send(msg: tuple[str, str, object]) -> None:
        try:
            results.send(msg)
        except OSError as exc:
            raise _PoolGone from exc

    try:
        while True:
            msg = _next_message(inbox, pending, fresh)
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
                        fresh.add(key)
                    send(("configured", key, None))
                elif kind == "remove":
                    pipelines.pop(key, None)
                    fresh.discard(key)
                elif kind == "frame":
                    frame, t_s = msg[2], msg[3]
                    first = key in fresh
                    firsts_taken += first
                    fresh.discard(key)
                    # Other streams' first frames wait behind this one (in the pool or on their way), or one
                    # was just looked at: a first look is the hurried one
                    # (PipelineConfig.hurried_first_look_work_pixels).
                    hurry = (firsts is not None and firsts.value > firsts_taken) or \
                        time.monotonic() - last_first_done < FIRST_LOOKS_TOGETHER_S
                    p = pipelines.get(key)
                    if p is None:
                        send(("error", key, f"stream {key!r} is not configured"))
                    else:
                        result = p.process(frame, t_s, hurry=hurry)
                        if first:
                            last_first_done = time.monotonic()
                        send(("result", key, result))
            except _PoolGone:
                raise
            except Exception:  # a bad frame must not take the worker (and other offices) down
                send(("error", key, traceback.format_exc(limit=3)))
    except _PoolGone:   # the pool closed our pipe, or the server is gone: nobody wants what we would send
        return


# Called once per frame the pool took (`submit` returned True), from the pool's reader thread: the
# frame's result, or None when the worker failed on it or died (the message is in
# `VisionWorkerPool.errors`). Either way the stream may take its next frame.
ResultCallback = Callable[[str, FrameResult | None], None]

SENT_AHEAD = 2             # frames sent to a worker at a time: the one in work and the next
RESTARTS_ALLOWED = 3       # a worker that dies is started again, at most this often ...
RESTART_WINDOW_S = 60.0    # ... within this many seconds (a crash on start would otherwise loop)
STOP_WAIT_S = 5.0          # close() lets workers finish their frame this long, then terminates them


class _Inbox(MPQueue):  # type: ignore[type-arg]
    """A worker's inbox. Its feeder thread writes frames into a pipe; if the worker is gone that
    write can block forever (the pool still holds the pipe's read end). So nothing ever waits for
    the feeder (`cancel_join_thread` at once: a frame for a dead or stopping worker is worth
    nothing), and `abandon` closes the read end, which ends a blocked write."""

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx=ctx)
        self._ignore_epipe = True   # a broken pipe means the worker is gone: the feeder just ends
        self.cancel_join_thread()

    def abandon(self) -> None:
        try:
            self._reader.close()   # type: ignore[attr-defined]
        except OSError:
            pass
        self.close()


class _Slot:
    """One worker process with its inbox and its result pipe."""

    def __init__(self, ctx: Any, index: int, recogniser: str, nice: int = 0) -> None:
        self.index = index
        self.inbox = _Inbox(ctx)
        self.results, send_end = ctx.Pipe(duplex=False)
        self.firsts = ctx.Value("i", 0, lock=False)   # first frames of new streams the pool was handed for it
        self.process: BaseProcess = ctx.Process(
            target=_worker_main, args=(self.inbox, send_end, os.getpid(), recogniser, nice, self.firsts),
            name=f"apel-vision-{index}", daemon=True)
        self.process.start()
        send_end.close()   # the worker holds the only write end: its death is EOF here
        self.eof = False    # its result pipe is at its end
        self.dead = False   # it died and was not started again: its streams' frames are dropped
        self.sent = 0   # frames sent to it it has not answered yet
        self.waiting: deque[tuple[str, np.ndarray, float]] = deque()   # frames for it, not sent yet

    def put(self, msg: object) -> None:
        try:
            self.inbox.put(msg)
        except (ValueError, AssertionError):   # abandoned (the worker died, or the pool closed)
            pass

    def stop(self, deadline: float) -> None:
        """Wait for a worker that was told to stop, until `deadline`; then terminate, then kill it."""
        self.process.join(max(0.0, deadline - time.monotonic()))
        for end in (self.process.terminate, self.process.kill):
            if not self.process.is_alive():
                break
            end()
            self.process.join(2.0)
        if self.process.is_alive():
            log.error("vision worker %s (pid %s) did not end", self.index, self.process.pid)

    def release(self) -> None:
        self.inbox.abandon()
        self.results.close()
        self.eof = True   # the reader waits on it no more


class VisionWorkerPool:
    """Streams spread over worker processes; results are pushed to the `on_result` given to `start`.

    One reader thread per pool waits on every worker's result pipe and on the workers themselves
    and calls `on_result`: the caller (the live bridge) hands each result to its own event loop, so
    nothing here knows about asyncio. A worker that dies (killed, out of memory) fails the frame it
    had and is started again with its streams' pipelines; nothing, at close or at exit, waits on it."""

    def __init__(self, workers: int = 1, recogniser: str = DEFAULT_RECOGNISER, nice: int = 0) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 <= nice <= 19:
            raise ValueError("nice must be 0..19")
        self.n = workers
        self.recogniser = recogniser
        self.nice = nice
        self._ctx = mp.get_context("spawn")
        self._slots: list[_Slot] = []
        self._reader: threading.Thread | None = None
        self._wake: tuple[Connection, Connection] | None = None
        self._closing = False
        # _home, _busy, _configs and _slots: the caller's thread and the reader share them
        self._lock = threading.Lock()
        self._home: dict[str, int] = {}
        self._busy: set[str] = set()
        self._configs: dict[str, tuple[list[RosterPerson], PipelineConfig]] = {}
        self._fresh: set[str] = set()   # streams whose (new) pipeline has not been sent a frame yet
        self._restarts: dict[int, list[float]] = {}
        self.errors: list[tuple[str, str]] = []   # (stream, message), last 100
        self.dropped = 0
        self.restarts = 0

    @property
    def _procs(self) -> list[BaseProcess]:
        return [s.process for s in self._slots]

    def start(self, on_result: ResultCallback) -> None:
        if self._slots:
            return
        self._closing = False
        self._slots = [_Slot(self._ctx, i, self.recogniser, self.nice) for i in range(self.n)]
        self._wake = self._ctx.Pipe(duplex=False)
        self._reader = threading.Thread(target=self._read_results, args=(self._wake[0], on_result),
                                        name="apel-vision-results", daemon=True)
        self._reader.start()

    def _worker_for(self, key: str) -> int:
        if key not in self._home:
            load = [list(self._home.values()).count(i) for i in range(self.n)]
            self._home[key] = int(np.argmin(load))
        return self._home[key]

    def configure(self, stream_key: str, roster: Sequence[RosterPerson], config: PipelineConfig) -> None:
        config.validate()
        if not self._slots:
            raise RuntimeError("call start() first")
        with self._lock:
            worker = self._worker_for(stream_key)
            old = self._configs.get(stream_key)
            if old is None or old[1] != config:   # the worker makes the stream a new pipeline
                self._fresh.add(stream_key)
            self._configs[stream_key] = (list(roster), config)   # to configure a restarted worker
            self._slots[worker].put(("configure", stream_key, list(roster), config))

    def submit(self, stream_key: str, frame_bgr: np.ndarray, t_s: float) -> bool:
        """Hand a frame to the stream's worker; False (the frame dropped) while its previous frame is
        still in work. KeyError for a stream that is not configured (or was removed)."""
        with self._lock:
            if stream_key not in self._home or not self._slots:
                raise KeyError(f"stream {stream_key!r} is not configured")
            slot = self._slots[self._home[stream_key]]
            if stream_key in self._busy or slot.dead:
                self.dropped += 1
                return False
            self._busy.add(stream_key)
            if stream_key in self._fresh:
                slot.firsts.value += 1
            # Under the lock, so a worker's replacement (the reader thread) cannot come in between.
            slot.waiting.append((stream_key, np.ascontiguousarray(frame_bgr), float(t_s)))
            self._send_next(slot)
        return True

    def _send_next(self, slot: _Slot) -> None:
        """Send the worker its next frames, up to SENT_AHEAD (under the lock): the first frame of a stream
        not looked at yet before the others, else the oldest."""
        while slot.waiting and slot.sent < SENT_AHEAD:
            first = [i for i, (key, _, _) in enumerate(slot.waiting) if key in self._fresh]
            i = first[0] if first else 0
            key, frame, t_s = slot.waiting[i]
            del slot.waiting[i]
            self._fresh.discard(key)
            slot.sent += 1
            slot.put(("frame", key, frame, t_s))

    def _read_results(self, wake: Connection, on_result: ResultCallback) -> None:
        """The reader thread: until `close` wakes it, takes every worker's results and notices a
        worker's death the moment it happens (its process sentinel)."""
        while True:
            with self._lock:
                slots = list(self._slots)
            waits: list[Any] = [wake]
            waits += [s.results for s in slots if not s.eof] + [s.process.sentinel for s in slots if not s.dead]
            ready = mp_wait(waits)
            if wake in ready or self._closing:
                return
            for s in slots:
                if not s.eof and s.results in ready:
                    self._take(s, on_result)
            for s in slots:
                if not s.dead and s.process.sentinel in ready:
                    while not s.eof and s.results.poll():   # what it sent before it died counts
                        self._take(s, on_result)
                    self._worker_died(s, on_result)

    def _take(self, slot: _Slot, on_result: ResultCallback) -> None:
        try:
            msg = slot.results.recv()
        except (EOFError, OSError):
            slot.eof = True   # the worker is gone; its sentinel says so too
            return
        kind, key, payload = msg
        if kind in ("result", "error"):
            with self._lock:   # the worker took its next frame: another goes now, while this one is delivered
                slot.sent = max(0, slot.sent - 1)
                if not slot.dead and slot in self._slots and slot.process.is_alive():
                    self._send_next(slot)
            self._deliver(key, payload if kind == "result" else None, None if kind == "result" else str(payload),
                          on_result)

    def _deliver(self, key: str, result: FrameResult | None, error: str | None, on_result: ResultCallback) -> None:
        with self._lock:
            self._busy.discard(key)
            known = key in self._home
        if error is not None:
            self.errors = (self.errors + [(key, error)])[-100:]
            log.warning("vision worker error on stream %s: %s", key, error)
        if known:   # a removed stream's last result goes nowhere
            try:
                on_result(key, result)
            except Exception:
                log.exception("delivering a vision result for %s failed", key)

    def _worker_died(self, slot: _Slot, on_result: ResultCallback) -> None:
        """Fail the frame it had and start a new worker in its place with its streams' pipelines."""
        if self._closing or slot.dead:
            return
        code = slot.process.exitcode
        now = time.monotonic()
        recent = [t for t in self._restarts.get(slot.index, []) if now - t < RESTART_WINDOW_S]
        fresh = None
        if len(recent) < RESTARTS_ALLOWED:
            self._restarts[slot.index] = [*recent, now]
            try:
                fresh = _Slot(self._ctx, slot.index, self.recogniser, self.nice)
            except Exception:
                log.exception("vision worker %s could not be started again", slot.index)
        with self._lock:   # one step for submit(): a frame goes to the old worker and fails below, or to the new
            streams = [k for k, w in self._home.items() if w == slot.index]
            busy = [k for k in streams if k in self._busy]
            if fresh is not None and not self._closing:
                self._slots[self._slots.index(slot)] = fresh
                for key in streams:
                    if key in self._configs:
                        fresh.put(("configure", key, *self._configs[key]))
                        self._fresh.add(key)   # a new pipeline there
                self.restarts += 1
            else:
                slot.dead = True
                if fresh is not None:   # closing meanwhile: close() stops it with the others
                    fresh.put(None)
                    self._slots.append(fresh)
        log.error("vision worker %s (pid %s) died with exit code %s; its streams: %s; %s",
                  slot.index, slot.process.pid, code, ", ".join(streams) or "none",
                  "started again" if fresh is not None and not slot.dead else "not started again")
        slot.release()
        for key in busy:
            self._deliver(key, None, f"the vision worker died (exit code {code}) while analysing this frame",
                          on_result)

    def remove(self, stream_key: str) -> None:
        with self._lock:
            w = self._home.pop(stream_key, None)
            self._busy.discard(stream_key)
            self._configs.pop(stream_key, None)
            was_fresh = stream_key in self._fresh
            self._fresh.discard(stream_key)
            if w is not None and self._slots:
                slot = self._slots[w]
                if was_fresh and any(m[0] == stream_key for m in slot.waiting):
                    slot.firsts.value -= 1   # its first frame will never reach the worker
                slot.waiting = deque(m for m in slot.waiting if m[0] != stream_key)
                slot.put(("remove", stream_key))

    def close(self) -> None:
        """Stop the workers (each finishes its frame, for a few seconds at most), then the reader.
        Nothing here waits on a dead worker or on a frame still being written to one."""
        with self._lock:
            self._closing = True
            self._home, self._busy, self._configs = {}, set(), {}   # results still arriving go nowhere
            self._fresh = set()
            for s in self._slots:
                s.waiting.clear()
            slots = list(self._slots)
        for s in slots:
            s.put(None)
        deadline = time.monotonic() + STOP_WAIT_S
        for s in slots:
            s.stop(deadline)
        if self._wake is not None:
            self._wake[1].send(None)
        if self._reader is not None:
            self._reader.join(timeout=5)
            if self._reader.is_alive():
                log.warning("the vision result reader did not stop; leaving it (a daemon thread)")
        with self._lock:
            slots = list(self._slots)   # a worker started again while closing is among them
            self._slots = []
        for s in slots:
            s.stop(time.monotonic())
            s.release()
        if self._wake is not None:
            for end in self._wake:
                end.close()
        self._reader, self._wake = None, None
