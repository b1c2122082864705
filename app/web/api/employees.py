"""Employees over the API. Admin, HR and leaders read every office; operators only their own;
only HR and admins change the roster."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from app.web.deps import DbSession, HrUser, ensure_office_access, require_roles
from attendance.roster.enrolment import remove_photo_files, template_dict
from attendance.models import FaceTemplate, Role, User
from attendance.roster import (
    RosterError, create_employee, delete_employee, employee_dict, get_employee, list_employees, office_by_code,
    run_in_transaction, template_counts, update_employee)

from app.web.api.roster_common import http_error

router = APIRouter(prefix="/api/v1/employees", tags=["employees"])

RosterReader = Annotated[User, Depends(require_roles(Role.admin, Role.hr, Role.leader, Role.operator))]


class EmployeeIn(BaseModel):
    nip: str = Field(min_length=1, max_length=40, examples=["198503122010011001"])
    name: str = Field(min_length=1, max_length=200)
    office_id: int | None = None
    office_code: str | None = Field(None, max_length=32)
    position: str | None = Field(None, max_length=200)
    active: bool = True


class EmployeePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    office_id: int | None = None
    position: str | None = Field(None, max_length=200)
    active: bool | None = None


def _with_counts(db, employees) -> list[dict]:  # noqa: ANN001
    counts = template_counts(db, [e.id for e in employees])
    return [{**employee_dict(e), "photos_enrolled": counts.get(e.id, 0)} for e in employees]


@router.get("")
def employees(user: RosterReader, db: DbSession, office_id: int | None = None,
              q: str | None = Query(None, max_length=100), active: bool | None = None,
              limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0)) -> list[dict]:
    if user.role == Role.operator.value:
        if office_id is not None:
            ensure_office_access(user, office_id)
        office_id = user.office_id
    return _with_counts(db, list_employees(db, office_id=office_id, q=q, active=active, limit=limit, offset=offset))


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: EmployeeIn, request: Request, user: HrUser, db: DbSession) -> dict:
    try:
        office_id = body.office_id
        if office_id is None:
            if not body.office_code:
                raise HTTPException(422, detail={"code": "office_missing", "message": "give office_id or office_code"})
            office_id = office_by_code(db, body.office_code).id
        emp = run_in_transaction(db, lambda: create_employee(db, actor=user, nip=body.nip, name=body.name,
                                                             office_id=office_id, position=body.position,
                                                             active=body.active))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return {**employee_dict(emp), "photos_enrolled": 0}


@router.get("/{employee_id}")
def read(employee_id: int, request: Request, user: RosterReader, db: DbSession) -> dict:
    try:
        emp = get_employee(db, employee_id)
    except RosterError as exc:
        raise http_error(request, exc) from None
    ensure_office_access(user, emp.office_id)
    return _with_counts(db, [emp])[0]


@router.get("/{employee_id}/templates")
def templates(employee_id: int, request: Request, user: HrUser, db: DbSession) -> list[dict]:
    """Template metadata (kind, quality, source hash); embeddings only via the personal-data export."""
    try:
        emp = get_employee(db, employee_id)
    except RosterError as exc:
        raise http_error(request, exc) from None
    return [template_dict(t) for t in db.query(FaceTemplate).filter(FaceTemplate.employee_id == emp.id)
            .order_by(FaceTemplate.id)]


@router.patch("/{employee_id}")
def patch(employee_id: int, body: EmployeePatch, request: Request, user: HrUser, db: DbSession) -> dict:
    try:
        emp = run_in_transaction(db, lambda: update_employee(db, employee_id, actor=user,
                                                             **body.model_dump(exclude_unset=True)))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return _with_counts(db, [emp])[0]


@router.delete("/{employee_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(employee_id: int, request: Request, user: HrUser, db: DbSession,
           reason: str | None = Query(None, max_length=500)) -> Response:
    """Deletes the employee and every face template (and kept photo files)."""
    try:
        result = run_in_transaction(db, lambda: delete_employee(db, employee_id, actor=user, reason=reason))
    except RosterError as exc:
        raise http_error(request, exc) from None
    remove_photo_files(result["photo_paths"])
    return Response(status_code=status.HTTP_204_NO_CONTENT)
