"""The live apel of one app instance: joins (office, leader, observer) and the lifecycle of the parts
that carry an office's frames to its attendance records, each pushing to the next:

    office track --media FrameTap--> FrameBridge.put --> VisionWorkerPool (worker processes)
    pool reader thread --FrameBridge.deliver--> event loop --translate--> overlays (leader's mosaic)
                                                              \\--> SightingsWriter --db threads--> record_sightings
                                                                     \\--> RollcallPublisher --> EventHub (SSE)

Nothing here blocks the event loop: the pool's submit never blocks, results arrive by callback,
database work runs in the service's own threads, and one writer keeps each track's sightings in
time order."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.live.bridge import FrameBridge, NoAnalysis, WorkerPool
from app.live.crops import CropStore
from app.live.db import DbThreads
from app.live.events import EventHub, RollcallPublisher
from app.live.lessons import GeometryLessons
from app.live.node import notify_publishing
from app.live.node_listen import SightingsListener, listen_for_nodes
from app.live.streams import StreamInfo
from app.live.translate import media_texts, overlay_from_result, sightings_from_result
from app.live.writer import SightingsWriter
from app.settings import Settings
from attendance.assemblies.lifecycle import (
    mark_office_joined,
    mark_office_left,
    token_apel_finished,
    verify_office_token,
)
from attendance.assemblies.review import keep_crops, purge_expired
from attendance.assemblies.sightings import Sighting, live_rollcall, record_sightings
from attendance.db.unit_of_work import committed, run_in_transaction
from attendance.errors import ApelError
from attendance.models import Assembly, AssemblyStatus, Office
from attendance.roster.learned_geometry import learn_from_apel, load_geometry
from attendance.roster.live_roster import OfficeRoster, roster_for_office
from attendance.vision.config import PipelineConfig, backend_name
from attendance.vision.types import FaceGeometry, FrameResult
from media.interfaces import StaticOverlays
from media.janus.rooms import JanusConfig, JanusMedia, JanusPeer
from media.janus.videoroom import office_feed_id
from media.server import MediaConfig, MediaServer, Peer, ice_servers_from_urls
from media.signaling import parse_offer

log = logging.getLogger("apel.live")

STOP_DRAIN_S = 20.0     # an orderly stop waits this long for queued sightings to be written
POOL_START_S = 60.0     # a stop waits this long for workers still starting, to close them
LEADER_FEED_PATH = "/api/v1/live/office/leader-feed"   # APEL_MEDIA=janus: where an office asks for the leader
PURGE_EVERY_TICKS = 3600   # housekeeping ticks (half seconds): the review retention is enforced every 30 min


class LiveError(ApelError):
    """A refused join or request (a bad office token, an apel not open, the vision workers down)."""

    default_code = "live_refused"


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


def _joining_office(session: Session, office_code: str, token: str) -> _JoiningOffice | None:
    ao = verify_office_token(session, office_code, token)
    if ao is None:
        return None
    office = session.get(Office, ao.office_id)
    assert office is not None   # the participation's foreign key
    return _JoiningOffice(ao.id, ao.assembly_id, ao.office_id, office.code, office.name,
                          office.camera_hfov_deg, office.min_distance_m, office.back_row_m,
                          office.camera_height_m, office.row_lines_m)


class _JoinReads(NamedTuple):
    """Everything a join reads, in one trip to a database thread: with offices joining together the
    trips queue for the few threads, so one instead of three each (bench_join --janus)."""
    office: _JoiningOffice
    roster: OfficeRoster
    geometry: dict[str, FaceGeometry] | None


def _join_reads(session: Session, office_code: str, token: str, backend: str,
                geometry: bool) -> _JoinReads | None:
    """The token is checked first: nothing else is read for a wrong one. `geometry`: the learned face
    geometry too (only a node that analyses the office itself uses it)."""
    found = _joining_office(session, office_code, token)
    if found is None:
        return None
    roster = roster_for_office(session, found.office_id, backend)
    learned = None
    if geometry and roster.people:
        learned = load_geometry(session, [int(p.person_id) for p in roster.people]) or None
    return _JoinReads(found, roster, learned)


def _joined(session: Session, assembly_office_id: int, assembly_id: int, office_id: int,
            video_mid: str | None) -> None:
    """The join's record, and (PostgreSQL, Janus) the vision nodes told at its commit that the office
    publishes: the node holding it opens its forward at once instead of at its next look."""
    mark_office_joined(session, assembly_office_id)
    if video_mid is not None:
        notify_publishing(session, assembly_id, office_id, video_mid)


def _assembly_status(session: Session, assembly_id: int) -> str | None:
    a = session.get(Assembly, assembly_id)
    return None if a is None else a.status


def _not_open(session: Session, ids: list[int]) -> list[int]:
    return [a.id for a in session.execute(select(Assembly).where(Assembly.id.in_(ids))).scalars()
            if a.status != AssemblyStatus.open.value]


class LiveService:
    """Owns the media server, the worker pool and the parts between them, for one app instance."""

    def __init__(self, app: FastAPI, settings: Settings, *, pool: WorkerPool | None = None,
                 media_config: MediaConfig | None = None) -> None:
        """`pool`: an unstarted worker pool to use instead of the settings' VisionWorkerPool (tests)."""
        self.app = app
        self.settings = settings
        self.boot = secrets.token_hex(3)
        self.started = asyncio.Event()   # get_live: the service is started (or failed to)
        self.db = DbThreads(app.state.session_factory)
        self.streams: dict[str, StreamInfo] = {}
        self.overlays = StaticOverlays()
        self.events = EventHub()
        self.rollcalls = RollcallPublisher(self.events, self.rollcall)
        self.lessons = GeometryLessons()
        self.crops = CropStore()   # faces waiting for a person's answer, this apel only
        self.bridge = FrameBridge(self.streams, self._on_result)
        self.writer = SightingsWriter(self.db, self._record, self.rollcalls)
        cfg = media_config or MediaConfig()
        cfg.ice_servers = ice_servers_from_urls(settings.ice_servers, settings.turn_username, settings.turn_password)
        cfg.texts = media_texts(settings.language)
        self.media: MediaServer | JanusMedia
        if settings.media == "janus":
            assert settings.janus_url is not None   # the settings refuse janus without its URL
            self.media = JanusMedia(self.bridge, JanusConfig(
                url=settings.janus_url, api_secret=settings.janus_api_secret, admin_key=settings.janus_admin_key,
                room_key=settings.session_secret(), room_base=settings.janus_room_base,
                forward_host=settings.janus_forward_host, analyse=settings.janus_analyse,
                sample_fps=cfg.sample_fps,
                frozen_after_s=cfg.frozen_after_s, connect_timeout_s=cfg.connect_timeout_s),
                on_event=self._on_media_event)
        else:
            self.media = MediaServer(self.bridge, self.overlays, cfg, on_event=self._on_media_event)
        self._pool = pool
        self._pool_ready: asyncio.Future[WorkerPool] | None = None
        self._joins: dict[str, int] = defaultdict(int)
        self._housekeeping_task: asyncio.Task[None] | None = None
        self.node_listener: SightingsListener | None = None   # PostgreSQL: vision nodes' sightings

    @property
    def _vision_elsewhere(self) -> bool:
        """The vision nodes analyse the offices (APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false)."""
        return self.settings.media == "janus" and not self.settings.janus_analyse

    # -- lifecycle
    async def start(self) -> None:
        """Starts the writer and the housekeeping at once, the vision workers in the background: they
        load their models (a second or two), and only joins wait for them."""
        self.bridge.bind(asyncio.get_running_loop())
        self._pool_ready = asyncio.ensure_future(self._start_pool())
        self.writer.start()
        self._housekeeping_task = asyncio.ensure_future(self._housekeeping())
        self.node_listener = listen_for_nodes(self.settings.db_url, self.rollcalls, self.events)

    async def _start_pool(self) -> WorkerPool:
        def start() -> WorkerPool:
            if self._pool is not None:
                pool = self._pool
            elif self._vision_elsewhere:
                pool = NoAnalysis()   # the vision nodes analyse: no workers, no models here
            else:
                from attendance.vision.workers import VisionWorkerPool

                pool = VisionWorkerPool(workers=self.settings.vision_workers, recogniser=self.settings.recogniser_spec,
                                        nice=self.settings.vision_nice)
            pool.start(self.bridge.deliver)
            return pool
        try:
            self._pool = await asyncio.to_thread(start)
        except Exception:
            log.exception("vision workers failed to start; office frames will not be analysed")
            raise
        self.bridge.attach(self._pool)
        return self._pool

    async def _ensure_pool(self) -> WorkerPool:
        if self._pool_ready is None:
            raise LiveError("vision_unavailable", "the live service is not started", 503)
        try:
            return await asyncio.shield(self._pool_ready)
        except Exception as exc:
            raise LiveError("vision_unavailable", f"the vision workers could not start: {exc}", 503) from exc

    async def stop(self) -> None:
        """An orderly stop (a restart, a redeploy) during an apel loses nothing the service already
        has: no new results are taken, the sightings waiting for the writer are written, and what
        the apel has measured so far of each person's face is stored (that apel's one lesson,
        learn_from_apel, so the frames after a restart add nothing to it). Then everything ends."""
        if self.node_listener is not None:
            await self.node_listener.stop()
            self.node_listener = None
        await self.rollcalls.close()
        self.bridge.stop()
        if not await self.writer.drain(STOP_DRAIN_S):
            log.error("stopping with %d batches of sightings not written (is the database reachable?)",
                      self.writer.queued)
        for assembly_id in self.lessons.apels():
            await self._learn_geometry(assembly_id)
        for assembly_id in self.crops.apels():
            await self._keep_crops(assembly_id)
        await self.writer.stop()
        if self._housekeeping_task is not None:
            self._housekeeping_task.cancel()
            try:
                await self._housekeeping_task
            except (asyncio.CancelledError, Exception):
                pass
        await self.media.close()
        if self._pool_ready is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._pool_ready), POOL_START_S)
            except Exception:
                pass
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)
            self._pool = None
        self.db.close()

    # -- joins
    async def join_office(self, office_code: str, token: str, sdp: object, type_: object) -> dict[str, Any]:
        t0 = time.monotonic()
        backend = backend_name(self.settings.recogniser_spec)
        reads = await self.db.run(_join_reads, office_code, token, backend,
                                  self.settings.learn_face_geometry and not self._vision_elsewhere)
        if reads is None:
            if await self.db.run(token_apel_finished, office_code, token):
                raise LiveError("apel_finished", "the apel has ended", 409)
            raise LiveError("bad_token", "the office code or token is wrong, the token has expired, "
                            "or the apel is not open", 401)
        found, (roster, names), geometry = reads
        parse_offer(sdp, type_)   # refuse a bad offer before any work
        pool = await self._ensure_pool()
        stream_key = f"{found.assembly_id}/{found.code}"
        self._joins[stream_key] += 1
        pool.configure(stream_key, roster, PipelineConfig(
            hfov_deg=found.hfov_deg, min_distance_m=found.min_distance_m, back_row_m=found.back_row_m,
            camera_height_m=found.camera_height_m, row_lines_m=tuple(found.row_lines_m) if found.row_lines_m else None,
            face_geometry=geometry, recogniser=self.settings.recogniser_spec))
        self.streams[stream_key] = StreamInfo(
            stream_key, found.assembly_id, found.office_id, found.assembly_office_id, found.code,
            track_prefix=f"{self.boot}-{found.office_id}-{self._joins[stream_key]}", names=names,
            joined_at=t0, joined_wall=time.time() - (time.monotonic() - t0), backend=backend)
        peer: Peer | JanusPeer
        if isinstance(self.media, JanusMedia):
            answer, peer = await self.media.join_office(str(found.assembly_id), found.code, sdp, type_,
                                                        label=f"{found.code} {found.name}",
                                                        feed_id=office_feed_id(found.office_id))
        else:
            answer, peer = await self.media.join_office(str(found.assembly_id), found.code, sdp, type_,
                                                        label=f"{found.code} {found.name}")
        mid = peer.video_mid if isinstance(peer, JanusPeer) and self._vision_elsewhere else None
        await self.db.run(committed(_joined), found.assembly_office_id, found.assembly_id, found.office_id, mid)
        self.rollcalls.mark_due(found.assembly_id)
        reply = {"sdp": answer.sdp, "type": answer.type, "assembly_id": found.assembly_id, "office": found.code,
                 "peer_id": peer.id, "roster_size": len(roster)}
        if isinstance(self.media, JanusMedia):   # the leader comes on a second connection Janus offers
            reply.update(media="janus", leader_feed=LEADER_FEED_PATH)
        return reply

    async def _office_for_feed(self, office_code: str, token: str) -> _JoiningOffice:
        """The office behind a leader-feed request: its token is checked here, before Janus sees anything."""
        if not isinstance(self.media, JanusMedia):
            raise LiveError("janus_mode_only", "the leader's feed comes with the join answer unless "
                            "APEL_MEDIA=janus", 404)
        found = await self.db.run(_joining_office, office_code, token)
        if found is None:
            raise LiveError("bad_token", "the office code or token is wrong, the token has expired, "
                            "or the apel is not open", 401)
        return found

    async def subscribe_leader(self, office_code: str, token: str) -> dict[str, Any]:
        """APEL_MEDIA=janus: Janus's SDP offer of the leader's feed for this office (it answers with
        `answer_leader_feed`)."""
        found = await self._office_for_feed(office_code, token)
        assert isinstance(self.media, JanusMedia)
        offer, peer = await self.media.subscribe_leader(str(found.assembly_id), found.code)
        return {"sdp": offer["sdp"], "type": "offer", "assembly_id": found.assembly_id, "office": found.code,
                "subscription": peer.id}

    async def answer_leader_feed(self, office_code: str, token: str, subscription: str, sdp: object,
                                 type_: object) -> dict[str, Any]:
        found = await self._office_for_feed(office_code, token)
        assert isinstance(self.media, JanusMedia)
        await self.media.start_subscription(str(found.assembly_id), found.code, subscription, sdp, type_)
        return {"assembly_id": found.assembly_id, "office": found.code, "subscription": subscription}

    async def _open_assembly(self, assembly_id: int) -> None:
        status = await self.db.run(_assembly_status, assembly_id)
        if status is None:
            raise LiveError("no_such_apel", f"apel {assembly_id} does not exist", 404)
        if status != AssemblyStatus.open.value:
            raise LiveError("apel_not_open", f"apel {assembly_id} is {status}; start it first", 409)

    async def join_leader(self, assembly_id: int, sdp: object, type_: object) -> dict[str, Any]:
        await self._open_assembly(assembly_id)
        answer, peer = await self.media.join_leader(str(assembly_id), sdp, type_)
        return {"sdp": answer.sdp, "type": answer.type, "assembly_id": assembly_id, "peer_id": peer.id}

    async def join_observer(self, assembly_id: int, sdp: object, type_: object) -> dict[str, Any]:
        await self._open_assembly(assembly_id)
        answer, peer = await self.media.join_observer(str(assembly_id), sdp, type_)
        return {"sdp": answer.sdp, "type": answer.type, "assembly_id": assembly_id, "peer_id": peer.id}

    # -- what the consoles see
    async def rollcall(self, assembly_id: int) -> dict[str, Any]:
        data = await self.db.run(live_rollcall, assembly_id)
        data["media"] = self.media_status(assembly_id)
        return data

    def media_status(self, assembly_id: int) -> dict[str, Any] | None:
        room = self.media.rooms.get(str(assembly_id))
        if room is None:
            return None
        status: dict[str, Any] = room.status()
        lags = sorted(self.rollcalls.push_lags_s)
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
                office["camera"] = info.camera
        return status

    # -- an analysed frame (the bridge calls this on the loop)
    def _on_result(self, info: StreamInfo, result: FrameResult, frame_size: tuple[int, int] | None) -> None:
        self.overlays.set(info.stream_key, overlay_from_result(info, result, frame_size,
                                                                  self.settings.language))
        sightings = sightings_from_result(info, result)
        if sightings:
            self.writer.put(info, sightings)
        if self.settings.learn_face_geometry:
            self.lessons.keep(info.assembly_id, result)
        self.crops.keep(info, result)
        info.camera = result.camera or info.camera   # the camera check, for the consoles and the office

    def _record(self, session: Session, assembly_id: int, office_id: int, sightings: Sequence[Sighting]) -> object:
        # One attempt: the unit of work also reruns on any SQLite "database is locked" (not only a lost
        # audit-chain race), and the writer already retries every database error with backoff; stacked,
        # the two loops would hold a database thread for minutes on one batch.
        return run_in_transaction(session, lambda: record_sightings(
            session, assembly_id, office_id, sightings, keep_evidence=self.settings.keep_evidence,
            evidence_dir=self.settings.data_dir / "evidence", retention_days=self.settings.evidence_retention_days),
            attempts=1)

    async def _learn_geometry(self, assembly_id: int) -> None:
        """The apel closed, or the service stops during it: what it measured of each person's face
        geometry is stored (one lesson per person per apel). A failure costs only this lesson."""
        frames = self.lessons.take(assembly_id)
        if not frames:
            return

        try:
            n = await self.db.run(committed(learn_from_apel), assembly_id, frames)
            log.info("apel %s: face geometry learned for %d people", assembly_id, n)
        except Exception:
            log.exception("apel %s: storing the learned face geometry failed", assembly_id)

    # -- events from media (on the loop)
    def _on_media_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "office_left" and not event.get("rejoining"):
            info = self.streams.get(event["stream"])
            if info is not None:
                asyncio.ensure_future(self.db.run(committed(mark_office_left), info.assembly_office_id))
                self.bridge.drop_waiting(info.stream_key)
                self.overlays.set(info.stream_key, None)
        try:
            assembly_id = int(event.get("room", ""))
        except ValueError:
            return
        self.events.publish(assembly_id, {"event": "media", "data": event})
        self.rollcalls.mark_due(assembly_id)

    async def _housekeeping(self) -> None:
        """Publishes roll-calls the throttle held back; the media status every 2 s; closes the rooms of
        apels that ended elsewhere (another process) every 3 s; deletes review face data past its
        retention at start and every 30 minutes (reading the queue does too)."""
        tick = 0
        while True:
            await asyncio.sleep(0.5)
            tick += 1
            try:
                await self.rollcalls.publish_due()
                if tick % 4 == 0:
                    for room_id in list(self.media.rooms):
                        aid = int(room_id)
                        self.events.publish(aid, {"event": "media", "data": {"type": "status",
                                                                             **(self.media_status(aid) or {})}})
                if tick % 6 == 0 and self.media.rooms:
                    for aid in await self.db.run(_not_open, [int(r) for r in self.media.rooms]):
                        await self.close_assembly(aid)
                if tick % PURGE_EVERY_TICKS == 1:   # face crops and embeddings past their retention
                    await self.db.run(committed(purge_expired))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live housekeeping failed")

    async def close_assembly(self, assembly_id: int) -> None:
        """The apel ended: disconnect everyone, forget its streams, tell the consoles, store its lesson."""
        await self.media.close_room(str(assembly_id))
        for key in [k for k, i in self.streams.items() if i.assembly_id == assembly_id]:
            self.streams.pop(key, None)
            self.bridge.forget(key)
            self.overlays.set(key, None)
            try:
                if self._pool is not None:
                    self._pool.remove(key)
            except Exception:
                log.exception("removing stream %s from the pool failed", key)
        self.rollcalls.mark_due(assembly_id, now=True)
        await self.rollcalls.publish_due()
        self.events.publish(assembly_id, {"event": "closed", "data": {"assembly_id": assembly_id}})
        await self._learn_geometry(assembly_id)
        await self._keep_crops(assembly_id)

    async def _keep_crops(self, assembly_id: int) -> None:
        """The apel's faces leave memory; those nobody answered stay on disk for HR's review queue when
        evidence keeping is on (APEL_KEEP_EVIDENCE), else they are gone. A failure costs only the crops."""
        faces = [(f.office_id, f.track_key, f.jpeg) for f in self.crops.drop(assembly_id) if f.status == "open"]
        if not faces or not self.settings.keep_evidence:
            return
        try:
            n = await self.db.run(committed(keep_crops), assembly_id, faces, self.settings.data_dir / "evidence",
                                  self.settings.evidence_retention_days)
            log.info("apel %s: %d face crops kept for HR's review", assembly_id, n)
        except Exception:
            log.exception("apel %s: keeping the face crops for review failed", assembly_id)


async def get_live(app: FastAPI) -> LiveService:
    """The app's live service, created and started on first use (most processes never host an apel)
    and closed with the app. Tests may preset `app.state.live_media_config`."""
    service: LiveService | None = getattr(app.state, "live", None)
    if service is None:
        service = LiveService(app, app.state.settings, media_config=getattr(app.state, "live_media_config", None))
        app.state.live = service
        stopping = service

        async def _stop(_app: FastAPI) -> None:
            await stopping.stop()
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
