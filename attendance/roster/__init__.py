"""Offices, employees and user accounts: the use cases HR and admins run, each audited.

Every function validates first and writes second, inside the caller's session; the caller commits
(or the error propagates and the caller's rollback leaves nothing behind). The audit entry goes in
the same transaction, so a change without its audit entry cannot commit.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attendance import audit
from attendance.models import Employee, FaceTemplate, Office, Role, User
from attendance.nip import InvalidNip, parse_nip
from attendance.vision.config import check_row_lines


class RosterError(Exception):
    """Base of the errors a caller shows to a person. `code` is stable, `message` readable English."""

    status = 400

    def __init__(self, code: str, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(RosterError):
    status = 404


class Conflict(RosterError):
    status = 409


class Invalid(RosterError):
    status = 422


class Forbidden(RosterError):
    status = 403


# ---------------------------------------------------------------- helpers

def actor_name(actor: User | str | None) -> str:
    if actor is None:
        return "system"
    return actor if isinstance(actor, str) else actor.username


def office_dict(o: Office) -> dict[str, Any]:
    return {"id": o.id, "code": o.code, "name": o.name, "timezone": o.timezone,
            "camera_hfov_deg": o.camera_hfov_deg, "min_distance_m": o.min_distance_m, "back_row_m": o.back_row_m,
            "camera_height_m": o.camera_height_m, "row_lines_m": o.row_lines_m, "active": o.active}


def employee_dict(e: Employee) -> dict[str, Any]:
    return {"id": e.id, "nip": e.nip, "name": e.name, "office_id": e.office_id, "position": e.position,
            "active": e.active}


def user_dict(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role,
            "office_id": u.office_id, "active": u.active}


def _text(value: Any, what: str, *, max_len: int, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise Invalid(f"{what}_missing", f"{what} is required")
        return None
    s = " ".join(str(value).split())
    if not s:
        if required:
            raise Invalid(f"{what}_missing", f"{what} is required")
        return None
    if len(s) > max_len:
        raise Invalid(f"{what}_too_long", f"{what} is longer than {max_len} characters")
    return s


def _timezone(tz: str) -> str:
    tz = (tz or "").strip()
    if tz not in available_timezones():
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("timezone", f"unknown time zone {tz!r} (e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)") from None
    return tz


def valid_nip(raw: str) -> str:
    try:
        return parse_nip(raw).nip
    except InvalidNip as exc:
        raise Invalid(f"nip_{exc.code}", f"invalid NIP: {exc.message}") from None


def _flush_or_conflict(session: Session, code: str, message: str) -> None:
    """Turn a unique-constraint race into a clean 409 (the pre-check covers the common case)."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(code, message) from None


T = TypeVar("T")


def run_in_transaction(session: Session, work: Callable[[], T], *, attempts: int = 12) -> T:
    """Run `work` and commit, retrying if it lost the race for the audit chain's tip."""
    return audit.run_with_audit_retry(session, work, attempts=attempts)


# ---------------------------------------------------------------- offices

def get_office(session: Session, office_id: int) -> Office:
    office = session.get(Office, office_id)
    if office is None:
        raise NotFound("office_not_found", f"office {office_id} does not exist")
    return office


def office_by_code(session: Session, code: str) -> Office:
    office = session.execute(select(Office).where(Office.code == code.strip().upper())).scalar_one_or_none()
    if office is None:
        raise NotFound("office_not_found", f"office {code!r} does not exist")
    return office


def list_offices(session: Session, *, only_id: int | None = None, active: bool | None = None) -> list[Office]:
    q = select(Office).order_by(Office.code)
    if only_id is not None:
        q = q.where(Office.id == only_id)
    if active is not None:
        q = q.where(Office.active == active)
    return list(session.execute(q).scalars())


def _office_code(code: str) -> str:
    c = _text(code, "code", max_len=32) or ""
    c = c.upper()
    if not all(ch.isalnum() or ch in "-_" for ch in c):
        raise Invalid("code_chars", "office code may contain letters, digits, '-' and '_' only")
    return c


def _geometry(hfov: float | None, min_distance: float | None, back_row: float | None = None,
              camera_height: float | None = None) -> None:
    if back_row is not None and not 1.0 <= float(back_row) <= 30.0:
        raise Invalid("back_row_m", "the back row's distance from the camera must be between 1 and 30 metres")
    if camera_height is not None and not 0.5 <= float(camera_height) <= 20.0:
        raise Invalid("camera_height_m", "the camera's height above the floor must be between 0.5 and 20 metres")
    if hfov is not None and not 20.0 <= float(hfov) <= 170.0:
        raise Invalid("camera_hfov_deg", "camera field of view must be between 20 and 170 degrees")
    if min_distance is not None and not 0.3 <= float(min_distance) <= 5.0:
        raise Invalid("min_distance_m", "minimum distance must be between 0.3 and 5 metres")


