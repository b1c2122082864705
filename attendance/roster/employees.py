"""Employees (identified by NIP): the use cases HR runs, each audited in the caller's transaction."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Conflict, NotFound
from attendance.models import Employee, FaceTemplate, User
from attendance.nip import normalise_nip
from attendance.roster.common import (
    actor_name,
    clean_text,
    flush_or_conflict,
    optional_text,
    refuse_control_characters,
    refuse_unknown_fields,
    valid_nip,
)
from attendance.roster.offices import get_office


def employee_dict(e: Employee) -> dict[str, Any]:
    return {"id": e.id, "nip": e.nip, "name": e.name, "office_id": e.office_id, "position": e.position,
            "active": e.active}


def get_employee(session: Session, employee_id: int) -> Employee:
    emp = session.get(Employee, employee_id)
    if emp is None:
        raise NotFound("employee_not_found", f"employee {employee_id} does not exist")
    return emp


def employee_by_nip(session: Session, nip: str) -> Employee | None:
    return session.execute(select(Employee).where(Employee.nip == nip)).scalar_one_or_none()


def list_employees(session: Session, *, office_id: int | None = None, q: str | None = None,
                   active: bool | None = None, limit: int = 500, offset: int = 0) -> list[Employee]:
    stmt = select(Employee).order_by(Employee.name, Employee.id)
    if office_id is not None:
        stmt = stmt.where(Employee.office_id == office_id)
    if active is not None:
        stmt = stmt.where(Employee.active == active)
    if q:
        refuse_control_characters(q, "q")
        like = f"%{q.strip().lower()}%"
        # A NIP pasted as printed ("19850312 201001 1 001") finds the person stored as digits.
        digits = normalise_nip(q)
        nip_like = f"%{digits}%" if digits.isdigit() else like
        stmt = stmt.where(or_(func.lower(Employee.name).like(like), Employee.nip.like(nip_like)))
    return list(session.execute(stmt.limit(limit).offset(offset)).scalars())


def template_counts(session: Session, employee_ids: Sequence[int]) -> dict[int, int]:
    if not employee_ids:
        return {}
    rows = session.execute(
        select(FaceTemplate.employee_id, func.count())
        .where(FaceTemplate.employee_id.in_(list(employee_ids)), FaceTemplate.kind == "photo")
        .group_by(FaceTemplate.employee_id)
    ).all()
    return {eid: n for eid, n in rows}


@dataclass
class EmployeeInput:
    """One validated employee row (from the API, a form or a CSV line)."""

    nip: str
    name: str
    office_id: int
    position: str | None = None
    active: bool = True
    errors: list[str] = field(default_factory=list)


def check_employee_input(session: Session, *, nip: str, name: str, office_id: int,
                         position: str | None = None, active: bool = True) -> EmployeeInput:
    nip_n = valid_nip(nip)
    name_n = clean_text(name, "name", max_len=200)
    pos = optional_text(position, "position", max_len=200)
    get_office(session, office_id)
    return EmployeeInput(nip=nip_n, name=name_n or "", office_id=office_id, position=pos, active=bool(active))


def create_employee(session: Session, *, actor: User | str | None, nip: str, name: str, office_id: int,
                    position: str | None = None, active: bool = True) -> Employee:
    data = check_employee_input(session, nip=nip, name=name, office_id=office_id, position=position, active=active)
    existing = employee_by_nip(session, data.nip)
    if existing is not None:
        raise Conflict("nip_exists", f"NIP {data.nip} is already registered (employee {existing.id}, {existing.name})")
    emp = Employee(nip=data.nip, name=data.name, office_id=data.office_id, position=data.position, active=data.active)
    session.add(emp)
    flush_or_conflict(session, "nip_exists", f"NIP {data.nip} is already registered")
    audit.record(session, actor=actor_name(actor), action="employee.create", entity="employee",
                 entity_id=emp.id, after=employee_dict(emp))
    return emp


EMPLOYEE_FIELDS = {"name", "office_id", "position", "active"}


def update_employee(session: Session, employee_id: int, *, actor: User | str | None, **changes: Any) -> Employee:
    """The NIP is the identity and is not editable: a wrong NIP means delete and re-enrol."""
    emp = get_employee(session, employee_id)
    refuse_unknown_fields(changes, EMPLOYEE_FIELDS)
    before = employee_dict(emp)
    if "name" in changes:
        emp.name = clean_text(changes["name"], "name", max_len=200)
    if "position" in changes:
        emp.position = optional_text(changes["position"], "position", max_len=200)
    if changes.get("office_id") is not None:
        emp.office_id = get_office(session, int(changes["office_id"])).id
    if changes.get("active") is not None:
        emp.active = bool(changes["active"])
    session.flush()
    after = employee_dict(emp)
    if after != before:
        audit.record(session, actor=actor_name(actor), action="employee.update", entity="employee",
                     entity_id=emp.id, before=before, after=after)
    return emp


def delete_employee(session: Session, employee_id: int, *, actor: User | str | None,
                    reason: str | None = None) -> dict[str, Any]:
    """Delete the person and (by cascade) every face template. Kept photo files are removed by the
    caller after commit (see templates.remove_photo_files) so a rollback never loses a file."""
    emp = get_employee(session, employee_id)
    before = employee_dict(emp)
    templates = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)).scalars().all()
    before["templates"] = len(templates)
    photo_paths = [t.photo_path for t in templates if t.photo_path]
    for t in templates:
        session.delete(t)
    session.delete(emp)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("employee_in_use",
                       f"employee {before['nip']} has records that must be kept (e.g. attendance); "
                       "deactivate the employee and erase the face data instead") from None
    audit.record(session, actor=actor_name(actor), action="employee.delete", entity="employee",
                 entity_id=before["id"], before=before, reason=reason)
    return {"employee": before, "photo_paths": photo_paths}

