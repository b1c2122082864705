"""People in the room whom no camera detected, marked present by hand during the apel, and taken back
(attendance.assemblies.present_by_hand); the office operator's page and the leader console use them
beside the faces (static/live/confirm.js).

The same people may as for the faces (app.web.api.confirmations): a signed-in operator for their
own office, leaders, HR and admins for every office; an office token alone marks nobody present."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.web.api.live import Live
from app.web.deps import CurrentUser, DbId
from app.web.schemas.attendance import RecordOut
from app.web.schemas.present_by_hand import HandMarksOut
from attendance.assemblies.confirmations import can_confirm
from attendance.assemblies.hand_marks import hand_marks, with_local
from attendance.assemblies.lookups import get_assembly
from attendance.assemblies.present_by_hand import mark_present_by_hand, undo_present_by_hand
from attendance.assemblies.sightings import record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import Forbidden
from attendance.models import AttendanceRecord, Employee, Office, Role, User

router = APIRouter(prefix="/api/v1/live/present-by-hand", tags=["live"])
ANSWERING = (Role.operator.value, Role.admin.value, Role.leader.value, Role.hr.value)


def _refuse_non_answering(user: User) -> None:
    if user.role not in ANSWERING:
        raise Forbidden("not_allowed_to_confirm", "only operators, leaders, HR and admins mark people present")


@router.get("/{assembly_id}", response_model=HandMarksOut)
async def marks(assembly_id: DbId, live: Live, user: CurrentUser) -> dict[str, Any]:
    """Who was marked present by hand in this apel, in the offices the user answers for (to undo)."""
    _refuse_non_answering(user)

    def read(session: Session) -> list[dict[str, Any]]:
        get_assembly(session, assembly_id)
        offices = [user.office_id or 0] if user.role == Role.operator.value else None
        found = hand_marks(session, assembly_id, offices)
        if not found:
            return []
        rows = session.execute(select(Employee, Office.code, Office.timezone, AttendanceRecord.status)
                               .join(Office, Office.id == Employee.office_id)
                               .join(AttendanceRecord, (AttendanceRecord.employee_id == Employee.id)
                                     & (AttendanceRecord.assembly_id == assembly_id))
                               .where(Employee.id.in_(list(found))).order_by(Employee.name, Employee.id)).all()
        return [{"employee_id": e.id, "name": e.name, "nip": e.nip, "office_id": e.office_id, "office": code,
                 "status": status, **with_local(found[e.id], tz)}
                for e, code, tz, status in rows if can_confirm(user, e.office_id)]

    return {"assembly_id": assembly_id, "marks": await live.db.run(read)}


@router.post("/{assembly_id}/{employee_id}", response_model=RecordOut, response_model_exclude_unset=True)
async def mark(assembly_id: DbId, employee_id: DbId, live: Live, user: CurrentUser) -> dict[str, Any]:
    """This person of the office is in the room though no camera detected them: present from now, with
    the user as the record's source; no face is learned."""
    def work(session: Session) -> dict[str, Any]:
        rec = run_in_transaction(session, lambda: mark_present_by_hand(session, assembly_id, employee_id,
                                                                       actor=user))
        return {**record_view(rec), "by_hand": hand_marks(session, assembly_id, employee_ids=[employee_id])
                .get(employee_id)}

    out = await live.db.run(work)
    live.rollcalls.mark_due(assembly_id, now=True)
    return out


@router.post("/{assembly_id}/{employee_id}/undo", status_code=204)
async def undo(assembly_id: DbId, employee_id: DbId, live: Live, user: CurrentUser) -> Response:
    """Take the hand mark back: the record is what the cameras alone say again (or gone, when the mark
    made it)."""
    await live.db.run(lambda s: run_in_transaction(s, lambda: undo_present_by_hand(s, assembly_id, employee_id,
                                                                                   actor=user)))
    live.rollcalls.mark_due(assembly_id, now=True)
    return Response(status_code=204)
