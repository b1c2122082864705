"""What a vision node publishes for the leader's console of the offices it analyses: their last
overlay and a small still of their video (table office_views, one row per apel and office).

With vision on other nodes (APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false) the web node decodes no office
video, so it has neither the overlays vision makes nor frames for the tiles' stills. The node holding
an office's lease has both: on each analysed frame it makes the same `Overlay` the web node makes of
its own results (translate.overlay_from_result, serialised as office_watch.overlay_json), and it keeps
the latest sampled frame of each feed. A small loop writes them into the shared database, behind the
lease's fence (a node that lost the office writes nothing more for it):

- the overlay when it changed, at most every OVERLAY_EVERY_S (the large view follows the people
  within about a second), and again at most every STILL_EVERY_S while vision keeps confirming it
  (its time tells the web node that it is still current);
- a PREVIEW_WIDTH px JPEG of the latest frame, when there is a newer frame, at most every
  STILL_EVERY_S (what the web node's own stills are renewed at).

The web node reads them (office_watch) and shows nothing older than office_watch.NODE_STALE_S (a node
that died, or an office whose frames stopped). The stills are pictures of people (biometric data, UU
PDP): each write overwrites the row, the node deletes its rows when it leaves an office or stops, any
node's heartbeat and the web node (app.live.node_listen) delete the rows of apels no longer open and
rows nobody refreshed for KEEP_S, and deleting the apel or the office deletes them too. The database's
clock stamps every row, so machines whose clocks differ agree on a row's age."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from app.live.db import DbThreads
from app.live.office_watch import PREVIEW_WIDTH, encode_preview, overlay_json, preview_height
from app.live.streams import StreamInfo
from app.live.translate import overlay_from_result
from attendance.db.unit_of_work import committed
from attendance.models import Assembly, AssemblyStatus, OfficeView
from attendance.nodes.leases import Lease, holds
from attendance.vision.types import FrameResult
from media.interfaces import FrameSink, SampledFrame

log = logging.getLogger("apel.node")

OVERLAY_EVERY_S = 0.5   # a changed overlay is written at most this often per office
STILL_EVERY_S = 2.0     # a new still at most this often per office (and an unchanged overlay's renewal)
ROUND_S = 0.1           # how often the loop looks for something due
KEEP_S = 60             # a row nobody refreshed for this long is deleted (the node is gone)
SWEEP_EVERY = 5         # heartbeats between a node's deletions of the rows of apels no longer open

# The web node's and the nodes' clean-up: rows of apels no longer open, and rows nobody refreshed for KEEP_S.
SWEEP_SQL = (f"DELETE FROM office_views v WHERE v.updated_at < statement_timestamp() - interval '{KEEP_S} seconds' "
             f"OR NOT EXISTS (SELECT 1 FROM assemblies a WHERE a.id = v.assembly_id "
             f"AND a.status = '{AssemblyStatus.open.value}')")


@dataclass(frozen=True)
class ViewWrite:
    """One office's due parts: `overlay` (None: not due) and `still` (None: not due)."""

    assembly_id: int
    office_id: int
    epoch: int
    overlay: dict[str, Any] | None
    still: bytes | None
    frame_t: float | None = None   # the overlay's frame: when the node received it (epoch seconds)


def write_views(session: Session, node_id: str, writes: list[ViewWrite]) -> int:
    """Overwrite each office's row with its due parts, only while this node holds that run of the
    office's lease and its apel is open (PostgreSQL: a node runs on nothing else). Returns the rows
    written."""
    if not writes:
        return 0
    open_ = set(session.execute(select(Assembly.id).where(
        Assembly.id.in_({w.assembly_id for w in writes}),
        Assembly.status == AssemblyStatus.open.value)).scalars())
    now = func.statement_timestamp()
    n = 0
    for w in writes:
        if w.assembly_id not in open_ or not holds(session, node_id, Lease(w.assembly_id, w.office_id, w.epoch)):
            continue
        values: dict[str, Any] = {"node_id": node_id, "updated_at": now}
        if w.overlay is not None:
            values.update(overlay=w.overlay, overlay_at=now, overlay_frame_t=w.frame_t)
        if w.still is not None:
            values.update(still_jpeg=w.still, still_at=now)
        session.execute(pg_insert(OfficeView).values(assembly_id=w.assembly_id, office_id=w.office_id, **values)
                        .on_conflict_do_update(index_elements=["assembly_id", "office_id"], set_=values))
        n += 1
    return n


def drop_views(session: Session, node_id: str, assembly_id: int | None = None, office_id: int | None = None) -> int:
    """Delete this node's rows (of one apel's office, or all of them): it no longer analyses them."""
    q = delete(OfficeView).where(OfficeView.node_id == node_id)
    if assembly_id is not None:
        q = q.where(OfficeView.assembly_id == assembly_id)
    if office_id is not None:
        q = q.where(OfficeView.office_id == office_id)
    return int(session.execute(q).rowcount or 0)   # type: ignore[attr-defined]


def sweep_views(session: Session) -> int:
    """Delete the rows of apels no longer open and those nobody refreshed for KEEP_S (PostgreSQL)."""
    return int(session.execute(text(SWEEP_SQL)).rowcount or 0)   # type: ignore[attr-defined]


def still_jpeg(pixels: NDArray[np.uint8]) -> bytes:
    """A tile's still of a BGR frame, the size and quality of the web node's own (office_watch._jpeg)."""
    h, w = pixels.shape[:2]
    small = cv2.resize(pixels, (PREVIEW_WIDTH, preview_height(w, h)), interpolation=cv2.INTER_AREA)
    data = encode_preview(small)
    if data is None:
        raise ValueError("the office's still could not be encoded")
    return data


