"""Scheduling, starting and ending apels, and the per-office join tokens.

Lifecycle: scheduled -> open (start: pins the current rule-set version) -> closed (end: every
roster member without a confident sighting becomes TK unless excused; records are then locked
except through corrections).

Tokens: 32 random bytes, URL-safe; only their SHA-256 is stored (a database leak gives no way in).
A token works for one office in one apel, until it expires or the apel closes; issuing a new one
replaces the old.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.assemblies.lookups import get_assembly, get_assembly_office, lock_assembly, roster_employees
from attendance.assemblies.review import drop_biometrics, drop_transient_crops
from attendance.assemblies.rulesets import current_ruleset, ruleset_for_kind
from attendance.assemblies.sightings import refresh_records
from attendance.errors import Conflict, Forbidden, Invalid, NotFound
from attendance.models import (
    Assembly,
    AssemblyKind,
    AssemblyOffice,
    AssemblyStatus,
    AttendanceRecord,
    Office,
    OfficeView,
    ReviewItem,
    User,
    utcnow,
)
from attendance.models.users import LEADER_ROLES
from attendance.roster.common import refuse_control_characters
from attendance.rules import LATE, PRESENT, TK, local_to_utc

MAX_TTL_MINUTES = 7 * 24 * 60


def _require_leader(actor: User, what: str) -> None:
    if actor.role not in LEADER_ROLES:
        raise Forbidden("forbidden", f"only a leader or an admin may {what}")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def assembly_view(a: Assembly) -> dict[str, Any]:
    return {
        "id": a.id, "kind": a.kind, "title": a.title, "status": a.status,
        "scheduled_start": a.scheduled_start.isoformat(), "duration_minutes": a.duration_minutes,
        "ruleset": {"id": a.ruleset.id, "name": a.ruleset.name, "version": a.ruleset.version},
        "created_at": a.created_at.isoformat() if a.created_at else None,
        "started_at": a.started_at.isoformat() if a.started_at else None,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "created_by_id": a.created_by_id, "started_by_id": a.started_by_id, "ended_by_id": a.ended_by_id,
        "offices": [{
            "office_id": ao.office_id, "code": ao.office.code, "name": ao.office.name,
            "timezone": ao.office.timezone, "scheduled_start": ao.scheduled_start.isoformat(),
            "token_expires_at": ao.token_expires_at.isoformat() if ao.token_expires_at else None,
            "joined_at": ao.joined_at.isoformat() if ao.joined_at else None,
            "last_joined_at": ao.last_joined_at.isoformat() if ao.last_joined_at else None,
            "left_at": ao.left_at.isoformat() if ao.left_at else None, "join_count": ao.join_count,
        } for ao in a.offices],
    }


def create_assembly(session: Session, *, actor: User, kind: str, title: str, scheduled_start: datetime | None = None,
                    office_ids: Sequence[int], local_date: date | None = None, local_time: time | None = None,
                    duration_minutes: int = 60, ruleset_name: str | None = None) -> Assembly:
    """Schedule an apel. Either one instant for everyone (`scheduled_start`, UTC-aware) or the same
    local wall-clock time in every office (`local_date` + `local_time`, each office's own zone)."""
    _require_leader(actor, "schedule an apel")
    kinds = {k.value for k in AssemblyKind}
    if kind not in kinds:
        raise Invalid("invalid", f"kind must be one of: {', '.join(sorted(kinds))}")
    refuse_control_characters(title or "", "title")
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise Invalid("invalid", "title is required (at most 200 characters)")
    if not (1 <= int(duration_minutes) <= 24 * 60):
        raise Invalid("invalid", "duration_minutes must be between 1 and 1440")
    ids = list(dict.fromkeys(int(i) for i in office_ids))
    if not ids:
        raise Invalid("invalid", "at least one office must take part")
    offices = {o.id: o for o in session.execute(select(Office).where(Office.id.in_(ids))).scalars()}
    missing = [i for i in ids if i not in offices]
    if missing:
        raise Invalid("invalid", f"unknown offices: {missing}")
    inactive = [offices[i].code for i in ids if not offices[i].active]
    if inactive:
        raise Invalid("invalid", f"inactive offices: {inactive}")
    if local_time is not None or local_date is not None:
        if scheduled_start is not None or local_time is None or local_date is None:
            raise Invalid("invalid", "give either scheduled_start, or both local_date and local_time")
        starts = {i: local_to_utc(local_date, local_time, offices[i].timezone) for i in ids}
    else:
        if scheduled_start is None:
            raise Invalid("invalid", "scheduled_start (or local_date + local_time) is required")
        if scheduled_start.tzinfo is None:
            raise Invalid("invalid", "scheduled_start must carry a time zone (e.g. 2026-11-30T00:30:00Z)")
        start_utc = scheduled_start.astimezone(UTC)
        starts = {i: start_utc for i in ids}
    rs = current_ruleset(session, ruleset_name) if ruleset_name else ruleset_for_kind(session, kind)
    a = Assembly(kind=kind, title=title, scheduled_start=min(starts.values()), duration_minutes=int(duration_minutes),
                 status=AssemblyStatus.scheduled.value, ruleset_id=rs.id, created_by_id=actor.id)
    a.offices = [AssemblyOffice(office_id=i, scheduled_start=starts[i], join_count=0) for i in ids]
    session.add(a)
    session.flush()
    session.refresh(a)
    audit.record(session, actor=actor.username, action="assembly.create", entity="assembly", entity_id=a.id,
                 after=assembly_view(a))
    return a


def start_assembly(session: Session, assembly_id: int, *, actor: User) -> Assembly:
    """Open attendance. Re-pins the newest version of the apel's rule family (the rules in force
    when it runs). Starting an open apel again is a no-op; a closed one cannot be reopened."""
    _require_leader(actor, "start an apel")
    a = get_assembly(session, assembly_id)
    if a.status == AssemblyStatus.open.value:
        return a
    if a.status == AssemblyStatus.closed.value:
        raise Conflict("wrong_state", "this apel is closed; it cannot be started again")
    before = {"status": a.status, "ruleset_id": a.ruleset_id}
    a.ruleset_id = current_ruleset(session, a.ruleset.name).id
    a.status = AssemblyStatus.open.value
    a.started_at = utcnow()
    a.started_by_id = actor.id
    session.flush()
    audit.record(session, actor=actor.username, action="assembly.start", entity="assembly", entity_id=a.id,
                 before=before, after={"status": a.status, "ruleset_id": a.ruleset_id})
    session.refresh(a)
    return a


def end_assembly(session: Session, assembly_id: int, *, actor: User) -> Assembly:
    """Close attendance: unseen -> TK unless excused; every roster member gets a record, so reports
    have the whole roster. Ending a closed apel again is a no-op."""
    _require_leader(actor, "end an apel")
    # Serialise with record_sightings: it holds this lock while it writes, so after this line no
    # sighting can land in the apel and the records read below are final.
    if not lock_assembly(session, assembly_id):
        raise NotFound("not_found", f"apel {assembly_id} does not exist")
    a = get_assembly(session, assembly_id)
    session.refresh(a)
    if a.status == AssemblyStatus.closed.value:
        return a
    if a.status != AssemblyStatus.open.value:
        raise Conflict("wrong_state", "this apel has not started; start it before ending it")
    office_ids = [ao.office_id for ao in a.offices]
    existing = {r.employee_id: r for r in session.execute(
        select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id)).scalars()}
    for emp in roster_employees(session, office_ids):
        if emp.id not in existing:
            rec = AttendanceRecord(assembly_id=a.id, employee_id=emp.id, office_id=emp.office_id, status=TK,
                                   frames=0, mask_frames=0, mask_total=0, distancing_alerts=0, corrected=False)
            session.add(rec)
            existing[emp.id] = rec
    session.flush()
    a.status = AssemblyStatus.closed.value
    a.ended_at = utcnow()
    a.ended_by_id = actor.id
    refresh_records(session, a, list(existing), closed=True)
    # Low-confidence faces of people who were counted anyway need no review.
    seen = {r.employee_id for r in existing.values() if r.status in (PRESENT, LATE)}
    for item in session.execute(select(ReviewItem).where(ReviewItem.assembly_id == a.id,
                                                         ReviewItem.kind == "low_confidence",
                                                         ReviewItem.status == "open")).scalars():
        if item.suggested_employee_id in seen:
            item.status = "dismissed"
            item.resolved_by = "system"
            item.resolved_at = utcnow()
            item.note = "already counted from confident frames"
            drop_biometrics(item)   # its embedding, and a crop a vision node wrote while the apel ran
    drop_transient_crops(session, a.id)
    # The vision nodes' stills of the offices are pictures of people, kept only while the apel runs.
    session.execute(delete(OfficeView).where(OfficeView.assembly_id == a.id))
    counts: dict[str, int] = {}
    for r in existing.values():
        counts[r.status] = counts.get(r.status, 0) + 1
    session.flush()
    audit.record(session, actor=actor.username, action="assembly.end", entity="assembly", entity_id=a.id,
                 before={"status": "open"}, after={"status": "closed", "counts": counts,
                                                   "ruleset_id": a.ruleset_id})
    session.refresh(a)
    return a


