"""The roster services on both real databases: validation, uniqueness, cascades, audit."""
from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance.audit import verify_chain
from attendance.db.migrate import current_heads, downgrade, upgrade
from attendance.errors import Conflict, Invalid, NotFound
from attendance.models import AuditEntry, Employee, FaceTemplate
from attendance.roster.employees import create_employee, delete_employee, update_employee
from attendance.roster.offices import create_office, delete_office, update_office
from attendance.roster.users import create_user

from .conftest import NIPS


def _office(session: Session, code: str = "SETDA"):
    return create_office(session, actor="t", code=code, name=f"Kantor {code}")


def test_office_defaults_and_validation(session: Session) -> None:
    o = _office(session, "setda")
    session.commit()
    assert (o.code, o.timezone, o.camera_hfov_deg, o.min_distance_m) == ("SETDA", "Asia/Makassar", 70.0, 1.0)
    with pytest.raises(Conflict):
        _office(session, "SETDA")
    session.rollback()
    with pytest.raises(Invalid) as exc:
        create_office(session, actor="t", code="X", name="x", timezone="Asia/Atlantis")
    assert exc.value.code == "timezone"
    with pytest.raises(Invalid):
        create_office(session, actor="t", code="bad code!", name="x")
    with pytest.raises(Invalid):
        update_office(session, o.id, actor="t", camera_hfov_deg=500)
    session.rollback()


def test_office_back_row_is_optional_validated_and_clearable(session: Session) -> None:
    o = _office(session)
    session.commit()
    assert o.back_row_m is None
    with pytest.raises(Invalid) as exc:
        update_office(session, o.id, actor="t", back_row_m=0.2)
    assert exc.value.code == "back_row_m"
    session.rollback()
    assert session.get(type(o), o.id).back_row_m is None   # the refused change changed nothing
    update_office(session, o.id, actor="hr1", back_row_m=4)
    session.commit()
    assert o.back_row_m == 4.0
    update_office(session, o.id, actor="hr1", name="Kantor Baru")   # not named: kept
    session.commit()
    assert o.back_row_m == 4.0
    update_office(session, o.id, actor="hr1", back_row_m=None)      # named as None: unknown again
    session.commit()
    assert o.back_row_m is None
    changes = session.scalars(select(AuditEntry).where(AuditEntry.entity == "office",
                                                       AuditEntry.action == "office.update")).all()
    assert len(changes) == 3   # who changed the camera geometry is on record
    with pytest.raises(Invalid):
        create_office(session, actor="t", code="FAR", name="x", back_row_m=100)


def test_office_camera_height_is_optional_validated_and_clearable(session: Session) -> None:
    o = _office(session)
    session.commit()
    assert o.camera_height_m is None
    for bad in (0.49, 20.01, -1):
        with pytest.raises(Invalid) as exc:
            update_office(session, o.id, actor="t", camera_height_m=bad)
        assert exc.value.code == "camera_height_m" and "height" in exc.value.message
        session.rollback()
    assert session.get(type(o), o.id).camera_height_m is None   # the refused change changed nothing
    update_office(session, o.id, actor="hr1", camera_height_m=0.5)   # the bounds are allowed
    update_office(session, o.id, actor="hr1", camera_height_m=20)
    update_office(session, o.id, actor="hr1", camera_height_m=2.75)
    session.commit()
    assert o.camera_height_m == 2.75
    update_office(session, o.id, actor="hr1", name="Kantor Baru", back_row_m=4)   # not named: kept
    session.commit()
    assert o.camera_height_m == 2.75 and o.back_row_m == 4.0
    update_office(session, o.id, actor="hr1", camera_height_m=None)      # named as None: unknown again
    session.commit()
    assert o.camera_height_m is None and o.back_row_m == 4.0
    changes = session.scalars(select(AuditEntry).where(AuditEntry.entity == "office",
                                                       AuditEntry.action == "office.update")).all()
    assert len(changes) == 5   # who changed the camera geometry is on record
    assert changes[-1].before["camera_height_m"] == 2.75 and changes[-1].after["camera_height_m"] is None
    with pytest.raises(Invalid) as exc:
        create_office(session, actor="t", code="HIGH", name="x", camera_height_m=25)
    assert exc.value.code == "camera_height_m"
    session.rollback()
    o2 = create_office(session, actor="t", code="LOW", name="x", camera_height_m=3)
    session.commit()
    assert o2.camera_height_m == 3.0


