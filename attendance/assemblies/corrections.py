"""Corrections: the only way a person changes an attendance record, and the only way at all once
the apel is closed.

Each keeps the original and the new value, who, when, why and a reference to the supporting
document, in a `Correction` row and in the hash-chained audit log, in one transaction.
Optimistic concurrency: the caller says which version it saw; if the record moved on since, the
change is refused with the current value (`StaleVersion`, HTTP 409), so two HR users cannot
overwrite each other silently. A race between two sessions that both passed that check is caught
by the version counter on UPDATE (SQLAlchemy's version_id_col) and reported the same way.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from attendance import audit
from attendance.assemblies.lookups import get_assembly, get_assembly_office
from attendance.assemblies.sightings import record_view
from attendance.errors import Forbidden, Invalid, NotFound, StaleVersion
from attendance.models import AttendanceRecord, Correction, Employee, User, utcnow
from attendance.models.users import HR_ROLES
from attendance.roster.common import refuse_control_characters
from attendance.rules import EXCUSED, FINAL_STATUSES, LATE, NOT_SEEN, TIERS, Rules

TRACKED = ("status", "tier", "late_minutes", "excuse_category", "excuse_reason", "excuse_attachment")
MAX_REASON = 2000


def require_hr(actor: User) -> None:
    if actor.role not in HR_ROLES:
        raise Forbidden("forbidden", "only HR or an admin may correct attendance")


def snapshot(rec: AttendanceRecord) -> dict[str, Any]:
    return {k: getattr(rec, k) for k in TRACKED}


def get_record(session: Session, record_id: int) -> AttendanceRecord:
    rec = session.get(AttendanceRecord, record_id)
    if rec is None:
        raise NotFound("not_found", f"attendance record {record_id} does not exist")
    return rec


def checked_text(value: str | None, what: str, limit: int) -> str | None:
    """Stripped, None when empty; longer than `limit` or with a control character is refused."""
    refuse_control_characters(value or "", what)
    value = (value or "").strip()
    if len(value) > limit:
        raise Invalid("invalid", f"{what} is too long (at most {limit} characters)")
    return value or None


def checked_reason(reason: str | None) -> str:
    """Every correction and review decision says why: a reason is required."""
    text = checked_text(reason, "reason", MAX_REASON)
    if text is None:
        raise Invalid("invalid", "reason is required")
    return text


def _target(rules: Rules, status: str, tier: str | None, late_minutes: int | None,
            excuse_category: str | None) -> dict[str, Any]:
    """The validated new values of a status change."""
    if status not in FINAL_STATUSES:
        raise Invalid("invalid", f"status must be one of: {', '.join(FINAL_STATUSES)}")
    if status == LATE:
        if tier not in TIERS:
            raise Invalid("invalid", f"a late status needs a tier: {', '.join(TIERS)}")
        if late_minutes is not None and not (1 <= int(late_minutes) <= 24 * 60):
            raise Invalid("invalid", "late_minutes must be between 1 and 1440")
    elif tier is not None:
        raise Invalid("invalid", "only a late status has a tier")
    if status == EXCUSED:
        if excuse_category not in rules.excuse_categories:
            raise Invalid("invalid", f"excuse category must be one of: {', '.join(rules.excuse_categories)}")
    elif excuse_category is not None:
        raise Invalid("invalid", "only an excused status has an excuse category")
    return {"status": status, "tier": tier if status == LATE else None,
            "late_minutes": int(late_minutes) if status == LATE and late_minutes is not None else None,
            "excuse_category": excuse_category if status == EXCUSED else None}


def _apply(session: Session, rec: AttendanceRecord, *, actor: User, kind: str, values: dict[str, Any],
           reason: str, attachment_ref: str | None, expected_version: int | None) -> AttendanceRecord:
    if expected_version is not None and rec.version != expected_version:
        raise StaleVersion(f"the record changed since you read it (you saw version {expected_version}, "
                           f"it is now {rec.version}); review the current value and try again",
                           current=record_view(rec))
    before = snapshot(rec)
    version_before = rec.version or 0
    for k, v in values.items():
        setattr(rec, k, v)
    rec.corrected = True
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        fresh = session.get_one(AttendanceRecord, rec.id)
        session.refresh(fresh)
        raise StaleVersion("someone else saved this record at the same moment; review the current value",
                           current=record_view(fresh)) from None
    after = snapshot(rec)
    if before == after and version_before:
        raise Invalid("invalid", "nothing to change: the record already has these values")
    corr = Correction(record_id=rec.id, assembly_id=rec.assembly_id, employee_id=rec.employee_id, kind=kind,
                      before=jsonable(before), after=jsonable(after), reason=reason, attachment_ref=attachment_ref,
                      actor_id=actor.id, actor=actor.username, at=utcnow(), version_before=version_before,
                      version_after=rec.version)
    session.add(corr)
    session.flush()
    audit.record(session, actor=actor.username, action=f"attendance.{kind}", entity="attendance_record",
                 entity_id=rec.id, before={**jsonable(before), "version": version_before},
                 after={**jsonable(after), "version": rec.version, "correction_id": corr.id,
                        "attachment_ref": attachment_ref}, reason=reason)
    return rec


def jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in d.items()}


def correct_record(session: Session, record_id: int, *, actor: User, expected_version: int, status: str,
                   tier: str | None = None, late_minutes: int | None = None, excuse_category: str | None = None,
                   reason: str, attachment_ref: str | None = None) -> AttendanceRecord:
    """Set a record's status (present / late+tier / tk / excused+category) with a reason."""
    require_hr(actor)
    reason = checked_reason(reason)
    attachment_ref = checked_text(attachment_ref, "attachment_ref", 500)
    rec = get_record(session, record_id)
    a = get_assembly(session, rec.assembly_id)
    values = _target(Rules.from_ruleset(a.ruleset), status, tier, late_minutes, excuse_category)
    if status == EXCUSED:
        values["excuse_reason"] = reason
        values["excuse_attachment"] = attachment_ref
    else:
        values["excuse_reason"] = None
        values["excuse_attachment"] = None
    return _apply(session, rec, actor=actor, kind="status", values=values, reason=reason,
                  attachment_ref=attachment_ref, expected_version=expected_version)


