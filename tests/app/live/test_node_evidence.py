"""A vision node keeps what the web node keeps of the offices it analyses (issue 20, issue 18 §2):
the crops of faces nobody named, for HR's review queue, and the apel's face-geometry lesson, both
settled when the apel has ended. The crops go into the database, so the web node (another machine)
serves them; HR sees the picture, each look audited, and an answer or the retention deletes it. With
APEL_KEEP_EVIDENCE=false the crops are the live picker's only: nothing of them outlives the apel.

Real parts: PostgreSQL, the node's own result path (NodeRunner._on_result -> its writer -> its fenced
record path; its heartbeat `tick` notices the apel's end), a crop cut from a real photo, and the web
app's review API. Only the vision worker is left out: the frames' results are given."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.live.node import NodeRunner, NodeStream
from app.web.app import create_app
from attendance.assemblies.lifecycle import end_assembly
from attendance.assemblies.review import purge_expired
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import (
    AuditEntry,
    FaceTemplate,
    LearnedFaceGeometry,
    ReviewItem,
    User,
    utcnow,
)
from attendance.roster.passwords import hash_password
from attendance.vision.crops import cut
from attendance.vision.types import FaceResult, FrameResult

from . import vision_nodes
from .conftest import office_clip
from .node_rollcall import make_world
from .vision_nodes import node_world, running_node, start_node

pytestmark = [pytest.mark.postgres, pytest.mark.shared_data]

UNKNOWN_TRACK, NAMED_TRACK = 7, 8


def _face(track: int, person: int | None, crop: bytes | None) -> FaceResult:
    return FaceResult(box=(100, 80, 60, 60), track_id=track, person_id=str(person) if person else None,
                      confidence=0.95 if person else 0.2, distance=0.3, mask=False, mask_p=0.0,
                      position_m=(0.0, 0.0, 3.0), embedding=np.ones(128, np.float32) / 11.3,
                      ipd_sample_m=0.063 if person else None, eye_offset_sample_m=0.01 if person else None,
                      crop_jpeg=crop)


async def _node_sees(runner: NodeRunner, info: NodeStream, named: int, crop: bytes, frames: int = 5) -> None:
    """The node's result path for `frames` analysed frames: one unknown face, one named person."""
    runner.bridge.bind(asyncio.get_running_loop())
    runner.writer.start()
    runner.streams[info.stream_key] = info
    t0 = time.time() - frames
    for i in range(frames):
        result = FrameResult(t_s=t0 + i, faces=[_face(UNKNOWN_TRACK, None, crop if i == 0 else None),
                                                _face(NAMED_TRACK, named, None)])
        runner._on_result(info, result, (1280, 720))
    assert await runner.writer.drain(10)
    await runner.writer.stop()


def _setup(settings, photo: Path) -> tuple:
    world = make_world(settings, people=2)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    with factory() as s:
        named = world.people[0]
        s.add(FaceTemplate(employee_id=named, backend="dlib-128", embedding=b"\0" * 512, kind="photo",
                           source_sha256="a" * 64))
        s.add(User(username="hr", password_hash=hash_password("hr-pass-1234"), role="hr"))
        s.commit()
    runner, info = running_node(settings, factory, world)
    frame = cv2.imread(str(photo))
    assert frame is not None, photo
    crop = cut(frame, (70, 70, 110, 110))
    assert crop is not None
    return world, engine, factory, runner, info, crop


def _end(factory, world) -> None:
    with factory() as s:
        leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
        committed(end_assembly)(s, world.assembly_id, actor=leader)