@dataclass
class _Office:
    info: StreamInfo
    epoch: int
    frame: SampledFrame | None = None          # the latest sampled frame
    still_of: SampledFrame | None = None       # the frame of the last still written
    still_tried: float = float("-inf")         # monotonic
    overlay: dict[str, Any] | None = None      # of the latest analysed frame
    overlay_t: float | None = None             # ... received at (epoch seconds)
    fresh: bool = False                        # an analysed frame since the overlay was last written
    written: dict[str, Any] | None = None      # the overlay last written
    overlay_tried: float = float("-inf")


class _Tap:
    """The sink a node's source pushes frames into: each frame is remembered, then goes on to vision."""

    def __init__(self, views: ViewPublisher, sink: FrameSink) -> None:
        self._views, self._sink = views, sink

    def put(self, frame: SampledFrame) -> None:
        office = self._views.offices.get(frame.stream_key)
        if office is not None:
            office.frame = frame
        self._sink.put(frame)


class ViewPublisher:
    """A node's publisher of its offices' overlays and stills (one per node, on its event loop)."""

    def __init__(self, db: DbThreads, node_id: str, language: str) -> None:
        self.db = db
        self.node_id = node_id
        self.language = language
        self.offices: dict[str, _Office] = {}
        self.written = 0      # rows written (the tests and the logs)
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def sink(self, downstream: FrameSink) -> FrameSink:
        """What the node gives its source instead of its bridge."""
        return _Tap(self, downstream)

    def follow(self, info: StreamInfo, epoch: int) -> None:
        """The node runs this feed (this run of its lease)."""
        self.offices[info.stream_key] = _Office(info, epoch)

    async def leave(self, stream_key: str) -> None:
        """The node no longer runs this feed: nothing more is written, and its row goes."""
        office = self.offices.pop(stream_key, None)
        if office is None:
            return
        try:
            await self.db.run(committed(drop_views), self.node_id, office.info.assembly_id, office.info.office_id)
        except Exception:   # the web node's sweep deletes it within KEEP_S, or as the apel ends
            log.exception("node %s: deleting the console's view of %s failed", self.node_id, stream_key)

    def result(self, info: StreamInfo, result: FrameResult, frame_size: tuple[int, int] | None) -> None:
        """An analysed frame (on the loop): its overlay, as the web node draws its own."""
        office = self.offices.get(info.stream_key)
        if office is None or office.info is not info:
            return
        office.overlay = overlay_json(overlay_from_result(info, result, frame_size, self.language))
        office.overlay_t = result.t_s
        office.fresh = True

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Ends the loop and deletes every row of this node (at a clean stop)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.offices.clear()
        await self.db.run(committed(drop_views), self.node_id)

    async def sweep(self) -> None:
        """The rows of apels no longer open (their holder died before it could delete them)."""
        try:
            await self.db.run(committed(sweep_views))
        except Exception:
            log.exception("node %s: deleting the console's views of ended apels failed", self.node_id)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(ROUND_S)
            try:
                await self.publish()
            except asyncio.CancelledError:
                raise
            except Exception:
                if not self._failing:
                    log.exception("node %s: writing the console's views failed (retrying)", self.node_id)
                self._failing = True

    def _due(self, now: float) -> tuple[list[tuple[_Office, bool, SampledFrame | None]], list[NDArray[np.uint8]]]:
        due: list[tuple[_Office, bool, SampledFrame | None]] = []
        pixels: list[NDArray[np.uint8]] = []
        for office in self.offices.values():
            since = now - office.overlay_tried
            overlay = office.overlay is not None and office.fresh and (
                (office.overlay != office.written and since >= OVERLAY_EVERY_S) or since >= STILL_EVERY_S)
            frame = office.frame
            still = frame is not None and frame is not office.still_of and now - office.still_tried >= STILL_EVERY_S
            if still:
                assert frame is not None
                try:
                    pixels.append(frame.frame_bgr)   # on the loop, as the bridge converts (never two at once)
                except Exception:
                    log.exception("node %s: a frame of %s could not be converted for its still", self.node_id,
                                  office.info.stream_key)
                    office.still_of, still = frame, False
            if overlay or still:
                due.append((office, overlay, frame if still else None))
        return due, pixels

    async def publish(self) -> int:
        """One round: what is due of every office, in one transaction. Returns the rows written."""
        now = time.monotonic()
        due, pixels = self._due(now)
        if not due:
            return 0
        jpegs = iter(await asyncio.to_thread(lambda: [still_jpeg(p) for p in pixels]) if pixels else [])
        writes = []
        for office, overlay, frame in due:
            writes.append(ViewWrite(office.info.assembly_id, office.info.office_id, office.epoch,
                                    office.overlay if overlay else None, next(jpegs) if frame is not None else None,
                                    office.overlay_t if overlay else None))
            if overlay:   # tried now, whatever the outcome: a failing database is not hammered
                office.overlay_tried, office.fresh = now, False
            if frame is not None:
                office.still_tried, office.still_of = now, frame
        n = await self.db.run(committed(write_views), self.node_id, writes)
        for (office, overlay, _), w in zip(due, writes, strict=True):
            if overlay:
                office.written = w.overlay
        if self._failing:
            log.info("node %s: writing the console's views again", self.node_id)
            self._failing = False
        self.written += n
        return n
