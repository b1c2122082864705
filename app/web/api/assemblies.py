"""Apels over HTTP: schedule, start, end (leader/admin), office join tokens (leader/admin), and the
roll-call and records (every logged-in role; operators only for their own office; observers get the
roll-call's figures without the people, and no records)."""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from app.web.audit_checkpoints import sign_now
from app.web.deps import (
    CurrentUser,
    DbId,
    DbSession,
    LeaderUser,
    PeopleReader,
    SettingsDep,
    sees_people,
    without_people,
)
from app.web.join_link import join_path, join_url
from app.web.office_scope import ensure_takes_part, is_operator, scoped_office
from app.web.schemas.attendance import AssemblyOut, OfficeTokenOut, RecordOut, RollcallOut
from attendance.assemblies.hand_marks import hand_marks, is_by_hand
from attendance.assemblies.lifecycle import (
    assembly_view,
    create_assembly,
    end_assembly,
    issue_office_token,
    list_assemblies,
    start_assembly,
)
from attendance.assemblies.lookups import get_assembly, get_assembly_office
from attendance.assemblies.sightings import live_rollcall, record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.models import AttendanceRecord, Employee

router = APIRouter(prefix="/api/v1/assemblies", tags=["assemblies"])


class AssemblyIn(BaseModel):
    kind: str = Field(description="pagi | sore | disiplin | upacara")
    title: str = Field(min_length=1, max_length=200)
    scheduled_start: datetime | None = Field(
        None, description="One instant for all offices, with zone, e.g. 2026-11-30T00:30:00Z")
    local_date: date | None = Field(None, description="With local_time: the same wall-clock time in each office's zone")
    local_time: time | None = None
    office_ids: list[DbId] = Field(min_length=1, max_length=1000)
    duration_minutes: int = Field(60, ge=1, le=1440)
    ruleset_name: str | None = Field(None, max_length=32,
                                     description="Rule family; default: one named after the kind, else 'default'")


class TokenIn(BaseModel):
    ttl_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60, description="Default: APEL_OFFICE_TOKEN_TTL_MINUTES")


def _view_for(user: Any, a: Any) -> dict:
    view = assembly_view(a)
    if is_operator(user):
        view["offices"] = [o for o in view["offices"] if o["office_id"] == user.office_id]
    return view


@router.post("", status_code=201, response_model=AssemblyOut)
def create(body: AssemblyIn, user: LeaderUser, db: DbSession) -> dict:
    a = run_in_transaction(db, lambda: create_assembly(
        db, actor=user, kind=body.kind, title=body.title, scheduled_start=body.scheduled_start,
        office_ids=body.office_ids, local_date=body.local_date, local_time=body.local_time,
        duration_minutes=body.duration_minutes, ruleset_name=body.ruleset_name))
    return assembly_view(a)


@router.get("", response_model=list[AssemblyOut])
def index(user: CurrentUser, db: DbSession, status: str | None = None, office_id: DbId | None = None,
          since: AwareDatetime | None = None, until: AwareDatetime | None = None,
          limit: int = Query(200, ge=1, le=1000)) -> list[dict]:
    office_id = scoped_office(user, office_id)
    return [_view_for(user, a) for a in list_assemblies(db, office_id=office_id, status=status, since=since,
                                                        until=until, limit=limit)]


@router.get("/{assembly_id}", response_model=AssemblyOut)
def show(assembly_id: DbId, user: CurrentUser, db: DbSession) -> dict:
    a = get_assembly(db, assembly_id)
    ensure_takes_part(db, user, assembly_id)
    return _view_for(user, a)


@router.post("/{assembly_id}/start", response_model=AssemblyOut)
def start(assembly_id: DbId, user: LeaderUser, db: DbSession) -> dict:
    return assembly_view(run_in_transaction(db, lambda: start_assembly(db, assembly_id, actor=user)))


@router.post("/{assembly_id}/end", response_model=AssemblyOut)
def end(assembly_id: DbId, user: LeaderUser, db: DbSession, request: Request) -> dict:
    view = assembly_view(run_in_transaction(db, lambda: end_assembly(db, assembly_id, actor=user)))
    sign_now(request.app, db, f"apel {assembly_id} ended")
    live = getattr(request.app.state, "live", None)
    if live is not None:   # disconnect the offices now rather than at the live service's next poll
        anyio.from_thread.run(live.close_assembly, assembly_id)
    return view


@router.post("/{assembly_id}/offices/{office_id}/token", status_code=201, response_model=OfficeTokenOut)
def token(assembly_id: DbId, office_id: DbId, user: LeaderUser, db: DbSession, settings: SettingsDep,
          request: Request, body: TokenIn | None = None) -> dict:
    """The plaintext token is in this answer only; give it to the office operator (or `apel camera`)."""
    ttl = body.ttl_minutes if body is not None and body.ttl_minutes else settings.office_token_ttl_minutes
    plaintext = run_in_transaction(db, lambda: issue_office_token(db, assembly_id, office_id, actor=user,
                                                                  ttl_minutes=ttl))
    ao = get_assembly_office(db, assembly_id, office_id)
    assert ao.token_expires_at is not None  # issue_office_token has just set it
    code = ao.office.code
    return {"assembly_id": assembly_id, "office_id": office_id, "office_code": code, "token": plaintext,
            "expires_at": ao.token_expires_at.isoformat(),
            "join_path": join_path(code, plaintext), "join_url": join_url(request, settings, code, plaintext)}


@router.get("/{assembly_id}/rollcall", response_model=RollcallOut, response_model_exclude_unset=True)
def rollcall(assembly_id: DbId, user: CurrentUser, db: DbSession, office_id: DbId | None = None) -> dict:
    office_id = scoped_office(user, office_id)
    get_assembly(db, assembly_id)
    ensure_takes_part(db, user, assembly_id)
    view = live_rollcall(db, assembly_id, office_id)
    return view if sees_people(user) else without_people(view)


@router.get("/{assembly_id}/records", response_model=list[RecordOut], response_model_exclude_unset=True)
def records(assembly_id: DbId, user: PeopleReader, db: DbSession, office_id: DbId | None = None,
            status: str | None = None,
            by_hand: bool | None = Query(None, description="true: only the records an operator marked present "
                                         "by hand (not seen by the camera); false: only the others")) -> list[dict]:
    office_id = scoped_office(user, office_id)
    a = get_assembly(db, assembly_id)
    ensure_takes_part(db, user, assembly_id)
    tz = {ao.office_id: ao.office.timezone for ao in a.offices}
    q = (select(AttendanceRecord, Employee).join(Employee, Employee.id == AttendanceRecord.employee_id)
         .where(AttendanceRecord.assembly_id == assembly_id).order_by(Employee.name, Employee.id))
    if office_id is not None:
        q = q.where(AttendanceRecord.office_id == office_id)
    if status:
        q = q.where(AttendanceRecord.status == status)
    if by_hand is not None:
        q = q.where(is_by_hand() if by_hand else ~is_by_hand())
    marks = hand_marks(db, assembly_id, [office_id] if office_id is not None else None)
    return [{**record_view(r, e, tz.get(r.office_id)), **({"by_hand": marks[r.employee_id]}
                                                          if r.employee_id in marks else {})}
            for r, e in db.execute(q).all()]
