"""A vision node (`apel node`): the vision pipeline for the office feeds it leases, on any machine that
shares the PostgreSQL database (docs/nodes.md).

The same parts as the web node's live service, without the media server:

    heartbeat (every HEARTBEAT_S) --balance--> the leases this node holds (attendance.nodes.leases)
    each held feed: FrameSource --> FrameBridge --> VisionWorkerPool --> translate --> SightingsWriter
                                (ViewPublisher: the console's overlay and still of the office, app.live.node_views)

On PostgreSQL the node also LISTENs for the web node's word that an office of its published to Janus
(`published`, app.live.node_listen.listen_for_publishers) and opens that feed at once; its own looks
at the waiting offices (WAITING_POLL_S) stay, for a word missed.

A source whose feeds outlive a dead node (Janus's RTP forwards: app/live/node_sources.OrphanStopper)
is asked, after each take-over, to stop what the nodes gone left in that apel's room, in the
background and again at later heartbeats until it could (a Janus error never holds a take-over up);
a clean stop closes the source after the feeds, so nothing of this node's stays behind.

What makes two nodes never count one frame twice: a feed runs on a node only while that node holds
its lease, each run names its tracks after the node and the lease's epoch, and each batch of
sightings is written in a transaction that first checks (and on PostgreSQL share-locks) this run of
the lease (`_FencedWriter`): a node that lost a feed writes nothing more for it, and the node that
took it over starts its tracks after the take-over."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.live.bridge import FrameBridge, WorkerPool
from app.live.db import DbThreads
from app.live.events import EventHub, RollcallPublisher
from app.live.node_evidence import NodeEvidence
from app.live.node_listen import PUBLISHERS_CHANNEL, SIGHTINGS_CHANNEL, NotifyListener, listen_for_publishers
from app.live.node_sources import NOT_PUBLISHING, Feed, FrameSource, OpenFeed, OrphanStopper, WatchedFeed
from app.live.node_views import SWEEP_EVERY, ViewPublisher
from app.live.streams import StreamInfo
from app.live.translate import sightings_from_result
from app.live.writer import SightingsWriter
from app.settings import Settings
from attendance.assemblies.sightings import Sighting, record_sightings
from attendance.db.unit_of_work import committed, run_in_transaction
from attendance.errors import ApelError
from attendance.models import Office
from attendance.nodes.leases import (
    HEARTBEAT_S,
    LEASE_S,
    Balance,
    Lease,
    balance,
    check_timing,
    holds,
    register_node,
    stop_node,
)
from attendance.roster.learned_geometry import load_geometry
from attendance.roster.live_roster import roster_for_office
from attendance.vision.config import PipelineConfig, backend_name
from attendance.vision.types import FrameResult

log = logging.getLogger("apel.node")

STOP_S = 2.5           # a clean stop takes at most this long (SIGTERM to exit: under 5 s)
STOP_DRAIN_S = 1.5      # ... of which this for the sightings still queued
SOURCE_CLOSE_S = 1.0    # ... and at most this for the source to let go of what it holds elsewhere (Janus)
ORPHAN_TRIES = 60       # heartbeats a failing clean-up of what dead nodes left is tried at (then given up, said)
OPEN_RETRY_S = 5.0      # a feed whose source could not be opened is tried again after this
# ... except an office that sends no video yet (it has not joined): looked for this often, between
# heartbeats too, so that its first frame does not wait for a retry or a heartbeat after its join
WAITING_POLL_S = 0.25


@dataclass(frozen=True)
class NodeOptions:
    capacity: int = 10                # offices this node analyses at most
    lease_s: float = LEASE_S
    heartbeat_s: float = HEARTBEAT_S

    def validate(self) -> None:
        check_timing(self.lease_s, self.heartbeat_s)


@dataclass
class NodeStream(StreamInfo):
    """A feed's stream on a node: the run of the lease its sightings are written under."""

    lease_epoch: int = 0


@dataclass
class _Running:
    lease: Lease
    info: NodeStream
    feed: OpenFeed | None = None
    failed_at: float | None = None     # monotonic: the source could not be opened
    not_publishing: bool = False       # ... because the office sends no video yet: tried every WAITING_POLL_S
    stall_said: bool = False           # its feed's stall was logged (again only after a frame was analysed)
    opening: bool = False              # an open is under way (the heartbeat's, or one the web node's word started)


