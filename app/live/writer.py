"""The sightings writer: analysed frames' sightings into the attendance records, one batch at a time.

There is one writer per service, so each track's sightings reach the database in time order (the
records need that), and it holds the live path's one retry policy: a database that is briefly
unreachable, locked or raced (PostgreSQL restarting, a long SQLite writer, an HR correction bumping a
record's version) costs no sightings. Recording is idempotent, so a retry after an unclear failure
counts nothing twice."""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.live.db import DbThreads
from app.live.events import RollcallPublisher
from app.live.streams import StreamInfo
from attendance.assemblies.sightings import Sighting

log = logging.getLogger("apel.live")

# Waits between attempts: the first retry soon (a lost race reruns at once on fresh state), then
# backing off for an outage; after the last the batch is given up (and logged).
RETRY_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
RETRYABLE = (DBAPIError, StaleDataError)

# record(session, assembly id, office id, sightings): writes and commits one batch.
Record = Callable[[Session, int, int, Sequence[Sighting]], object]


class SightingsWriter:
    """Takes (stream, sightings) batches from the bridge's results and writes them in order."""

    def __init__(self, db: DbThreads, record: Record, rollcalls: RollcallPublisher) -> None:
        self._db = db
        self._record = record
        self._rollcalls = rollcalls
        self._queue: asyncio.Queue[tuple[StreamInfo, list[Sighting]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.written = 0     # sightings
        self.errors = 0      # batches given up
        self.retries = 0     # attempts that failed and were retried

    def put(self, info: StreamInfo, sightings: list[Sighting]) -> None:
        self._queue.put_nowait((info, sightings))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def drain(self, timeout_s: float) -> bool:
        """Wait until everything queued so far is written (or given up); False on timeout."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            # Fold everything already waiting into one pass: one transaction per stream.
            batches = [first]
            while not self._queue.empty():
                batches.append(self._queue.get_nowait())
            try:
                await self._write(batches)
            finally:
                for _ in batches:   # drain() waits for the queue to be written
                    self._queue.task_done()

    async def _write(self, batches: list[tuple[StreamInfo, list[Sighting]]]) -> None:
        groups: dict[str, tuple[StreamInfo, list[Sighting]]] = {}
        for info, sightings in batches:
            groups.setdefault(info.stream_key, (info, []))[1].extend(sightings)
        for info, batch in groups.values():
            try:
                await self.write_with_retry(functools.partial(self._record_batch, info, batch))
            except Exception:
                self.errors += 1
                log.exception("recording %d sightings for %s failed", len(batch), info.stream_key)
                continue
            self.written += len(batch)
            # the oldest sighting not yet on a console: its frame time, for the push latency
            self._rollcalls.mark_due(info.assembly_id, sighting_at=min(x.at for x in batch).timestamp())
        await self._rollcalls.publish_due()

    def _record_batch(self, info: StreamInfo, batch: list[Sighting], session: Session) -> object:
        return self._record(session, info.assembly_id, info.office_id, batch)

    async def write_with_retry(self, work: Callable[[Session], object]) -> None:
        """`work(session)` in the database threads, retried on database errors (in order: this is the
        only writer, and it waits)."""
        for attempt, delay in enumerate((*RETRY_DELAYS_S, None)):
            try:
                await self._db.run(work)
                return
            except RETRYABLE:
                if delay is None:
                    raise
                self.retries += 1
                log.warning("database write failed (attempt %d), retrying in %.2f s", attempt + 1, delay)
                await asyncio.sleep(delay)
