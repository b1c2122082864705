"""UU PDP: one person's stored data can be exported; deleting them deletes their templates (and
kept photo files); face data can be erased while the employee record stays. All audited."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from attendance.audit import verify_chain
from attendance.models import AuditEntry, FaceTemplate

from .conftest import NIPS, make_env

pytestmark = pytest.mark.shared_data


def test_export_erase_delete_with_kept_photos(db_url: str, settings_factory, workers, faces: Path) -> None:
    for env in make_env(db_url, settings_factory, workers, keep_enrolment_photos=True):
        hr = {"X-CSRF-Token": env.login("hr")}
        c = env.client
        a = c.post("/api/v1/employees", json={"nip": NIPS[0], "name": "Made", "office_code": "DISKOMINFOS"},
                   headers=hr).json()["id"]
        b = c.post("/api/v1/employees", json={"nip": NIPS[1], "name": "Ayu", "office_code": "BKPSDM"},
                   headers=hr).json()["id"]
        for emp, rel in ((a, "lfw10/Ariel_Sharon/Ariel_Sharon_0001.jpg"),
                         (a, "lfw10/Ariel_Sharon/Ariel_Sharon_0003.jpg"),
                         (b, "lfw10/Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg")):
            r = c.post(f"/api/v1/employees/{emp}/photos", files={"photo": ("p.jpg", (faces / rel).read_bytes())},
                       headers=hr)
            assert r.status_code == 201, r.text
        with env.app.state.session_factory() as s:
            kept = [Path(p) for p in s.execute(select(FaceTemplate.photo_path).where(
                FaceTemplate.employee_id == a, FaceTemplate.photo_path.is_not(None))).scalars()]
        assert len(kept) == 2 and all(p.is_file() for p in kept)

        r = c.get(f"/api/v1/employees/{a}/export", headers=hr)
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
        data = json.loads(r.content)
        assert data["employee"]["nip"] == NIPS[0] and data["employee"]["office_code"] == "DISKOMINFOS"
        photo_rows = [t for t in data["face_templates"] if t["kind"] == "photo"]
        assert len(photo_rows) == 2 and len(photo_rows[0]["embedding"]) == 128 + 1024   # dlib+faceres, the default
        assert len(data["photos"]) == 2
        assert {"employee.create", "employee.enrol_photo"} <= {e["action"] for e in data["audit"]}
        assert NIPS[1] not in r.text  # nobody else's data

        # Erase face data only: the employee stays, the templates and files go.
        r = c.delete(f"/api/v1/employees/{a}/templates", headers=hr)
        assert r.status_code == 200 and r.json()["photos_removed"] == 2
        assert not any(p.exists() for p in kept)
        assert c.get(f"/api/v1/employees/{a}", headers=hr).json()["photos_enrolled"] == 0

        # Delete B: templates and kept files go with them.
        with env.app.state.session_factory() as s:
            b_files = [Path(p) for p in s.execute(select(FaceTemplate.photo_path).where(
                FaceTemplate.employee_id == b, FaceTemplate.photo_path.is_not(None))).scalars()]
        assert b_files and all(p.is_file() for p in b_files)
        assert c.delete(f"/api/v1/employees/{b}?reason=resigned", headers=hr).status_code == 204
        assert not any(p.exists() for p in b_files)
        assert c.get(f"/api/v1/employees/{b}", headers=hr).status_code == 404
        with env.app.state.session_factory() as s:
            assert s.execute(select(FaceTemplate).where(FaceTemplate.employee_id == b)).first() is None
            entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
            actions = [(e.actor, e.action, e.reason) for e in entries]
            assert ("hr", "employee.export", None) in actions
            assert ("hr", "employee.erase_templates", None) in actions
            assert ("hr", "employee.delete", "resigned") in actions
            assert verify_chain(s).ok
        # Only HR/admin may export or erase.
        lead = env.token("leader")
        assert c.get(f"/api/v1/employees/{a}/export", headers=lead).status_code == 403
        assert c.delete(f"/api/v1/employees/{a}/templates", headers=lead).status_code == 403
        assert c.delete(f"/api/v1/employees/{a}", headers=lead).status_code == 403


def test_export_finds_records_in_tables_it_does_not_know(session) -> None:
    """Other areas add tables that point at employees (attendance, corrections...). The export finds
    them from the live schema's foreign keys, so a new table cannot be forgotten."""
    from sqlalchemy import text

    from attendance.roster.employees import create_employee
    from attendance.roster.offices import create_office
    from attendance.roster.privacy import export_person

    office = create_office(session, actor="t", code="SETDA", name="Setda")
    a = create_employee(session, actor="t", nip=NIPS[0], name="A", office_id=office.id)
    b = create_employee(session, actor="t", nip=NIPS[1], name="B", office_id=office.id)
    session.commit()
    session.execute(text("CREATE TABLE zz_future_records (id INTEGER PRIMARY KEY, "
                         "employee_id INTEGER NOT NULL REFERENCES employees(id) ON DELETE CASCADE, note VARCHAR(50))"))
    session.execute(text("INSERT INTO zz_future_records (id, employee_id, note) VALUES "
                         "(1, :a, 'izin'), (2, :a, 'sakit'), (3, :b, 'other person')"), {"a": a.id, "b": b.id})
    session.commit()
    data = export_person(session, a.id, actor="hr")
    session.commit()
    rows = data["related_records"]["zz_future_records"]
    assert sorted(r["note"] for r in rows) == ["izin", "sakit"]
