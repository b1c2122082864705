"""Offices (OPD) over the API. Everyone logged in may read (operators only their own office);
HR and admins change them."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field, WithJsonSchema

from app.web.deps import CurrentUser, DbSession, HrUser, ensure_office_access
from attendance.models import Role
from attendance.roster import (
    RosterError, create_office, delete_office, get_office, list_offices, office_dict, run_in_transaction,
    update_office)
from attendance.vision.config import ROW_LINES_MAX

from app.web.api.roster_common import http_error

router = APIRouter(prefix="/api/v1/offices", tags=["offices"])

# A list of numbers in the schema, but taken as it comes: the roster judges it (attendance.vision.config),
# so a string or a nested list is refused like a bad distance (422, code "row_lines_m", with its
# hint) rather than in pydantic's own shape, and "3" is not quietly taken for 3.
RowLines = Annotated[Any, WithJsonSchema({"anyOf": [{"type": "array", "items": {"type": "number"}, "minItems": 1,
                                                      "maxItems": ROW_LINES_MAX}, {"type": "null"}]})]


class OfficeIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, examples=["DISKOMINFOS"])
    name: str = Field(min_length=1, max_length=200, examples=["Dinas Komunikasi, Informatika dan Statistik"])
    timezone: str = Field("Asia/Makassar", max_length=64)
    camera_hfov_deg: float | None = None
    min_distance_m: float | None = None
    back_row_m: float | None = Field(None, description="Back row's distance from the camera (m), if known.")
    camera_height_m: float | None = Field(None, description="Camera's height above the floor (m, 0.5-20), if measured.")
    row_lines_m: RowLines = Field(None, description="The formation's row lines: each one's distance from the camera "
                                  "along the floor (m, 0.5-30, at least 0.3 apart), front row first, if measured.")


class OfficePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    camera_hfov_deg: float | None = None
    min_distance_m: float | None = None
    back_row_m: float | None = Field(None, description="Back row's distance from the camera (m); null: unknown.")
    camera_height_m: float | None = Field(None, description="Camera's height above the floor (m, 0.5-20); null: unknown.")
    row_lines_m: RowLines = Field(None, description="The formation's row lines from the camera (m, 0.5-30, at least "
                                  "0.3 apart), front row first; null: unknown.")
    active: bool | None = None


@router.get("")
def offices(user: CurrentUser, db: DbSession, active: bool | None = None) -> list[dict]:
    only = user.office_id if user.role == Role.operator.value else None
    if user.role == Role.operator.value and only is None:
        return []
    return [office_dict(o) for o in list_offices(db, only_id=only, active=active)]


@router.post("", status_code=status.HTTP_201_CREATED)
def create(body: OfficeIn, request: Request, user: HrUser, db: DbSession) -> dict:
    try:
        office = run_in_transaction(db, lambda: create_office(db, actor=user, **body.model_dump()))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return office_dict(office)


@router.get("/{office_id}")
def read(office_id: int, request: Request, user: CurrentUser, db: DbSession) -> dict:
    ensure_office_access(user, office_id)
    try:
        return office_dict(get_office(db, office_id))
    except RosterError as exc:
        raise http_error(request, exc) from None


@router.patch("/{office_id}")
def patch(office_id: int, body: OfficePatch, request: Request, user: HrUser, db: DbSession) -> dict:
    try:
        office = run_in_transaction(db, lambda: update_office(db, office_id, actor=user,
                                                             **body.model_dump(exclude_unset=True)))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return office_dict(office)


@router.delete("/{office_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(office_id: int, request: Request, user: HrUser, db: DbSession) -> Response:
    try:
        run_in_transaction(db, lambda: delete_office(db, office_id, actor=user))
    except RosterError as exc:
        raise http_error(request, exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)
