"""People in the room whom no camera detected, marked present by hand (assemblies.present_by_hand) on
the real databases: the record is present at the tap's time with the operator as its source, no face
learned, audited; undo gives the record back as it was; a later camera sighting adds its evidence to
the same record; the refusals (another office's person, an ended apel, an observer, unknown ids,
someone already present or excused) change nothing."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from attendance.assemblies.confirmations import unseen_roster
from attendance.assemblies.hand_marks import hand_marks
from attendance.assemblies.lifecycle import end_assembly
from attendance.assemblies.present_by_hand import mark_present_by_hand, undo_present_by_hand
from attendance.assemblies.sightings import live_rollcall, record_sightings
from attendance.db.unit_of_work import committed
from attendance.errors import ApelError, Conflict, Forbidden, Invalid, NotFound
from attendance.models import AttendanceRecord, AuditEntry, FaceTemplate, ReviewItem, SightingTrack, utcnow

from .conftest import World
from .test_sightings import _open_apel, seen


def _state(session) -> tuple:
    """Everything a hand mark could change."""
    session.expire_all()
    return (
        sorted((r.employee_id, r.status, r.frames, r.first_seen_at) for r in
               session.execute(select(AttendanceRecord)).scalars()),
        sorted((t.track_key, t.employee_id, t.confirmed_by, t.confident_frames)
               for t in session.execute(select(SightingTrack)).scalars()),
        session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one(),
        session.execute(select(func.count()).select_from(ReviewItem)).scalar_one(),
        session.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
    )


def _record(session, a, emp_id: int) -> AttendanceRecord | None:
    session.expire_all()
    return session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                          AttendanceRecord.employee_id == emp_id)).scalar_one_or_none()


def test_marked_by_hand_is_present_with_its_source_and_undo_gives_the_record_back(session, world: World) -> None:
    a = _open_apel(session, world, scheduled_start=utcnow() + timedelta(minutes=30))
    emp = world.staff["JKT"][0]
    before = _state(session)
    t0 = utcnow()
    rec = committed(mark_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    assert rec.status == "present" and rec.office_id == emp.office_id
    assert rec.first_seen_at is not None and t0 <= rec.first_seen_at <= utcnow()   # the tap's time
    # no face behind it: nothing learned, no crop, no review item
    assert session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(ReviewItem)).scalar_one() == 0
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "live.present_by_hand")).scalar_one()
    assert entry.actor == "operator" and entry.entity_id == str(rec.id)
    assert entry.reason == "marked present by operator operator, not seen by the camera"
    assert entry.before == {"record": None} and entry.after["record"]["status"] == "present"
    # the source, where HR and the consoles read it
    assert hand_marks(session, a.id)[emp.id]["by"] == "operator"
    people = {p["employee_id"]: p for o in live_rollcall(session, a.id)["offices"] for p in o["people"]}
    assert people[emp.id]["status"] == "present" and people[emp.id]["by_hand"]["by"] == "operator"
    assert "by_hand" not in people[world.staff["JKT"][1].id]
    assert emp.id not in {p["employee_id"] for p in unseen_roster(session, a.id, emp.office_id)}
    # twice: the same record, nothing more written
    again = _state(session)
    assert committed(mark_present_by_hand)(session, a.id, emp.id, actor=world.users["leader"]).id == rec.id
    assert _state(session) == again

    assert committed(undo_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"]) is None
    after = _state(session)
    assert after[:4] == before[:4] and after[4] == before[4] + 2   # as before, plus the mark's and undo's audit
    undo = session.execute(select(AuditEntry).where(AuditEntry.action == "live.unpresent_by_hand")).scalar_one()
    assert undo.after == {"record": None, "record_removed": rec.id} and undo.before["marked"]["by"] == "operator"
    assert emp.id in {p["employee_id"] for p in unseen_roster(session, a.id, emp.office_id)}
    with pytest.raises(Conflict) as exc:
        committed(undo_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    assert exc.value.code == "not_marked_by_hand"


def test_lateness_is_the_taps_time_and_closing_keeps_it(session, world: World) -> None:
    a = _open_apel(session, world, scheduled_start=utcnow() - timedelta(minutes=20))
    emp = world.staff["JKT"][1]
    rec = committed(mark_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    assert rec.status == "late" and rec.late_minutes in (20, 21) and rec.tier
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    closed = _record(session, a, emp.id)
    assert closed is not None and (closed.status, closed.late_minutes) == ("late", rec.late_minutes)
    others = {r.employee_id: r.status for r in session.execute(select(AttendanceRecord)).scalars()}
    assert others[world.staff["JKT"][0].id] == "tk"   # nobody marked, nobody seen


def test_undo_keeps_what_the_camera_saw_and_a_later_sighting_adds_to_the_mark(session, world: World) -> None:
    a = _open_apel(session, world, scheduled_start=utcnow() + timedelta(minutes=30))
    jkt = world.offices["JKT"]
    emp, other = world.staff["JKT"][0], world.staff["JKT"][1]
    # the camera caught `emp` once, not enough to count: a not-seen record exists
    now = utcnow()
    committed(record_sightings)(session, a.id, jkt.id, seen(emp.id, "cam-1", now - timedelta(seconds=30), n=1))
    was = _record(session, a, emp.id)
    assert was is not None and was.status == "not_seen" and was.frames == 1
    committed(mark_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    marked = _record(session, a, emp.id)
    assert marked is not None and marked.status == "present" and marked.frames == 1 + 3
    assert marked.first_seen_at == now - timedelta(seconds=30)   # the camera's confident frame came first
    rec = committed(undo_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    assert rec is not None and (rec.status, rec.frames) == ("not_seen", 1)   # what it was, not deleted

    # `other` marked by hand, then the camera names them: the camera's evidence joins the record,
    # the mark (its source) stays
    committed(mark_present_by_hand)(session, a.id, other.id, actor=world.users["operator"])
    committed(record_sightings)(session, a.id, jkt.id, seen(other.id, "cam-2", utcnow(), n=4, conf=0.95))
    rec = _record(session, a, other.id)
    assert rec is not None and rec.status == "present" and rec.frames == 3 + 4 and rec.best_confidence == 0.95
    assert rec.mask_total == 4
    assert hand_marks(session, a.id)[other.id]["by"] == "operator"
    rec = committed(undo_present_by_hand)(session, a.id, other.id, actor=world.users["operator"])
    assert rec is not None and (rec.status, rec.frames) == ("present", 4)   # the camera alone: still present
    assert other.id not in hand_marks(session, a.id)


def test_refusals_change_nothing(session, world: World) -> None:
    a = _open_apel(session, world, scheduled_start=utcnow() + timedelta(minutes=30))
    jkt, bali = world.staff["JKT"], world.staff["BALI"]
    committed(record_sightings)(session, a.id, world.offices["JKT"].id, seen(jkt[2].id, "cam-3", utcnow()))
    before = _state(session)

    def refused(kind: type[ApelError], code: str, assembly_id: int, employee_id: int, actor: str) -> None:
        with pytest.raises(kind) as exc:
            committed(mark_present_by_hand)(session, assembly_id, employee_id, actor=world.users[actor])
        assert exc.value.code == code
        assert _state(session) == before

    refused(Forbidden, "not_allowed_to_confirm", a.id, bali[0].id, "operator")   # another office's person
    refused(Forbidden, "not_allowed_to_confirm", a.id, jkt[0].id, "observer")
    refused(NotFound, "not_found", a.id, 999_999, "operator")                   # unknown person
    refused(NotFound, "not_found", 999_999, jkt[0].id, "operator")              # unknown apel
    refused(Conflict, "already_present", a.id, jkt[2].id, "operator")            # the camera saw them
    with pytest.raises(Forbidden):
        committed(mark_present_by_hand)(session, a.id, jkt[0].id, actor=None)
    inactive = jkt[1]
    inactive.active = False
    session.commit()
    before = _state(session)
    refused(Invalid, "employee_inactive", a.id, inactive.id, "operator")
    # undo refused alike
    with pytest.raises(Forbidden):
        committed(undo_present_by_hand)(session, a.id, jkt[0].id, actor=world.users["observer"])
    with pytest.raises(Conflict):
        committed(undo_present_by_hand)(session, a.id, jkt[0].id, actor=world.users["operator"])
    # an ended apel: HR corrects afterwards; neither marking nor undoing a mark made during it
    committed(mark_present_by_hand)(session, a.id, jkt[0].id, actor=world.users["leader"])   # a leader may, anywhere
    committed(mark_present_by_hand)(session, a.id, bali[0].id, actor=world.users["hr"])
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    before = _state(session)
    refused(Conflict, "apel_ended", a.id, bali[1].id, "admin")
    with pytest.raises(Conflict) as exc:
        committed(undo_present_by_hand)(session, a.id, jkt[0].id, actor=world.users["operator"])
    assert exc.value.code == "apel_ended" and _state(session) == before


def test_two_operators_marking_at_once_make_one_mark(world: World, factory) -> None:
    with factory() as s:
        a = _open_apel(s, world, scheduled_start=utcnow() + timedelta(minutes=30))
        aid = a.id
    emp = world.staff["JKT"][0].id
    results, errors = [], []
    gate = threading.Barrier(2)

    def mark(actor: str) -> None:
        with factory() as s:
            user = s.get(type(world.users[actor]), world.users[actor].id)
            gate.wait()
            try:
                results.append(committed(mark_present_by_hand)(s, aid, emp, actor=user).id)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=mark, args=(u,)) for u in ("operator", "leader")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(set(results)) == 1
    with factory() as s:
        assert s.execute(select(func.count()).select_from(SightingTrack)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "live.present_by_hand")).scalar_one() == 1


def test_excused_and_corrected_people_are_hrs(session, world: World) -> None:
    from attendance.assemblies.corrections import excuse_employee

    a = _open_apel(session, world, scheduled_start=utcnow() + timedelta(minutes=30))
    emp = world.staff["JKT"][0]
    cat = (a.ruleset.excuse_categories or [{"code": "sakit"}])[0]["code"]
    committed(excuse_employee)(session, a.id, emp.id, actor=world.users["hr"], category=cat, reason="surat dokter")
    with pytest.raises(Conflict) as exc:
        committed(mark_present_by_hand)(session, a.id, emp.id, actor=world.users["operator"])
    assert exc.value.code == "excused_by_hr"
