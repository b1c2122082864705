"""Sightings from the vision pipeline into per-track aggregates and attendance records, and the live
roll-call the leader console shows.

Idempotent and crash-safe: `record_sightings` writes one batch in the caller's transaction, and a
track's aggregate only takes a sighting it has not counted yet (one at a time outside [first_at,
last_at] of that track), so a batch sent twice, or re-sent after a reconnect or a restart, counts once.
Consequence for callers: a stream must send each track's sightings in time order, and a track key
must not be reused for a different face after a restart (prefix it with the join/session id).
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from attendance.assemblies.counts import ApelCounts, office_counts, percent
from attendance.assemblies.hand_marks import hand_marks, with_local
from attendance.assemblies.lookups import get_assembly, lock_open_assembly, roster_employees
from attendance.errors import Invalid, NotFound
from attendance.models import (
    Assembly,
    AssemblyStatus,
    AttendanceRecord,
    Employee,
    Office,
    ReviewItem,
    SightingTrack,
    utcnow,
)
from attendance.rules import (
    EXCUSED,
    FINAL_STATUSES,
    LATE,
    NOT_SEEN,
    PRESENT,
    TIERS,
    TK,
    Rules,
    decide,
    format_local,
    is_confident,
    zone_label,
)

log = logging.getLogger("apel.sightings")
UNKNOWN = "unknown"
MAX_BATCH = 10_000
MAX_CROP_BYTES = 512 * 1024
MAX_NEW_ALERTS = 64   # alert episodes one face can begin in one frame (one per neighbour)


@dataclass
class Sighting:
    employee_id: int | None      # None = unknown face -> HR review queue
    track_key: str               # stable per track within an office stream
    at: datetime                 # UTC
    confidence: float
    mask: bool | None
    distancing_violation: bool
    face_crop_jpeg: bytes | None = None   # only kept when keep_evidence
    embedding: Any = None                 # optional float32 vector (np.ndarray or bytes): lets HR enrol an unknown face
    embedding_backend: str = "dlib-128"
    # Distancing alert episodes that began in this frame with this face in the pair (the vision
    # pipeline decides them; each episode marks both of its faces: see assemblies.counts).
    new_alerts: int = 0


@dataclass
class RecordResult:
    accepted: int = 0          # sightings counted
    duplicates: int = 0        # already counted before (re-sent)
    ignored: int = 0           # apel not open: nothing written
    status: str = "open"


def _validate(sightings: Sequence[Sighting]) -> None:
    if len(sightings) > MAX_BATCH:
        raise Invalid("invalid", f"at most {MAX_BATCH} sightings per call")
    for s in sightings:
        if not isinstance(s.track_key, str) or not s.track_key or len(s.track_key) > 64:
            raise Invalid("invalid", "track_key must be a non-empty string of at most 64 characters")
        if not isinstance(s.at, datetime) or s.at.tzinfo is None:
            raise Invalid("invalid", "sighting time must be a timezone-aware datetime")
        if not (0.0 <= float(s.confidence) <= 1.0):
            raise Invalid("invalid", "confidence must be between 0 and 1")
        if s.employee_id is not None and int(s.employee_id) <= 0:
            raise Invalid("invalid", "employee_id must be positive")
        if not isinstance(s.new_alerts, int) or not 0 <= s.new_alerts <= MAX_NEW_ALERTS:
            raise Invalid("invalid", f"new_alerts must be a whole number from 0 to {MAX_NEW_ALERTS}")


def _embedding_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    arr = np.asarray(value, dtype="<f4").reshape(-1)
    return arr.tobytes() if arr.size else None


def record_sightings(session: Session, assembly_id: int, office_id: int, sightings: Sequence[Sighting], *,
                     keep_evidence: bool = False, evidence_dir: Path | None = None,
                     retention_days: int = 30) -> RecordResult:
    """Fold sightings into the apel's tracks and records. Safe to repeat: when another writer inserted
    the same track or record, or bumped a record's version, first (IntegrityError, StaleDataError),
    the caller's transaction rolls back with nothing of this call kept, and the caller (the live
    sightings writer, which holds the one retry policy) runs it again on a fresh session.

    Sightings for an apel that is not open are ignored (reported in the result), so a batch still in
    flight when the leader ends the apel cannot change a closed apel."""
    _validate(sightings)
    if keep_evidence and evidence_dir is None:
        raise ValueError("keep_evidence needs evidence_dir (the caller knows the data folder)")
    return _record_once(session, assembly_id, office_id, sightings, keep_evidence, evidence_dir, retention_days)


def _record_once(session: Session, assembly_id: int, office_id: int, sightings: Sequence[Sighting],
                 keep_evidence: bool, evidence_dir: Path | None, retention_days: int) -> RecordResult:
    # Take the apel's row lock while checking it is open, so an end_assembly running in another
    # session waits for this write (or this write sees it closed): no sighting lands after the close.
    if not lock_open_assembly(session, assembly_id):
        status = session.execute(select(Assembly.status).where(Assembly.id == assembly_id)).scalar_one_or_none()
        if status is None:
            raise NotFound("not_found", f"apel {assembly_id} does not exist")
        return RecordResult(ignored=len(sightings), status=status)
    # Offices and pinned rules do not change while the apel is open: the identity map may keep them.
    a = get_assembly(session, assembly_id)
    if a.status != AssemblyStatus.open.value:
        session.refresh(a)
    if not any(ao.office_id == office_id for ao in a.offices):
        raise NotFound("not_found", f"office {office_id} does not take part in apel {assembly_id}")
    rules = Rules.from_ruleset(a.ruleset)
    result = RecordResult()
    if not sightings:
        return result

    wanted_ids = {int(s.employee_id) for s in sightings if s.employee_id is not None}
    known_ids = set(session.execute(select(Employee.id).where(Employee.id.in_(wanted_ids))).scalars()) \
        if wanted_ids else set()

    groups: dict[tuple[str, str], list[Sighting]] = defaultdict(list)
    for s in sightings:
        emp = int(s.employee_id) if s.employee_id is not None and int(s.employee_id) in known_ids else None
        groups[(s.track_key, str(emp) if emp is not None else UNKNOWN)].append(s)

    keys = sorted({k for k, _ in groups})
    tracks = {(t.track_key, t.identity_key): t for t in session.execute(
        select(SightingTrack).where(SightingTrack.assembly_id == assembly_id, SightingTrack.office_id == office_id,
                                    SightingTrack.track_key.in_(keys))).scalars()}
    touched_tracks: list[SightingTrack] = []
    crops: dict[int, tuple[float, bytes]] = {}
    embeddings: dict[int, tuple[float, bytes, str]] = {}
    for (track_key, identity), items in groups.items():
        items.sort(key=lambda s: s.at)
        track = tracks.get((track_key, identity))
        for s in items:
            at = s.at.astimezone(UTC)
            conf = float(s.confidence)
            if track is None:
                track = SightingTrack(assembly_id=assembly_id, office_id=office_id, track_key=track_key,
                                      identity_key=identity, employee_id=None if identity == UNKNOWN else int(identity),
                                      first_at=at, last_at=at, frames=0, confident_frames=0, best_confidence=0.0,
                                      mask_frames=0, mask_total=0, violation_frames=0, distancing_alerts=0,
                                      in_violation=False)
                session.add(track)
                tracks[(track_key, identity)] = track
            elif track.first_at <= at <= track.last_at:
                result.duplicates += 1
                continue
            newest = track.frames == 0 or at > track.last_at
            track.frames += 1
            track.first_at = min(track.first_at, at)
            track.last_at = max(track.last_at, at)
            # A face HR assigned to someone counts as theirs from then on, whatever the stream calls it.
            if track.employee_id is not None and (track.confirmed_by is not None or is_confident(conf, rules)):
                track.confident_frames += 1
                if track.first_confident_at is None or at < track.first_confident_at:
                    track.first_confident_at = at
            track.best_confidence = max(track.best_confidence or 0.0, conf)
            if s.mask is not None:
                track.mask_total += 1
                track.mask_frames += 1 if s.mask else 0
            if s.distancing_violation:
                track.violation_frames += 1
            # Counted as the pipeline marked them (episodes, not frames in violation): a face in two
            # pairs at once, or a track whose name changed mid-episode, counts each episode once.
            track.distancing_alerts += s.new_alerts
            if newest:
                track.in_violation = bool(s.distancing_violation)
            emb = _embedding_bytes(s.embedding)
            key = id(track)
            if emb is not None and (key not in embeddings or conf > embeddings[key][0]):
                embeddings[key] = (conf, emb, s.embedding_backend)
            if keep_evidence and s.face_crop_jpeg and len(s.face_crop_jpeg) <= MAX_CROP_BYTES and \
                    (key not in crops or conf > crops[key][0]):
                crops[key] = (conf, s.face_crop_jpeg)
            result.accepted += 1
        if track is not None:
            touched_tracks.append(track)
    session.flush()

    employee_ids = {t.employee_id for t in touched_tracks if t.employee_id is not None}
    refresh_records(session, a, employee_ids, closed=False)
    _queue_for_review(session, a, rules, touched_tracks, embeddings, crops, evidence_dir, retention_days)
    session.flush()
    return result


def _queue_for_review(session: Session, a: Assembly, rules: Rules, tracks: Iterable[SightingTrack],
                      embeddings: dict[int, tuple[float, bytes, str]], crops: dict[int, tuple[float, bytes]],
                      evidence_dir: Path | None, retention_days: int) -> None:
    """Unknown tracks, and tracks of a known person that never reached the confidence bar, become
    review items once they have min_frames frames (a single stray detection is not worth HR's time)."""
    candidates: list[tuple[SightingTrack, str | None]] = []   # (track, review kind; None: update only)
    for t in tracks:
        unknown = t.identity_key == UNKNOWN and t.confirmed_by is None
        low = t.identity_key != UNKNOWN and t.confirmed_by is None and t.confident_frames < rules.min_frames
        if (unknown or low) and t.frames >= rules.min_frames:
            candidates.append((t, "unknown" if unknown else "low_confidence"))
        elif id(t) in embeddings or id(t) in crops:
            candidates.append((t, None))   # maybe an item exists already: keep its best face
    if not candidates:
        return
    existing = {i.track_id: i for i in session.execute(
        select(ReviewItem).where(ReviewItem.track_id.in_([t.id for t, _ in candidates]))).scalars()}
    for t, kind in candidates:
        item = existing.get(t.id)
        if item is None and kind is None:
            continue
        if item is None:
            item = ReviewItem(assembly_id=a.id, office_id=t.office_id, track_id=t.id, kind=kind,
                              suggested_employee_id=t.employee_id if kind == "low_confidence" else None,
                              best_confidence=0.0, status="open",
                              expires_at=utcnow() + timedelta(days=retention_days))
            session.add(item)
        if item.status != "open":
            continue
        emb = embeddings.get(id(t))
        if emb is not None and (item.embedding is None or emb[0] >= item.best_confidence):
            item.embedding, item.embedding_backend = emb[1], emb[2]
        crop = crops.get(id(t))
        if crop is not None and evidence_dir is not None and \
                (item.evidence_path is None or crop[0] >= item.best_confidence):
            item.evidence_path = _write_crop(evidence_dir, a.id, t.id, crop[1])
        item.best_confidence = max(item.best_confidence or 0.0, t.best_confidence or 0.0)


def _write_crop(evidence_dir: Path, assembly_id: int, track_id: int, jpeg: bytes) -> str:
    """Written atomically (temp file + rename), readable by the service user only."""
    folder = Path(evidence_dir) / str(assembly_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"track-{track_id}.jpg"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(jpeg)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return str(path)


def refresh_records(session: Session, a: Assembly, employee_ids: Iterable[int], *, closed: bool) -> None:
    """Recompute evidence (frames, times, mask, alerts) of these employees' records from their tracks,
    and their status by the apel's pinned rules. A record a person corrected keeps its status."""
    ids = sorted(set(employee_ids))
    if not ids:
        return
    rules = Rules.from_ruleset(a.ruleset)
    agg = {row.employee_id: row for row in session.execute(
        select(SightingTrack.employee_id,
               func.sum(SightingTrack.confident_frames).label("confident"),
               func.min(SightingTrack.first_confident_at).label("first_seen"),
               func.max(SightingTrack.last_at).label("last_at"),
               func.max(SightingTrack.best_confidence).label("best"),
               func.sum(SightingTrack.mask_frames).label("mask_frames"),
               func.sum(SightingTrack.mask_total).label("mask_total"),
               func.sum(SightingTrack.distancing_alerts).label("alerts"),
               # Only confident tracks say when someone was last seen.
               func.max(case((SightingTrack.confident_frames > 0, SightingTrack.last_at))).label("last_seen"))
        .where(SightingTrack.assembly_id == a.id, SightingTrack.employee_id.in_(ids))
        .group_by(SightingTrack.employee_id))}
    records = {r.employee_id: r for r in session.execute(
        select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                       AttendanceRecord.employee_id.in_(ids))).scalars()}
    employees = {e.id: e for e in session.execute(select(Employee).where(Employee.id.in_(ids))).scalars()}
    starts = {ao.office_id: ao.scheduled_start for ao in a.offices}
    for emp_id in ids:
        emp = employees.get(emp_id)
        if emp is None:
            continue
        row = agg.get(emp_id)
        rec = records.get(emp_id)
        if rec is None:
            rec = AttendanceRecord(assembly_id=a.id, employee_id=emp_id, office_id=emp.office_id,
                                   status=NOT_SEEN, frames=0, mask_frames=0, mask_total=0, distancing_alerts=0,
                                   corrected=False)
            session.add(rec)
        first_seen = _aware(row.first_seen) if row is not None else None
        confident = int(row.confident or 0) if row is not None else 0
        _set(rec, "frames", confident)
        _set(rec, "first_seen_at", first_seen if confident else None)
        _set(rec, "last_seen_at", _aware(row.last_seen) if row is not None and confident else None)
        _set(rec, "best_confidence", float(row.best) if row is not None and row.best is not None else None)
        _set(rec, "mask_frames", int(row.mask_frames or 0) if row is not None else 0)
        _set(rec, "mask_total", int(row.mask_total or 0) if row is not None else 0)
        _set(rec, "distancing_alerts", int(row.alerts or 0) if row is not None else 0)
        if rec.corrected and rec.status in FINAL_STATUSES:
            continue     # a person decided this one; evidence still updates above
        start = starts.get(rec.office_id) or starts.get(emp.office_id) or a.scheduled_start
        d = decide(first_seen=first_seen, confident_frames=confident, scheduled_start=start, rules=rules,
                   excuse_category=rec.excuse_category, closed=closed)
        _set(rec, "status", d.status)
        _set(rec, "tier", d.tier)
        _set(rec, "late_minutes", d.late_minutes)
    session.flush()


def _set(obj: object, name: str, value: Any) -> None:
    """Assign only real changes, so an unchanged record is not rewritten (and keeps its version)."""
    if getattr(obj, name) != value:
        setattr(obj, name, value)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if isinstance(dt, str):   # SQLite aggregates come back as text: MIN()/MAX() skip the column type
        dt = datetime.fromisoformat(dt)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def record_view(rec: AttendanceRecord, employee: Employee | None = None, tz_name: str | None = None) -> dict[str, Any]:
    emp = employee or rec.employee
    out = {
        "id": rec.id, "assembly_id": rec.assembly_id, "employee_id": rec.employee_id, "office_id": rec.office_id,
        "nip": emp.nip if emp else None, "name": emp.name if emp else None,
        "status": rec.status, "tier": rec.tier, "late_minutes": rec.late_minutes,
        "excuse_category": rec.excuse_category, "excuse_reason": rec.excuse_reason,
        "excuse_attachment": rec.excuse_attachment,
        "first_seen_at": rec.first_seen_at.isoformat() if rec.first_seen_at else None,
        "last_seen_at": rec.last_seen_at.isoformat() if rec.last_seen_at else None,
        "frames": rec.frames, "best_confidence": rec.best_confidence,
        "mask_frames": rec.mask_frames, "mask_total": rec.mask_total,
        "mask_ratio": (rec.mask_frames / rec.mask_total) if rec.mask_total else None,
        "distancing_alerts": rec.distancing_alerts, "corrected": rec.corrected, "version": rec.version,
    }
    if tz_name:
        out["first_seen_local"] = format_local(rec.first_seen_at, tz_name, "%H:%M:%S")
        out["last_seen_local"] = format_local(rec.last_seen_at, tz_name, "%H:%M:%S")
    return out


def live_rollcall(session: Session, assembly_id: int, office_id: int | None = None) -> dict[str, Any]:
    """What the leader console shows, per office: roster, present, late (by tier), not yet seen,
    excused, TK, mask compliance, distancing alerts (both by assemblies.counts, as every report
    counts them), unknown faces, and the people list.

    While the apel is open the roster is the office's active staff; once closed it is the records
    written at close (a snapshot: later transfers do not change a closed apel)."""
    a = get_assembly(session, assembly_id)
    session.refresh(a)
    aos = [ao for ao in a.offices if office_id is None or ao.office_id == office_id]
    if office_id is not None and not aos:
        raise NotFound("not_found", f"office {office_id} does not take part in apel {assembly_id}")
    office_ids = [ao.office_id for ao in aos]
    offices = {o.id: o for o in session.execute(select(Office).where(Office.id.in_(office_ids))).scalars()} \
        if office_ids else {}
    records = list(session.execute(select(AttendanceRecord).where(
        AttendanceRecord.assembly_id == a.id, AttendanceRecord.office_id.in_(office_ids))).scalars()) \
        if office_ids else []
    by_emp = {r.employee_id: r for r in records}
    if a.status == AssemblyStatus.closed.value:
        emp_ids = list(by_emp)
        people = list(session.execute(select(Employee).where(Employee.id.in_(emp_ids))).scalars()) if emp_ids else []
    else:
        people = roster_employees(session, office_ids)
        extra = set(by_emp) - {e.id for e in people}
        if extra:
            people += list(session.execute(select(Employee).where(Employee.id.in_(extra))).scalars())
    figures = office_counts(session, a.id, office_ids)   # the one count (assemblies.counts)
    unknown_rows = session.execute(
        select(ReviewItem.office_id, func.count()).where(ReviewItem.assembly_id == a.id, ReviewItem.status == "open")
        .group_by(ReviewItem.office_id)).all()
    unknown = {r[0]: int(r[1]) for r in unknown_rows}
    by_hand = hand_marks(session, a.id, office_ids) if office_ids else {}   # the records' source

    per_office: dict[int, list[Employee]] = defaultdict(list)
    for e in people:
        rec = by_emp.get(e.id)
        per_office[rec.office_id if rec else e.office_id].append(e)
    out_offices = []
    totals = _empty_counts()
    for ao in aos:
        office = offices[ao.office_id]
        tz = office.timezone
        counts = _empty_counts()
        plist = []
        for e in sorted(per_office.get(ao.office_id, []), key=lambda e: (e.name, e.id)):
            rec = by_emp.get(e.id)
            status = rec.status if rec else (TK if a.status == AssemblyStatus.closed.value else NOT_SEEN)
            counts["roster"] += 1
            counts[status] += 1
            if status == LATE and rec and rec.tier in TIERS:
                counts["late_by_tier"][rec.tier] += 1
            if status == EXCUSED and rec and rec.excuse_category:
                counts["excused_by_category"][rec.excuse_category] = \
                    counts["excused_by_category"].get(rec.excuse_category, 0) + 1
            if rec:
                plist.append(record_view(rec, e, tz))
                if e.id in by_hand:
                    plist[-1]["by_hand"] = with_local(by_hand[e.id], tz)
            else:
                plist.append({"id": None, "employee_id": e.id, "nip": e.nip, "name": e.name, "office_id": e.office_id,
                              "status": status, "tier": None, "frames": 0, "version": None})
        fig = figures[ao.office_id]
        counts["distancing_alerts"] = fig.distancing_alerts
        counts["mask_known"], counts["masked"] = fig.mask_known, fig.masked
        counts["unknown_faces"] = unknown.get(ao.office_id, 0)
        _add(totals, counts)
        out_offices.append({
            "office_id": office.id, "code": office.code, "name": office.name, "timezone": tz,
            "zone": zone_label(tz), "scheduled_start": ao.scheduled_start.isoformat(),
            "scheduled_start_local": format_local(ao.scheduled_start, tz, "%Y-%m-%d %H:%M"),
            "joined": ao.last_joined_at is not None and ao.left_at is None,
            "joined_at": ao.joined_at.isoformat() if ao.joined_at else None,
            **_finish(counts), "people": plist,
        })
    return {
        "assembly": {"id": a.id, "kind": a.kind, "title": a.title, "status": a.status,
                     "scheduled_start": a.scheduled_start.isoformat(),
                     "ruleset": {"name": a.ruleset.name, "version": a.ruleset.version}},
        "generated_at": utcnow().isoformat(),
        "offices": out_offices,
        "totals": _finish(totals),
    }


def _empty_counts() -> dict[str, Any]:
    return {"roster": 0, PRESENT: 0, LATE: 0, NOT_SEEN: 0, TK: 0, EXCUSED: 0,
            "late_by_tier": {t: 0 for t in TIERS}, "excused_by_category": {},
            "distancing_alerts": 0, "mask_known": 0, "masked": 0, "unknown_faces": 0}


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for k, v in part.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                total[k][kk] = total[k].get(kk, 0) + vv
        else:
            total[k] += v


def _finish(c: dict[str, Any]) -> dict[str, Any]:
    out = dict(c)
    out["not_yet_seen"] = c[NOT_SEEN]
    out["mask_compliance"] = ApelCounts(c["distancing_alerts"], c["mask_known"], c["masked"]).mask_compliance
    out["mask_compliance_pct"] = percent(out["mask_compliance"])
    return out
