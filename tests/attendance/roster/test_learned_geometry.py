"""What the cameras learn of each person's face (attendance.roster.learned_geometry) on each real
database: one lesson per person per apel, none for a person without face data, read back for the
live pipeline, exported with the person's data and erased with their face templates."""
from __future__ import annotations

import json
import math

import numpy as np
from sqlalchemy import select

from attendance.audit import verify_chain
from attendance.models import AuditEntry, FaceTemplate, LearnedFaceGeometry
from attendance.roster.learned_geometry import learn_from_apel, load_geometry
from attendance.vision.geometry.face_geometry import POPULATION_IPD_M

from .conftest import NIPS


def _template(employee_id: int) -> FaceTemplate:
    emb = np.random.default_rng(employee_id).normal(size=128).astype("<f4").tobytes()
    return FaceTemplate(employee_id=employee_id, backend="dlib-128", embedding=emb, kind="photo",
                        source_sha256=f"{employee_id:064d}", quality=1.0)


def test_learned_once_per_apel_read_back_exported_and_erased(env, hr) -> None:
    c = env.client
    ids = [c.post("/api/v1/employees", json={"nip": nip, "name": f"P{k}", "office_code": "DISKOMINFOS"},
                  headers=hr).json()["id"] for k, nip in enumerate(NIPS[:3])]
    a, b, never_enrolled = ids
    with env.app.state.session_factory() as s:
        s.add_all([_template(a), _template(b)])
        s.commit()
        frames = {a: [(0.066, 0.03), (0.067, 0.05), (0.068, 0.04)], b: [(None, -0.02)],
                  never_enrolled: [(0.060, 0.0)]}
        assert learn_from_apel(s, 7, frames) == 2
        s.commit()
        # The same apel again (a restart, a rejoin): nothing counted twice.
        assert learn_from_apel(s, 7, frames) == 0
        assert learn_from_apel(s, 8, {a: [(0.067, 0.04)], b: [(0.2, 9.0)]}) == 1   # b's samples are implausible
        s.commit()
        rows = {r.employee_id: r for r in s.execute(select(LearnedFaceGeometry)).scalars()}
        assert set(rows) == {a, b}
        assert (rows[a].ipd_sessions, rows[a].eye_sessions, rows[b].ipd_sessions, rows[b].eye_sessions) == (2, 2, 0, 1)
        geo = load_geometry(s, ids)
        assert set(geo) == {str(a), str(b)}
        assert POPULATION_IPD_M < geo[str(a)].ipd_m < 0.067 and geo[str(a)].eye_offset_m > 0
        assert math.isnan(geo[str(b)].ipd_m) and geo[str(b)].eye_offset_m < 0   # b's IPD never measured
        assert load_geometry(s, []) == {}
        lessons = s.execute(select(AuditEntry).where(AuditEntry.action == "face_geometry.learn")
                            .order_by(AuditEntry.id)).scalars().all()
        assert [(e.actor, e.entity_id, sorted(e.after["employees"])) for e in lessons] == [
            ("system:vision", "7", sorted([a, b])), ("system:vision", "8", [a])]

    # The person's export holds it (it is data about them) ...
    data = json.loads(c.get(f"/api/v1/employees/{a}/export", headers=hr).content)
    assert json.dumps(data).count("learned_face_geometry") >= 1

    # ... and erasing their face data erases it, audited with the templates.
    r = c.delete(f"/api/v1/employees/{a}/templates", headers=hr)
    assert r.status_code == 200, r.text
    with env.app.state.session_factory() as s:
        assert s.get(LearnedFaceGeometry, a) is None and s.get(LearnedFaceGeometry, b) is not None
        erase = s.execute(select(AuditEntry).where(AuditEntry.action == "employee.erase_templates")).scalar_one()
        assert erase.before["learned_geometry_roll_calls"] == 2
        # Frames of the erased person still in memory when the apel closes teach nothing.
        assert learn_from_apel(s, 9, {a: [(0.066, 0.03)]}) == 0
        s.commit()
        assert s.get(LearnedFaceGeometry, a) is None
        assert verify_chain(s).ok
    # Deleting the person deletes the rest.
    assert c.delete(f"/api/v1/employees/{b}?reason=resigned", headers=hr).status_code == 204
    with env.app.state.session_factory() as s:
        assert s.get(LearnedFaceGeometry, b) is None


def test_hr_forgets_a_persons_learned_geometry_and_keeps_their_face(env, hr) -> None:
    """A face the camera misnamed taught the wrong person; HR starts that person afresh (API or the
    employee page) without erasing their templates. Other roles are refused; a wrong id changes
    nothing."""
    from fastapi.testclient import TestClient

    c = env.client
    a, b = [c.post("/api/v1/employees", json={"nip": nip, "name": f"Q{k}", "office_code": "DISKOMINFOS"},
                   headers=hr).json()["id"] for k, nip in enumerate(NIPS[3:5])]
    with env.app.state.session_factory() as s:
        s.add_all([_template(a), _template(b)])
        s.commit()
        assert learn_from_apel(s, 11, {a: [(0.066, 0.03)], b: [(0.062, -0.01)]}) == 2
        assert learn_from_apel(s, 12, {a: [(0.067, 0.02)]}) == 1
        s.commit()

    # The page says what was learned and offers to forget it.
    page = c.get(f"/employees/{a}")
    assert page.status_code == 200 and 'id="learned-geometry"' in page.text and "2 apel" in page.text
    assert 'value="forget_geometry"' in page.text

    before = env.counts()
    lead = env.token("leader")
    assert c.delete(f"/api/v1/employees/{a}/learned-geometry", headers=lead).status_code == 403
    r = c.delete("/api/v1/employees/999999/learned-geometry", headers=hr)
    assert r.status_code == 404 and r.json()["detail"]["code"] == "employee_not_found"
    assert env.counts() == before

    r = c.delete(f"/api/v1/employees/{a}/learned-geometry?reason=misnamed in review", headers=hr)
    assert r.status_code == 200 and r.json() == {"ok": True, "roll_calls_forgotten": 2}
    # Nothing left to forget: idempotent, no audit entry for nothing.
    assert c.delete(f"/api/v1/employees/{a}/learned-geometry", headers=hr).json()["roll_calls_forgotten"] == 0
    with env.app.state.session_factory() as s:
        assert s.get(LearnedFaceGeometry, a) is None and s.get(LearnedFaceGeometry, b) is not None
        assert s.execute(select(FaceTemplate).where(FaceTemplate.employee_id == a)).scalars().all()
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "face_geometry.forget")).scalar_one()
        assert (entry.actor, entry.entity_id, entry.before["learned_geometry_roll_calls"], entry.reason) == (
            "hr", str(a), 2, "misnamed in review")
        # The next apel teaches them afresh.
        assert learn_from_apel(s, 13, {a: [(0.064, 0.0)]}) == 1
        s.commit()
        assert s.get(LearnedFaceGeometry, a).ipd_sessions == 1
        assert verify_chain(s).ok

    # The page's button does the same for b (cookie session with the page's CSRF token).
    with TestClient(env.app) as page_client:
        token = env.login("hr", page_client)
        r = page_client.post(f"/employees/{b}", data={"action": "forget_geometry", "csrf_token": token},
                             follow_redirects=False)
        assert r.status_code == 303
        assert 'id="learned-geometry"' not in page_client.get(f"/employees/{b}").text
    with env.app.state.session_factory() as s:
        assert s.get(LearnedFaceGeometry, b) is None
