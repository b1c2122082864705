"""Faces answered during the apel by the people in the room: the office's operator (or the leader,
HR, an admin) says whose face the camera could not name, or that it is a visitor, or takes a wrong
answer back.

A confirmation is the HR review queue's assignment made earlier (review.assign_item): the face's
track counts as the person's, their record is recomputed, and the face's embedding becomes a
"sighting" template so the next apel names them by itself. It is only for an apel still open (after
the apel HR answers in the review queue) and only for people of the face's own office. Two people
answering the same face at once get one answer: the apel's row lock orders them, the second finds
the item answered and, if it said the same person, gets the same record back.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.assemblies.lookups import get_assembly, lock_assembly, roster_employees
from attendance.assemblies.review import assign_item, cap_retention, drop_biometrics, undo_assignment
from attendance.assemblies.sightings import MAX_CROP_BYTES, UNKNOWN
from attendance.assemblies.sightings import _write_crop as write_crop
from attendance.errors import Conflict, Forbidden, Invalid, NotFound
from attendance.models import (
    AssemblyStatus,
    AttendanceRecord,
    Employee,
    ReviewItem,
    Role,
    SightingTrack,
    User,
    utcnow,
)
from attendance.rules import LATE, PRESENT

CONFIRMER_ROLES = (Role.admin.value, Role.leader.value, Role.hr.value)   # any office; an operator: their own


@dataclass(frozen=True)
class LiveFaceRef:
    """Which face an answer is about, as the live service knows it: the apel, the office stream and
    the track key its sightings carry; the face's best embedding, for an item that has none yet."""
    assembly_id: int
    office_id: int
    track_key: str
    embedding: Any = None
    embedding_backend: str | None = None
    confidence: float = 0.0
    crop_jpeg: bytes | None = None         # the crop the person answering saw


def can_confirm(actor: User | None, office_id: int) -> bool:
    """Who may answer an office's faces: leaders, HR and admins anywhere; an operator in their office."""
    if actor is None or not actor.active:
        return False
    return actor.role in CONFIRMER_ROLES or (actor.role == Role.operator.value and actor.office_id == office_id)


def require_confirmer(actor: User | None, office_id: int) -> User:
    if actor is None or not can_confirm(actor, office_id):
        raise Forbidden("not_allowed_to_confirm",
                        "only this office's operator, a leader, HR or an admin may answer its faces")
    return actor


def require_open_apel(session: Session, assembly_id: int) -> None:
    """Locks the apel (the order every writer of its records takes) and refuses one that ended."""
    lock_assembly(session, assembly_id)
    a = get_assembly(session, assembly_id)
    session.refresh(a)
    if a.status != AssemblyStatus.open.value:
        raise Conflict("apel_ended", f"apel {assembly_id} is {a.status}: after the apel HR answers its "
                       "faces in the review queue")


def _track(session: Session, face: LiveFaceRef) -> SightingTrack:
    """The face's recorded track. An unknown face's sightings are the "unknown" identity; an unsure
    one's are filed under the person vision suggested."""
    rows = list(session.execute(select(SightingTrack).where(
        SightingTrack.assembly_id == face.assembly_id, SightingTrack.office_id == face.office_id,
        SightingTrack.track_key == face.track_key)).scalars())
    if not rows:
        raise Conflict("face_not_recorded_yet", "this face's sightings are still being written; try again in a moment")
    rows.sort(key=lambda t: (t.identity_key != UNKNOWN, -t.frames))
    return rows[0]


def _item(session: Session, face: LiveFaceRef, retention_days: int) -> ReviewItem:
    """The face's review item, made now when the track is younger than the queue's minimum."""
    track = _track(session, face)
    item = session.execute(select(ReviewItem).where(ReviewItem.track_id == track.id)).scalar_one_or_none()
    if item is None:
        unknown = track.identity_key == UNKNOWN
        item = ReviewItem(assembly_id=face.assembly_id, office_id=face.office_id, track_id=track.id,
                          kind="unknown" if unknown else "low_confidence",
                          suggested_employee_id=None if unknown else track.employee_id,
                          best_confidence=float(track.best_confidence or 0.0), status="open",
                          expires_at=utcnow() + timedelta(days=retention_days))
        session.add(item)
        session.flush()
    emb = _embedding_bytes(face.embedding)
    if item.status == "open" and item.embedding is None and emb is not None:
        item.embedding, item.embedding_backend = emb, face.embedding_backend
    return item


