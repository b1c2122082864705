"""The HR review queue of unknown and low-confidence faces (HR and admins only)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from app.live.review_sync import review_answer_changed
from app.web.deps import DbId, DbSession, HrUser
from app.web.schemas.attendance import RecordOut, ReviewItemOut
from attendance.assemblies.review import (
    assign_review_item,
    dismiss_review_item,
    list_review_items,
    purge_expired,
    review_view,
    undo_review_item,
    view_evidence,
)
from attendance.assemblies.sightings import record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import NotFound

router = APIRouter(prefix="/api/v1/review", tags=["review"])


class AssignIn(BaseModel):
    employee_id: DbId
    reason: str = Field(min_length=1, max_length=2000)
    expected_version: int | None = Field(None, ge=0, description="Version of the employee's record you saw, if any")


class DismissIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class UndoIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why the answer was wrong")


@router.get("", response_model=list[ReviewItemOut])
def queue(user: HrUser, db: DbSession, assembly_id: DbId | None = None, office_id: DbId | None = None,
          status: str | None = Query("open", description="open | assigned | dismissed; empty = all"),
          limit: int = Query(500, ge=1, le=5000)) -> list[dict]:
    run_in_transaction(db, lambda: purge_expired(db))   # retention is enforced whenever the queue is read
    return [review_view(i) for i in list_review_items(db, assembly_id=assembly_id, office_id=office_id,
                                                      status=status or None, limit=limit)]


@router.post("/{item_id}/assign", response_model=RecordOut, response_model_exclude_unset=True)
def assign(item_id: DbId, body: AssignIn, user: HrUser, db: DbSession, request: Request) -> dict:
    rec = run_in_transaction(db, lambda: assign_review_item(db, item_id, actor=user, employee_id=body.employee_id,
                                                            reason=body.reason, expected_version=body.expected_version))
    review_answer_changed(request.app, rec.assembly_id)
    return record_view(rec)


@router.post("/{item_id}/dismiss", response_model=ReviewItemOut)
def dismiss(item_id: DbId, body: DismissIn, user: HrUser, db: DbSession, request: Request) -> dict:
    item = run_in_transaction(db, lambda: dismiss_review_item(db, item_id, actor=user, reason=body.reason))
    review_answer_changed(request.app, item.assembly_id)
    return review_view(item)


@router.post("/{item_id}/undo", response_model=ReviewItemOut)
def undo(item_id: DbId, body: UndoIn, user: HrUser, db: DbSession, request: Request) -> dict:
    """Take an answer back, HR's or an operator's: a confirmed face's record goes back to what the
    cameras alone say and its learned face template is deleted; a dismissed face is reopened. The item
    is open again (409 `not_answered` when it was never answered). While the apel runs, the office
    page and the console ask for that face again."""
    item = run_in_transaction(db, lambda: undo_review_item(db, item_id, actor=user, reason=body.reason))
    review_answer_changed(request.app, item.assembly_id)
    return review_view(item)


@router.get("/{item_id}/evidence", responses={200: {"content": {"image/jpeg": {}}, "description": "The face crop"}})
def evidence(item_id: DbId, user: HrUser, db: DbSession) -> Response:
    """The face crop, only when evidence keeping was on and the retention period has not ended."""
    path = run_in_transaction(db, lambda: view_evidence(db, item_id, actor=user))   # each look audited
    if isinstance(path, bytes):   # a vision node's crop, kept in the database
        return Response(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
    if not path or not Path(path).is_file():
        raise NotFound("no_evidence", "no face crop is kept for this item (evidence keeping is off or it expired)")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
