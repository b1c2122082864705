"""The same face enrolled for a second employee (here the same real photo re-encoded as WebP, which
the exact-bytes duplicate check cannot see) is enrolled with a warning naming the first employee, and
the audit entry says so; another person's photo gives no warning."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from attendance.models import AuditEntry

from .conftest import NIPS, Env
from .images import reencode
from .test_enrolment_api import _employee, _upload

pytestmark = pytest.mark.shared_data


def test_same_face_for_another_employee_is_a_warning(env: Env, hr: dict, faces: Path) -> None:
    bush = (faces / "lfw10/George_W_Bush/George_W_Bush_0001.jpg").read_bytes()
    first, second, third = (_employee(env, hr, nip) for nip in NIPS[:3])
    r = _upload(env, hr, first, bush)
    assert r.status_code == 201 and r.json()["warnings"] == []
    r = _upload(env, hr, second, reencode(bush, "WEBP", quality=80), name="photo.webp")
    assert r.status_code == 201, r.text
    warnings = r.json()["warnings"]
    assert [w["employee_id"] for w in warnings] == [first] and warnings[0]["nip"] == NIPS[0]
    assert NIPS[0] in warnings[0]["message"]
    with env.app.state.session_factory() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "employee.enrol_photo")
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        assert entry.after["same_face_as"] == [first]
    blair = (faces / "lfw10/Tony_Blair").glob("*.jpg")
    r = _upload(env, hr, third, next(iter(sorted(blair))).read_bytes())
    assert r.status_code == 201 and r.json()["warnings"] == []