def _embedding_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or None
    arr = np.asarray(value, dtype="<f4").reshape(-1)
    return arr.tobytes() if arr.size else None


def _employee_of_office(session: Session, employee_id: int, office_id: int) -> Employee:
    emp = session.get(Employee, employee_id)
    if emp is None:
        raise NotFound("not_found", f"employee {employee_id} does not exist")
    if emp.office_id != office_id:
        raise Invalid("other_office", f"{emp.name} is not on this office's roster; only its own people can be "
                      "confirmed here")
    if not emp.active:
        raise Invalid("employee_inactive", f"{emp.name} is not active on the roster")
    return emp


def confirm_face(session: Session, face: LiveFaceRef, *, actor: User | None, employee_id: int,
                 retention_days: int = 14, evidence_dir: Path | None = None) -> AttendanceRecord:
    """Say whose face this is. Returns the person's record after recomputation. With `evidence_dir`
    (APEL_KEEP_EVIDENCE on) the crop the operator saw becomes the item's evidence, so HR can check
    the answer (and undo it) with the same picture in the review queue."""
    user = require_confirmer(actor, face.office_id)
    require_open_apel(session, face.assembly_id)
    emp = _employee_of_office(session, employee_id, face.office_id)
    item = _item(session, face, retention_days)
    if item.status == "assigned":
        if item.resolved_employee_id == emp.id:   # a second operator gave the same answer: one record
            return session.execute(select(AttendanceRecord).where(
                AttendanceRecord.assembly_id == face.assembly_id,
                AttendanceRecord.employee_id == emp.id)).scalar_one()
        other = session.get(Employee, item.resolved_employee_id) if item.resolved_employee_id else None
        raise Conflict("already_confirmed", f"{item.resolved_by} already confirmed this face as "
                       f"{other.name if other else 'someone else'}; undo that first",
                       details={"employee_id": item.resolved_employee_id, "by": item.resolved_by})
    if item.status != "open":
        raise Conflict("already_answered", f"{item.resolved_by} already answered this face ({item.status}); "
                       "undo that first", details={"status": item.status, "by": item.resolved_by})
    reason = f"confirmed by operator {user.username} during the apel"
    rec = assign_item(session, item, actor=user, employee_id=emp.id, reason=reason, action="live.confirm")
    if evidence_dir is not None:
        _keep_confirmed_crop(session, item, face, evidence_dir, retention_days)
    return rec


def _keep_confirmed_crop(session: Session, item: ReviewItem, face: LiveFaceRef, evidence_dir: Path,
                         retention_days: int) -> None:
    """An operator's answer is checked by HR afterwards, and HR can only judge it from the face: the
    crop is kept under the review queue's rules (HR and admins see it, each view audited; deleted
    when HR answers the item again, dismissed, or at the item's retention, whichever is first)."""
    jpeg = face.crop_jpeg
    if not jpeg or len(jpeg) > MAX_CROP_BYTES:
        return
    item.evidence_path = write_crop(evidence_dir, face.assembly_id, item.track_id, jpeg)
    cap_retention(item, retention_days)
    session.flush()
    audit.record(session, actor="system", action="review.evidence_keep", entity="review_item", entity_id=None,
                 after={"items": [item.id]},
                 reason=f"the face the operator confirmed, kept for HR's check for at most {retention_days} days")