def notify_sightings(session: Session, assembly_id: int) -> None:
    """Tell whoever listens (a web node's roll-call, on PostgreSQL LISTEN) that the apel has new
    sightings; delivered when the transaction commits, so never for a batch that rolled back."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": SIGHTINGS_CHANNEL, "payload": str(assembly_id)})


def notify_publishing(session: Session, assembly_id: int, office_id: int, video_mid: str) -> None:
    """Tell the vision nodes (PostgreSQL LISTEN) that an office publishes to Janus now, with its video's
    mid: the node holding the office opens its forward at once (`NodeRunner.published`) instead of at its
    next look at the room (WAITING_POLL_S), and needs not ask Janus for the mid. Delivered at commit."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": PUBLISHERS_CHANNEL, "payload": f"{assembly_id} {office_id} {video_mid}"})


class _FencedWriter(SightingsWriter):
    """The live writer, each batch written only while this run of the feed's lease is this node's."""

    def __init__(self, node: NodeRunner, *args: Any) -> None:
        super().__init__(*args)
        self._node = node

    def _record_batch(self, info: StreamInfo, batch: list[Sighting], session: Session) -> object:
        assert isinstance(info, NodeStream)
        return self._node.record(session, info, batch)


def _office_setup(session: Session, office_id: int, backend: str, settings: Settings) -> tuple[
        str, list[Any], dict[str, str], PipelineConfig]:
    """What a feed's pipeline needs of the office, read when the node takes it (as a join does)."""
    office = session.get(Office, office_id)
    if office is None:
        raise LookupError(f"office {office_id} does not exist")
    roster, names = roster_for_office(session, office_id, backend)
    geometry = None
    if settings.learn_face_geometry and roster:
        geometry = load_geometry(session, [int(p.person_id) for p in roster]) or None
    config = PipelineConfig(
        hfov_deg=office.camera_hfov_deg, min_distance_m=office.min_distance_m, back_row_m=office.back_row_m,
        camera_height_m=office.camera_height_m, row_lines_m=tuple(office.row_lines_m) if office.row_lines_m else None,
        face_geometry=geometry, recogniser=settings.recogniser_spec)
    return office.code, roster, names, config


