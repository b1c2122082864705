"""Faces a vision node analysed are answered live (issue 18 §2 with issue 20's nodes): while the apel
runs, the node publishes the crops of its faces needing an answer through the shared PostgreSQL
database, the web node's operator sees them with a picture, confirms one (present, the answer sticks
while the node keeps seeing the face and after the apel), says "visitor" of another (its picture is
dropped and does not come back), and a face vision later names by itself leaves with its picture.
With APEL_KEEP_EVIDENCE=false the same, the pictures held for the running apel only (none left after
its end, even when the node died); and a node's unsure faces follow the web node's rule for its own
("in view at the same time as the person suggested": somebody else).

Real parts: PostgreSQL, the web app over HTTP, the node's own result path (NodeRunner._on_result ->
its fenced writer; its heartbeat `tick` publishes), crops cut from real photos. The slow tests run a
real `apel node` process on a synthetic office of real photos instead of given results."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.live.node import NodeRunner, NodeStream
from app.web.app import create_app
from attendance.assemblies.lifecycle import end_assembly, mark_office_joined
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import (
    AssemblyOffice,
    AttendanceRecord,
    FaceTemplate,
    ReviewItem,
    User,
)
from attendance.roster.passwords import hash_password
from attendance.vision.crops import cut
from attendance.vision.types import FaceResult, FrameResult

from .conftest import office_clip
from .node_rollcall import LEADER_PASSWORD, make_world
from .vision_nodes import node_world, running_node, start_node, until

pytestmark = [pytest.mark.postgres, pytest.mark.shared_data]

OP_PASSWORD = "op-pass-12345"
CONFIRMED, VISITOR, NAMED_LATER = 7, 8, 9


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


async def _analysed(runner: NodeRunner, info: NodeStream, frames: list[list[FaceResult]], t0: float) -> None:
    """The node's result path for these frames (one a second from `t0`), written, then a publish round."""
    for i, faces in enumerate(frames):
        runner._on_result(info, FrameResult(t_s=t0 + i, faces=faces), (1280, 720))
    assert await runner.writer.drain(10)
    await runner.evidence.publish(info.assembly_id)


def _start(runner: NodeRunner, info: NodeStream) -> None:
    """The node's loop side, on the running loop (as NodeRunner.run does)."""
    runner.bridge.bind(asyncio.get_running_loop())
    runner.writer.start()
    runner.streams[info.stream_key] = info