def mark_visitor(session: Session, face: LiveFaceRef, *, actor: User | None, retention_days: int = 14) -> ReviewItem:
    """Not on the roster (a visitor, a guest): the item is closed and its face data dropped."""
    user = require_confirmer(actor, face.office_id)
    require_open_apel(session, face.assembly_id)
    item = _item(session, face, retention_days)
    if item.status == "dismissed":
        return item
    if item.status != "open":
        raise Conflict("already_confirmed", f"{item.resolved_by} already confirmed this face; undo that first",
                       details={"employee_id": item.resolved_employee_id, "by": item.resolved_by})
    drop_biometrics(item)
    item.status = "dismissed"
    item.resolved_by = user.username
    item.resolved_at = utcnow()
    item.note = f"not on the roster (visitor), by operator {user.username} during the apel"
    session.flush()
    audit.record(session, actor=user.username, action="live.visitor", entity="review_item", entity_id=item.id,
                 before={"status": "open"}, after={"status": "dismissed"}, reason=item.note)
    return item


def undo_answer(session: Session, face: LiveFaceRef, *, actor: User | None) -> ReviewItem:
    """Take back a confirmation (record back, learned template gone) or a "visitor" answer."""
    user = require_confirmer(actor, face.office_id)
    require_open_apel(session, face.assembly_id)
    track = _track(session, face)
    item = session.execute(select(ReviewItem).where(ReviewItem.track_id == track.id)).scalar_one_or_none()
    if item is None or item.status == "open":
        raise Conflict("not_answered", "this face has no answer to undo")
    reason = f"undone by operator {user.username} during the apel"
    if item.status == "assigned":
        undo_assignment(session, item, actor=user, reason=reason, action="live.unconfirm")
        return item
    previous = item.note
    item.status = "open"
    item.resolved_by = item.resolved_at = item.note = None
    session.flush()
    audit.record(session, actor=user.username, action="live.unvisitor", entity="review_item", entity_id=item.id,
                 before={"status": "dismissed", "note": previous}, after={"status": "open"}, reason=reason)
    return item


LIVE_STATUS = {"open": "open", "assigned": "confirmed", "dismissed": "visitor"}


def live_answers(session: Session, assembly_id: int,
                 faces: Iterable[tuple[int, str]]) -> dict[tuple[int, str], tuple[str, int | None, str | None]]:
    """The answers the review queue holds for a running apel's faces, by (office id, track key): the
    live face's status (open | confirmed | visitor), the person and who answered. The queue is the
    truth: HR may answer or take an answer back there while the apel still runs, from any process, and
    the faces held in memory follow it when they are next read. A track key filed under two
    identities answers with whichever of its items is answered."""
    wanted = set(faces)
    if not wanted:
        return {}
    rows = session.execute(
        select(SightingTrack.office_id, SightingTrack.track_key, ReviewItem.status,
               ReviewItem.resolved_employee_id, ReviewItem.resolved_by)
        .join(ReviewItem, ReviewItem.track_id == SightingTrack.id)
        .where(SightingTrack.assembly_id == assembly_id,
               SightingTrack.track_key.in_(sorted({key for _, key in wanted})))).all()
    out: dict[tuple[int, str], tuple[str, int | None, str | None]] = {}
    for office_id, key, status, employee_id, by in rows:
        face = (int(office_id), str(key))
        live = LIVE_STATUS.get(str(status))
        if face not in wanted or live is None or out.get(face, ("open",))[0] != "open":
            continue
        out[face] = (live, int(employee_id) if live == "confirmed" and employee_id else None,
                     None if live == "open" else by)
    return out


def unseen_roster(session: Session, assembly_id: int, office_id: int) -> list[dict[str, Any]]:
    """The picker's people: the office's active staff not yet present or late in this apel (an
    excused person is listed too: they may have come after all)."""
    seen = set(session.execute(select(AttendanceRecord.employee_id).where(
        AttendanceRecord.assembly_id == assembly_id,
        AttendanceRecord.status.in_((PRESENT, LATE)))).scalars())
    return [{"employee_id": e.id, "name": e.name, "nip": e.nip}
            for e in roster_employees(session, [office_id]) if e.id not in seen]