def issue_office_token(session: Session, assembly_id: int, office_id: int, *, actor: User,
                       ttl_minutes: int) -> str:
    """A new join token for one office in one apel; the plaintext is returned once, only its hash kept."""
    _require_leader(actor, "issue office tokens")
    if not (1 <= int(ttl_minutes) <= MAX_TTL_MINUTES):
        raise Invalid("invalid", f"ttl_minutes must be between 1 and {MAX_TTL_MINUTES}")
    a = get_assembly(session, assembly_id)
    if a.status == AssemblyStatus.closed.value:
        raise Conflict("wrong_state", "this apel is closed; no more tokens")
    ao = get_assembly_office(session, assembly_id, office_id)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ao.token_hash = token_digest(token)
    ao.token_issued_at = now
    ao.token_expires_at = now + timedelta(minutes=int(ttl_minutes))
    session.flush()
    audit.record(session, actor=actor.username, action="assembly.token", entity="assembly_office", entity_id=ao.id,
                 after={"assembly_id": assembly_id, "office_id": office_id,
                        "expires_at": ao.token_expires_at.isoformat()})
    return token


def verify_office_token(session: Session, office_code: str, token: str, *,
                        now: datetime | None = None) -> AssemblyOffice | None:
    """The office's participation when the token is right, unexpired and its apel is open; else None."""
    if not office_code or not token or len(token) > 256:
        return None
    digest = token_digest(token)
    ao = session.execute(select(AssemblyOffice).join(Office, Office.id == AssemblyOffice.office_id)
                         .where(AssemblyOffice.token_hash == digest, Office.code == office_code)
                         ).scalar_one_or_none()
    if ao is None or not hmac.compare_digest(ao.token_hash or "", digest):
        return None
    if ao.token_expires_at is None or ao.token_expires_at <= (now or utcnow()):
        return None
    if ao.assembly.status != AssemblyStatus.open.value:
        return None
    return ao