def _row_lines(lines: object) -> list[float] | None:
    """The row lines as stored (floats, sorted front to back; None: unknown), or Invalid naming the field."""
    if lines is None:
        return None
    try:
        return list(check_row_lines(lines))
    except ValueError as exc:
        raise Invalid("row_lines_m", str(exc)) from None


def create_office(session: Session, *, actor: User | str | None, code: str, name: str,
                  timezone: str = "Asia/Makassar", camera_hfov_deg: float | None = None,
                  min_distance_m: float | None = None, back_row_m: float | None = None,
                  camera_height_m: float | None = None, row_lines_m: Sequence[float] | None = None) -> Office:
    code_n = _office_code(code)
    name_n = _text(name, "name", max_len=200)
    tz = _timezone(timezone or "Asia/Makassar")
    _geometry(camera_hfov_deg, min_distance_m, back_row_m, camera_height_m)
    lines = _row_lines(row_lines_m)
    if session.execute(select(Office.id).where(Office.code == code_n)).first():
        raise Conflict("office_exists", f"office code {code_n} is already used")
    office = Office(code=code_n, name=name_n, timezone=tz, active=True)
    if camera_hfov_deg is not None:
        office.camera_hfov_deg = float(camera_hfov_deg)
    if min_distance_m is not None:
        office.min_distance_m = float(min_distance_m)
    if back_row_m is not None:
        office.back_row_m = float(back_row_m)
    if camera_height_m is not None:
        office.camera_height_m = float(camera_height_m)
    office.row_lines_m = lines
    session.add(office)
    _flush_or_conflict(session, "office_exists", f"office code {code_n} is already used")
    audit.record(session, actor=actor_name(actor), action="office.create", entity="office",
                 entity_id=office.id, after=office_dict(office))
    return office


OFFICE_FIELDS = {"name", "timezone", "camera_hfov_deg", "min_distance_m", "back_row_m", "camera_height_m",
                 "row_lines_m", "active"}


def update_office(session: Session, office_id: int, *, actor: User | str | None, **changes: Any) -> Office:
    office = get_office(session, office_id)
    unknown = set(changes) - OFFICE_FIELDS
    if unknown:
        raise Invalid("unknown_fields", f"cannot change: {', '.join(sorted(unknown))}")
    before = office_dict(office)
    if "name" in changes:
        office.name = _text(changes["name"], "name", max_len=200)
    if "timezone" in changes:
        office.timezone = _timezone(changes["timezone"])
    _geometry(changes.get("camera_hfov_deg"), changes.get("min_distance_m"), changes.get("back_row_m"),
              changes.get("camera_height_m"))
    lines = _row_lines(changes.get("row_lines_m"))
    if changes.get("camera_hfov_deg") is not None:
        office.camera_hfov_deg = float(changes["camera_hfov_deg"])
    if changes.get("min_distance_m") is not None:
        office.min_distance_m = float(changes["min_distance_m"])
    if "back_row_m" in changes:   # None here clears it (unknown), unlike the fields above
        office.back_row_m = None if changes["back_row_m"] is None else float(changes["back_row_m"])
    if "camera_height_m" in changes:   # likewise: None clears it
        office.camera_height_m = None if changes["camera_height_m"] is None else float(changes["camera_height_m"])
    if "row_lines_m" in changes:   # likewise: None clears it
        office.row_lines_m = lines
    if changes.get("active") is not None:
        office.active = bool(changes["active"])
    session.flush()
    after = office_dict(office)
    if after != before:
        audit.record(session, actor=actor_name(actor), action="office.update", entity="office",
                     entity_id=office.id, before=before, after=after)
    return office


def delete_office(session: Session, office_id: int, *, actor: User | str | None) -> None:
    office = get_office(session, office_id)
    staff = session.execute(select(func.count()).select_from(Employee).where(Employee.office_id == office_id)).scalar_one()
    users = session.execute(select(func.count()).select_from(User).where(User.office_id == office_id)).scalar_one()
    if staff or users:
        raise Conflict("office_in_use",
                       f"office {office.code} still has {staff} employee(s) and {users} user(s); "
                       "move them or deactivate the office instead")
    before = office_dict(office)
    session.delete(office)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("office_in_use", f"office {before['code']} is referenced by other records; deactivate it instead") from None
    audit.record(session, actor=actor_name(actor), action="office.delete", entity="office",
                 entity_id=before["id"], before=before)


