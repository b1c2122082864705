"""Faces answered during the apel: the faces the cameras could not name with confidence (their crops,
held in memory for the running apel), the office's roster people not yet seen, and the answers
(confirm as a person, not on the roster, undo). The office operator's page and the leader console
use them (static/live/confirm.js).

Who may: a signed-in operator for their own office, leaders, HR and admins for every office
(attendance.assemblies.confirmations); an office token alone answers nothing, since an answer marks
someone present and teaches their face, and it needs a person to account for it."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import make_url, select
from sqlalchemy.orm import Session

from app.live.crops import LiveFace
from app.live.node_faces import joined_apel, node_face, node_faces
from app.web.api.live import Live
from app.web.deps import CurrentUser, DbId
from app.web.schemas.attendance import RecordOut
from app.web.schemas.confirmations import LiveFacesOut
from attendance.assemblies.confirmations import (
    LiveFaceRef,
    can_confirm,
    confirm_face,
    live_answers,
    mark_visitor,
    undo_answer,
    unseen_roster,
)
from attendance.assemblies.sightings import record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import Forbidden, NotFound
from attendance.models import Employee, Office, Role, User

router = APIRouter(prefix="/api/v1/live/faces", tags=["live"])


class ConfirmIn(BaseModel):
    employee_id: DbId


def _office_by_code(session: Session, code: str) -> int | None:
    return session.execute(select(Office.id).where(Office.code == code)).scalar_one_or_none()


async def _face(live: Any, face_id: str, user: User) -> LiveFace:
    face: LiveFace | None = live.crops.get(face_id)
    if face is None:   # a face a vision node analysed: from the database (app.live.node_faces)
        face = await live.db.run(node_face, face_id)
    if face is None:
        raise NotFound("no_such_face", "this face is not held any more (the apel ended, or the server restarted)")
    if not can_confirm(user, face.office_id):
        raise Forbidden("not_allowed_to_confirm",
                        "only this office's operator, a leader, HR or an admin may answer its faces")
    return face


def _ref(face: LiveFace) -> LiveFaceRef:
    return LiveFaceRef(face.assembly_id, face.office_id, face.track_key, embedding=face.embedding,
                       embedding_backend=face.backend, confidence=face.confidence, crop_jpeg=face.jpeg)


@router.get("", response_model=LiveFacesOut)
async def faces(live: Live, user: CurrentUser, assembly_id: DbId | None = None,
                office: str | None = Query(None, max_length=32, description="Office code")) -> dict[str, Any]:
    """The faces waiting for an answer (and those answered, to undo), with the picker's people. The
    office page asks by office code (the apel its camera is in); the console by apel."""
    if user.role not in (Role.operator.value, Role.admin.value, Role.leader.value, Role.hr.value):
        raise Forbidden("not_allowed_to_confirm", "only operators, leaders, HR and admins answer faces")
    office_id: int | None = None
    if office:
        office_id = await live.db.run(_office_by_code, office.strip())
        if office_id is None:
            raise NotFound("not_found", f"office {office!r} does not exist")
    if user.role == Role.operator.value:
        if office_id is not None and office_id != user.office_id:
            raise Forbidden("not_allowed_to_confirm", "an operator answers only their own office's faces")
        office_id = user.office_id
    if assembly_id is None and office_id is not None:
        assembly_id = next((i.assembly_id for i in live.streams.values() if i.office_id == office_id), None)
        if assembly_id is None:   # joined through another web process, or vision nodes analyse it
            assembly_id = await live.db.run(joined_apel, office_id)
    if assembly_id is None:
        return {"assembly_id": None, "faces": [], "candidates": {}}
    held = [f for f in live.crops.faces(assembly_id, office_id) if can_confirm(user, f.office_id)]
    offices = sorted({f.office_id for f in held} | ({office_id} if office_id else set()))

    seen = {f.face_id: (f.status, f.employee_id) for f in held}   # before the queue is read (CropStore.follow)
    wanted = {i for f in held for i in (f.employee_id, int(f.suggested) if f.suggested else None) if i}

    def picker(session: Session) -> tuple[dict[str, list[dict[str, Any]]], dict[int, str],
                                          dict[tuple[int, str], tuple[str, int | None, str | None]]]:
        answers = live_answers(session, assembly_id, [(f.office_id, f.track_key) for f in held])
        ids = wanted | {a[1] for a in answers.values() if a[1]}
        rows = session.execute(select(Employee.id, Employee.name).where(Employee.id.in_(ids))).all() \
            if ids else []
        names = {int(i): str(n) for i, n in rows}
        return {str(o): unseen_roster(session, assembly_id, o) for o in offices}, names, answers

    candidates, names, answers = await live.db.run(picker)
    for f in held:   # HR may have answered or undone in the review queue meanwhile: the queue is the truth
        answer = answers.get((f.office_id, f.track_key))
        if answer is not None and answer[:2] != seen[f.face_id]:
            live.crops.follow(f.face_id, seen[f.face_id], *answer)
    unseen = {c["employee_id"] for people in candidates.values() for c in people}
    shown = [f for f in live.crops.needing_answer(assembly_id, office_id, unseen) if can_confirm(user, f.office_id)]
    shown += await _node_faces(live, user, assembly_id, office_id, candidates, names)
    return {"assembly_id": assembly_id, "candidates": candidates,
            "faces": [{**f.view(), "crop_url": f"/api/v1/live/faces/{f.face_id}/crop",
                       "employee_name": names.get(f.employee_id) if f.employee_id else None,
                       "suggested_name": names.get(int(f.suggested)) if f.suggested else None} for f in shown]}


async def _node_faces(live: Any, user: User, assembly_id: int, office_id: int | None,
                      candidates: dict[str, list[dict[str, Any]]], names: dict[int, str]) -> list[LiveFace]:
    """The faces vision nodes analysed (their review items, app.live.node_faces), shown by the same
    rule as the held ones; their offices' pickers and the names they need are added in place. Vision
    nodes run on PostgreSQL only (`apel node` refuses SQLite): on SQLite there are none to ask about."""
    if make_url(live.settings.db_url).get_backend_name() != "postgresql":
        return []
    faces = [f for f in await live.db.run(node_faces, assembly_id, office_id, f"{live.boot}-")
             if can_confirm(user, f.office_id)]
    extra = sorted({f.office_id for f in faces} - {int(o) for o in candidates})
    wanted = {i for f in faces for i in (f.employee_id, int(f.suggested) if f.suggested else None)
              if i and i not in names}

    def more(session: Session) -> None:
        candidates.update({str(o): unseen_roster(session, assembly_id, o) for o in extra})
        if wanted:
            names.update({int(i): str(n) for i, n in session.execute(
                select(Employee.id, Employee.name).where(Employee.id.in_(wanted))).all()})
    if extra or wanted:
        await live.db.run(more)
    return faces


@router.get("/{face_id}/crop", responses={200: {"content": {"image/jpeg": {}}, "description": "The face crop"}})
async def crop(face_id: str, live: Live, user: CurrentUser) -> Response:
    """The face's crop from memory (never written here), or a vision node's from its review item, for
    whoever may answer it."""
    face = await _face(live, face_id, user)
    if not face.jpeg:   # a node's face answered "visitor" (its picture dropped)
        raise NotFound("no_crop", "this face's picture is not kept any more")
    return Response(face.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/{face_id}/confirm", response_model=RecordOut, response_model_exclude_unset=True)
async def confirm(face_id: str, body: ConfirmIn, live: Live, user: CurrentUser) -> dict[str, Any]:
    """This face is this person of the office: they are present, and their face is learned."""
    face = await _face(live, face_id, user)
    days = live.settings.evidence_retention_days
    evidence = live.settings.data_dir / "evidence" if live.settings.keep_evidence else None

    def work(session: Session) -> dict[str, Any]:
        rec = run_in_transaction(session, lambda: confirm_face(session, _ref(face), actor=user,
                                                               employee_id=body.employee_id, retention_days=days,
                                                               evidence_dir=evidence))
        return record_view(rec)

    out = await live.db.run(work)
    live.crops.answered(face_id, "confirmed", body.employee_id, user.username)
    live.rollcalls.mark_due(face.assembly_id, now=True)
    return out


@router.post("/{face_id}/visitor", status_code=204)
async def visitor(face_id: str, live: Live, user: CurrentUser) -> Response:
    """Not on the roster (a visitor): nobody's record changes and the face data is dropped."""
    face = await _face(live, face_id, user)
    days = live.settings.evidence_retention_days
    await live.db.run(lambda s: run_in_transaction(s, lambda: mark_visitor(s, _ref(face), actor=user,
                                                                           retention_days=days)))
    live.crops.answered(face_id, "visitor", None, user.username)
    live.rollcalls.mark_due(face.assembly_id, now=True)
    return Response(status_code=204)


@router.post("/{face_id}/undo", status_code=204)
async def undo(face_id: str, live: Live, user: CurrentUser) -> Response:
    """Take an answer back: the record goes back to what the cameras alone say and the learned face
    template is deleted."""
    face = await _face(live, face_id, user)
    await live.db.run(lambda s: run_in_transaction(s, lambda: undo_answer(s, _ref(face), actor=user)))
    live.crops.answered(face_id, "open", None, None)
    live.rollcalls.mark_due(face.assembly_id, now=True)
    return Response(status_code=204)
