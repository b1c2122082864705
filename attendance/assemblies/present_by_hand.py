"""People the operator sees in the room whom no camera detected (behind the row in front, turned away):
marked present by hand during the running apel, and taken back.

Without this they end as TK, which feeds allowance deductions, though a person saw them standing
there. A hand mark has no face behind it, so it teaches no template and keeps no crop; what stands
for it is the operator's name, which the record carries as its source wherever HR looks (the
roll-call, the record list and page: attendance.assemblies.hand_marks) and the audit log keeps.
Lateness is the tap's time: it is the moment a person vouched for them, as a confirmation is.

Who may: exactly those who may answer the office's faces (confirmations.require_confirmer), for a
person of that office's roster, while the apel is open; afterwards HR corrects the record. The mark
is a sighting track of its own (hand_marks), so a later camera sighting of the person adds its
evidence to the same record, and undoing removes only the mark."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.assemblies.confirmations import require_confirmer, require_open_apel
from attendance.assemblies.corrections import jsonable, snapshot
from attendance.assemblies.hand_marks import hand_track_key
from attendance.assemblies.lookups import get_assembly, get_assembly_office
from attendance.assemblies.sightings import refresh_records
from attendance.errors import Conflict, Invalid, NotFound
from attendance.models import AttendanceRecord, AuditEntry, Employee, SightingTrack, User, utcnow
from attendance.rules import EXCUSED, FINAL_STATUSES, LATE, NOT_SEEN, PRESENT, Rules

MARK, UNMARK = "live.present_by_hand", "live.unpresent_by_hand"


def _employee(session: Session, employee_id: int) -> Employee:
    emp = session.get(Employee, employee_id)
    if emp is None:
        raise NotFound("not_found", f"employee {employee_id} does not exist")
    return emp


def _record(session: Session, assembly_id: int, employee_id: int) -> AttendanceRecord | None:
    return session.execute(select(AttendanceRecord).where(
        AttendanceRecord.assembly_id == assembly_id, AttendanceRecord.employee_id == employee_id)
    ).scalar_one_or_none()


def _hand_track(session: Session, assembly_id: int, emp: Employee) -> SightingTrack | None:
    return session.execute(select(SightingTrack).where(
        SightingTrack.assembly_id == assembly_id, SightingTrack.track_key == hand_track_key(emp.id))
    ).scalar_one_or_none()


def _checked(session: Session, assembly_id: int, employee_id: int, actor: User | None) -> tuple[User, Employee]:
    """The refusals in the order the confirmations give them: who the person is, whether the actor may
    answer for their office, whether the apel still runs and the office takes part in it."""
    emp = _employee(session, employee_id)
    user = require_confirmer(actor, emp.office_id)
    require_open_apel(session, assembly_id)
    get_assembly_office(session, assembly_id, emp.office_id)
    return user, emp


def mark_present_by_hand(session: Session, assembly_id: int, employee_id: int, *,
                         actor: User | None) -> AttendanceRecord:
    """The person is in the room though no camera detected them: present (or late) from now, on the
    operator's word. Marking someone already marked returns their record unchanged."""
    user, emp = _checked(session, assembly_id, employee_id, actor)
    if not emp.active:
        raise Invalid("employee_inactive", f"{emp.name} is not active on the roster")
    rec = _record(session, assembly_id, emp.id)
    if _hand_track(session, assembly_id, emp) is not None and rec is not None:
        return rec
    if rec is not None and rec.status == EXCUSED:
        raise Conflict("excused_by_hr", f"{emp.name} is excused ({rec.excuse_category}); if they came after "
                       "all, HR corrects the excuse", details={"status": rec.status})
    if rec is not None and rec.status in (PRESENT, LATE):
        raise Conflict("already_present", f"{emp.name} is already recorded {rec.status}",
                       details={"status": rec.status})
    if rec is not None and rec.corrected and rec.status in FINAL_STATUSES:
        raise Conflict("corrected_by_hr", f"HR set {emp.name}'s record to {rec.status}; HR corrects it",
                       details={"status": rec.status})
    a = get_assembly(session, assembly_id)
    before = jsonable(snapshot(rec)) if rec is not None else None
    now = utcnow()
    track = SightingTrack(assembly_id=assembly_id, office_id=emp.office_id, track_key=hand_track_key(emp.id),
                          identity_key=str(emp.id), employee_id=emp.id, first_at=now, last_at=now, frames=0,
                          # the operator's word is the rules' minimum, as a confirmed face's is
                          confident_frames=Rules.from_ruleset(a.ruleset).min_frames, first_confident_at=now,
                          best_confidence=0.0, mask_frames=0, mask_total=0, violation_frames=0,
                          distancing_alerts=0, in_violation=False, confirmed_by=user.username)
    session.add(track)
    session.flush()
    refresh_records(session, a, {emp.id}, closed=False)
    rec = _record(session, assembly_id, emp.id)
    assert rec is not None   # refresh_records made it
    audit.record(session, actor=user.username, action=MARK, entity="attendance_record", entity_id=rec.id,
                 before={"record": before},
                 after={"record": jsonable(snapshot(rec)), "employee_id": emp.id, "track_id": track.id,
                        "at": now.isoformat()},
                 reason=f"marked present by operator {user.username}, not seen by the camera")
    return rec


def undo_present_by_hand(session: Session, assembly_id: int, employee_id: int, *,
                         actor: User | None) -> AttendanceRecord | None:
    """Take a hand mark back while the apel runs: the record is what the cameras alone say again, or
    gone when the mark made it. Returns the record, or None when it went."""
    user, emp = _checked(session, assembly_id, employee_id, actor)
    track = _hand_track(session, assembly_id, emp)
    if track is None:
        raise Conflict("not_marked_by_hand", f"{emp.name} was not marked present by hand in this apel")
    rec = _record(session, assembly_id, emp.id)
    entry = session.execute(select(AuditEntry).where(
        AuditEntry.action == MARK, AuditEntry.entity == "attendance_record",
        AuditEntry.entity_id == str(rec.id if rec else None)).order_by(AuditEntry.id.desc()).limit(1)
    ).scalar_one_or_none()
    made_it = entry is not None and isinstance(entry.before, dict) and entry.before.get("record") is None
    before = jsonable(snapshot(rec)) if rec is not None else None
    record_id = rec.id if rec is not None else None
    marked = {"by": track.confirmed_by, "at": track.first_at.isoformat()}
    session.delete(track)
    session.flush()
    a = get_assembly(session, assembly_id)
    refresh_records(session, a, {emp.id}, closed=False)
    rec = _record(session, assembly_id, emp.id)
    removed = None
    if made_it and rec is not None and rec.frames == 0 and not rec.corrected and rec.status == NOT_SEEN \
            and not rec.excuse_category:
        removed = rec.id
        session.delete(rec)
        session.flush()
        rec = None
    audit.record(session, actor=user.username, action=UNMARK, entity="attendance_record", entity_id=record_id,
                 before={"record": before, "marked": marked},
                 after={"record": jsonable(snapshot(rec)) if rec is not None else None, "record_removed": removed},
                 reason=f"hand mark undone by operator {user.username} during the apel")
    return rec
