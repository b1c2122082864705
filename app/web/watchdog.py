"""Event-loop stall watchdog: when the server stops answering, say where it is stuck.

Every request, every WebRTC peer and the live roll-call run on one asyncio loop. Anything that
blocks it (a synchronous call made from a coroutine, a lock held by a thread the loop waits on)
freezes all of them at once, and from outside it only looks like timeouts. Under load the capacity
benchmark saw the server stop answering HTTP for a minute twice, without a trace of why. This
thread pings the loop; when a ping is late by more than `threshold_s` it logs the stack of every
thread once (the loop's thread shows the blocking call), then how long the stall lasted when the
loop answers again. It costs one thread waking twice a second."""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback

log = logging.getLogger("apel.watchdog")


def thread_stacks(limit: int = 12) -> str:
    """Every thread's current stack, innermost frames last (what `py-spy dump` would show)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame, limit=limit))
        parts.append(f"--- thread {names.get(ident, '?')} ({ident}):\n{stack}")
    return "\n".join(parts)


class LoopWatchdog:
    def __init__(self, loop: asyncio.AbstractEventLoop, threshold_s: float = 2.0, interval_s: float = 0.5):
        if threshold_s <= 0 or interval_s <= 0:
            raise ValueError("threshold_s and interval_s must be positive")
        self.loop = loop
        self.threshold_s = threshold_s
        self.interval_s = interval_s
        self.stalls: list[float] = []        # durations of the stalls seen (s), last 100
        self._answered = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="apel-loop-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._answered.clear()
            sent = time.monotonic()
            try:
                self.loop.call_soon_threadsafe(self._answered.set)
            except RuntimeError:   # the loop is closed: the app is gone
                return
            if self._answered.wait(self.threshold_s):
                continue
            if self._stop.is_set():
                return
            log.error("event loop blocked for more than %.1f s; thread stacks:\n%s",
                      self.threshold_s, thread_stacks())
            while not self._answered.wait(self.interval_s):
                if self._stop.is_set() or self.loop.is_closed():
                    return
            took = time.monotonic() - sent
            self.stalls = (self.stalls + [took])[-100:]
            log.error("event loop answered again after %.1f s", took)


def install(app) -> None:   # app: a FastAPI (imported lazily by the caller)
    """Start the watchdog with the app (APEL_LOOP_STALL_S; 0 turns it off) and stop it with it."""
    threshold = app.state.settings.loop_stall_s
    if threshold <= 0:
        return

    async def _start(app) -> None:
        # Pinging at least twice per threshold catches every stall longer than about 1.5 thresholds, not
        # only those that happen to cover a ping.
        app.state.loop_watchdog = LoopWatchdog(asyncio.get_running_loop(), threshold_s=threshold,
                                               interval_s=min(0.5, threshold / 2))
        app.state.loop_watchdog.start()

    async def _stop(app) -> None:
        dog = getattr(app.state, "loop_watchdog", None)
        if dog is not None:
            dog.stop()

    app.state.startup_hooks.append(_start)
    app.state.shutdown_hooks.insert(0, _stop)   # shutdown hooks run in reverse: this one last
