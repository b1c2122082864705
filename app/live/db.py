"""The live apel's database threads: joins, roll-calls and the sightings writer run their database work
here, never on the event loop that carries the media."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

log = logging.getLogger("apel.live")

P = ParamSpec("P")
T = TypeVar("T")
SLOW_DB_S = 5.0   # a live database call waiting or running longer is logged


class DbThreads:
    """A few threads of their own: database work must not wait behind media encodes (which use the
    loop's default executor), nor take their threads."""

    def __init__(self, session_factory: Callable[[], Session], workers: int = 4) -> None:
        self._session_factory = session_factory
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apel-live-db")

    def run(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[T]:
        """`fn(session, *args, **kwargs)` in a fresh session on one of the threads; await the result."""
        queued = time.monotonic()

        def call() -> T:
            started = time.monotonic()
            try:
                with self._session_factory() as session:
                    return fn(session, *args, **kwargs)
            finally:
                # Joins, roll-calls and the sightings writer share these threads: a call that waits
                # long for one, or holds one long, is what an office's timed-out join looks like.
                waited, took = started - queued, time.monotonic() - started
                if waited > SLOW_DB_S or took > SLOW_DB_S:
                    log.warning("slow live database call %s: waited %.1f s for a thread, ran %.1f s",
                                getattr(fn, "__qualname__", fn), waited, took)
        return asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self, *, wait: bool = False) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=True)
