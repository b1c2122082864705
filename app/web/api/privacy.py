"""Personal data (UU PDP 27/2022): export everything stored about one person, erase their face data.

Only HR and admins; both actions are written to the audit log."""
from __future__ import annotations

import json

from fastapi import APIRouter, Query, Response

from app.web.deps import DbId, DbSession, HrUser
from app.web.schemas.roster import GeometryForgotten, TemplatesErased
from attendance.db.unit_of_work import run_in_transaction
from attendance.roster.learned_geometry import forget_geometry
from attendance.roster.privacy import erase_templates, export_person
from attendance.roster.templates import remove_photo_files

router = APIRouter(prefix="/api/v1/employees", tags=["privacy"])


@router.get("/{employee_id}/export")
def export(employee_id: DbId, user: HrUser, db: DbSession) -> Response:
    """Everything stored about the person, as a JSON file to download."""
    data = run_in_transaction(db, lambda: export_person(db, employee_id, actor=user))  # audited
    body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    nip = data["employee"]["nip"]
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="apel-data-{nip}.json"'})


@router.delete("/{employee_id}/templates", response_model=TemplatesErased)
def erase(employee_id: DbId, user: HrUser, db: DbSession, reason: str | None = Query(None, max_length=500)) -> dict:
    """Erase the person's face templates (and kept photos); the employee and their records stay."""
    paths = run_in_transaction(db, lambda: erase_templates(db, employee_id, actor=user, reason=reason))
    remove_photo_files(paths)
    return {"ok": True, "photos_removed": len(paths)}


@router.delete("/{employee_id}/learned-geometry", response_model=GeometryForgotten)
def forget(employee_id: DbId, user: HrUser, db: DbSession, reason: str | None = Query(None, max_length=500)) -> dict:
    """Forget what the cameras learned of the person's face geometry (the distancing check starts
    them afresh); their face templates stay."""
    n = run_in_transaction(db, lambda: forget_geometry(db, employee_id, actor=user, reason=reason))
    return {"ok": True, "roll_calls_forgotten": n}
