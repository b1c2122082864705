"""The HR review queue: unknown and low-confidence faces.

Assigning an item to an employee counts that track as the employee's (all its frames become
confident: a person confirmed it), recomputes the record by the apel's pinned rules, and, when the
item carries a face embedding, enrols it as a kind="sighting" FaceTemplate so the person is
recognised next time (a face the track saw masked as "masked_sighting": beside enrolment's masked
variants, not in the photo centroid; recognisers.MASKED_KINDS says why). On a closed apel the
resulting change is a correction (kept and audited like any other). Dismissing an item, and its
retention expiry, delete its embedding and face crop (UU PDP: biometric data is kept only while a
feature needs it). An answer given wrongly, by HR here or by an operator during the apel, is taken
back from the queue (undo_review_item): the record is recomputed without it and the template it
taught is deleted.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from attendance import audit
from attendance.assemblies.corrections import checked_reason, jsonable, require_hr, snapshot
from attendance.assemblies.counts import is_masked
from attendance.assemblies.lookups import get_assembly, lock_assembly
from attendance.assemblies.sightings import MAX_CROP_BYTES, record_view, refresh_records
from attendance.assemblies.sightings import _write_crop as write_crop
from attendance.errors import Conflict, NotFound, StaleVersion
from attendance.models import (
    AssemblyStatus,
    AttendanceRecord,
    AuditEntry,
    Correction,
    Employee,
    FaceTemplate,
    ReviewItem,
    SightingTrack,
    User,
    utcnow,
)
from attendance.rules import NOT_SEEN, Rules


def review_view(item: ReviewItem) -> dict[str, Any]:
    t = item.track
    return {
        "id": item.id, "assembly_id": item.assembly_id, "office_id": item.office_id, "kind": item.kind,
        "status": item.status, "suggested_employee_id": item.suggested_employee_id,
        "best_confidence": item.best_confidence, "frames": t.frames if t else None,
        "first_at": t.first_at.isoformat() if t else None, "last_at": t.last_at.isoformat() if t else None,
        "has_embedding": item.embedding is not None,
        "has_evidence": item.evidence_path is not None or (item.has_evidence_jpeg and not item.evidence_transient),
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


def drop_biometrics(item: ReviewItem) -> None:
    if item.evidence_path:
        try:
            os.remove(item.evidence_path)
        except FileNotFoundError:
            pass
    item.evidence_path = None
    item.evidence_jpeg = None
    item.evidence_transient = False
    set_committed_value(item, "has_evidence_jpeg", False)
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
    return assign_item(session, item, actor=actor, employee_id=employee_id, reason=reason,
                       expected_version=expected_version)


def assign_item(session: Session, item: ReviewItem, *, actor: User, employee_id: int, reason: str,
                expected_version: int | None = None, action: str = "review.assign") -> AttendanceRecord:
    """The one way a face becomes a person's, for HR's queue and the operator's live confirmation:
    the track counts as theirs, the record is recomputed, the embedding becomes a "sighting"
    template. The caller checked the right, the reason, the item's state and the employee. The
    audit entry keeps the track as it was and the template made, which is what undoing needs."""
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
    track_before = _track_state(track)
    track.employee_id = employee_id
    track.confirmed_by = actor.username
    # A person's word is enough evidence: a face answered while still young (fewer frames than the
    # rules ask of the cameras alone) counts as the minimum.
    track.confident_frames = max(track.frames, Rules.from_ruleset(a.ruleset).min_frames)
    track.first_confident_at = track.first_at
    closed = a.status == AssemblyStatus.closed.value
    affected = {employee_id} | ({previous_owner} if previous_owner and previous_owner != employee_id else set())
    refresh_records(session, a, affected, closed=closed)
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                         AttendanceRecord.employee_id == employee_id)).scalar_one()
    template_id = None
    if item.embedding:
        tpl = FaceTemplate(employee_id=employee_id, backend=item.embedding_backend or "dlib-128",
                           embedding=item.embedding, kind=template_kind(track),
                           source_sha256=hashlib.sha256(item.embedding).hexdigest(),
                           quality=float(item.best_confidence or 0.0), created_by=actor.username)
        session.add(tpl)
        session.flush()
        template_id = tpl.id
    drop_biometrics(item)
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
    audit.record(session, actor=actor.username, action=action, entity="review_item", entity_id=item.id,
                 before={"status": "open", "track_employee_id": previous_owner, "track": track_before,
                         "record": jsonable(before) if before else None},
                 after={"status": "assigned", "employee_id": employee_id, "record_id": rec.id,
                        "record": jsonable(after), "face_template_id": template_id}, reason=reason)
    return rec


def template_kind(track: SightingTrack) -> str:
    """The kind of template a confirmed face teaches: "masked_sighting" for a track seen masked
    (counts.is_masked, as the roll-call counts it), which the gallery keeps with the masked
    variants; else "sighting", a centroid of its own beside the photos' (recognisers.LEARNED_KINDS)."""
    return "masked_sighting" if is_masked(track.mask_frames or 0, track.mask_total or 0) else "sighting"


