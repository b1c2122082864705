"""HR takes back an operator's confirmation in the review queue while the apel still runs, over HTTP on
a running server with a real aiortc office streaming a synthetic office of real photos (one person of
the roster never enrolled):

- the operator's confirmation keeps the crop the operator saw as the review item's evidence, so HR
  sees the face (HR only, each view audited, file 0600, at most the retention period);
- HR's undo reaches the running apel: the faces list (what the office page and the console poll)
  shows the face open again, its person back in the picker, and the operator can answer it anew;
  without this the server's memory kept "confirmed" and the operator's own undo was refused
  (409 not_answered);
- the crop stays with the reopened item (HR still has to answer it) and goes when it is answered
  as "not on the roster"."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select

from attendance.models import AttendanceRecord, AuditEntry, ReviewItem, utcnow
from attendance.vision.enrol import enrol_face
from attendance.vision.roster_dir import read_image_rgb

from .conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip
from .test_live_confirmations import _newcomer_face, add_newcomer
from .test_live_presence import join

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]

def _status(world, employee_id: int) -> str | None:
    with world.server.app.state.session_factory() as db:
        return db.execute(select(AttendanceRecord.status).where(
            AttendanceRecord.assembly_id == world.assembly_id,
            AttendanceRecord.employee_id == employee_id)).scalar_one_or_none()


def _item(world, item_id: int) -> tuple[str, str | None, datetime | None]:
    with world.server.app.state.session_factory() as db:
        item = db.get(ReviewItem, item_id)
        assert item is not None
        return item.status, item.evidence_path, item.expires_at


def _audit(world, action: str) -> list[tuple[str, str | None]]:
    with world.server.app.state.session_factory() as db:
        return [(e.actor, e.entity_id) for e in db.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars()]


async def test_hr_undoes_a_confirmation_while_the_apel_runs(db_url, settings_factory, shared_data,
                                                            tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    newcomer, *enrolled = sorted(photos)
    gen = build_live_world(db_url, settings_factory, {n: photos[n] for n in enrolled},
                           min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    pc = None
    try:
        new_id = await asyncio.to_thread(add_newcomer, world, newcomer)
        op, hr = [await asyncio.to_thread(world.login, u) for u in ("operator", "hr")]
        faces_url = f"{world.url}/api/v1/live/faces"
        pc, _, _ = await join(world, clip)
        truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
        face_id = await _newcomer_face(world, op, truth)

        async def mine() -> tuple[dict, list[int]]:
            listing = (await http.get(faces_url, params={"office": "OPD1"}, headers=op)).json()
            face = next(f for f in listing["faces"] if f["face_id"] == face_id)
            return face, [c["employee_id"] for c in listing["candidates"][str(world.office_id)]]

        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{faces_url}/{face_id}/confirm", json={"employee_id": new_id}, headers=op)
            assert r.status_code == 200 and r.json()["status"] in ("present", "late"), r.text
            face, picker = await mine()
            assert (face["status"], face["employee_id"]) == ("confirmed", new_id) and new_id not in picker

            # HR sees the face the operator confirmed, in the queue, while the apel runs
            items = (await http.get(f"{world.url}/api/v1/review", headers=hr,
                                    params={"assembly_id": world.assembly_id, "status": "assigned"})).json()
            item = next(i for i in items if i["resolved_employee_id"] == new_id)
            assert item["has_evidence"] and item["resolved_by"] == "operator", item
            assert (await http.get(f"{world.url}/api/v1/review/{item['id']}/evidence",
                                   headers=op)).status_code == 403
            r = await http.get(f"{world.url}/api/v1/review/{item['id']}/evidence", headers=hr)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            kept = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            assert kept is not None and max(kept.shape[:2]) <= 160      # the small crop, nothing more
            status, path, expires = await asyncio.to_thread(_item, world, item["id"])
            assert status == "assigned" and path and oct(Path(path).stat().st_mode & 0o777) == "0o600"
            assert expires is not None and (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) <= \
                utcnow() + timedelta(days=14, minutes=1)
            assert await asyncio.to_thread(_audit, world, "review.evidence_view") == [("hr", str(item["id"]))]

            # HR takes the confirmation back in the review queue while the apel still runs
            r = await http.post(f"{world.url}/api/v1/review/{item['id']}/undo", headers=hr,
                                json={"reason": "bukan orang ini, dicek kepala bidang"})
            assert r.status_code == 200 and r.json()["status"] == "open", r.text
            assert await asyncio.to_thread(_status, world, new_id) is None
            # the running apel follows: the face asks again and its person is back in the picker
            face, picker = await mine()
            assert (face["status"], face["employee_id"], face["by"]) == ("open", None, None), face
            assert new_id in picker
            held = world.server.app.state.live.crops.get(face_id)
            assert held is not None and held.status == "open"
            # the reopened item keeps the crop: HR (or the operator) still has to answer it
            assert (await asyncio.to_thread(_item, world, item["id"]))[1] == path and Path(path).is_file()

            # the operator answers it anew, then takes that back too (refused before: 409 not_answered)
            r = await http.post(f"{faces_url}/{face_id}/confirm", json={"employee_id": new_id}, headers=op)
            assert r.status_code == 200, r.text
            assert (await mine())[0]["status"] == "confirmed"
            assert (await http.post(f"{faces_url}/{face_id}/undo", headers=op)).status_code == 204
            assert (await mine())[0]["status"] == "open"
            assert await asyncio.to_thread(_status, world, new_id) is None
            # "not on the roster": the crop is deleted at once
            assert (await http.post(f"{faces_url}/{face_id}/visitor", headers=op)).status_code == 204
            status, path2, _ = await asyncio.to_thread(_item, world, item["id"])
            assert status == "dismissed" and path2 is None and not Path(path).exists()
            # HR reopens the dismissal: the face asks again on the operator's page
            r = await http.post(f"{world.url}/api/v1/review/{item['id']}/undo", headers=hr,
                                json={"reason": "dia pegawai, bukan tamu"})
            assert r.status_code == 200, r.text
            assert (await mine())[0]["status"] == "open"
    finally:
        if pc is not None:
            await pc.close()
        await asyncio.to_thread(gen.close)


async def test_a_confirmed_face_has_no_crop_on_disk_without_evidence_keeping(sqlite_url, settings_factory,
                                                                              shared_data, tmp_path) -> None:
    """APEL_KEEP_EVIDENCE=false: the operator's confirmation writes no picture anywhere."""
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    newcomer, *enrolled = sorted(photos)
    gen = build_live_world(sqlite_url, settings_factory, {n: photos[n] for n in enrolled},
                           min_confidence=LIVE_MIN_CONFIDENCE, keep_evidence=False)
    world = await asyncio.to_thread(next, gen)
    pc = None
    try:
        new_id = await asyncio.to_thread(add_newcomer, world, newcomer)
        op, hr = [await asyncio.to_thread(world.login, u) for u in ("operator", "hr")]
        pc, _, _ = await join(world, clip)
        truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
        face_id = await _newcomer_face(world, op, truth)
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/faces/{face_id}/confirm", json={"employee_id": new_id},
                                headers=op)
            assert r.status_code == 200, r.text
            items = (await http.get(f"{world.url}/api/v1/review", headers=hr,
                                    params={"assembly_id": world.assembly_id, "status": ""})).json()
        assert items and not any(i["has_evidence"] for i in items)
        evidence = world.server.app.state.settings.data_dir / "evidence"
        assert not evidence.exists() or not any(p.is_file() for p in evidence.rglob("*"))
    finally:
        if pc is not None:
            await pc.close()
        await asyncio.to_thread(gen.close)
