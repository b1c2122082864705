"""Live apel glue: the media server, the vision worker pool and the attendance services, joined.

    office track --FrameTap--> PerStreamLatestSink --bridge--> VisionWorkerPool.submit
    VisionWorkerPool.poll_results --bridge--> overlays (leader mosaic)
                                        \\--> writer task --thread--> record_sightings --> live events (SSE)

Nothing here may block the event loop: the pool's submit/poll never block, database work runs in
threads, and a single writer keeps each track's sightings in time order (record_sightings needs that).
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

import numpy as np
from fastapi import FastAPI
from sqlalchemy import select

from media.interfaces import Overlay, OverlayBox, SampledFrame, StaticOverlays
from media.sampling import PerStreamLatestSink
from media.server import MediaConfig, MediaServer, ice_servers_from_urls
from media.signaling import parse_offer

from app.settings import Settings

log = logging.getLogger("apel.live")

ROLLCALL_MIN_INTERVAL_S = 0.5
# Per person and apel, the last this many frames' measurements of their face geometry are kept
# for the lesson taken when the apel closes (memory stays bounded however long it runs).
GEOMETRY_FRAMES_PER_APEL = 60
STOP_DRAIN_S = 20.0            # an orderly stop waits this long for queued sightings to be written
SLOW_DB_S = 5.0                 # a live database call waiting or running longer is logged
GREEN, RED, ORANGE, GREY = (60, 200, 60), (40, 40, 230), (0, 165, 255), (170, 170, 170)


class LiveError(Exception):
    """Refused join or request; `status` is the HTTP status the route answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class StreamInfo:
    stream_key: str
    assembly_id: int
    office_id: int
    assembly_office_id: int
    office_code: str
    track_prefix: str
    names: dict[str, str]
    joined_at: float                      # monotonic, at the HTTP join
    backend: str = "dlib+faceres"         # the live recogniser's: the backend of the embeddings its sightings carry
    joined_wall: float = 0.0              # epoch seconds, at the HTTP join
    first_result_at: float | None = None  # monotonic, first analysed frame back from vision
    results: int = 0
    submitted: int = 0
    not_submitted: int = 0                # sampled frames replaced by a newer one before a worker was free


class _JoiningOffice(NamedTuple):
    """What a join reads of the office in one transaction: who it is and how its camera is set up
    (the roster's office settings the pipeline needs)."""
    assembly_office_id: int
    assembly_id: int
    office_id: int
    code: str
    name: str
    hfov_deg: float
    min_distance_m: float
    back_row_m: float | None
    camera_height_m: float | None
    row_lines_m: list[float] | None


@dataclass
class EventHub:
    """Per-assembly subscribers (SSE connections), each a small queue that drops its oldest event."""

    subscribers: dict[int, set[asyncio.Queue]] = field(default_factory=lambda: defaultdict(set))

    def subscribe(self, assembly_id: int) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(maxsize=20)
        self.subscribers[assembly_id].add(q)
        return q

    def unsubscribe(self, assembly_id: int, q: asyncio.Queue) -> None:
        self.subscribers[assembly_id].discard(q)

    def publish(self, assembly_id: int, event: dict) -> None:
        for q in list(self.subscribers.get(assembly_id, ())):
            if q.full():
                try:
                    q.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            q.put_nowait(event)


def roster_for_office(session, office_id: int, recogniser_spec: str) -> tuple[list[Any], dict[str, str]]:
    """RosterPerson list (contract 2) and id -> name for overlays, from the office's active staff.
    Only templates made by the same recogniser as the live pipeline's are comparable."""
    from attendance.models import Employee, FaceTemplate
    from attendance.vision.types import RosterPerson
    from attendance.vision.recognise.recognisers import backend_name

    wanted = backend_name(recogniser_spec)

    rows = session.execute(
        select(Employee.id, Employee.name, FaceTemplate.embedding, FaceTemplate.kind, FaceTemplate.backend)
        .join(FaceTemplate, FaceTemplate.employee_id == Employee.id)
        .where(Employee.office_id == office_id, Employee.active.is_(True))
        .order_by(Employee.id, FaceTemplate.id)).all()
    by_emp: dict[int, tuple[str, list[np.ndarray], list[str]]] = {}
    for emp_id, name, emb, kind, backend in rows:
        if backend != wanted:
            continue
        entry = by_emp.setdefault(emp_id, (name, [], []))
        entry[1].append(np.frombuffer(emb, dtype="<f4"))
        entry[2].append(kind)
    roster = [RosterPerson(person_id=str(emp_id), embeddings=np.stack(embs).astype(np.float32), kinds=tuple(kinds))
              for emp_id, (_, embs, kinds) in by_emp.items()]
    names = {str(emp_id): name for emp_id, (name, _, _) in by_emp.items()}
    return roster, names


