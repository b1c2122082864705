"""The HR review queue: unknown and low-confidence faces.

Assigning an item to an employee counts that track as the employee's (all its frames become
confident: a person confirmed it), recomputes the record by the apel's pinned rules, and, when the
item carries a face embedding, enrols it as a kind="sighting" FaceTemplate so the person is
recognised next time. On a closed apel the resulting change is a correction (kept and audited like
any other). Dismissing an item, and its retention expiry, delete its embedding and face crop
(UU PDP: biometric data is kept only while a feature needs it).
"""
from __future__ import annotations

import hashlib
import os
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.assemblies.corrections import checked_reason, jsonable, require_hr, snapshot
from attendance.assemblies.lookups import get_assembly, lock_assembly
from attendance.assemblies.sightings import record_view, refresh_records
from attendance.errors import Conflict, NotFound, StaleVersion
from attendance.models import (
    AssemblyStatus,
    AttendanceRecord,
    Correction,
    Employee,
    FaceTemplate,
    ReviewItem,
    User,
    utcnow,
)


def review_view(item: ReviewItem) -> dict[str, Any]:
    t = item.track
    return {
        "id": item.id, "assembly_id": item.assembly_id, "office_id": item.office_id, "kind": item.kind,
        "status": item.status, "suggested_employee_id": item.suggested_employee_id,
        "best_confidence": item.best_confidence, "frames": t.frames if t else None,
        "first_at": t.first_at.isoformat() if t else None, "last_at": t.last_at.isoformat() if t else None,
        "has_embedding": item.embedding is not None, "has_evidence": item.evidence_path is not None,
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "resolved_employee_id": item.resolved_employee_id, "resolved_by": item.resolved_by,
        "resolved_at": item.resolved_at.isoformat() if item.resolved_at else None, "note": item.note,
    }


def get_item(session: Session, item_id: int) -> ReviewItem:
    item = session.get(ReviewItem, item_id)
    if item is None:
        raise NotFound("not_found", f"review item {item_id} does not exist")
    return item


def list_review_items(session: Session, *, assembly_id: int | None = None, office_id: int | None = None,
                      status: str | None = "open", limit: int = 500) -> list[ReviewItem]:
    q = select(ReviewItem).order_by(ReviewItem.id).limit(max(1, min(limit, 5000)))
    if assembly_id is not None:
        q = q.where(ReviewItem.assembly_id == assembly_id)
    if office_id is not None:
        q = q.where(ReviewItem.office_id == office_id)
    if status:
        q = q.where(ReviewItem.status == status)
    return list(session.execute(q).scalars())


def _drop_biometrics(item: ReviewItem) -> None:
    if item.evidence_path:
        try:
            os.remove(item.evidence_path)
        except FileNotFoundError:
            pass
    item.evidence_path = None
    item.embedding = None


def assign_review_item(session: Session, item_id: int, *, actor: User, employee_id: int, reason: str,
                       expected_version: int | None = None) -> AttendanceRecord:
    """Say whose face this was. Returns the employee's record in that apel after recomputation."""
    require_hr(actor)
    reason = checked_reason(reason)
    item = get_item(session, item_id)
    if item.status != "open":
        raise Conflict("wrong_state", f"this review item is already {item.status}")
    emp = session.get(Employee, employee_id)
    if emp is None:
        raise NotFound("not_found", f"employee {employee_id} does not exist")
    lock_assembly(session, item.assembly_id)   # same order as record_sightings/end_assembly: apel first
    a = get_assembly(session, item.assembly_id)
    session.refresh(a)
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                         AttendanceRecord.employee_id == employee_id)
                          ).scalar_one_or_none()
    if rec is not None and expected_version is not None and rec.version != expected_version:
        raise StaleVersion("the record changed since you read it; review the current value",
                           current=record_view(rec))
    before = snapshot(rec) if rec is not None else None
    version_before = rec.version if rec is not None else 0
    track = item.track
    previous_owner = track.employee_id
    track.employee_id = employee_id
    track.confirmed_by = actor.username
    track.confident_frames = track.frames
    track.first_confident_at = track.first_at
    closed = a.status == AssemblyStatus.closed.value
    affected = {employee_id} | ({previous_owner} if previous_owner and previous_owner != employee_id else set())
    refresh_records(session, a, affected, closed=closed)
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                         AttendanceRecord.employee_id == employee_id)).scalar_one()
    template_id = None
    if item.embedding:
        tpl = FaceTemplate(employee_id=employee_id, backend=item.embedding_backend or "dlib-128",
                           embedding=item.embedding, kind="sighting",
                           source_sha256=hashlib.sha256(item.embedding).hexdigest(),
                           quality=float(item.best_confidence or 0.0), created_by=actor.username)
        session.add(tpl)
        session.flush()
        template_id = tpl.id
    _drop_biometrics(item)
    item.status = "assigned"
    item.resolved_employee_id = employee_id
    item.resolved_by = actor.username
    item.resolved_at = utcnow()
    item.note = reason
    session.flush()
    after = snapshot(rec)
    if closed and before is not None and before != after:
        session.add(Correction(record_id=rec.id, assembly_id=a.id, employee_id=employee_id, kind="review_assign",
                               before=jsonable(before), after=jsonable(after), reason=reason, attachment_ref=None,
                               actor_id=actor.id, actor=actor.username, at=utcnow(), version_before=version_before,
                               version_after=rec.version))
    audit.record(session, actor=actor.username, action="review.assign", entity="review_item", entity_id=item.id,
                 before={"status": "open", "track_employee_id": previous_owner,
                         "record": jsonable(before) if before else None},
                 after={"status": "assigned", "employee_id": employee_id, "record_id": rec.id,
                        "record": jsonable(after), "face_template_id": template_id}, reason=reason)
    return rec


def dismiss_review_item(session: Session, item_id: int, *, actor: User, reason: str) -> ReviewItem:
    """Not a member of staff (a visitor, a poster, a false detection): drop its face data."""
    require_hr(actor)
    reason = checked_reason(reason)
    item = get_item(session, item_id)
    if item.status != "open":
        raise Conflict("wrong_state", f"this review item is already {item.status}")
    _drop_biometrics(item)
    item.status = "dismissed"
    item.resolved_by = actor.username
    item.resolved_at = utcnow()
    item.note = reason
    session.flush()
    audit.record(session, actor=actor.username, action="review.dismiss", entity="review_item", entity_id=item.id,
                 before={"status": "open"}, after={"status": "dismissed"}, reason=reason)
    return item


def purge_expired(session: Session, now: datetime | None = None) -> int:
    """Delete face crops and embeddings of review items past their retention; returns how many."""
    now = now or utcnow()
    items = list(session.execute(select(ReviewItem).where(
        ReviewItem.expires_at.is_not(None), ReviewItem.expires_at <= now,
        or_(ReviewItem.embedding.is_not(None), ReviewItem.evidence_path.is_not(None)))).scalars())
    for item in items:
        _drop_biometrics(item)
    if items:
        audit.record(session, actor="system", action="review.purge", entity="review_item", entity_id=None,
                     after={"items": [i.id for i in items]}, reason="evidence retention period ended")
    session.flush()
    return len(items)


def evidence_path(session: Session, item_id: int) -> str | None:
    item = get_item(session, item_id)
    if item.evidence_path and item.expires_at and item.expires_at <= utcnow():
        return None
    return item.evidence_path