def test_employee_rules_and_audit(session: Session) -> None:
    o = _office(session)
    e = create_employee(session, actor="hr1", nip="19850312 201001 1 001", name="  I Wayan   Sudirta ",
                        office_id=o.id, position="Analis")
    session.commit()
    assert e.nip == NIPS[0] and e.name == "I Wayan Sudirta"
    with pytest.raises(Conflict) as dup:
        create_employee(session, actor="hr1", nip=NIPS[0], name="Someone Else", office_id=o.id)
    assert dup.value.code == "nip_exists"
    session.rollback()
    with pytest.raises(Invalid) as bad:
        create_employee(session, actor="hr1", nip="198513122010011001", name="X", office_id=o.id)
    assert bad.value.code == "nip_birth_month"
    with pytest.raises(NotFound):
        create_employee(session, actor="hr1", nip=NIPS[1], name="X", office_id=9999)
    session.rollback()
    update_employee(session, e.id, actor="hr2", position="Kepala Seksi", active=False)
    session.commit()
    with pytest.raises(Invalid):
        update_employee(session, e.id, actor="hr2", nip=NIPS[1])  # the NIP is the identity
    entries = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
    actions = [(a.actor, a.action) for a in entries]
    assert ("hr1", "employee.create") in actions and ("hr2", "employee.update") in actions
    upd = [a for a in entries if a.action == "employee.update"][0]
    assert upd.before["position"] == "Analis" and upd.after["position"] == "Kepala Seksi"
    assert verify_chain(session).ok


def test_deleting_an_employee_deletes_their_templates(session: Session) -> None:
    o = _office(session)
    a = create_employee(session, actor="t", nip=NIPS[0], name="A", office_id=o.id)
    b = create_employee(session, actor="t", nip=NIPS[1], name="B", office_id=o.id)
    emb = np.zeros(128, dtype="<f4").tobytes()
    for emp in (a, b):
        session.add_all([FaceTemplate(employee_id=emp.id, embedding=emb, kind=k, source_sha256=f"{emp.id}{k}")
                         for k in ("photo", "masked")])
    session.commit()
    with pytest.raises(Conflict):
        delete_office(session, o.id, actor="t")  # still has staff
    session.rollback()
    delete_employee(session, a.id, actor="t", reason="moved away")
    session.commit()
    left = session.execute(select(FaceTemplate.employee_id)).scalars().all()
    assert left and set(left) == {b.id}
    assert session.get(Employee, a.id) is None
    # The database itself cascades too (ON DELETE CASCADE), not only the ORM.
    session.execute(Employee.__table__.delete().where(Employee.id == b.id))
    session.commit()
    assert session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0


def test_users_roles(session: Session) -> None:
    o = _office(session)
    with pytest.raises(Invalid) as exc:
        create_user(session, actor="t", username="op", password="longenough", role="operator")
    assert exc.value.code == "operator_office"
    with pytest.raises(Invalid):
        create_user(session, actor="t", username="x", password="longenough", role="king")
    with pytest.raises(Invalid):
        create_user(session, actor="t", username="x", password="short", role="hr")
    u = create_user(session, actor="t", username="Op.One", password="longenough", role="operator", office_id=o.id)
    session.commit()
    assert u.username == "op.one" and u.password_hash.startswith("$argon2")
    with pytest.raises(Conflict):
        create_user(session, actor="t", username="op.one", password="longenough", role="hr")


def test_migrations_down_to_base_and_up_again(db_url: str) -> None:
    """0001 is the base of the chain: the whole chain undoes and redoes cleanly on each database."""
    downgrade(db_url, "base")
    assert current_heads(db_url) == []
    upgrade(db_url)
    assert current_heads(db_url)


def _office_columns(db_url: str) -> set[str]:
    from sqlalchemy import inspect

    from attendance.db import make_engine

    eng = make_engine(db_url)
    try:
        return {c["name"] for c in inspect(eng).get_columns("offices")}
    finally:
        eng.dispose()