def sightings_from_result(info: StreamInfo, result: Any) -> list[Any]:
    """Contract 2 FrameResult -> contract 3 Sightings (one per face; unknown faces included)."""
    from attendance.assemblies.sightings import Sighting

    in_violation = {i for i, j, _ in result.violations} | {j for i, j, _ in result.violations}
    at = datetime.fromtimestamp(result.t_s, timezone.utc)
    out = []
    for i, face in enumerate(result.faces):
        out.append(Sighting(
            employee_id=int(face.person_id) if face.person_id is not None else None,
            track_key=f"{info.track_prefix}-{face.track_id}",
            at=at,
            confidence=float(min(1.0, max(0.0, face.confidence))),
            mask=bool(face.mask),
            distancing_violation=i in in_violation,
            embedding=face.embedding,
            embedding_backend=info.backend,
        ))
    return out


def overlay_from_result(info: StreamInfo, result: Any, frame_size: tuple[int, int] | None) -> Overlay:
    boxes = []
    in_violation = {i for i, j, _ in result.violations} | {j for i, j, _ in result.violations}
    for i, face in enumerate(result.faces):
        name = info.names.get(face.person_id, face.person_id) if face.person_id else "?"
        label = f"{name}{' [mask]' if face.mask else ''}"
        color = RED if i in in_violation else (GREEN if face.person_id else GREY)
        if face.person_id and not face.mask:
            color = ORANGE if i not in in_violation else RED
        boxes.append(OverlayBox(tuple(int(v) for v in face.box), label, color))
    lines = []
    for i, j, d in result.violations:
        if i < len(result.faces) and j < len(result.faces):
            a, b = result.faces[i].box, result.faces[j].box
            lines.append(((a[0] + a[2] // 2, a[1] + a[3] // 2), (b[0] + b[2] // 2, b[1] + b[3] // 2), RED))
    known = sum(1 for f in result.faces if f.person_id)
    return Overlay(boxes=boxes, lines=lines, caption=f"{known}/{len(result.faces)} recognised",
                   frame_size=frame_size)


class LiveService:
    """Owns the media server, the worker pool and the bridge between them, for one app instance."""

    def __init__(self, app: FastAPI, settings: Settings, *, pool: Any | None = None,
                 media_config: MediaConfig | None = None) -> None:
        self.app = app
        self.settings = settings
        self.session_factory = app.state.session_factory
        self.boot = secrets.token_hex(3)
        self.sink = PerStreamLatestSink(depth=1)
        self.overlays = StaticOverlays()
        self.events = EventHub()
        cfg = media_config or MediaConfig()
        cfg.ice_servers = ice_servers_from_urls(settings.ice_servers, settings.turn_username, settings.turn_password)
        self.media = MediaServer(self.sink, self.overlays, cfg, on_event=self._on_media_event)
        self._pool = pool
        self.streams: dict[str, StreamInfo] = {}
        self._pending: dict[str, SampledFrame] = {}
        self._frame_sizes: dict[str, tuple[int, int]] = {}
        self._joins: dict[str, int] = defaultdict(int)
        self._write_queue: asyncio.Queue[tuple[StreamInfo, list[Any]]] = asyncio.Queue()
        self._last_rollcall: dict[int, float] = {}
        self._rollcall_due: set[int] = set()
        self._tasks: list[asyncio.Task] = []
        self.sightings_written = 0
        self.write_errors = 0
        self.write_retries = 0
        self._db_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="apel-live-db")
        self._unpublished_since: dict[int, float] = {}
        self.push_lags_s: list[float] = []   # office frame received -> its sightings on the consoles (SSE)
        # (apel, employee id) -> this apel's per-frame measurements of their face geometry
        self._geometry_frames: dict[tuple[int, int], deque] = {}

    # -- lifecycle
    @property
    def pool(self) -> Any:
        if self._pool is None:
            raise RuntimeError("the vision worker pool is not ready")
        return self._pool

    def _make_pool(self) -> Any:
        from attendance.vision.workers import VisionWorkerPool

        pool = VisionWorkerPool(workers=self.settings.vision_workers, recogniser=self.settings.recogniser_spec)
        pool.start()
        return pool

    async def _ensure_pool(self) -> Any:
        """Workers load dlib's models (a second or two): started with the service, awaited by joins."""
        try:
            return await asyncio.shield(self._pool_ready)
        except Exception as exc:
            raise LiveError(503, "vision_unavailable", f"the vision workers could not start: {exc}") from exc

    async def start(self) -> None:
        if self._pool is not None:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            fut.set_result(self._pool)
            self._pool_ready = fut
        else:
            async def make() -> Any:
                self._pool = await asyncio.to_thread(self._make_pool)
                return self._pool
            self._pool_ready = asyncio.ensure_future(make())
        # the bridge first: an orderly stop ends it before the others (see stop)
        self._tasks = [asyncio.ensure_future(self._bridge()), asyncio.ensure_future(self._writer()),
                       asyncio.ensure_future(self._housekeeping())]

    async def stop(self) -> None:
        """An orderly stop (a restart, a redeploy) during an apel loses nothing the service already
        has: no new results are taken, the sightings waiting for the writer are written, and what
        the apel has measured so far of each person's face is stored (that apel's one lesson,
        learn_from_apel, so the frames after a restart add nothing to it). Then the tasks end."""
        if self._tasks:
            bridge = self._tasks[0]
            bridge.cancel()
            try:
                await bridge
            except (asyncio.CancelledError, Exception):
                pass
            try:
                await asyncio.wait_for(self._write_queue.join(), STOP_DRAIN_S)
            except asyncio.TimeoutError:
                log.error("stopping with %d batches of sightings not written (is the database reachable?)",
                          self._write_queue.qsize())
        for assembly_id in sorted({aid for aid, _ in self._geometry_frames}):
            await self._learn_geometry(assembly_id)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        await self.media.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._pool_ready), 60)
        except Exception:
            pass
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
            self._pool = None
        self._db_executor.shutdown(wait=False, cancel_futures=True)

    # -- joins
    def _db(self, fn, *args, **kwargs):
        """Database work in the service's own threads: it must not wait behind media encodes (which use
        the loop's default executor), nor take their threads."""
        queued = time.monotonic()

        def run():
            started = time.monotonic()
            try:
                with self.session_factory() as session:
                    return fn(session, *args, **kwargs)
            finally:
                # Joins, roll-calls and the sightings writer share these threads: a call that waits
                # long for one, or holds one long, is what an office's timed-out join looks like.
                waited, took = started - queued, time.monotonic() - started
                if waited > SLOW_DB_S or took > SLOW_DB_S:
                    log.warning("slow live database call %s: waited %.1f s for a thread, ran %.1f s",
                                getattr(fn, "__qualname__", fn), waited, took)
        return asyncio.get_running_loop().run_in_executor(self._db_executor, run)

    async def join_office(self, office_code: str, token: str, sdp: object, type_: object) -> dict:
        t0 = time.monotonic()

        from attendance.models import Office
        from attendance.assemblies.lifecycle import verify_office_token

        def verify(session) -> _JoiningOffice | None:
            ao = verify_office_token(session, office_code, token)
            if ao is None:
                return None
            office = session.get(Office, ao.office_id)
            return _JoiningOffice(ao.id, ao.assembly_id, ao.office_id, office.code, office.name,
                                  office.camera_hfov_deg, office.min_distance_m, office.back_row_m,
                                  office.camera_height_m, office.row_lines_m)

        found = await self._db(verify)
        if found is None:
            raise LiveError(401, "bad_token",
                            "the office code or token is wrong, the token has expired, or the apel is not open")
        ao_id, assembly_id, office_id, code, name = (found.assembly_office_id, found.assembly_id, found.office_id,
                                                     found.code, found.name)
        parse_offer(sdp, type_)   # refuse a bad offer before any work
        pool = await self._ensure_pool()
        roster, names = await self._db(roster_for_office, office_id, self.settings.recogniser_spec)
        geometry = None
        if self.settings.learn_face_geometry and roster:
            from attendance.roster.learned_geometry import load_geometry

            geometry = await self._db(load_geometry, [int(p.person_id) for p in roster]) or None
        stream_key = f"{assembly_id}/{code}"
        self._joins[stream_key] += 1
        from attendance.vision.types import PipelineConfig
        from attendance.vision.recognise.recognisers import backend_name

        pool.configure(stream_key, roster, PipelineConfig(
            hfov_deg=found.hfov_deg, min_distance_m=found.min_distance_m, back_row_m=found.back_row_m,
            camera_height_m=found.camera_height_m, row_lines_m=tuple(found.row_lines_m) if found.row_lines_m else None,
            face_geometry=geometry, recogniser=self.settings.recogniser_spec))
        info = StreamInfo(stream_key, assembly_id, office_id, ao_id, code,
                          track_prefix=f"{self.boot}-{office_id}-{self._joins[stream_key]}", names=names,
                          joined_at=t0, joined_wall=time.time() - (time.monotonic() - t0),
                          backend=backend_name(self.settings.recogniser_spec))
        self.streams[stream_key] = info
        answer, peer = await self.media.join_office(str(assembly_id), code, sdp, type_, label=f"{code} {name}")
        from attendance.assemblies.lifecycle import mark_office_joined

        await self._db(lambda s: mark_office_joined(s, ao_id))
        self._rollcall_due.add(assembly_id)
        return {"sdp": answer.sdp, "type": answer.type, "assembly_id": assembly_id, "office": code,
                "peer_id": peer.id, "roster_size": len(roster)}

    async def _open_assembly(self, assembly_id: int) -> None:
        from attendance.models import Assembly, AssemblyStatus

        def status(session):
            a = session.get(Assembly, assembly_id)
            return None if a is None else a.status
        st = await self._db(status)
        if st is None:
            raise LiveError(404, "no_such_apel", f"apel {assembly_id} does not exist")
        if st != AssemblyStatus.open.value:
            raise LiveError(409, "apel_not_open", f"apel {assembly_id} is {st}; start it first")

    async def join_leader(self, assembly_id: int, sdp: object, type_: object) -> dict:
        await self._open_assembly(assembly_id)
        answer, peer = await self.media.join_leader(str(assembly_id), sdp, type_)
        return {"sdp": answer.sdp, "type": answer.type, "assembly_id": assembly_id, "peer_id": peer.id}

    async def join_observer(self, assembly_id: int, sdp: object, type_: object) -> dict:
        await self._open_assembly(assembly_id)
        answer, peer = await self.media.join_observer(str(assembly_id), sdp, type_)
        return {"sdp": answer.sdp, "type": answer.type, "assembly_id": assembly_id, "peer_id": peer.id}

    async def rollcall(self, assembly_id: int) -> dict:
        from attendance.assemblies.sightings import live_rollcall

        data = await self._db(live_rollcall, assembly_id)
        data["media"] = self.media_status(assembly_id)
        return data

    def media_status(self, assembly_id: int) -> dict | None:
        room = self.media.rooms.get(str(assembly_id))
        if room is None:
            return None
        status = room.status()
        lags = sorted(self.push_lags_s)
        status["sighting_to_console_s"] = ({"n": len(lags), "p50": round(lags[len(lags) // 2], 3),
                                            "max": round(lags[-1], 3)} if lags else None)
        for office in status["offices"]:
            info = self.streams.get(room.stream_key(office["office"]))
            if info is not None:
                office["analysed_frames"] = info.results
                office["submitted_frames"] = info.submitted
                office["replaced_before_analysis"] = info.not_submitted
                office["join_to_first_analysis_s"] = (round(info.first_result_at - info.joined_at, 3)
                                                      if info.first_result_at else None)
                peer = room.offices.get(office["office"])
                first = peer.tap.stats.first_frame_at if peer and peer.tap else None
                office["join_to_first_frame_s"] = round(first - info.joined_at, 3) if first else None
        return status

    # -- events from media (on the loop)
    def _on_media_event(self, event: dict) -> None:
        if event["type"] == "office_left" and not event.get("rejoining"):
            info = self.streams.get(event["stream"])
            if info is not None:
                from attendance.assemblies.lifecycle import mark_office_left

                asyncio.ensure_future(self._db(lambda s: mark_office_left(s, info.assembly_office_id)))
                self._pending.pop(info.stream_key, None)
                self.overlays.set(info.stream_key, None)
        try:
            assembly_id = int(event.get("room", ""))
        except ValueError:
            return
        self.events.publish(assembly_id, {"event": "media", "data": event})
        self._rollcall_due.add(assembly_id)

    # -- the bridge: sampled frames to the pool, results back
    async def _bridge(self) -> None:
        try:
            await self._pool_ready
        except Exception:
            log.exception("vision workers failed to start; office frames will not be analysed")
            return
        while True:
            try:
                self._bridge_step()
            except Exception:
                log.exception("live bridge step failed")
            await asyncio.sleep(0.03)

    def _bridge_step(self) -> None:
        pool = self.pool
        for key in self.sink.peek_keys():
            frame = self.sink.take(key)
            if frame is None:
                continue
            info = self.streams.get(key)
            if key in self._pending and info is not None:
                info.not_submitted += 1
            self._pending[key] = frame
        for key, frame in list(self._pending.items()):
            if pool.is_busy(key):   # convert a frame to pixels only when a worker will take it
                continue
            try:
                accepted = pool.submit(key, frame.frame_bgr, frame.t_s)
            except KeyError:   # the stream was removed (apel ended) after this frame was sampled
                del self._pending[key]
                continue
            if accepted:
                del self._pending[key]
                h, w = frame.frame_bgr.shape[:2]
                self._frame_sizes[key] = (w, h)
                info = self.streams.get(key)
                if info is not None:
                    info.submitted += 1
        batches: dict[str, list[Any]] = defaultdict(list)
        for key, result in pool.poll_results():
            info = self.streams.get(key)
            if info is None:
                continue
            # (a frame of the previous connection may come back after a rejoin: not this join's first)
            if info.first_result_at is None and result.t_s >= info.joined_wall:
                info.first_result_at = time.monotonic()
                log.info("office %s: first analysed frame %.2f s after join", key, info.first_result_at - info.joined_at)
            info.results += 1
            self.overlays.set(key, overlay_from_result(info, result, self._frame_sizes.get(key)))
            batches[key].extend(sightings_from_result(info, result))
            if self.settings.learn_face_geometry:
                self._keep_geometry(info, result)
        for key, sightings in batches.items():
            if sightings:
                self._write_queue.put_nowait((self.streams[key], sightings))

    def _keep_geometry(self, info: StreamInfo, result: Any) -> None:
        for face in result.faces:
            if face.person_id is None or (face.ipd_sample_m is None and face.eye_offset_sample_m is None):
                continue
            key = (info.assembly_id, int(face.person_id))
            frames = self._geometry_frames.get(key)
            if frames is None:
                frames = self._geometry_frames[key] = deque(maxlen=GEOMETRY_FRAMES_PER_APEL)
            frames.append((face.ipd_sample_m, face.eye_offset_sample_m))

    async def _learn_geometry(self, assembly_id: int) -> None:
        """The apel closed, or the service stops during it: what it measured of each person's face
        geometry is stored (one lesson per person per apel, learned_geometry.learn_from_apel). A
        failure costs only this lesson."""
        from attendance.roster.learned_geometry import learn_from_apel

        keys = [k for k in self._geometry_frames if k[0] == assembly_id]
        frames = {emp: list(self._geometry_frames.pop((aid, emp))) for aid, emp in keys}
        if not frames:
            return

        def store(session):
            n = learn_from_apel(session, assembly_id, frames)
            session.commit()
            return n
        try:
            n = await self._db(store)
            log.info("apel %s: face geometry learned for %d people", assembly_id, n)
        except Exception:
            log.exception("apel %s: storing the learned face geometry failed", assembly_id)

    async def _writer(self) -> None:
        """One writer, so each track's sightings reach the database in time order."""
        while True:
            info, sightings = await self._write_queue.get()
            # Fold everything already waiting for the same stream into one transaction.
            more: list[tuple[StreamInfo, list[Any]]] = []
            while not self._write_queue.empty():
                more.append(self._write_queue.get_nowait())
            try:
                await self._write_batches(info, sightings, more)
            finally:
                for _ in range(1 + len(more)):   # stop() waits for the queue to be written
                    self._write_queue.task_done()

    async def _write_batches(self, info: StreamInfo, sightings: list[Any],
                             more: list[tuple[StreamInfo, list[Any]]]) -> None:
        from attendance.assemblies.sightings import record_sightings

        groups: dict[str, tuple[StreamInfo, list[Any]]] = {info.stream_key: (info, list(sightings))}
        for i2, s2 in more:
            groups.setdefault(i2.stream_key, (i2, []))[1].extend(s2)
        for inf, batch in groups.values():
            try:
                await self._write_with_retry(lambda s, inf=inf, batch=batch: record_sightings(
                    s, inf.assembly_id, inf.office_id, batch, keep_evidence=self.settings.keep_evidence,
                    evidence_dir=self.settings.data_dir / "evidence",
                    retention_days=self.settings.evidence_retention_days))
                self.sightings_written += len(batch)
                self._rollcall_due.add(inf.assembly_id)
                # the oldest sighting not yet on a console: its frame time, for the push latency
                oldest = min(x.at for x in batch).timestamp()
                self._unpublished_since.setdefault(inf.assembly_id, oldest)
            except Exception:
                self.write_errors += 1
                log.exception("recording %d sightings for %s failed", len(batch), inf.stream_key)
        await self._publish_due()

    async def _write_with_retry(self, work: Callable[[Any], Any]) -> None:
        """A database that is briefly unreachable or locked (PostgreSQL restarting, a long SQLite
        writer) must not cost sightings: retry with backoff, in order (this is the only writer).
        record_sightings is idempotent, so a retry after an unclear failure counts nothing twice."""
        from sqlalchemy.exc import DBAPIError

        delays = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
        for attempt, delay in enumerate((*delays, None)):
            try:
                await self._db(work)
                return
            except DBAPIError:
                if delay is None:
                    raise
                self.write_retries += 1
                log.warning("database write failed (attempt %d), retrying in %.1f s", attempt + 1, delay)
                await asyncio.sleep(delay)

    async def _publish_due(self) -> None:
        now = time.monotonic()
        for assembly_id in list(self._rollcall_due):
            if not self.events.subscribers.get(assembly_id):
                self._rollcall_due.discard(assembly_id)
                self._unpublished_since.pop(assembly_id, None)
                continue
            if now - self._last_rollcall.get(assembly_id, 0.0) < ROLLCALL_MIN_INTERVAL_S:
                continue
            self._rollcall_due.discard(assembly_id)
            self._last_rollcall[assembly_id] = now
            try:
                data = await self.rollcall(assembly_id)
            except Exception:
                log.exception("roll-call for apel %s failed", assembly_id)
                continue
            self.events.publish(assembly_id, {"event": "rollcall", "data": data})
            since = self._unpublished_since.pop(assembly_id, None)
            if since is not None:
                self.push_lags_s.append(time.time() - since)
                del self.push_lags_s[:-500]

    async def _housekeeping(self) -> None:
        """Closes rooms of apels that ended; publishes roll-calls that were throttled; media status."""
        from attendance.models import Assembly, AssemblyStatus

        tick = 0
        while True:
            await asyncio.sleep(0.5)
            tick += 1
            try:
                await self._publish_due()
                if tick % 4 == 0:
                    for room_id in list(self.media.rooms):
                        aid = int(room_id)
                        self.events.publish(aid, {"event": "media", "data": {"type": "status",
                                                                             **(self.media_status(aid) or {})}})
                if tick % 6 == 0 and self.media.rooms:
                    ids = [int(r) for r in self.media.rooms]

                    def closed(session):
                        return [a.id for a in session.execute(select(Assembly).where(Assembly.id.in_(ids))).scalars()
                                if a.status != AssemblyStatus.open.value]
                    for aid in await self._db(closed):
                        await self.close_assembly(aid)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live housekeeping failed")

    async def close_assembly(self, assembly_id: int) -> None:
        """The apel ended: disconnect everyone, forget its streams, tell the consoles."""
        await self.media.close_room(str(assembly_id))
        for key in [k for k, i in self.streams.items() if i.assembly_id == assembly_id]:
            self.streams.pop(key, None)
            self._pending.pop(key, None)
            self.sink.forget(key)
            self.overlays.set(key, None)
            try:
                if self._pool is not None:
                    self._pool.remove(key)
            except Exception:
                log.exception("removing stream %s from the pool failed", key)
        self._rollcall_due.add(assembly_id)
        self._last_rollcall.pop(assembly_id, None)
        await self._publish_due()
        self.events.publish(assembly_id, {"event": "closed", "data": {"assembly_id": assembly_id}})
        await self._learn_geometry(assembly_id)


async def get_live(app: FastAPI) -> LiveService:
    """The app's live service, created and started on first use (most processes never host an apel)
    and closed with the app. Tests may preset `app.state.live_media_config`."""
    service = getattr(app.state, "live", None)
    if service is None:
        service = LiveService(app, app.state.settings,
                              media_config=getattr(app.state, "live_media_config", None))
        service.started = asyncio.Event()
        app.state.live = service

        async def _stop(_app: FastAPI) -> None:
            await service.stop()
            _app.state.live = None

        app.state.shutdown_hooks.append(_stop)
        try:
            await service.start()
        except BaseException:
            app.state.live = None
            raise
        finally:
            service.started.set()
    await service.started.wait()
    return service