def _pictures(factory: Callable[[], Any], assembly_id: int) -> list[tuple[int, str, bool]]:
    """The apel's review items holding a picture in the database: (id, status, transient)."""
    with factory() as s:
        return [(i, st, t) for i, st, t in s.execute(
            select(ReviewItem.id, ReviewItem.status, ReviewItem.evidence_transient).where(
                ReviewItem.assembly_id == assembly_id, ReviewItem.evidence_jpeg.is_not(None)).order_by(ReviewItem.id))]


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
    runner, info = running_node(settings, factory, world)
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
@pytest.mark.parametrize("keep", [True, False], ids=["keep_evidence", "no_evidence"])
def test_apel_node_process_face_confirmed_live(keep: bool, pg_url: str, settings_factory, shared_data: Path,
                                               tmp_path: Path) -> None:
    """A real `apel node` on a synthetic office of three real people, two of them on the roster but
    never enrolled: while the apel runs, their faces reach the operator's picker on the web node with
    a picture; the operator confirms one; the person is present and stays so after the apel. With
    APEL_KEEP_EVIDENCE=false (node and web node) the same, and then the node dies (SIGKILL) with a
    face still unanswered: the apel's end leaves no picture in the database and none on a disk."""
    clips = tmp_path / "clips"
    clips.mkdir()
    log = tmp_path / "node.log"
    settings = settings_factory(pg_url, keep_evidence=keep)
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    clip, photos = office_clip(shared_data, tmp_path, people=3)
    (clips / "OPD1.mp4").symlink_to(clip)
    newcomers = sorted(photos)[1:]
    apel, staff, _ = node_world(pg_url, settings.recogniser_spec, photos, 1, unenrolled=newcomers)
    [(office_id, people)] = staff.items()
    newcomer_id = people[list(photos).index(newcomers[0])]
    _operator(factory, office_id)
    _joined(factory, apel, office_id)
    node = start_node(pg_url, tmp_path / "node-data", f"file:{clips}/{{office}}.mp4", log, 3,
                      env={"APEL_KEEP_EVIDENCE": str(keep).lower()})
    try:
        with TestClient(create_app(settings)) as web:
            op = _login(web, "operator", OP_PASSWORD)

            def open_faces() -> dict[str, Any] | None:
                r = web.get("/api/v1/live/faces", params={"office": "OPD1"}, headers=op)
                assert r.status_code == 200, r.text
                got = dict(r.json())
                unknown = [f for f in got["faces"] if f["status"] == "open" and f["suggested_employee_id"] is None]
                return got if len(unknown) >= (1 if keep else 2) else None

            listing = cast(dict[str, Any], until("the node's unknown faces in the picker", open_faces, 240, [node],
                                                 [log]))
            assert listing["assembly_id"] == apel
            assert newcomer_id in {c["employee_id"] for c in listing["candidates"][str(office_id)]}
            face = next(f for f in listing["faces"] if f["status"] == "open" and f["suggested_employee_id"] is None)
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
            if not keep:
                held = _pictures(factory, apel)
                assert held and {(st, t) for _, st, t in held} == {("open", True)}, held   # the picker's only
                os.killpg(node.pid, signal.SIGKILL)   # the node dies: nothing of it settles the apel
                node.wait(10)
            with factory() as s:
                leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
                committed(end_assembly)(s, apel, actor=leader)
        assert _status(factory, apel, newcomer_id) in ("present", "late")   # the answer stuck
        if not keep:
            assert _pictures(factory, apel) == []
            assert not (tmp_path / "node-data" / "evidence").exists() and not (settings.data_dir / "evidence").exists()
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
            try:
                node.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(10)
        engine.dispose()