def _track_state(track: SightingTrack) -> dict[str, Any]:
    return {"employee_id": track.employee_id, "confirmed_by": track.confirmed_by,
            "confident_frames": track.confident_frames,
            "first_confident_at": track.first_confident_at.isoformat() if track.first_confident_at else None}


ASSIGN_ACTIONS = ("review.assign", "live.confirm")


def undo_assignment(session: Session, item: ReviewItem, *, actor: User, reason: str,
                    action: str = "review.unassign") -> None:
    """A face confirmed as the wrong person: the track goes back to what it was before, the records
    of both people are recomputed (a record the confirmation created and nothing else supports is
    removed), and the learned template goes, its embedding back on the item so it can be answered
    again. What the track was is read from the assignment's own audit entry. The caller checked the
    right and that the item is assigned."""
    entry = session.execute(select(AuditEntry).where(
        AuditEntry.entity == "review_item", AuditEntry.entity_id == str(item.id),
        AuditEntry.action.in_(ASSIGN_ACTIONS)).order_by(AuditEntry.id.desc()).limit(1)).scalar_one_or_none()
    if entry is None or not isinstance(entry.before, dict) or "track" not in entry.before:
        raise Conflict("cannot_undo", "this answer was given before undoing was possible; correct the record instead")
    lock_assembly(session, item.assembly_id)
    a = get_assembly(session, item.assembly_id)
    session.refresh(a)
    employee_id = item.resolved_employee_id
    state = entry.before["track"]
    track = item.track
    track.employee_id = state["employee_id"]
    track.confirmed_by = state["confirmed_by"]
    track.confident_frames = min(int(state["confident_frames"]), track.frames)
    track.first_confident_at = datetime.fromisoformat(state["first_confident_at"]) \
        if state["first_confident_at"] else None
    template_id = (entry.after or {}).get("face_template_id")
    tpl = session.get(FaceTemplate, template_id) if template_id else None
    if tpl is not None:
        item.embedding, item.embedding_backend = tpl.embedding, tpl.backend
        session.delete(tpl)
    closed = a.status == AssemblyStatus.closed.value
    affected = {i for i in (employee_id, track.employee_id) if i}
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                         AttendanceRecord.employee_id == employee_id)
                          ).scalar_one_or_none() if employee_id else None
    before, version_before = (snapshot(rec), rec.version) if rec is not None else (None, 0)
    refresh_records(session, a, affected, closed=closed)
    if closed and rec is not None and before is not None and snapshot(rec) != before:
        # A closed apel's record changed: a correction like the assignment that is undone.
        session.add(Correction(record_id=rec.id, assembly_id=a.id, employee_id=rec.employee_id,
                               kind="review_unassign", before=jsonable(before), after=jsonable(snapshot(rec)),
                               reason=reason, attachment_ref=None, actor_id=actor.id, actor=actor.username,
                               at=utcnow(), version_before=version_before, version_after=rec.version))
    removed = None
    if employee_id and (entry.before or {}).get("record") is None:
        rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                             AttendanceRecord.employee_id == employee_id)
                              ).scalar_one_or_none()
        if rec is not None and rec.frames == 0 and not rec.corrected and rec.status == NOT_SEEN:
            removed = rec.id
            session.delete(rec)
    previous = {"status": item.status, "employee_id": employee_id, "resolved_by": item.resolved_by}
    item.status = "open"
    item.resolved_employee_id = None
    item.resolved_by = None
    item.resolved_at = None
    item.note = None
    session.flush()
    audit.record(session, actor=actor.username, action=action, entity="review_item", entity_id=item.id,
                 before=previous, after={"status": "open", "track_employee_id": track.employee_id,
                                         "face_template_deleted": tpl is not None and template_id,
                                         "record_removed": removed}, reason=reason)


def undo_review_item(session: Session, item_id: int, *, actor: User, reason: str) -> ReviewItem:
    """HR takes an answer back from the queue, whoever gave it (HR here, or an operator during the
    apel): a confirmation is undone as the operator's undo does (the record goes back, the learned
    template goes); a dismissal reopens the item (its face data was dropped and stays so). Either way
    the item is open again, to be answered rightly."""
    require_hr(actor)
    reason = checked_reason(reason)
    item = get_item(session, item_id)
    if item.status == "open":
        raise Conflict("not_answered", f"review item {item_id} has no answer to undo")
    if item.status == "assigned":
        undo_assignment(session, item, actor=actor, reason=reason)
        return item
    previous = {"status": item.status, "resolved_by": item.resolved_by, "note": item.note}
    item.status = "open"
    item.resolved_by = item.resolved_at = item.note = None
    session.flush()
    audit.record(session, actor=actor.username, action="review.undismiss", entity="review_item",
                 entity_id=item.id, before=previous, after={"status": "open"}, reason=reason)
    return item