def test_node_keeps_unknown_crops_for_hr_and_the_lesson(pg_url: str, settings_factory, shared_data: Path) -> None:
    settings = settings_factory(pg_url, keep_evidence=True, vision_workers=1)
    photo = shared_data / "faces" / "lfw10" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    world, engine, factory, runner, info, crop = _setup(settings, photo)
    named = world.people[0]
    try:
        async def scenario() -> None:
            await _node_sees(runner, info, named, crop)
            with factory() as s:   # during the apel: the item is there, the picture is still in the node's memory
                item = s.execute(select(ReviewItem)).scalar_one()
                assert item.kind == "unknown" and not item.has_evidence_jpeg and item.evidence_path is None
                assert s.get(LearnedFaceGeometry, named) is None
            await runner.tick()            # the apel still runs: nothing settled
            assert runner.evidence.apels() == {world.assembly_id}
            _end(factory, world)
            await runner.tick()            # the heartbeat after the end settles the apel
            assert runner.evidence.apels() == set()
        asyncio.run(scenario())
    finally:
        runner.db.close()
    with factory() as s:
        item = s.execute(select(ReviewItem)).scalar_one()
        assert item.has_evidence_jpeg and item.evidence_jpeg == crop and item.evidence_path is None
        assert item.expires_at is not None and item.expires_at <= utcnow() + timedelta(days=14, minutes=1)
        lesson = s.get(LearnedFaceGeometry, named)
        assert lesson is not None and lesson.last_assembly_id == world.assembly_id and lesson.ipd_sessions == 1
        item_id = item.id
    assert not (settings.data_dir / "evidence").exists()   # nothing on the node's own disk

    # The web node (no shared files) serves the picture to HR, audited; an answer deletes it.
    with TestClient(create_app(settings)) as web:
        r = web.post("/api/v1/auth/login", json={"username": "hr", "password": "hr-pass-1234"})
        hr = {"Authorization": f"Bearer {r.json()['access_token']}"}
        queue = web.get("/api/v1/review", params={"assembly_id": world.assembly_id}, headers=hr).json()
        assert [(q["id"], q["has_evidence"]) for q in queue] == [(item_id, True)]
        r = web.get(f"/api/v1/review/{item_id}/evidence", headers=hr)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content == crop
        r = web.post(f"/api/v1/review/{item_id}/dismiss", json={"reason": "a visitor"}, headers=hr)
        assert r.status_code == 200 and r.json()["has_evidence"] is False
        assert web.get(f"/api/v1/review/{item_id}/evidence", headers=hr).status_code == 404
    with factory() as s:
        assert s.get(ReviewItem, item_id).evidence_jpeg is None
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "review.evidence_view")).scalars().all()
    engine.dispose()


def test_node_crops_expire_and_none_without_evidence(pg_url: str, settings_factory, shared_data: Path) -> None:
    photo = shared_data / "faces" / "lfw10" / "Colin_Powell" / "Colin_Powell_0002.jpg"
    settings = settings_factory(pg_url, keep_evidence=True, vision_workers=1)
    world, engine, factory, runner, info, crop = _setup(settings, photo)
    try:
        async def scenario() -> None:
            await _node_sees(runner, info, world.people[0], crop)
            await asyncio.wait_for(runner.evidence.settle_all(), 5)   # as the node's stop does, mid-apel
        asyncio.run(scenario())
    finally:
        runner.db.close()
    with factory() as s:
        assert s.execute(select(ReviewItem)).scalar_one().evidence_jpeg == crop
        assert committed(purge_expired)(s, utcnow() + timedelta(days=15)) == 1   # the retention job
        assert s.execute(select(ReviewItem)).scalar_one().evidence_jpeg is None
    engine.dispose()


def _pictures(factory, assembly_id: int) -> list[tuple[str, bool]]:
    """The apel's review items holding a picture in the database: (status, transient)."""
    with factory() as s:
        return [(st, t) for st, t in s.execute(select(ReviewItem.status, ReviewItem.evidence_transient).where(
            ReviewItem.assembly_id == assembly_id, ReviewItem.evidence_jpeg.is_not(None)))]


