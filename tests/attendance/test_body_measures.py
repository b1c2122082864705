"""Body measurements (each person's own IPD and eye height, learned over apels): stored one row per
employee, updated once per apel exactly as BodyPrior.updated says, NaN kept as "not measured",
written only for active staff with templates, erased with the face data and with the employee,
exported, and created by migration 0005 on both databases."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text

from attendance.db import make_engine, make_session_factory
from attendance.migrate import current_heads, downgrade, upgrade
from attendance.models import AuditEntry, Base, BodyMeasure, Employee, FaceTemplate
from attendance.services.body import load_priors, record_apel
from attendance.vision.results import BODY_MAX_APELS, BodyPrior

NAN = float("nan")


def _template(session, emp: Employee) -> None:  # noqa: ANN001
    session.add(FaceTemplate(employee_id=emp.id, embedding=np.zeros(128, "<f4").tobytes(), kind="photo",
                             source_sha256=f"{emp.id:064d}"))


@pytest.fixture
def staff(world):  # noqa: ANN001
    """JKT staff 0 and 1 enrolled (templates); JKT staff 2 registered but never enrolled."""
    with world.factory() as s:
        a, b, c = world.staff["JKT"]
        _template(s, a)
        _template(s, b)
        s.commit()
    return a.id, b.id, c.id


def _apel(rng: np.random.Generator, ipd: float, dh: float, n: int = 40) -> list[tuple[float, float]]:
    frames = [(ipd * (1 + rng.normal(0, 0.03)), dh + rng.normal(0, 0.03)) for _ in range(n)]
    frames += [(NAN, dh + 0.01), (ipd, NAN), (NAN, NAN)]   # frames that measured only one, or none
    return frames


def _same(a: BodyPrior, b: BodyPrior) -> bool:
    def eq(x: float, y: float) -> bool:
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
    return (eq(a.ipd_m, b.ipd_m) and eq(a.head_dh_m, b.head_dh_m) and a.ipd_apels == b.ipd_apels
            and a.head_apels == b.head_apels)


def test_create_then_update_over_apels_matches_body_prior(world, staff) -> None:  # noqa: ANN001
    a, b, _ = staff
    rng = np.random.default_rng(5)
    expect = {a: BodyPrior(), b: BodyPrior()}
    for apel in range(BODY_MAX_APELS + 3):   # past the running mean's cap
        obs = {a: _apel(rng, 0.060 + 0.0005 * apel, 0.04), b: _apel(rng, 0.068, -0.05)}
        with world.factory() as s:
            written = record_apel(s, obs)
        for emp, frames in obs.items():
            expect[emp] = expect[emp].updated(frames)
            assert _same(written[emp], expect[emp])
        with world.factory() as s:
            got = load_priors(s, [a, b])
        assert _same(got[a], expect[a]) and _same(got[b], expect[b]), (apel, got, expect)
    assert got[a].ipd_apels == BODY_MAX_APELS + 3 and got[a].head_apels == BODY_MAX_APELS + 3
    assert abs(got[b].ipd_m - 0.068) < 0.002 and abs(got[b].head_dh_m + 0.05) < 0.01
    with world.factory() as s:   # one row each, whatever the number of apels
        assert s.execute(select(func.count()).select_from(BodyMeasure)).scalar_one() == 2
        assert s.get(BodyMeasure, a).updated_at is not None


def test_unmeasured_stays_nan_and_is_stored_as_null(world, staff) -> None:  # noqa: ANN001
    a, b, _ = staff
    with world.factory() as s:
        written = record_apel(s, {a: [(0.061, NAN), (0.063, NAN), (0.062, NAN)],   # IPD only
                                  b: [(NAN, NAN), (NAN, NAN)]})                     # nothing finite
    assert set(written) == {a}
    with world.factory() as s:
        row = s.get(BodyMeasure, a)
        assert (row.ipd_m, row.ipd_apels, row.head_dh_m, row.head_apels) == (pytest.approx(0.062), 1, None, 0)
        assert s.get(BodyMeasure, b) is None   # no row for an apel that measured nothing
        raw = s.execute(text("SELECT head_dh_m FROM body_measures WHERE employee_id = :e"), {"e": a}).scalar_one()
        assert raw is None
        got = load_priors(s, [a, b])
    assert set(got) == {a}
    assert got[a].ipd_m == pytest.approx(0.062) and math.isnan(got[a].head_dh_m) and got[a].head_apels == 0
    assert math.isinf(got[a].head_sd_m)
    # The next apel measures the eye height for the first time: it starts from that apel alone.
    with world.factory() as s:
        record_apel(s, {a: [(0.065, 0.03), (NAN, 0.05)]})
        got = load_priors(s, [a])[a]
    assert (got.ipd_apels, got.head_apels) == (2, 1)
    assert got.ipd_m == pytest.approx((0.062 + 0.065) / 2) and got.head_dh_m == pytest.approx(0.04)


def test_ignores_unknown_inactive_unenrolled_and_empty(world, staff) -> None:  # noqa: ANN001
    a, b, never_enrolled = staff
    with world.factory() as s:
        s.get(Employee, b).active = False
        s.commit()
    with world.factory() as s:
        written = record_apel(s, {a: [], b: [(0.06, 0.0)], never_enrolled: [(0.06, 0.0)], 987654: [(0.06, 0.0)]})
        assert written == {}
        assert s.execute(select(func.count()).select_from(BodyMeasure)).scalar_one() == 0
        assert record_apel(s, {}) == {}
        assert load_priors(s, [a, b, never_enrolled, 987654]) == {}
        assert load_priors(s, []) == {}


def test_erasure_deletes_the_row_and_says_so(world, staff) -> None:  # noqa: ANN001
    from attendance.audit import verify_chain
    from attendance.enrolment import erase_face_data, erase_templates, export_person
    from attendance.roster import run_in_transaction

    a, b, _ = staff
    with world.factory() as s:
        record_apel(s, {a: [(0.061, 0.02)], b: [(0.066, -0.01)]})
        record_apel(s, {a: [(0.062, NAN)]})
    with world.factory() as s:   # the export carries it (valid JSON: unmeasured is null, not NaN)
        data = export_person(s, a, actor="hr")
        s.commit()
    rows = data["related_records"]["body_measures"]
    assert rows == [{"employee_id": a, "ipd_m": pytest.approx(0.0615), "ipd_apels": 2,
                     "head_dh_m": pytest.approx(0.02), "head_apels": 1, "updated_at": rows[0]["updated_at"]}]
    json.loads(json.dumps(data, default=str, allow_nan=False))

    with world.factory() as s:
        erased = run_in_transaction(s, lambda: erase_face_data(s, a, actor="hr", reason="request"))
    assert erased.body_measures is True and erased.templates == {"photo": 1} and erased.photo_paths == []
    with world.factory() as s:
        assert s.get(BodyMeasure, a) is None and s.get(BodyMeasure, b) is not None
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "employee.erase_templates")).scalar_one()
        assert entry.before["body_measures"] == {"ipd_apels": 2, "head_apels": 1}   # counts, not the values
        assert entry.after["body_measures"] is None and entry.reason == "request"
        assert verify_chain(s).ok
        # Erased during an apel: its close does not bring the measurement back (no templates any more).
        assert record_apel(s, {a: [(0.061, 0.02)]}) == {}
        assert s.get(BodyMeasure, a) is None
    with world.factory() as s:   # the old entry point erases the row too
        assert run_in_transaction(s, lambda: erase_templates(s, b, actor="hr")) == []
        assert s.get(BodyMeasure, b) is None
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "employee.erase_templates")
                            .order_by(AuditEntry.id)).scalars().all()
        assert entries[-1].before["body_measures"] == {"ipd_apels": 1, "head_apels": 1}
    with world.factory() as s:   # nothing stored: the erasure says so
        erased = run_in_transaction(s, lambda: erase_face_data(s, b, actor="hr"))
        assert erased.body_measures is False and erased.templates == {}


def test_deleting_the_employee_cascades(world, staff) -> None:  # noqa: ANN001
    from attendance.roster import delete_employee, run_in_transaction

    a, _, _ = staff
    with world.factory() as s:
        record_apel(s, {a: [(0.061, 0.02)]})
    with world.factory() as s:
        run_in_transaction(s, lambda: delete_employee(s, a, actor="hr", reason="resigned"))
    with world.factory() as s:
        assert s.get(Employee, a) is None
        assert s.execute(select(func.count()).select_from(BodyMeasure)).scalar_one() == 0


def test_erase_route_reports_body_measures(db_url, settings_factory, world, staff) -> None:  # noqa: ANN001
    from app.main import create_app
    from attendance.roster import create_user

    a, _, _ = staff
    with world.factory() as s:
        record_apel(s, {a: [(0.061, 0.02)]})
        create_user(s, actor="test", username="hr.body", password="correct horse battery", role="hr")
        s.commit()
    app = create_app(settings_factory(db_url), migrate=False)
    try:
        with TestClient(app) as c:
            r = c.post("/api/v1/auth/login", json={"username": "hr.body", "password": "correct horse battery"})
            assert r.status_code == 200, r.text
            r = c.delete(f"/api/v1/employees/{a}/templates", headers={"X-CSRF-Token": r.json()["csrf_token"]})
            assert r.status_code == 200, r.text
            assert r.json() == {"ok": True, "photos_removed": 0, "templates_removed": 1, "body_measures_removed": True}
    finally:
        app.state.engine.dispose()
    with world.factory() as s:
        assert s.get(BodyMeasure, a) is None


def _tables(url: str) -> set[str]:
    eng = make_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_migration_0005_from_0004(db_url: str) -> None:
    """Upgrade a database that is at 0004 (with staff in it), cascade on delete, and back down."""
    downgrade(db_url, "0004")
    assert current_heads(db_url) == ["0004"] and "body_measures" not in _tables(db_url)
    eng = make_engine(db_url)
    try:
        with eng.begin() as c:
            c.execute(text("INSERT INTO offices (code, name, timezone, camera_hfov_deg, min_distance_m, active, "
                           "created_at) VALUES ('X', 'X', 'Asia/Jakarta', 70, 1, :t, :now)"),
                      {"t": True, "now": "2026-11-30 00:00:00"})
            oid = c.execute(text("SELECT id FROM offices WHERE code = 'X'")).scalar_one()
            c.execute(text("INSERT INTO employees (nip, name, office_id, active, created_at, updated_at) "
                           "VALUES ('199001012020011001', 'E', :o, :t, :now, :now)"),
                      {"o": oid, "t": True, "now": "2026-11-30 00:00:00"})
        upgrade(db_url)
        assert current_heads(db_url) == ["0005"] and "body_measures" in _tables(db_url)
        with make_session_factory(eng)() as s:
            emp = s.execute(select(Employee)).scalar_one()
            _template(s, emp)
            s.commit()
            assert record_apel(s, {emp.id: [(0.063, 0.0)]})
            s.execute(text("DELETE FROM face_templates"))
            s.execute(text("DELETE FROM employees"))   # the database itself cascades
            s.commit()
            assert s.execute(select(func.count()).select_from(BodyMeasure)).scalar_one() == 0
        # The migration is the model: autogenerate finds nothing to do for this table.
        with eng.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diff if "body_measures" in repr(d)] == []
    finally:
        eng.dispose()
    downgrade(db_url, "0004")
    assert "body_measures" not in _tables(db_url)
    upgrade(db_url)
    assert "body_measures" in _tables(db_url)