# ---------------------------------------------------------------- employees

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
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(Employee.name).like(like), Employee.nip.like(like)))
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
    name_n = _text(name, "name", max_len=200)
    pos = _text(position, "position", max_len=200, required=False)
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
    _flush_or_conflict(session, "nip_exists", f"NIP {data.nip} is already registered")
    audit.record(session, actor=actor_name(actor), action="employee.create", entity="employee",
                 entity_id=emp.id, after=employee_dict(emp))
    return emp


EMPLOYEE_FIELDS = {"name", "office_id", "position", "active"}


def update_employee(session: Session, employee_id: int, *, actor: User | str | None, **changes: Any) -> Employee:
    """The NIP is the identity and is not editable: a wrong NIP means delete and re-enrol."""
    emp = get_employee(session, employee_id)
    unknown = set(changes) - EMPLOYEE_FIELDS
    if unknown:
        raise Invalid("unknown_fields", f"cannot change: {', '.join(sorted(unknown))}")
    before = employee_dict(emp)
    if "name" in changes:
        emp.name = _text(changes["name"], "name", max_len=200) or ""
    if "position" in changes:
        emp.position = _text(changes["position"], "position", max_len=200, required=False)
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
    caller after commit (see enrolment.remove_photo_files) so a rollback never loses a file."""
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


# ---------------------------------------------------------------- users

ROLES = {r.value for r in Role}


def _role(role: str, office_id: int | None, session: Session) -> tuple[str, int | None]:
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise Invalid("role", f"unknown role {role!r} (one of: {', '.join(sorted(ROLES))})")
    if role == Role.operator.value:
        if office_id is None:
            raise Invalid("operator_office", "an operator must be bound to an office")
        get_office(session, office_id)
    elif office_id is not None:
        get_office(session, office_id)
    return role, office_id


def _username(name: str) -> str:
    u = (_text(name, "username", max_len=64) or "").lower()
    if not all(ch.isalnum() or ch in "._-" for ch in u):
        raise Invalid("username_chars", "username may contain letters, digits, '.', '_' and '-' only")
    return u


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", f"user {user_id} does not exist")
    return user


def user_by_username(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username.strip().lower())).scalar_one_or_none()


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


def create_user(session: Session, *, actor: User | str | None, username: str, password: str, role: str,
                office_id: int | None = None, full_name: str | None = None) -> User:
    from attendance.roster.passwords import hash_password

    uname = _username(username)
    role_n, office_n = _role(role, office_id, session)
    try:
        pw_hash = hash_password(password or "")
    except ValueError as exc:
        raise Invalid("password", str(exc)) from None
    if user_by_username(session, uname) is not None:
        raise Conflict("user_exists", f"username {uname} is already taken")
    user = User(username=uname, password_hash=pw_hash, role=role_n, office_id=office_n,
                full_name=_text(full_name, "full_name", max_len=200, required=False), active=True)
    session.add(user)
    _flush_or_conflict(session, "user_exists", f"username {uname} is already taken")
    audit.record(session, actor=actor_name(actor), action="user.create", entity="user", entity_id=user.id,
                 after=user_dict(user))
    return user


def update_user(session: Session, user_id: int, *, actor: User | str | None, role: str | None = None,
                office_id: int | None = None, active: bool | None = None, full_name: str | None = None,
                password: str | None = None, clear_office: bool = False) -> User:
    from attendance.roster.passwords import hash_password

    user = get_user(session, user_id)
    before = user_dict(user)
    new_role = role if role is not None else user.role
    new_office = None if clear_office else (office_id if office_id is not None else user.office_id)
    user.role, user.office_id = _role(new_role, new_office, session)
    if active is not None:
        if not active and isinstance(actor, User) and actor.id == user.id:
            raise Invalid("self_deactivate", "you cannot deactivate your own account")
        user.active = bool(active)
    if full_name is not None:
        user.full_name = _text(full_name, "full_name", max_len=200, required=False)
    changed_password = False
    if password is not None:
        try:
            user.password_hash = hash_password(password)
        except ValueError as exc:
            raise Invalid("password", str(exc)) from None
        changed_password = True
    session.flush()
    after = user_dict(user)
    if after != before or changed_password:
        audit.record(session, actor=actor_name(actor), action="user.update", entity="user", entity_id=user.id,
                     before=before, after=after, reason="password changed" if changed_password else None)
    return user


def can_see_office(user: User, office_id: int) -> bool:
    return user.role != Role.operator.value or user.office_id == office_id
