"""Offices (OPD) over the API. Everyone logged in may read (operators only their own office);
HR and admins change them."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, WithJsonSchema

from app.web.deps import CurrentUser, DbId, DbSession, HrUser
from app.web.office_scope import ensure_office_access
from app.web.schemas.roster import OfficeOut
from attendance.db.unit_of_work import run_in_transaction
from attendance.models import Role
from attendance.roster.offices import create_office, delete_office, get_office, list_offices, office_dict, update_office
from attendance.vision.config import CAMERA_HEIGHT_M, ROW_LINE_M, ROW_LINES_MAX, ROW_LINES_MIN_GAP_M

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
    camera_height_m: float | None = Field(None, description="Camera's height above the floor "
                                          f"(m, {CAMERA_HEIGHT_M.lo:g}-{CAMERA_HEIGHT_M.hi:g}), if measured.")
    row_lines_m: RowLines = Field(None, description="The formation's row lines: each one's distance from the camera "
                                  f"along the floor (m, {ROW_LINE_M.lo:g}-{ROW_LINE_M.hi:g}, at least "
                                  f"{ROW_LINES_MIN_GAP_M:g} apart), front row first, if measured.")


class OfficePatch(BaseModel):
    name: str | None = Field(None, max_length=200)
    timezone: str | None = Field(None, max_length=64)
    camera_hfov_deg: float | None = None
    min_distance_m: float | None = None
    back_row_m: float | None = Field(None, description="Back row's distance from the camera (m); null: unknown.")
    camera_height_m: float | None = Field(None, description="Camera's height above the floor "
                                          f"(m, {CAMERA_HEIGHT_M.lo:g}-{CAMERA_HEIGHT_M.hi:g}); null: unknown.")
    row_lines_m: RowLines = Field(None, description="The formation's row lines from the camera "
                                  f"(m, {ROW_LINE_M.lo:g}-{ROW_LINE_M.hi:g}, at least {ROW_LINES_MIN_GAP_M:g} apart), "
                                  "front row first; null: unknown.")
    active: bool | None = None


@router.get("", response_model=list[OfficeOut])
def offices(user: CurrentUser, db: DbSession, active: bool | None = None) -> list[dict]:
    only = user.office_id if user.role == Role.operator.value else None
    if user.role == Role.operator.value and only is None:
        return []
    return [office_dict(o) for o in list_offices(db, only_id=only, active=active)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OfficeOut)
def create(body: OfficeIn, user: HrUser, db: DbSession) -> dict:
    office = run_in_transaction(db, lambda: create_office(db, actor=user, **body.model_dump()))
    return office_dict(office)


@router.get("/{office_id}", response_model=OfficeOut)
def read(office_id: DbId, user: CurrentUser, db: DbSession) -> dict:
    ensure_office_access(user, office_id)
    return office_dict(get_office(db, office_id))


@router.patch("/{office_id}", response_model=OfficeOut)
def patch(office_id: DbId, body: OfficePatch, user: HrUser, db: DbSession) -> dict:
    office = run_in_transaction(db, lambda: update_office(db, office_id, actor=user,
                                                         **body.model_dump(exclude_unset=True)))
    return office_dict(office)


@router.delete("/{office_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(office_id: DbId, user: HrUser, db: DbSession) -> Response:
    run_in_transaction(db, lambda: delete_office(db, office_id, actor=user))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
