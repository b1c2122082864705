"""Employees over the API. Admin, HR and leaders read every office; operators only their own;
only HR and admins change the roster."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.web.deps import DbId, DbSession, HrUser, require_roles
from app.web.office_scope import ensure_office_access
from app.web.schemas.roster import EmployeeWithPhotos, TemplateOut
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import Invalid
from attendance.models import Employee, FaceTemplate, Role, User
from attendance.roster.employees import (
    create_employee,
    delete_employee,
    employee_dict,
    get_employee,
    list_employees,
    template_counts,
    update_employee,
)
from attendance.roster.offices import office_by_code
from attendance.roster.templates import remove_photo_files, template_dict

router = APIRouter(prefix="/api/v1/employees", tags=["employees"])

RosterReader = Annotated[User, Depends(require_roles(Role.admin, Role.hr, Role.leader, Role.operator))]


class EmployeeIn(BaseModel):
    nip: str = Field(min_length=1, max_length=40, examples=["198503122010011001"])
    name: str = Field(min_length=1, max_length=200)
    office_id: DbId | None = None
    office_code: str | None = Field(None, max_length=32)
    position: str | None = Field(None, max_length=200)
    active: bool = True


class EmployeePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    office_id: DbId | None = None
    position: str | None = Field(None, max_length=200)
    active: bool | None = None


def _with_counts(db: Session, employees: list[Employee]) -> list[dict]:
    counts = template_counts(db, [e.id for e in employees])
    return [{**employee_dict(e), "photos_enrolled": counts.get(e.id, 0)} for e in employees]


@router.get("", response_model=list[EmployeeWithPhotos])
def employees(user: RosterReader, db: DbSession, office_id: DbId | None = None,
              q: str | None = Query(None, max_length=100), active: bool | None = None,
              limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0)) -> list[dict]:
    if user.role == Role.operator.value:
        if office_id is not None:
            ensure_office_access(user, office_id)
        office_id = user.office_id
    return _with_counts(db, list_employees(db, office_id=office_id, q=q, active=active, limit=limit, offset=offset))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=EmployeeWithPhotos)
def create(body: EmployeeIn, user: HrUser, db: DbSession) -> dict:
    office_id = body.office_id
    if office_id is None:
        if not body.office_code:
            raise Invalid("office_missing", "give office_id or office_code")
        office_id = office_by_code(db, body.office_code).id
    emp = run_in_transaction(db, lambda: create_employee(db, actor=user, nip=body.nip, name=body.name,
                                                         office_id=office_id, position=body.position,
                                                         active=body.active))
    return {**employee_dict(emp), "photos_enrolled": 0}


@router.get("/{employee_id}", response_model=EmployeeWithPhotos)
def read(employee_id: DbId, user: RosterReader, db: DbSession) -> dict:
    emp = get_employee(db, employee_id)
    ensure_office_access(user, emp.office_id)
    return _with_counts(db, [emp])[0]


@router.get("/{employee_id}/templates", response_model=list[TemplateOut])
def templates(employee_id: DbId, user: HrUser, db: DbSession) -> list[dict]:
    """Template metadata (kind, quality, source hash); embeddings only via the personal-data export."""
    emp = get_employee(db, employee_id)
    return [template_dict(t) for t in db.query(FaceTemplate).filter(FaceTemplate.employee_id == emp.id)
            .order_by(FaceTemplate.id)]


@router.patch("/{employee_id}", response_model=EmployeeWithPhotos)
def patch(employee_id: DbId, body: EmployeePatch, user: HrUser, db: DbSession) -> dict:
    emp = run_in_transaction(db, lambda: update_employee(db, employee_id, actor=user,
                                                         **body.model_dump(exclude_unset=True)))
    return _with_counts(db, [emp])[0]


@router.delete("/{employee_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(employee_id: DbId, user: HrUser, db: DbSession,
           reason: str | None = Query(None, max_length=500)) -> Response:
    """Deletes the employee and every face template (and kept photo files)."""
    result = run_in_transaction(db, lambda: delete_employee(db, employee_id, actor=user, reason=reason))
    remove_photo_files(result["photo_paths"])
    return Response(status_code=status.HTTP_204_NO_CONTENT)
