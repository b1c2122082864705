"""Faces a vision node analysed are answered live (issue 18 §2 with issue 20's nodes): while the apel
runs, the node publishes the crops of its faces needing an answer through the shared PostgreSQL
database, the web node's operator sees them with a picture, confirms one (present, the answer sticks
while the node keeps seeing the face and after the apel), says "visitor" of another (its picture is
dropped and does not come back), and a face vision later names by itself leaves with its picture.

Real parts: PostgreSQL, the web app over HTTP, the node's own result path (NodeRunner._on_result ->
its fenced writer; its heartbeat `tick` publishes), crops cut from real photos. The slow test runs a
real `apel node` process on a synthetic office of real photos instead of given results."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.live.node import NodeRunner, NodeStream, _Running
from app.live.node_sources import make_source
from app.web.app import create_app
from attendance.assemblies.lifecycle import create_assembly, end_assembly, mark_office_joined, start_assembly
from attendance.assemblies.rulesets import create_ruleset_version
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import (
    AssemblyOffice,
    AttendanceRecord,
    Employee,
    FaceTemplate,
    Office,
    ReviewItem,
    User,
)
from attendance.nodes.leases import balance, register_node
from attendance.roster.passwords import hash_password
from attendance.vision.config import backend_name
from attendance.vision.crops import cut
from attendance.vision.types import FaceResult, FrameResult
from tests.conftest import ROOT, fresh_pg

from .conftest import LIVE_MIN_CONFIDENCE, enrol_photo, office_clip
from .node_rollcall import make_world

pytestmark = [pytest.mark.postgres, pytest.mark.shared_data]

OP_PASSWORD = "op-pass-12345"
CONFIRMED, VISITOR, NAMED_LATER = 7, 8, 9


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    yield from fresh_pg(pg_template)


def _face(track: int, person: int | None, confidence: float, crop: bytes | None) -> FaceResult:
    return FaceResult(box=(100, 80, 60, 60), track_id=track, person_id=str(person) if person else None,
                      confidence=confidence, distance=0.3, mask=False, mask_p=0.0, position_m=(0.0, 0.0, 3.0),
                      embedding=np.full(128, 0.05 + track / 1000, np.float32), crop_jpeg=crop)


def _crop(photo: Path) -> bytes:
    frame = cv2.imread(str(photo))
    assert frame is not None, photo
    jpeg = cut(frame, (70, 70, 110, 110))
    assert jpeg is not None
    return jpeg


def _operator(factory: Callable[[], Any], office_id: int) -> None:
    with factory() as s:
        s.add(User(username="operator", password_hash=hash_password(OP_PASSWORD), role="operator",
                   office_id=office_id))
        s.commit()


def _joined(factory: Callable[[], Any], assembly_id: int, office_id: int) -> None:
    """The office's camera joined (through the web node's media server, Janus with nodes): the
    participation row a join writes."""
    with factory() as s:
        ao = s.execute(select(AssemblyOffice).where(AssemblyOffice.assembly_id == assembly_id,
                                                    AssemblyOffice.office_id == office_id)).scalar_one()
        committed(mark_office_joined)(s, ao.id)


def _login(web: TestClient, username: str, password: str) -> dict[str, str]:
    r = web.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _status(factory: Callable[[], Any], assembly_id: int, employee_id: int) -> str | None:
    with factory() as s:
        return s.execute(select(AttendanceRecord.status).where(
            AttendanceRecord.assembly_id == assembly_id,
            AttendanceRecord.employee_id == employee_id)).scalar_one_or_none()


def test_operator_answers_a_node_face_during_the_apel(pg_url: str, settings_factory, shared_data: Path) -> None:
    settings = settings_factory(pg_url, keep_evidence=True, vision_workers=1)
    world = make_world(settings, people=3)
    newcomer, suggested = world.people[0], world.people[1]
    lfw = shared_data / "faces" / "lfw10"
    crops = {CONFIRMED: _crop(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"),
             VISITOR: _crop(lfw / "George_W_Bush" / "George_W_Bush_0001.jpg"),
             NAMED_LATER: _crop(lfw / "Colin_Powell" / "Colin_Powell_0002.jpg")}
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    _operator(factory, world.office_id)
    _joined(factory, world.assembly_id, world.office_id)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runner = NodeRunner(settings, factory, make_source(f"file:{settings.data_dir}/{{office}}.mp4"), node_id="nodeA")
    with factory() as s:
        committed(register_node)(s, runner.id, hostname="test", pid=0, capacity=10)
        lease = committed(balance)(s, runner.id, capacity=10, lease_s=300).held[0]
    info = NodeStream(f"{world.assembly_id}/{world.office_code}", world.assembly_id, world.office_id, 0,
                      world.office_code, track_prefix=f"{runner.id}-{world.office_id}-{lease.epoch}", names={},
                      joined_at=time.monotonic(), backend="dlib-128", lease_epoch=lease.epoch)
    runner.running[(world.assembly_id, world.office_id)] = _Running(lease, info, failed_at=time.monotonic())
    faces_url = "/api/v1/live/faces"

    async def frames(n: int, named_later: bool = False) -> None:
        """`n` analysed frames on the node: two unknown faces and one it is unsure of (suggested:
        `suggested`, not yet present); `named_later` names that one confidently."""
        t0 = time.time() - n
        for i in range(n):
            result = FrameResult(t_s=t0 + i, faces=[
                _face(CONFIRMED, None, 0.2, crops[CONFIRMED] if i == 0 else None),
                _face(VISITOR, None, 0.2, crops[VISITOR] if i == 0 else None),
                _face(NAMED_LATER, suggested, 0.99 if named_later else 0.3, crops[NAMED_LATER] if i == 0 else None)])
            runner._on_result(info, result, (1280, 720))
        assert await runner.writer.drain(10)
        await runner.tick()   # a heartbeat: the node publishes its faces needing an answer (every PUBLISH_S) ...
        await runner.evidence.publish(world.assembly_id)   # ... as the heartbeat PUBLISH_S later does

    with TestClient(create_app(settings)) as web:
        op = _login(web, "operator", OP_PASSWORD)

        def listing() -> dict[str, Any]:
            r = web.get(faces_url, params={"office": world.office_code}, headers=op)
            assert r.status_code == 200, r.text
            return dict(r.json())

        async def scenario() -> None:
            runner.bridge.bind(asyncio.get_running_loop())
            runner.writer.start()
            runner.streams[info.stream_key] = info
            before = await asyncio.to_thread(listing)
            assert before["assembly_id"] == world.assembly_id and before["faces"] == []
            await frames(6)

            got = await asyncio.to_thread(listing)   # WHILE the apel runs, on the web node
            assert len(got["faces"]) == 3, got
            unsure = [f for f in got["faces"] if f["suggested_employee_id"] == suggested]
            assert {f["status"] for f in got["faces"]} == {"open"}
            assert {c["employee_id"] for c in got["candidates"][str(world.office_id)]} == set(world.people)
            assert len(unsure) == 1 and unsure[0]["suggested_name"] == "Pegawai 2"
            by_crop: dict[bytes, str] = {}
            for f in got["faces"]:
                r = await asyncio.to_thread(web.get, f["crop_url"], headers=op)
                assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
                by_crop[r.content] = f["face_id"]
            assert set(by_crop) == set(crops.values())   # each face with its own picture
            confirm_id, visitor_id = by_crop[crops[CONFIRMED]], by_crop[crops[VISITOR]]

            r = await asyncio.to_thread(web.post, f"{faces_url}/{confirm_id}/confirm",
                                        json={"employee_id": newcomer}, headers=op)
            assert r.status_code == 200, r.text
            assert r.json()["status"] in ("present", "late") and r.json()["employee_id"] == newcomer
            r = await asyncio.to_thread(web.post, f"{faces_url}/{visitor_id}/visitor", headers=op)
            assert r.status_code == 204, r.text

            await frames(4, named_later=True)   # the node keeps seeing all three; names the third itself
            got = await asyncio.to_thread(listing)
            shown = {f["face_id"]: f for f in got["faces"]}
            assert set(shown) == {confirm_id, visitor_id}, got   # the named one left
            assert (shown[confirm_id]["status"], shown[confirm_id]["employee_id"]) == ("confirmed", newcomer)
            assert shown[confirm_id]["by"] == "operator"
            assert shown[visitor_id]["status"] == "visitor"
            assert newcomer not in {c["employee_id"] for c in got["candidates"][str(world.office_id)]}
            r = await asyncio.to_thread(web.get, f"{faces_url}/{visitor_id}/crop", headers=op)
            assert r.status_code == 404   # a visitor's picture is dropped ...
            with factory() as s:
                items = {i.status: i for i in s.execute(select(ReviewItem)).scalars()}
                assert set(items) == {"assigned", "dismissed", "open"}
                assert items["dismissed"].evidence_jpeg is None   # ... and the node did not put it back
                assert items["open"].evidence_jpeg is None        # the named face's picture went too
                assert items["assigned"].resolved_employee_id == newcomer
                assert s.execute(select(FaceTemplate).where(FaceTemplate.employee_id == newcomer,
                                                            FaceTemplate.kind == "sighting")).scalar_one()
            assert _status(factory, world.assembly_id, newcomer) in ("present", "late")

            with factory() as s:
                leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
                committed(end_assembly)(s, world.assembly_id, actor=leader)
            await runner.tick()   # the node settles the ended apel
            assert runner.evidence.apels() == set()
            await runner.writer.stop()
            after = await asyncio.to_thread(web.get, faces_url, params={"assembly_id": world.assembly_id},
                                            headers=op)
            assert after.json()["faces"] == []   # after the apel: HR's queue, not the picker
            r = await asyncio.to_thread(web.post, f"{faces_url}/{confirm_id}/undo", headers=op)
            assert r.status_code == 404

        try:
            asyncio.run(scenario())
        finally:
            runner.db.close()
    assert _status(factory, world.assembly_id, newcomer) in ("present", "late")   # the answer stuck
    with factory() as s:
        items = {i.status: i for i in s.execute(select(ReviewItem)).scalars()}
        assert items["assigned"].resolved_employee_id == newcomer and items["assigned"].resolved_by == "operator"
        assert items["dismissed"].evidence_jpeg is None and items["dismissed"].embedding is None
    engine.dispose()


@pytest.mark.slow
def test_apel_node_process_face_confirmed_live(pg_url: str, settings_factory, shared_data: Path,
                                               tmp_path: Path) -> None:
    """A real `apel node` on a synthetic office of three real people, one of them on the roster but
    never enrolled: while the apel runs, that face reaches the operator's picker on the web node with
    a picture; the operator confirms it; the person is present and stays so after the apel."""
    clips = tmp_path / "clips"
    clips.mkdir()
    log = tmp_path / "node.log"
    settings = settings_factory(pg_url, keep_evidence=True)
    env = {**os.environ, "APEL_DATABASE_URL": pg_url, "APEL_DATA_DIR": str(tmp_path / "node-data"),
           "APEL_VISION_WORKERS": "1", "APEL_KEEP_EVIDENCE": "true", "APEL_LANGUAGE": "en", "PYTHONUNBUFFERED": "1"}
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    clip, photos = office_clip(shared_data, tmp_path, people=3)
    (clips / "OPD1.mp4").symlink_to(clip)
    recogniser = settings.recogniser_spec
    *enrolled, newcomer_name = sorted(photos)
    with factory() as s:
        office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Makassar", camera_hfov_deg=45.0)
        leader = User(username="leader", password_hash="-", role="leader")
        admin = User(username="admin", password_hash="-", role="admin")
        s.add_all([office, leader, admin])
        s.flush()
        for n, name in enumerate(enrolled):
            e = Employee(nip=f"19800101200501{n + 1:04d}", name=name, office_id=office.id)
            s.add(e)
            s.flush()
            for k, emb in enumerate(enrol_photo(photos[name], recogniser)):
                s.add(FaceTemplate(employee_id=e.id, backend=backend_name(recogniser),
                                   embedding=np.asarray(emb, "<f4").tobytes(),
                                   kind="photo" if k == 0 else "masked", source_sha256=f"{n:02d}{k:062d}"))
        newcomer = Employee(nip="198001012005019999", name=newcomer_name, office_id=office.id)
        s.add(newcomer)
        s.commit()
        newcomer_id, office_id = newcomer.id, office.id
        committed(create_ruleset_version)(s, actor=admin, name="default", reason="live test calibration",
                                          min_confidence=LIVE_MIN_CONFIDENCE)
        a = committed(create_assembly)(s, actor=leader, kind="pagi", title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[office.id], ruleset_name="default")
        committed(start_assembly)(s, a.id, actor=leader)
        apel = a.id
    _operator(factory, office_id)
    _joined(factory, apel, office_id)
    with log.open("w") as out:
        node = subprocess.Popen([sys.executable, "-m", "app.cli", "node", "--source", f"file:{clips}/{{office}}.mp4",
                                 "--sample-fps", "3"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        with TestClient(create_app(settings)) as web:
            op = _login(web, "operator", OP_PASSWORD)
            deadline = time.monotonic() + 240
            face = None
            while face is None:
                assert node.poll() is None, f"the node ended:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"no node face in the picker:\n{log.read_text()[-3000:]}"
                r = web.get("/api/v1/live/faces", params={"office": "OPD1"}, headers=op)
                assert r.status_code == 200, r.text
                listing = r.json()
                face = next((f for f in listing["faces"] if f["status"] == "open"
                             and f["suggested_employee_id"] is None), None)
                if face is None:
                    time.sleep(0.5)
            assert listing["assembly_id"] == apel
            assert newcomer_id in {c["employee_id"] for c in listing["candidates"][str(office_id)]}
            picture = web.get(face["crop_url"], headers=op)
            assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None and max(image.shape[:2]) <= 160
            r = web.post(f"/api/v1/live/faces/{face['face_id']}/confirm", json={"employee_id": newcomer_id},
                         headers=op)
            assert r.status_code == 200, r.text
            assert r.json()["status"] in ("present", "late")
            time.sleep(3)   # the node keeps analysing and writing
            assert _status(factory, apel, newcomer_id) in ("present", "late")
            shown = {f["face_id"]: f for f in web.get("/api/v1/live/faces", params={"office": "OPD1"},
                                                      headers=op).json()["faces"]}
            assert shown[face["face_id"]]["status"] == "confirmed"
            with factory() as s:
                leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
                committed(end_assembly)(s, apel, actor=leader)
        assert _status(factory, apel, newcomer_id) in ("present", "late")   # the answer stuck
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(10)
        engine.dispose()