class NodeRunner:
    """One node's lifecycle: register, heartbeat and balance, run the held feeds, stop cleanly."""

    def __init__(self, settings: Settings, session_factory: Callable[[], Session], source: FrameSource,
                 options: NodeOptions | None = None, *, pool: WorkerPool | None = None,
                 node_id: str | None = None) -> None:
        self.settings = settings
        self.options = options or NodeOptions()
        self.options.validate()
        self.id = node_id or secrets.token_hex(4)
        self.source = source
        self.db = DbThreads(session_factory)
        self.streams: dict[str, StreamInfo] = {}
        self.running: dict[tuple[int, int], _Running] = {}
        self.bridge = FrameBridge(self.streams, self._on_result)
        # A node has no consoles (the web node publishes the roll-call): a publisher with no subscribers.
        self.writer = _FencedWriter(self, self.db, self._unused_record,
                                    RollcallPublisher(EventHub(), self._no_rollcall))
        self.backend = backend_name(settings.recogniser_spec)
        self._pool = pool
        self.last_balance: Balance | None = None
        self.fenced = 0     # sightings refused because the lease was no longer this run's
        self.evidence = NodeEvidence(settings, self.db)   # crops for HR's review, geometry lessons
        self._closing: set[asyncio.Task[None]] = set()     # stalled feeds being closed (awaited at the stop)
        self._orphans: dict[int, set[str]] = {}    # apel id -> nodes gone whose leftovers are to be stopped there
        self._sweeping: asyncio.Task[None] | None = None
        self._orphan_tries: dict[int, int] = {}   # apel id -> clean-ups of it that failed in a row
        # the overlays and stills of its offices, for the web node's console (it decodes none of their video)
        self.views = ViewPublisher(self.db, self.id, settings.language)
        self._ticks = 0
        self._told: set[asyncio.Task[None]] = set()   # opens the web node's word started (`published`)
        self.publishers: NotifyListener | None = None   # PostgreSQL: hears the web node's `notify_publishing`
        self._stopping = False

    # -- the writer's side
    @staticmethod
    def _unused_record(session: Session, assembly_id: int, office_id: int, sightings: Sequence[Sighting]) -> object:
        raise AssertionError("the node's writer records through VisionNode.record")

    @staticmethod
    async def _no_rollcall(assembly_id: int) -> dict[str, Any]:
        return {}   # a node has no consoles; the web node publishes the roll-call

    def record(self, session: Session, info: NodeStream, sightings: list[Sighting]) -> object:
        """One batch in one transaction, behind the lease's fence (one attempt: the writer retries)."""
        lease = Lease(info.assembly_id, info.office_id, info.lease_epoch)

        def work() -> object:
            if not holds(session, self.id, lease):
                self.fenced += len(sightings)
                log.warning("node %s: %d sightings of %s not written: the lease (run %d) is no longer ours",
                            self.id, len(sightings), info.stream_key, lease.epoch)
                return None
            result = record_sightings(session, info.assembly_id, info.office_id, sightings,
                                      keep_evidence=self.settings.keep_evidence,
                                      evidence_dir=self.settings.data_dir / "evidence",
                                      retention_days=self.settings.evidence_retention_days)
            notify_sightings(session, info.assembly_id)
            return result
        return run_in_transaction(session, work, attempts=1)

    def _on_result(self, info: StreamInfo, result: FrameResult, frame_size: tuple[int, int] | None) -> None:
        if self.streams.get(info.stream_key) is not info:
            return   # a feed this node gave up meanwhile
        sightings = sightings_from_result(info, result)
        if sightings:
            self.writer.put(info, sightings)
        info.camera = result.camera or info.camera
        self.evidence.keep(info, result)
        self.views.result(info, result, frame_size)

    # -- lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: heartbeat, balance, run the held feeds. Then a clean stop."""
        await self.db.run(committed(register_node), self.id, hostname=socket.gethostname(), pid=os.getpid(),
                          capacity=self.options.capacity)
        log.info("node %s registered (capacity %d offices, lease %.1f s, heartbeat %.1f s)",
                 self.id, self.options.capacity, self.options.lease_s, self.options.heartbeat_s)
        try:
            await self._start_pool()
            self.writer.start()
            self.views.start()
            self.publishers = listen_for_publishers(self.settings.db_url, lambda p: self.published(
                p.assembly_id, p.office_id, p.video_mid))
            while not stop.is_set():
                started = time.monotonic()
                try:
                    await self.tick()
                except Exception:
                    log.exception("node %s: heartbeat failed (retrying)", self.id)
                while not stop.is_set() and (wait := self.options.heartbeat_s - (time.monotonic() - started)) > 0:
                    try:
                        await asyncio.wait_for(stop.wait(), min(wait, WAITING_POLL_S))
                    except TimeoutError:
                        await self._open_waiting()
        finally:
            self._stopping = True
            if self.publishers is not None:
                await self.publishers.stop()
            await self.shutdown()

    def published(self, assembly_id: int, office_id: int, video_mid: str) -> None:
        """The web node says the office publishes now (PostgreSQL NOTIFY at its join's commit, with its
        video's mid): if this node holds the office and has no feed of it, its forward is asked for at
        once (`FrameSource.open` with the mid) rather than at the next look (WAITING_POLL_S). An open
        feed is left to `stalled` (an office that rejoined: its old forward stops giving frames)."""
        run = self.running.get((assembly_id, office_id))
        if run is None or run.feed is not None or run.opening or self._stopping:
            return
        task = asyncio.ensure_future(self._open(run, video_mid=video_mid))
        self._told.add(task)
        task.add_done_callback(self._told.discard)

    async def _start_pool(self) -> None:
        self.bridge.bind(asyncio.get_running_loop())

        def start() -> WorkerPool:
            pool = self._pool
            if pool is None:
                from attendance.vision.workers import VisionWorkerPool

                pool = VisionWorkerPool(workers=self.settings.vision_workers, recogniser=self.settings.recogniser_spec,
                                        nice=self.settings.vision_nice)
            pool.start(self.bridge.deliver)
            return pool
        self._pool = await asyncio.to_thread(start)
        self.bridge.attach(self._pool)

    async def tick(self) -> Balance:
        """One heartbeat: renew and rebalance the leases, then run exactly the feeds held."""
        b = await self.db.run(committed(balance), self.id, capacity=self.options.capacity,
                              lease_s=self.options.lease_s)
        self.last_balance = b
        held = {(x.assembly_id, x.office_id): x for x in b.held}
        for key, run in list(self.running.items()):
            if held.get(key) != run.lease:
                await self._stop_feed(key, "released" if run.lease in b.shed else "lease lost or apel ended")
        for key, lease in held.items():
            current = self.running.get(key)
            try:
                if current is None:
                    await self._start_feed(lease)
                elif current.feed is None and (current.failed_at is None or current.not_publishing
                                               or time.monotonic() - current.failed_at > OPEN_RETRY_S):
                    await self._open(current)
            except Exception:   # one office's trouble must not keep the others from starting
                log.exception("node %s: starting office %s of apel %d failed (retrying)", self.id, key[1], key[0])
        self._stop_orphans_of(b)
        self._ticks += 1
        if self._ticks % SWEEP_EVERY == 0:   # the console's views of apels that ended without their holder
            await self.views.sweep()
        try:   # the crops and lessons of apels that ended
            await self.evidence.settle_ended({aid for aid, _ in held})
        except Exception:
            log.exception("node %s: settling the crops and lessons of ended apels failed (retrying)", self.id)
        return b

    # -- what dead nodes left in the media server
    def _stop_orphans_of(self, b: Balance) -> None:
        """After a take-over: the source stops, in the taken offices' apels, what the nodes gone left
        there, in the background (a slow or failing media server must not delay the heartbeats). An apel
        whose clean-up failed is tried again at the next heartbeat; one that ended is dropped."""
        if not hasattr(self.source, "stop_orphans"):
            return
        for lease in b.acquired:
            if b.gone_nodes:   # a new set: a sweep under way keeps the one it was given
                self._orphans[lease.assembly_id] = self._orphans.get(lease.assembly_id, set()) | b.gone_nodes
        open_apels = {x.assembly_id for x in b.held}
        for aid in [a for a in self._orphans if a not in open_apels]:
            del self._orphans[aid]   # ended: its room went with it
            self._orphan_tries.pop(aid, None)
        if self._orphans and (self._sweeping is None or self._sweeping.done()):
            self._sweeping = asyncio.ensure_future(self._sweep_orphans())

    async def _sweep_orphans(self) -> None:
        source = cast(OrphanStopper, self.source)
        for aid, gone in list(self._orphans.items()):
            try:
                stopped = await source.stop_orphans(aid, gone)
            except Exception as exc:
                tries = self._orphan_tries[aid] = self._orphan_tries.get(aid, 0) + 1
                why = getattr(exc, "message", None) or repr(exc)
                if tries >= ORPHAN_TRIES:
                    log.error("node %s: gave up stopping what nodes %s left in apel %d after %d tries: %s", self.id,
                              ", ".join(sorted(gone)), aid, tries, why)
                    self._orphans.pop(aid, None)
                    self._orphan_tries.pop(aid, None)
                elif tries == 1:
                    log.warning("node %s: stopping what nodes %s left in apel %d failed (trying again at the "
                                "next heartbeats): %s", self.id, ", ".join(sorted(gone)), aid, why)
                continue
            self._orphan_tries.pop(aid, None)
            if self._orphans.get(aid) is gone:
                del self._orphans[aid]
            if stopped:
                log.info("node %s: stopped %d forwards to nodes gone (%s) in apel %d", self.id, len(stopped),
                         ", ".join(sorted(gone)), aid)

    async def _start_feed(self, lease: Lease) -> None:
        assert self._pool is not None
        code, roster, names, config = await self.db.run(_office_setup, lease.office_id, self.backend, self.settings)
        key = f"{lease.assembly_id}/{code}"
        self._pool.configure(key, roster, config)
        now = time.monotonic()
        # assembly_office_id 0: a node never marks joins (the web node does)
        info = NodeStream(key, lease.assembly_id, lease.office_id, 0, code,
                          track_prefix=f"{self.id}-{lease.office_id}-{lease.epoch}", names=names,
                          joined_at=now, joined_wall=time.time(), backend=self.backend, lease_epoch=lease.epoch)
        self.streams[key] = info
        self.views.follow(info, lease.epoch)
        run = _Running(lease, info)
        self.running[(lease.assembly_id, lease.office_id)] = run
        log.info("node %s: took office %s of apel %d (run %d, %d people)", self.id, code, lease.assembly_id,
                 lease.epoch, len(roster))
        await self._open(run)

    async def _open_waiting(self) -> None:
        """Between heartbeats: open the feeds of held offices that sent no video when last asked, and
        open again those whose feed stalled (the office rejoined: a live source's feed does not follow).
        All at once: offices joining together are not opened one after the other."""
        async def one(key: tuple[int, int], run: _Running) -> None:
            try:
                if run.feed is not None and self.running.get(key) is run:
                    await self._reopen_if_stalled(run)
                if run.feed is None and run.not_publishing and self.running.get(key) is run:
                    await self._open(run)
            except Exception:
                log.exception("node %s: opening office %s of apel %d failed (retrying)", self.id, key[1], key[0])

        await asyncio.gather(*(one(key, run) for key, run in list(self.running.items())))

    async def _reopen_if_stalled(self, run: _Running) -> None:
        feed = run.feed
        if feed is None or not hasattr(feed, "stalled"):
            return   # a source whose feeds never stall (a file)
        why = await cast(WatchedFeed, feed).stalled()
        info = run.info
        if why is None:
            if info.first_result_at is not None:
                run.stall_said = False
            return
        if run.feed is not feed:
            return   # closed meanwhile
        if not run.stall_said:   # once per stall, not at every try while the office stays away
            log.info("node %s: the video of office %s stalled (%s): opening it again", self.id, info.office_code, why)
            run.stall_said = True
        run.feed = None
        # closed in the background (its reader thread takes up to a second to end): not holding up the
        # reopening, nor the other offices
        closing = asyncio.ensure_future(self._close_stalled(feed, info.stream_key))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)
        # a new connection of the office: its first analysed frame is logged again (app/live/bridge.py)
        info.first_result_at, info.joined_at, info.joined_wall = None, time.monotonic(), time.time()
        await self._open(run)

    async def _open(self, run: _Running, *, video_mid: str | None = None) -> None:
        """`video_mid`: the office's video stream as the web node told it (`published`)."""
        if run.opening:
            return   # another open of it is under way
        run.opening = True
        try:
            await self._open_now(run, video_mid)
        finally:
            run.opening = False

    async def _open_now(self, run: _Running, video_mid: str | None) -> None:
        info = run.info
        feed = Feed(info.assembly_id, info.office_id, info.office_code, info.stream_key, run.lease.epoch, self.id,
                    video_mid)
        key = (info.assembly_id, info.office_id)
        try:
            opened = await self.source.open(feed, self.views.sink(self.bridge))
            if self.running.get(key) is not run or self._stopping:   # left or stopping meanwhile (a told open)
                await opened.close()
                return
            run.feed = opened
            run.failed_at, run.not_publishing = None, False
        except ApelError as exc:
            if exc.code != NOT_PUBLISHING:
                self._open_failed(run, exc)
                return
            if not run.not_publishing:   # said once; asked again every WAITING_POLL_S until it sends
                log.info("node %s: office %s sends no video yet; waiting for it (%s)", self.id, info.office_code,
                         exc.message)
            run.failed_at, run.not_publishing = time.monotonic(), True
        except Exception as exc:
            self._open_failed(run, exc)

    @staticmethod
    async def _close_stalled(feed: OpenFeed, stream_key: str) -> None:
        try:
            await feed.close()
        except Exception:
            log.exception("closing the video of %s failed", stream_key)

    def _open_failed(self, run: _Running, exc: Exception) -> None:
        run.failed_at, run.not_publishing = time.monotonic(), False
        log.error("node %s: the video of office %s cannot be opened (retrying in %.0f s): %s",
                  self.id, run.info.office_code, OPEN_RETRY_S, exc)

    async def _stop_feed(self, key: tuple[int, int], why: str) -> None:
        run = self.running.pop(key)
        if run.feed is not None:
            try:
                await run.feed.close()
            except Exception:
                log.exception("closing the video of %s failed", run.info.stream_key)
        self.streams.pop(run.info.stream_key, None)
        self.bridge.forget(run.info.stream_key)
        await self.views.leave(run.info.stream_key)
        if self._pool is not None:
            try:
                self._pool.remove(run.info.stream_key)
            except Exception:
                log.exception("removing stream %s from the pool failed", run.info.stream_key)
        log.info("node %s: left office %s of apel %d (%s)", self.id, run.info.office_code, key[0], why)

    async def _close_source(self) -> None:
        """The source lets go of what it holds elsewhere (Janus: its forwards still there, its session)."""
        close = getattr(self.source, "close", None)
        if close is None:
            return
        try:
            await asyncio.wait_for(close(), SOURCE_CLOSE_S)
        except Exception:
            log.exception("node %s: closing its frame source failed (the next holder of its offices cleans up)",
                          self.id)

    async def shutdown(self) -> None:
        """A clean stop, within STOP_S: no new frames, the queued sightings written (briefly), every
        lease given back at once (the other nodes take the offices on their next heartbeat), and the
        workers told to end. A worker still in a frame after that is not waited for: it is a daemon
        process, terminated when this process exits."""
        started = time.monotonic()
        log.info("node %s: stopping", self.id)
        self._stopping = True
        if self._told:   # opens the web node's word started: each closes what it opened
            await asyncio.wait(set(self._told), timeout=STOP_S / 4)
        # all at once: each waits up to a second for its reader thread, and their forwards in the media
        # server are stopped first, at the start of each close
        runs = [run for run in self.running.values() if run.feed is not None]
        closed = await asyncio.gather(*(cast(OpenFeed, run.feed).close() for run in runs), return_exceptions=True)
        for run, result in zip(runs, closed, strict=True):
            if isinstance(result, Exception):
                log.error("closing the video of %s failed", run.info.stream_key, exc_info=result)
            run.feed = None
        try:   # the console's views of its offices: pictures of people, not left behind
            await asyncio.wait_for(self.views.stop(), 1.0)
        except Exception:
            log.exception("node %s: deleting the console's views at the stop failed (the web node's sweep "
                          "deletes them)", self.id)
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=STOP_S / 2)
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
        await self._close_source()
        self.bridge.stop()   # a frame still at a worker is dropped: it was never recorded
        pool_closed = threading.Event()
        if self._pool is not None:
            pool = self._pool

            def close_pool() -> None:
                try:
                    pool.close()
                finally:
                    pool_closed.set()
            # a daemon thread, not the loop's executor: exiting never waits for a worker in a frame
            threading.Thread(target=close_pool, name="apel-node-pool-close", daemon=True).start()
        else:
            pool_closed.set()
        if not await self.writer.drain(STOP_DRAIN_S):
            log.warning("node %s: stopping with %d batches of sightings not written", self.id, self.writer.queued)
        await self.writer.stop()
        try:   # after the sightings: the review items the crops belong to are written
            await asyncio.wait_for(self.evidence.settle_all(), 1.0)
        except Exception:
            log.exception("node %s: keeping the crops and lessons at the stop failed", self.id)
        try:
            n = await asyncio.wait_for(self.db.run(committed(stop_node), self.id), 2.0)
            log.info("node %s: %d leases given back %.1f s after the stop began", self.id, n,
                     time.monotonic() - started)
        except Exception:
            log.exception("node %s: giving the leases back failed (they lapse in %.0f s)", self.id,
                          self.options.lease_s)
        self.running.clear()
        self.streams.clear()
        left = STOP_S - (time.monotonic() - started)
        if not await asyncio.to_thread(pool_closed.wait, max(0.1, left)):
            log.warning("node %s: a vision worker is still in a frame; it ends with this process", self.id)
        self._pool = None
        self.db.close()
        log.info("node %s: stopped in %.1f s", self.id, time.monotonic() - started)