def excuse_employee(session: Session, assembly_id: int, employee_id: int, *, actor: User, category: str,
                    reason: str, attachment_ref: str | None = None,
                    expected_version: int | None = None) -> AttendanceRecord:
    """Mark someone excused (sakit, izin, cuti, dinas luar, tugas belajar, ...) in an apel, before,
    during or after it; creates the record if the person has none yet."""
    require_hr(actor)
    reason = checked_reason(reason)
    attachment_ref = checked_text(attachment_ref, "attachment_ref", 500)
    a = get_assembly(session, assembly_id)
    emp = session.get(Employee, employee_id)
    if emp is None:
        raise NotFound("not_found", f"employee {employee_id} does not exist")
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == assembly_id,
                                                         AttendanceRecord.employee_id == employee_id)
                          ).scalar_one_or_none()
    values = _target(Rules.from_ruleset(a.ruleset), EXCUSED, None, None, category)
    values.update(excuse_reason=reason, excuse_attachment=attachment_ref)
    if rec is None:
        get_assembly_office(session, assembly_id, emp.office_id)   # the person's office must take part
        if expected_version not in (None, 0):
            raise StaleVersion("this person has no record in this apel yet", current={})
        rec = AttendanceRecord(assembly_id=assembly_id, employee_id=employee_id, office_id=emp.office_id,
                               status=NOT_SEEN, frames=0, mask_frames=0, mask_total=0, distancing_alerts=0,
                               corrected=False)
        session.add(rec)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            current = session.execute(select(AttendanceRecord).where(
                AttendanceRecord.assembly_id == assembly_id, AttendanceRecord.employee_id == employee_id)).scalar_one()
            raise StaleVersion("a record for this person was created at the same moment; review it",
                               current=record_view(current)) from None
        expected_version = rec.version
    return _apply(session, rec, actor=actor, kind="excuse", values=values, reason=reason,
                  attachment_ref=attachment_ref, expected_version=expected_version)


def correction_view(c: Correction) -> dict[str, Any]:
    return {"id": c.id, "record_id": c.record_id, "assembly_id": c.assembly_id, "employee_id": c.employee_id,
            "kind": c.kind, "before": c.before, "after": c.after, "reason": c.reason,
            "attachment_ref": c.attachment_ref, "actor": c.actor, "at": c.at.isoformat(),
            "version_before": c.version_before, "version_after": c.version_after}


def list_corrections(session: Session, *, assembly_id: int | None = None, record_id: int | None = None,
                     limit: int = 500) -> list[Correction]:
    q = select(Correction).order_by(Correction.id.desc()).limit(max(1, min(limit, 5000)))
    if assembly_id is not None:
        q = q.where(Correction.assembly_id == assembly_id)
    if record_id is not None:
        q = q.where(Correction.record_id == record_id)
    return list(session.execute(q).scalars())