def test_node_faces_answered_live_without_evidence_keeping(pg_url: str, settings_factory, shared_data: Path) -> None:
    """APEL_KEEP_EVIDENCE=false on the node and the web node: the node's unknown faces are answered live
    all the same, as the web node's own are (their crops, held for the running apel, reach the picker
    through the database, marked transient and not in HR's queue); when the apel ends, with the node
    gone without a word (no settle), no review item holds a picture and none was written to a disk."""
    settings = settings_factory(pg_url, keep_evidence=False, vision_workers=1)
    world = make_world(settings, people=2)
    lfw = shared_data / "faces" / "lfw10"
    crops = {CONFIRMED: _crop(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"),
             VISITOR: _crop(lfw / "George_W_Bush" / "George_W_Bush_0001.jpg")}
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    _operator(factory, world.office_id)
    _joined(factory, world.assembly_id, world.office_id)
    with factory() as s:
        s.add(User(username="hr", password_hash=hash_password(OP_PASSWORD), role="hr"))
        s.commit()
    runner, info = running_node(settings, factory, world)
    newcomer = world.people[0]
    url = "/api/v1/live/faces"

    with TestClient(create_app(settings)) as web:
        op, hr = _login(web, "operator", OP_PASSWORD), _login(web, "hr", OP_PASSWORD)

        async def scenario() -> None:
            _start(runner, info)
            await _analysed(runner, info, [[_face(t, None, 0.2, crops[t] if i == 0 else None) for t in crops]
                                           for i in range(6)], time.time() - 6)
            got = (await asyncio.to_thread(web.get, url, params={"office": world.office_code}, headers=op)).json()
            assert len(got["faces"]) == 2, got   # answerable while the apel runs
            by_crop = {}
            for f in got["faces"]:
                r = await asyncio.to_thread(web.get, f["crop_url"], headers=op)
                assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
                by_crop[r.content] = f["face_id"]
            assert set(by_crop) == set(crops.values())
            held = _pictures(factory, world.assembly_id)
            assert [(st, t) for _, st, t in held] == [("open", True), ("open", True)]
            queue = (await asyncio.to_thread(web.get, "/api/v1/review", params={"assembly_id": world.assembly_id},
                                             headers=hr)).json()
            assert {q["has_evidence"] for q in queue} == {False}   # not HR's evidence: the picker's only
            r = await asyncio.to_thread(web.get, f"/api/v1/review/{held[0][0]}/evidence", headers=hr)
            assert r.status_code == 404

            r = await asyncio.to_thread(web.post, f"{url}/{by_crop[crops[CONFIRMED]]}/confirm",
                                        json={"employee_id": newcomer}, headers=op)
            assert r.status_code == 200, r.text
            await _analysed(runner, info, [[_face(t, None, 0.2, None) for t in crops]], time.time())
            assert [st for _, st, _ in _pictures(factory, world.assembly_id)] == ["open"]   # the answered one's went
            await runner.writer.stop()

        try:
            asyncio.run(scenario())   # the node is gone from here on: nothing settles its apel
        finally:
            runner.db.close()
        assert _pictures(factory, world.assembly_id), "the unanswered face's picture is there until the end"
        with factory() as s:
            leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
            committed(end_assembly)(s, world.assembly_id, actor=leader)
        assert _pictures(factory, world.assembly_id) == []   # the end took it, the node being gone
        queue = web.get("/api/v1/review", params={"assembly_id": world.assembly_id}, headers=hr).json()
        assert [(q["status"], q["has_evidence"]) for q in queue] == [("open", False)]   # HR answers it blind
    assert _status(factory, world.assembly_id, newcomer) in ("present", "late")
    assert not (settings.data_dir / "evidence").exists()
    engine.dispose()


def test_node_faces_follow_the_seen_together_rule(pg_url: str, settings_factory, shared_data: Path) -> None:
    """The web node's rule for its own faces (CropStore.needing_answer), for a node's: a face vision was
    unsure of, suggested as someone already present, is shown when that person was in view beside it
    (a person is not in two places: it is somebody else), and not when seen at another time (a broken
    track of theirs); one suggested as someone not yet present is shown, on the office's page and on
    the leader's console (which asks by apel, for every office)."""
    settings = settings_factory(pg_url, keep_evidence=False, vision_workers=1)
    world = make_world(settings, people=3)
    present, absent = world.people[0], world.people[1]
    lfw = shared_data / "faces" / "lfw10"
    crop = {t: _crop(lfw / "Colin_Powell" / f"Colin_Powell_000{n}.jpg") for n, t in enumerate((21, 22, 23), 1)}
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    _operator(factory, world.office_id)
    _joined(factory, world.assembly_id, world.office_id)
    runner, info = running_node(settings, factory, world)
    t0 = time.time() - 30
    beside, later, other = 21, 22, 23

    with TestClient(create_app(settings)) as web:
        op = _login(web, "operator", OP_PASSWORD)
        leader = _login(web, "leader", LEADER_PASSWORD)

        async def scenario() -> None:
            _start(runner, info)
            # `present` named with confidence for 6 s, an unsure face suggested as them in view beside them
            await _analysed(runner, info, [[_face(20, present, 0.99, None),
                                            _face(beside, present, 0.3, crop[beside] if i == 0 else None)]
                                           for i in range(6)], t0)
            # later, alone: another unsure face suggested as them, and one suggested as someone absent
            await _analysed(runner, info, [[_face(later, present, 0.3, crop[later] if i == 0 else None),
                                            _face(other, absent, 0.3, crop[other] if i == 0 else None)]
                                           for i in range(6)], t0 + 10)
            await runner.writer.stop()

        try:
            asyncio.run(scenario())
        finally:
            runner.db.close()
        assert _status(factory, world.assembly_id, present) in ("present", "late")
        assert len(_pictures(factory, world.assembly_id)) == 3   # all three published
        for params, who in (({"office": world.office_code}, op), ({"assembly_id": world.assembly_id}, leader)):
            got = web.get("/api/v1/live/faces", params=params, headers=who).json()
            shown = {}
            for f in got["faces"]:
                picture = web.get(f["crop_url"], headers=who).content
                shown[next(t for t, c in crop.items() if c == picture)] = f["suggested_employee_id"]
            assert shown == {beside: present, other: absent}, (params, got)
    engine.dispose()