def _offices_table_differences(db_url: str) -> list:
    """What alembic's autogenerate would change in the offices table to make it the model's."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from attendance.db import make_engine
    from attendance.models import Base

    def about_offices(d) -> bool:
        for part in (d if isinstance(d, tuple) else d[0])[1:]:
            if part == "offices" or getattr(getattr(part, "table", None), "name", None) == "offices" \
                    or getattr(part, "name", None) == "offices":
                return True
        return False

    eng = make_engine(db_url)
    with eng.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
    eng.dispose()
    return [d for d in diff if about_offices(d)]


def test_migration_0005_adds_camera_height_to_a_database_at_0004(db_url: str) -> None:
    """A database at 0004 with an office in it: 0005 adds an empty camera height and keeps the rest."""
    from sqlalchemy import text

    from attendance.db import make_engine

    downgrade(db_url, "0004")
    assert current_heads(db_url) == ["0004"]
    assert "camera_height_m" not in _office_columns(db_url) and "back_row_m" in _office_columns(db_url)
    eng = make_engine(db_url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO offices (code, name, timezone, camera_hfov_deg, min_distance_m, back_row_m, "
                       "active, created_at) "
                       "VALUES ('OLD', 'Kantor Lama', 'Asia/Makassar', 60, 1.5, 6, :t, CURRENT_TIMESTAMP)"),
                  {"t": True})
    eng.dispose()
    upgrade(db_url, "0005")
    assert current_heads(db_url) == ["0005"]
    assert "camera_height_m" in _office_columns(db_url)
    eng = make_engine(db_url)
    with eng.connect() as c:
        row = c.execute(text("SELECT back_row_m, camera_hfov_deg, camera_height_m FROM offices "
                             "WHERE code = 'OLD'")).one()
    eng.dispose()
    assert tuple(row) == (6.0, 60.0, None)
    upgrade(db_url)
    assert _offices_table_differences(db_url) == []   # the migrated offices table is the model
    downgrade(db_url, "0004")
    assert "camera_height_m" not in _office_columns(db_url)
    upgrade(db_url)


def test_migration_0006_adds_row_lines_to_a_database_at_0005(db_url: str) -> None:
    """A database at 0005 with an office in it: 0006 adds empty row lines (SQL NULL) and keeps the
    rest; the ORM then stores and reads a list, and 0006 undoes cleanly."""
    from sqlalchemy import text

    from attendance.db import make_engine, make_session_factory
    from attendance.models import Office

    downgrade(db_url, "0005")
    assert current_heads(db_url) == ["0005"]
    assert "row_lines_m" not in _office_columns(db_url) and "camera_height_m" in _office_columns(db_url)
    eng = make_engine(db_url)
    with eng.begin() as c:
        c.execute(text("INSERT INTO offices (code, name, timezone, camera_hfov_deg, min_distance_m, camera_height_m, "
                       "active, created_at) VALUES ('OLD', 'Kantor Lama', 'Asia/Makassar', 60, 1.5, 2.5, :t, "
                       "CURRENT_TIMESTAMP)"), {"t": True})
    eng.dispose()
    upgrade(db_url, "0006")
    assert current_heads(db_url) == ["0006"]
    assert "row_lines_m" in _office_columns(db_url)
    eng = make_engine(db_url)
    with eng.connect() as c:
        row = c.execute(text("SELECT camera_height_m, camera_hfov_deg, row_lines_m IS NULL FROM offices "
                             "WHERE code = 'OLD'")).one()
    assert tuple(row) == (2.5, 60.0, True)
    with make_session_factory(eng)() as s:
        old = s.execute(select(Office).where(Office.code == "OLD")).scalar_one()
        assert old.row_lines_m is None
        update_office(s, old.id, actor="t", row_lines_m=[6, 3, 4.5])
        s.commit()
        s.expire_all()
        assert s.get(Office, old.id).row_lines_m == [3.0, 4.5, 6.0]
        update_office(s, old.id, actor="t", row_lines_m=None)
        s.commit()
    with eng.connect() as c:   # cleared: SQL NULL, not the JSON text 'null'
        assert c.execute(text("SELECT row_lines_m IS NULL FROM offices WHERE code = 'OLD'")).scalar_one() in (True, 1)
    eng.dispose()
    upgrade(db_url)
    assert _offices_table_differences(db_url) == []   # the migrated offices table is the model
    downgrade(db_url, "0005")
    assert "row_lines_m" not in _office_columns(db_url)
    upgrade(db_url)


def test_concurrent_writers_all_land_and_the_chain_holds(engine) -> None:
    """Eight HR writes at the same moment: each reads the same audit tip, only one can extend it;
    the others are rolled back and rerun, so all eight land and the chain stays linear."""
    import threading

    from attendance.db import make_session_factory
    from attendance.db.unit_of_work import run_in_transaction

    factory = make_session_factory(engine)
    with factory() as s:
        office_id = _office(s).id
        s.commit()
    nips = ["198503122010011001", "199001052015032002", "198711232011011002", "199204172019032001",
            "198009302006041005", "199406082020122003", "197805122005011003", "198302242009022004"]
    barrier = threading.Barrier(len(nips))
    errors: list[BaseException] = []

    def worker(nip: str) -> None:
        with factory() as s:
            try:
                barrier.wait()
                run_in_transaction(s, lambda: create_employee(s, actor=f"hr-{nip[-3:]}", nip=nip, name=nip,
                                                              office_id=office_id))
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in nips]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with factory() as s:
        assert s.execute(select(func.count()).select_from(Employee)).scalar_one() == len(nips)
        report = verify_chain(s)
        assert report.ok and report.entries == len(nips) + 1
