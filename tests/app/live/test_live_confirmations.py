"""Faces answered during the apel, over HTTP on a running server with real parts: an office (a real
aiortc peer) streams a synthetic office of real photos in which one person of the roster was never
enrolled. The vision workers cut the unknown face's crop; the operator sees it with the roster
people not yet seen, confirms it (the person is present, their face a template), undoes and
confirms again; refusals are clear and change nothing; two people answering at once make one
record; at the end the unanswered crop becomes the review queue's evidence, seen by HR only and
deleted once HR answers it."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from attendance.models import AttendanceRecord, AuditEntry, Employee, FaceTemplate, ReviewItem, User
from attendance.roster.passwords import hash_password
from attendance.vision.enrol import enrol_face
from attendance.vision.recognise.recognisers import MatchThresholds
from attendance.vision.roster_dir import read_image_rgb

from .conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip
from .test_live_presence import join

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
PASSWORDS = {"observer": "obs-pass-1234", "operator2": "op2-pass-1234"}


def _add_people(world, newcomer: str) -> tuple[int, int]:
    """The newcomer on OPD1's roster (no face template), a person of OPD2, an observer and OPD2's operator."""
    with world.server.app.state.session_factory() as db:
        from attendance.models import Office

        opd2 = db.execute(select(Office).where(Office.code == "OPD2")).scalar_one()
        new = Employee(nip="198001012005019999", name=newcomer, office_id=world.office_id)
        other = Employee(nip="198001012005018888", name="Pegawai Lain", office_id=opd2.id)
        db.add_all([new, other,
                    User(username="observer", password_hash=hash_password(PASSWORDS["observer"]), role="observer"),
                    User(username="operator2", password_hash=hash_password(PASSWORDS["operator2"]),
                         role="operator", office_id=opd2.id)])
        db.commit()
        world.users.update(PASSWORDS)
        return new.id, other.id


def _counts(world) -> tuple[int, int, int]:
    with world.server.app.state.session_factory() as db:
        return (db.execute(select(func.count()).select_from(AttendanceRecord)).scalar_one(),
                db.execute(select(func.count()).select_from(FaceTemplate)
                           .where(FaceTemplate.kind == "sighting")).scalar_one(),
                db.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def _status(world, employee_id: int) -> str | None:
    with world.server.app.state.session_factory() as db:
        return db.execute(select(AttendanceRecord.status).where(
            AttendanceRecord.assembly_id == world.assembly_id,
            AttendanceRecord.employee_id == employee_id)).scalar_one_or_none()


NEW_NIP = "198001012005019999"


def add_newcomer(world, name: str) -> int:
    """A person HR adds to the office while the apel runs: on the roster, not yet enrolled."""
    with world.server.app.state.session_factory() as db:
        e = Employee(nip=NEW_NIP, name=name, office_id=world.office_id)
        db.add(e)
        db.commit()
        return e.id


async def _newcomer_face(world, headers: dict, truth: np.ndarray) -> str:
    """The open unknown face whose embedding is the newcomer's (their photo stands in for the person
    in the room who recognises them)."""
    accept = MatchThresholds.load("dlib+faceres").accept
    store = world.server.app.state.live.crops

    async def find() -> str | None:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.get(f"{world.url}/api/v1/live/faces", params={"office": "OPD1"}, headers=headers)
        assert r.status_code == 200, r.text
        for f in r.json()["faces"]:
            held = store.get(f["face_id"])
            if f["status"] == "open" and held is not None and held.embedding is not None and \
                    float(np.linalg.norm(held.embedding - truth)) < accept:
                return str(f["face_id"])
        return None

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        face = await find()
        if face:
            return face
        await asyncio.sleep(0.5)
    raise AssertionError(f"no unknown face of the newcomer among {[f.view() for f in store.faces(world.assembly_id)]}")


async def test_operator_confirms_an_unknown_face_over_the_api(db_url, settings_factory, shared_data,
                                                              tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    newcomer, *enrolled = sorted(photos)
    gen = build_live_world(db_url, settings_factory, {n: photos[n] for n in enrolled}, extra_offices=1,
                           min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    pc = None
    try:
        new_id, other_id = await asyncio.to_thread(_add_people, world, newcomer)
        op, leader, hr, observer, op2 = [await asyncio.to_thread(world.login, u)
                                         for u in ("operator", "leader", "hr", "observer", "operator2")]
        url = f"{world.url}/api/v1/live/faces"
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.get(url, params={"office": "OPD1"}, headers=op)
            assert r.json() == {"assembly_id": None, "faces": [], "candidates": {}}   # not joined yet
        pc, _, _ = await join(world, clip)
        truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
        face_id = await _newcomer_face(world, op, truth)

        async with httpx.AsyncClient(timeout=60) as http:
            listing = (await http.get(url, params={"office": "OPD1"}, headers=op)).json()
            assert listing["assembly_id"] == world.assembly_id
            picker = listing["candidates"][str(world.office_id)]
            assert {"employee_id": new_id, "name": newcomer, "nip": "198001012005019999"} in picker
            crop = await http.get(f"{url}/{face_id}/crop", headers=op)
            assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
            assert crop.content[:2] == b"\xff\xd8" and len(crop.content) < 40_000
            # refusals: clear, and nothing changes
            before = await asyncio.to_thread(_counts, world)
            for headers, body, status, code in [
                (op, {"employee_id": other_id}, 422, "other_office"),
                (op2, {"employee_id": new_id}, 403, "not_allowed_to_confirm"),
                (observer, {"employee_id": new_id}, 403, "not_allowed_to_confirm"),
                ({}, {"employee_id": new_id}, 401, None),
                (op, {"employee_id": 0}, 422, None),
            ]:
                r = await http.post(f"{url}/{face_id}/confirm", json=body, headers=headers)
                assert r.status_code == status, (body, r.text)
                if code:
                    assert r.json()["detail"]["code"] == code and r.json()["detail"]["message"]
            assert (await http.get(f"{url}/{face_id}/crop", headers=op2)).status_code == 403
            assert (await http.get(url, params={"office": "OPD1"}, headers=op2)).status_code == 403
            assert (await http.post(f"{url}/nope/confirm", json={"employee_id": new_id}, headers=op)).json()[
                "detail"]["code"] == "no_such_face"
            assert await asyncio.to_thread(_counts, world) == before
            assert await asyncio.to_thread(_status, world, new_id) is None

            # the operator and the leader confirm the same face at once: one record, one template
            r1, r2 = await asyncio.gather(
                http.post(f"{url}/{face_id}/confirm", json={"employee_id": new_id}, headers=op),
                http.post(f"{url}/{face_id}/confirm", json={"employee_id": new_id}, headers=leader))
            assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
            assert r1.json()["id"] == r2.json()["id"] and r1.json()["status"] in ("present", "late")
            records, templates, _ = await asyncio.to_thread(_counts, world)
            assert templates == 1 and records == before[0] + 1
            listing = (await http.get(url, params={"office": "OPD1"}, headers=op)).json()
            mine = next(f for f in listing["faces"] if f["face_id"] == face_id)
            assert (mine["status"], mine["employee_id"], mine["employee_name"], mine["by"]) in [
                ("confirmed", new_id, newcomer, "operator"), ("confirmed", new_id, newcomer, "leader")]
            assert new_id not in {c["employee_id"] for c in listing["candidates"][str(world.office_id)]}
            # the leader's console shows them present
            r = await http.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall", headers=leader)
            people = {p["employee_id"]: p["status"] for o in r.json()["offices"] for p in o["people"]}
            assert people[new_id] in ("present", "late")

            # undo: the record goes back, the template goes
            assert (await http.post(f"{url}/{face_id}/undo", headers=op)).status_code == 204
            assert await asyncio.to_thread(_status, world, new_id) is None
            assert (await asyncio.to_thread(_counts, world))[1] == 0

            # the apel ends with the face unanswered: it leaves memory, its crop becomes HR's evidence
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
            assert r.status_code == 200, r.text
            r = await http.post(f"{url}/{face_id}/confirm", json={"employee_id": new_id}, headers=op)
            assert r.status_code == 404 and r.json()["detail"]["code"] == "no_such_face"
            items = (await http.get(f"{world.url}/api/v1/review", params={"assembly_id": world.assembly_id},
                                    headers=hr)).json()
            item = next(i for i in items if i["has_evidence"])
            assert (await http.get(f"{world.url}/api/v1/review/{item['id']}/evidence", headers=op)).status_code == 403
            r = await http.get(f"{world.url}/api/v1/review/{item['id']}/evidence", headers=hr)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            kept = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            assert kept is not None and max(kept.shape[:2]) <= 160      # the small crop, nothing more
            with world.server.app.state.session_factory() as db:
                views = db.execute(select(AuditEntry).where(AuditEntry.action == "review.evidence_view")).scalars()
                assert [(v.actor, v.entity_id) for v in views] == [("hr", str(item["id"]))]
                path = Path(db.get(ReviewItem, item["id"]).evidence_path)
                assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
            # HR answers it in the queue: the crop is deleted at once, the face learned
            r = await http.post(f"{world.url}/api/v1/review/{item['id']}/assign", headers=hr,
                                json={"employee_id": new_id, "reason": "pegawai baru, dikenali kepala bidang"})
            assert r.status_code == 200, r.text
            assert not path.exists() and (await asyncio.to_thread(_counts, world))[1] == 1
    finally:
        if pc is not None:
            await pc.close()
        await asyncio.to_thread(gen.close)
