"""Offices and their camera geometry: created, changed and removed by admins, each change audited.

Every function validates first and writes second, inside the caller's session, and never commits:
the caller's unit of work (attendance.db.unit_of_work) does, or rolls back on the error. The audit
entry goes in the same transaction, so a change without its audit entry cannot commit.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Conflict, Invalid, NotFound
from attendance.models import Employee, Office, User
from attendance.roster.common import (
    actor_name,
    clean_text,
    flush_or_conflict,
    refuse_control_characters,
    refuse_unknown_fields,
)
from attendance.vision.config import BACK_ROW_M, CAMERA_HEIGHT_M, HFOV_DEG, MIN_DISTANCE_M, check_row_lines


def office_dict(o: Office) -> dict[str, Any]:
    return {"id": o.id, "code": o.code, "name": o.name, "timezone": o.timezone,
            "camera_hfov_deg": o.camera_hfov_deg, "min_distance_m": o.min_distance_m, "back_row_m": o.back_row_m,
            "camera_height_m": o.camera_height_m, "row_lines_m": o.row_lines_m, "active": o.active}


def _timezone(tz: str) -> str:
    tz = (tz or "").strip()
    if tz not in available_timezones():
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid("timezone",
                          f"unknown time zone {tz!r} (e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)") from None
    return tz


def get_office(session: Session, office_id: int) -> Office:
    office = session.get(Office, office_id)
    if office is None:
        raise NotFound("office_not_found", f"office {office_id} does not exist")
    return office


def office_by_code(session: Session, code: str) -> Office:
    refuse_control_characters(code, "office_code")
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
    c = clean_text(code, "code", max_len=32)
    c = c.upper()
    if not all(ch.isalnum() or ch in "-_" for ch in c):
        raise Invalid("code_chars", "office code may contain letters, digits, '-' and '_' only")
    return c


def _geometry(hfov: float | None, min_distance: float | None, back_row: float | None = None,
              camera_height: float | None = None) -> None:
    if back_row is not None and float(back_row) not in BACK_ROW_M:
        raise Invalid("back_row_m", f"the back row's distance from the camera must be {BACK_ROW_M.text()}")
    if camera_height is not None and float(camera_height) not in CAMERA_HEIGHT_M:
        raise Invalid("camera_height_m", f"the camera's height above the floor must be {CAMERA_HEIGHT_M.text()}")
    if hfov is not None and float(hfov) not in HFOV_DEG:
        raise Invalid("camera_hfov_deg", f"camera field of view must be {HFOV_DEG.text()}")
    if min_distance is not None and float(min_distance) not in MIN_DISTANCE_M:
        raise Invalid("min_distance_m", f"minimum distance must be {MIN_DISTANCE_M.text()}")


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
    name_n = clean_text(name, "name", max_len=200)
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
    flush_or_conflict(session, "office_exists", f"office code {code_n} is already used")
    audit.record(session, actor=actor_name(actor), action="office.create", entity="office",
                 entity_id=office.id, after=office_dict(office))
    return office


OFFICE_FIELDS = {"name", "timezone", "camera_hfov_deg", "min_distance_m", "back_row_m", "camera_height_m",
                 "row_lines_m", "active"}


def update_office(session: Session, office_id: int, *, actor: User | str | None, **changes: Any) -> Office:
    office = get_office(session, office_id)
    refuse_unknown_fields(changes, OFFICE_FIELDS)
    before = office_dict(office)
    if "name" in changes:
        office.name = clean_text(changes["name"], "name", max_len=200)
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
    staff = session.execute(select(func.count()).select_from(Employee)
                            .where(Employee.office_id == office_id)).scalar_one()
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
        raise Conflict("office_in_use",
                       f"office {before['code']} is referenced by other records; deactivate it instead") from None
    audit.record(session, actor=actor_name(actor), action="office.delete", entity="office",
                 entity_id=before["id"], before=before)

