"""Attendance records and their corrections. Only HR and admins change records; a stale
`expected_version` gets 409 (code `stale_version`) with the record as it is now in `detail.details`."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.web.deps import DbId, DbSession, HrUser, PeopleReader
from app.web.office_scope import ensure_takes_part, is_operator, scoped_office
from app.web.schemas.attendance import CorrectionOut, RecordOut
from attendance.assemblies.corrections import (
    correct_record,
    correction_view,
    excuse_employee,
    get_record,
    list_corrections,
)
from attendance.assemblies.sightings import record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import Forbidden
from attendance.models import AttendanceRecord, User

router = APIRouter(prefix="/api/v1", tags=["corrections"])


class CorrectionIn(BaseModel):
    expected_version: int = Field(ge=0, description="The record version you saw; a newer one on the server gets 409")
    status: Literal["present", "late", "tk", "excused"]
    tier: Literal["TL1", "TL2", "TL3", "TL4"] | None = None
    late_minutes: int | None = Field(None, ge=1, le=1440)
    excuse_category: str | None = Field(None, max_length=32)
    reason: str = Field(min_length=1, max_length=2000)
    attachment_ref: str | None = Field(None, max_length=500, description="Letter number or file name of the evidence")


class ExcuseIn(BaseModel):
    employee_id: DbId
    category: str = Field(max_length=32, description="sakit | izin | cuti | dinas_luar | tugas_belajar (per rule set)")
    reason: str = Field(min_length=1, max_length=2000)
    attachment_ref: str | None = Field(None, max_length=500)
    expected_version: int | None = Field(None, ge=0)


def _readable_record(db: Session, user: User, record_id: int) -> AttendanceRecord:
    rec = get_record(db, record_id)
    scoped_office(user, rec.office_id)
    return rec


@router.get("/records/{record_id}", response_model=RecordOut, response_model_exclude_unset=True)
def show_record(record_id: DbId, user: PeopleReader, db: DbSession) -> dict:
    rec = _readable_record(db, user, record_id)
    return record_view(rec)


@router.post("/records/{record_id}/corrections", response_model=RecordOut, response_model_exclude_unset=True)
def correct(record_id: DbId, body: CorrectionIn, user: HrUser, db: DbSession) -> dict:
    rec = run_in_transaction(db, lambda: correct_record(
        db, record_id, actor=user, expected_version=body.expected_version, status=body.status, tier=body.tier,
        late_minutes=body.late_minutes, excuse_category=body.excuse_category, reason=body.reason,
        attachment_ref=body.attachment_ref))
    return record_view(rec)


@router.get("/records/{record_id}/corrections", response_model=list[CorrectionOut])
def record_corrections(record_id: DbId, user: PeopleReader, db: DbSession) -> list[dict]:
    _readable_record(db, user, record_id)
    return [correction_view(c) for c in list_corrections(db, record_id=record_id)]


@router.post("/assemblies/{assembly_id}/excuses", response_model=RecordOut, response_model_exclude_unset=True)
def excuse(assembly_id: DbId, body: ExcuseIn, user: HrUser, db: DbSession) -> dict:
    rec = run_in_transaction(db, lambda: excuse_employee(
        db, assembly_id, body.employee_id, actor=user, category=body.category, reason=body.reason,
        attachment_ref=body.attachment_ref, expected_version=body.expected_version))
    return record_view(rec)


@router.get("/corrections", response_model=list[CorrectionOut])
def corrections(user: PeopleReader, db: DbSession, assembly_id: DbId | None = None,
                limit: int = Query(500, ge=1, le=5000)) -> list[dict]:
    if is_operator(user):
        if assembly_id is None:
            raise Forbidden("forbidden", "operators must name an apel of their office")
        ensure_takes_part(db, user, assembly_id)
        own = user.office_id
        return [correction_view(c) for c in list_corrections(db, assembly_id=assembly_id, limit=limit)
                if db.get_one(AttendanceRecord, c.record_id).office_id == own]
    return [correction_view(c) for c in list_corrections(db, assembly_id=assembly_id, limit=limit)]