def dismiss_review_item(session: Session, item_id: int, *, actor: User, reason: str) -> ReviewItem:
    """Not a member of staff (a visitor, a poster, a false detection): drop its face data."""
    require_hr(actor)
    reason = checked_reason(reason)
    item = get_item(session, item_id)
    if item.status != "open":
        raise Conflict("wrong_state", f"this review item is already {item.status}")
    drop_biometrics(item)
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
        or_(ReviewItem.embedding.is_not(None), ReviewItem.evidence_path.is_not(None),
            ReviewItem.evidence_jpeg.is_not(None)))).scalars())
    for item in items:
        drop_biometrics(item)
    if items:
        audit.record(session, actor="system", action="review.purge", entity="review_item", entity_id=None,
                     after={"items": [i.id for i in items]}, reason="evidence retention period ended")
    session.flush()
    return len(items)


def drop_transient_crops(session: Session, assembly_id: int) -> int:
    """The apel ended: the crops held in the database for its live picker only (a vision node with
    APEL_KEEP_EVIDENCE=false) go, as the web node's own leave its memory, whether or not the node that
    wrote them is still there to clear them. The caller holds the apel's lock, which a node's write
    of such a crop takes too (node_faces.publish_crops): none lands after this. Returns how many."""
    table = cast(Table, ReviewItem.__table__)
    done = cast(CursorResult[Any], session.execute(
        update(table).where(table.c.assembly_id == assembly_id, table.c.evidence_transient.is_(True))
        .values(evidence_jpeg=None, evidence_transient=False)))
    return int(done.rowcount or 0)


def evidence_path(session: Session, item_id: int) -> str | bytes | None:
    """The crop: its file's path (the web node wrote it) or the JPEG itself (a vision node kept it in
    the database); None when there is none, its retention has ended, or it is only held for the
    running apel's live picker (evidence_transient: not kept for HR, as the web node's own crops)."""
    item = get_item(session, item_id)
    if not (item.evidence_path or (item.has_evidence_jpeg and not item.evidence_transient)) or \
            (item.expires_at and item.expires_at <= utcnow()):
        return None
    return item.evidence_path or item.evidence_jpeg


def view_evidence(session: Session, item_id: int, *, actor: User) -> str | bytes | None:
    """The crop for HR (its file's path, or the JPEG), each look audited (a face is biometric data: who
    saw it is recorded)."""
    require_hr(actor)
    path = evidence_path(session, item_id)
    if path:
        audit.record(session, actor=actor.username, action="review.evidence_view", entity="review_item",
                     entity_id=item_id)
    return path


def retention_end(retention_days: int) -> datetime:
    """The latest a kept face crop may live: `retention_days` from now."""
    return utcnow() + timedelta(days=retention_days)


def cap_retention(item: ReviewItem, retention_days: int) -> None:
    """A crop kept on `item` lives at most `retention_days` from now (an earlier end stays)."""
    latest = retention_end(retention_days)
    if item.expires_at is None or item.expires_at > latest:
        item.expires_at = latest


def keep_crops(session: Session, assembly_id: int, crops: Iterable[tuple[int, str, bytes]],
               evidence_dir: Path | None, retention_days: int) -> int:
    """The apel ended with faces nobody answered: their crops (office id, track key, JPEG) become the
    evidence of their open review items, so HR sees the face. A face without an item (a stray
    detection below the queue's minimum) or with a crop already is left alone; the item's retention
    is at most `retention_days` from now. Returns how many were kept. `evidence_dir` None: the crops
    go into the database (a vision node: the web node cannot read another machine's files)."""
    wanted = {(office_id, key): jpeg for office_id, key, jpeg in crops if jpeg and len(jpeg) <= MAX_CROP_BYTES}
    if not wanted:
        return 0
    rows = session.execute(select(ReviewItem, SightingTrack.office_id, SightingTrack.track_key)
                           .join(SightingTrack, SightingTrack.id == ReviewItem.track_id)
                           .where(ReviewItem.assembly_id == assembly_id, ReviewItem.status == "open",
                                  ReviewItem.evidence_path.is_(None), ReviewItem.evidence_jpeg.is_(None),
                                  SightingTrack.track_key.in_(sorted({k for _, k in wanted})))).all()
    kept = []
    for item, office_id, key in rows:
        jpeg = wanted.get((office_id, key))
        if jpeg is None:
            continue
        if evidence_dir is None:
            item.evidence_jpeg = jpeg
            set_committed_value(item, "has_evidence_jpeg", True)
        else:
            item.evidence_path = write_crop(evidence_dir, assembly_id, item.track_id, jpeg)
        cap_retention(item, retention_days)
        kept.append(item.id)
    if kept:
        session.flush()
        audit.record(session, actor="system", action="review.evidence_keep", entity="review_item", entity_id=None,
                     after={"items": kept}, reason=f"face crops kept for HR's review for at most {retention_days} days")
    return len(kept)

