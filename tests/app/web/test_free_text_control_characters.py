"""Free text beyond names (apel titles, correction and excuse reasons, attachment references, review
decisions) refuses control characters with a clear 422 and changes nothing; a NUL reached PostgreSQL and
answered 500 before. The same check as names (attendance.roster.common.refuse_control_characters)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from attendance.models import Assembly, AttendanceRecord, AuditEntry, Correction, ReviewItem

from .people_web import Web, make_web

BAD = ["Apel\x00pagi", "Apel \x1b[31mpagi", "Apel\x07", "Apel\x9b"]


@pytest.fixture
def web(db_url: str, settings_factory) -> Iterator[Web]:
    yield from make_web(db_url, settings_factory)


def _state(web: Web) -> tuple:
    with web.app.state.session_factory() as s:   # type: ignore[attr-defined]
        return (s.execute(select(func.count()).select_from(Assembly)).scalar_one(),
                s.execute(select(func.count()).select_from(Correction)).scalar_one(),
                s.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
                s.execute(select(func.sum(AttendanceRecord.version))).scalar_one(),
                s.get_one(ReviewItem, web.review_item).status)


def _refused(r, field: str) -> None:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == f"{field}_control_character", detail
    assert "control character (U+" in detail["message"] and detail["hint"]


@pytest.mark.parametrize("text", BAD)
def test_control_characters_in_free_text_are_422(web: Web, text: str) -> None:
    leader, hr = web.auth("leader"), web.auth("hr")
    before = _state(web)
    r = web.client.post("/api/v1/assemblies", headers=leader, json={
        "kind": "pagi", "title": text, "scheduled_start": "2026-12-01T00:30:00Z",
        "office_ids": list(web.ds.offices.values())})
    _refused(r, "title")
    rec = web.client.get(f"/api/v1/assemblies/{web.ds.apels['nov1']}/records", headers=hr).json()[0]
    correction = {"expected_version": rec["version"], "status": "excused", "excuse_category": "sakit",
                  "reason": "surat dokter", "attachment_ref": "SKD-1"}
    _refused(web.client.post(f"/api/v1/records/{rec['id']}/corrections", headers=hr,
                             json={**correction, "reason": text}), "reason")
    _refused(web.client.post(f"/api/v1/records/{rec['id']}/corrections", headers=hr,
                             json={**correction, "attachment_ref": text}), "attachment_ref")
    _refused(web.client.post(f"/api/v1/assemblies/{web.ds.apels['open']}/excuses", headers=hr, json={
        "employee_id": web.ds.employees[2], "category": "izin", "reason": text}), "reason")
    _refused(web.client.post(f"/api/v1/review/{web.review_item}/dismiss", headers=hr, json={"reason": text}),
             "reason")
    _refused(web.client.post(f"/api/v1/review/{web.review_item}/assign", headers=hr, json={
        "employee_id": web.ds.employees[4], "reason": text}), "reason")
    assert _state(web) == before


def test_the_apel_form_says_why(web: Web) -> None:
    r = web.client.post("/api/v1/auth/login", json={"username": "leader", "password": "correct horse battery"})
    csrf = r.json()["csrf_token"]
    before = _state(web)
    r = web.client.post("/apel", data={"csrf_token": csrf, "kind": "pagi", "title": "Apel\x00pagi",
                                       "local_date": "2026-12-01", "local_time": "07:30",
                                       "office_ids": str(web.ds.offices["BKD"])})
    assert r.status_code < 500
    assert "control character" in r.text
    assert _state(web) == before