def token_apel_finished(session: Session, office_code: str, token: str) -> bool:
    """A token `verify_office_token` refused is the office's right token for an apel that has ended:
    the office is told the apel is over (and stops trying), not that its token is wrong."""
    if not office_code or not token or len(token) > 256:
        return False
    ao = session.execute(select(AssemblyOffice).join(Office, Office.id == AssemblyOffice.office_id)
                         .where(AssemblyOffice.token_hash == token_digest(token), Office.code == office_code)
                         ).scalar_one_or_none()
    return ao is not None and ao.assembly.status == AssemblyStatus.closed.value


def mark_office_joined(session: Session, assembly_office_id: int) -> AssemblyOffice:
    """Called by the media server when an office's stream connects (again): keeps join history."""
    ao = session.get(AssemblyOffice, assembly_office_id)
    if ao is None:
        raise NotFound("not_found", f"participation {assembly_office_id} does not exist")
    now = utcnow()
    ao.joined_at = ao.joined_at or now
    ao.last_joined_at = now
    ao.left_at = None
    ao.join_count = (ao.join_count or 0) + 1
    session.flush()
    return ao


def mark_office_left(session: Session, assembly_office_id: int) -> AssemblyOffice:
    ao = session.get(AssemblyOffice, assembly_office_id)
    if ao is None:
        raise NotFound("not_found", f"participation {assembly_office_id} does not exist")
    ao.left_at = utcnow()
    session.flush()
    return ao


def list_assemblies(session: Session, *, office_id: int | None = None, status: str | None = None,
                    since: datetime | None = None, until: datetime | None = None, limit: int = 200) -> list[Assembly]:
    q = select(Assembly).order_by(Assembly.scheduled_start.desc(), Assembly.id.desc()).limit(max(1, min(limit, 1000)))
    if office_id is not None:
        q = q.where(Assembly.id.in_(select(AssemblyOffice.assembly_id).where(AssemblyOffice.office_id == office_id)))
    if status:
        q = q.where(Assembly.status == status)
    if since:
        q = q.where(Assembly.scheduled_start >= since)
    if until:
        q = q.where(Assembly.scheduled_start < until)
    return list(session.execute(q).scalars())
