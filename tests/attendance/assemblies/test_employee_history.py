"""Attendance history outlives the roster: an employee with records cannot be hard-deleted (signed
reports were computed from them); HR deactivates them and erases their face data instead."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from attendance.assemblies.sightings import record_sightings
from attendance.db.unit_of_work import committed
from attendance.errors import Conflict
from attendance.models import AttendanceRecord, AuditEntry, Employee
from attendance.roster.employees import delete_employee

from .conftest import World, at
from .test_sightings import _open_apel, seen


def test_employee_with_attendance_cannot_be_deleted(session, world: World) -> None:
    a = _open_apel(session, world)
    e1, e3 = world.staff["JKT"][0], world.staff["BALI"][0]
    committed(record_sightings)(session, a.id, world.offices["JKT"].id, seen(e1.id, "t1", at(0)))
    audits = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()

    with pytest.raises(Conflict) as exc:
        delete_employee(session, e1.id, actor="hr", reason="pensiun")
    assert exc.value.code == "employee_in_use" and exc.value.status == 409
    session.rollback()
    assert session.get(Employee, e1.id) is not None
    assert session.execute(select(func.count()).select_from(AttendanceRecord)
                           .where(AttendanceRecord.employee_id == e1.id)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == audits

    # Someone who never took part in an apel can still be deleted.
    delete_employee(session, e3.id, actor="hr", reason="salah input")
    session.commit()
    assert session.get(Employee, e3.id) is None