def test_node_without_evidence_keeping_holds_crops_for_the_apel_only(pg_url: str, settings_factory,
                                                                     shared_data: Path) -> None:
    """APEL_KEEP_EVIDENCE=false: the node publishes its unknown face's crop for the live picker, marked
    transient; stopping mid-apel takes it back (as the web node's memory goes with it); after the apel
    ends no crop is written back, not even one the node had not published yet, and the node's heartbeat
    settles the apel with nothing kept: no picture in the database, none on a disk, the lesson stored."""
    photo = shared_data / "faces" / "lfw10" / "Colin_Powell" / "Colin_Powell_0003.jpg"
    settings = settings_factory(pg_url, keep_evidence=False, vision_workers=1)
    world, engine, factory, runner, info, crop = _setup(settings, photo)
    named = world.people[0]
    try:
        async def scenario() -> None:
            await _node_sees(runner, info, named, crop)
            await runner.evidence.publish(world.assembly_id)    # a heartbeat's round
            assert _pictures(factory, world.assembly_id) == [("open", True)]
            await asyncio.wait_for(runner.evidence.settle_all(), 5)   # the node stops, mid-apel
            assert _pictures(factory, world.assembly_id) == []

            await _node_sees(runner, info, named, crop)   # (again, as a node that took the office over)
            _end(factory, world)                          # ... the apel ends before its next round
            await runner.evidence.publish(world.assembly_id)   # a round racing the end writes nothing
            assert _pictures(factory, world.assembly_id) == []
            await runner.tick()                           # the heartbeat settles the ended apel
            assert runner.evidence.apels() == set()
        asyncio.run(scenario())
    finally:
        runner.db.close()
    assert _pictures(factory, world.assembly_id) == []
    with factory() as s:
        item = s.execute(select(ReviewItem)).scalar_one()
        assert item.status == "open" and item.embedding is not None and item.evidence_path is None
        assert s.get(LearnedFaceGeometry, named) is not None
    assert not (settings.data_dir / "evidence").exists()
    engine.dispose()


@pytest.mark.slow
def test_apel_node_process_keeps_an_unknown_face_for_hr(pg_url: str, settings_factory, shared_data: Path,
                                                        tmp_path: Path) -> None:
    """A real `apel node` (its vision worker on a synthetic office rendered from real photos) with one of
    the three people not on the roster: after the apel ends, that face's review item carries its crop
    in the database (no file on the node's disk), a small JPEG of a face."""
    clips = tmp_path / "clips"
    clips.mkdir()
    log = tmp_path / "node.log"
    data = tmp_path / "node-data"
    clip, photos = office_clip(shared_data, tmp_path, people=3)
    (clips / "OPD1.mp4").symlink_to(clip)
    # the last person is nobody the office knows
    apel, _, _ = node_world(pg_url, settings_factory(pg_url).recogniser_spec, photos, 1,
                            strangers=[sorted(photos)[-1]])
    node = start_node(pg_url, data, f"file:{clips}/{{office}}.mp4", log, 3, env={"APEL_KEEP_EVIDENCE": "true"})
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)

    def until(what: str, check, timeout: float):
        return vision_nodes.until(what, check, timeout, [node], [log])

    try:
        def unknown_items() -> list[int]:
            with factory() as s:
                return list(s.execute(select(ReviewItem.id).where(ReviewItem.assembly_id == apel,
                                                                  ReviewItem.kind == "unknown")).scalars())
        until("an unknown face in the review queue", unknown_items, 240)
        time.sleep(3)   # a few more frames of it
        with factory() as s:
            leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
            committed(end_assembly)(s, apel, actor=leader)

        def kept() -> list[tuple[str, bytes | None]]:
            with factory() as s:
                return [(k, j) for k, j in s.execute(select(ReviewItem.kind, ReviewItem.evidence_jpeg).where(
                    ReviewItem.assembly_id == apel, ReviewItem.status == "open",
                    ReviewItem.evidence_jpeg.is_not(None)))]
        crops = until("the node to keep the unknown faces' crops after the apel ended", kept, 30)
        assert "unknown" in {kind for kind, _ in crops}
        for _, jpeg in crops:
            assert jpeg is not None
            picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert picture is not None and max(picture.shape[:2]) <= 160
        assert not (data / "evidence").exists()
        # the crops reach the database while the apel runs (the live picker, test_node_faces_live): the
        # settle after the end is what the log says
        until("the node to settle the apel", lambda: "face crops kept for HR's review" in log.read_text(), 30)
        with factory() as s:   # the apel's lesson of the people it named
            lessons = s.execute(select(LearnedFaceGeometry).where(
                LearnedFaceGeometry.last_assembly_id == apel)).scalars().all()
        assert lessons and "face geometry learned for" in log.read_text()
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(10)
        engine.dispose()
