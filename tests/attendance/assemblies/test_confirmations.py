"""Faces answered during the apel (assemblies.confirmations) on the real databases: a confirmation
marks the person present and teaches their face through the review queue's path; "visitor" and
undo; the refusals (another office's person, an ended apel, a user without the right) change
nothing; two operators answering the same face at once make one record."""
from __future__ import annotations

import os
import threading
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from attendance.assemblies.confirmations import (
    LiveFaceRef,
    confirm_face,
    mark_visitor,
    undo_answer,
    unseen_roster,
)
from attendance.assemblies.lifecycle import end_assembly
from attendance.assemblies.review import keep_crops, purge_expired, view_evidence
from attendance.assemblies.sightings import record_sightings
from attendance.db.unit_of_work import committed, run_in_transaction
from attendance.errors import Conflict, Forbidden, Invalid
from attendance.models import AttendanceRecord, AuditEntry, FaceTemplate, ReviewItem, SightingTrack, User, utcnow

from .conftest import World, at
from .test_sightings import _open_apel, seen


def _emb(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _unknown_face(session, w: World, key: str = "u1", n: int = 2, office: str = "JKT", mask: bool | None = True):
    """An apel with one unknown face seen `n` times (fewer than the queue's minimum by default)."""
    a = _open_apel(session, w)
    o = w.offices[office]
    committed(record_sightings)(session, a.id, o.id, seen(None, key, at(-2), n=n, conf=0.3, mask=mask))
    return a, LiveFaceRef(a.id, o.id, key, embedding=_emb(1), embedding_backend="dlib+faceres", confidence=0.3)


def _state(session) -> tuple:
    """Everything an answer could change."""
    session.expire_all()
    return (
        sorted((r.employee_id, r.status, r.frames) for r in session.execute(select(AttendanceRecord)).scalars()),
        session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one(),
        sorted((i.track_id, i.status, i.resolved_employee_id) for i in session.execute(select(ReviewItem)).scalars()),
        sorted((t.id, t.employee_id, t.confirmed_by, t.confident_frames)
               for t in session.execute(select(SightingTrack)).scalars()),
        session.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
    )


def _record(session, a, emp_id: int) -> AttendanceRecord | None:
    session.expire_all()
    return session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                          AttendanceRecord.employee_id == emp_id)).scalar_one_or_none()


def test_confirmed_face_marks_present_learns_template_and_undo_takes_both_back(session, world: World) -> None:
    a, face = _unknown_face(session, world)
    emp = world.staff["JKT"][0]
    picker = unseen_roster(session, a.id, face.office_id)
    assert [p["employee_id"] for p in picker] == [e.id for e in world.staff["JKT"]]
    before = _state(session)
    rec = committed(confirm_face)(session, face, actor=world.users["operator"], employee_id=emp.id)
    assert rec.status == "present" and rec.frames == 3   # a person's word counts as the rules' minimum
    tpl = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)).scalar_one()
    assert tpl.kind == "masked_sighting" and tpl.created_by == "operator"   # seen masked
    assert np.allclose(np.frombuffer(tpl.embedding, "<f4"), _emb(1))
    track = session.execute(select(SightingTrack)).scalar_one()
    assert (track.employee_id, track.confirmed_by) == (emp.id, "operator")
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "live.confirm")).scalar_one()
    assert entry.actor == "operator" and entry.reason == "confirmed by operator operator during the apel"
    assert emp.id not in {p["employee_id"] for p in unseen_roster(session, a.id, face.office_id)}
    # later frames of the same face count as theirs
    committed(record_sightings)(session, a.id, face.office_id, seen(None, "u1", at(-1), n=2, conf=0.3))
    assert _record(session, a, emp.id).frames == 5

    committed(undo_answer)(session, face, actor=world.users["operator"])
    session.expire_all()
    assert _record(session, a, emp.id) is None          # the record the confirmation made is gone
    assert session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0
    item = session.execute(select(ReviewItem)).scalar_one()
    assert item.status == "open" and np.allclose(np.frombuffer(item.embedding, "<f4"), _emb(1))
    track = session.execute(select(SightingTrack)).scalar_one()
    assert (track.employee_id, track.confirmed_by, track.confident_frames) == (None, None, 0)
    assert before[0] == _state(session)[0]
    # ... and it can be answered again, rightly this time
    other = world.staff["JKT"][1]
    assert committed(confirm_face)(session, face, actor=world.users["leader"], employee_id=other.id).status == "present"


def test_undo_of_an_unsure_face_gives_the_track_back_to_the_suggested_person(session, world: World) -> None:
    a = _open_apel(session, world)
    jkt = world.offices["JKT"]
    e1, e2, _ = world.staff["JKT"]
    committed(record_sightings)(session, a.id, jkt.id, seen(e1.id, "s1", at(-2), n=4, conf=0.4))   # unsure: e1?
    face = LiveFaceRef(a.id, jkt.id, "s1")
    before = _state(session)
    committed(confirm_face)(session, face, actor=world.users["operator"], employee_id=e2.id)
    assert _record(session, a, e2.id).status == "present" and _record(session, a, e1.id).status == "not_seen"
    committed(undo_answer)(session, face, actor=world.users["operator"])
    after = _state(session)
    assert after[0] == before[0] and after[3] == before[3]   # records and the track as they were


def test_visitor_and_its_undo(session, world: World) -> None:
    a, face = _unknown_face(session, world, n=4)
    before = _state(session)
    committed(mark_visitor)(session, face, actor=world.users["operator"])
    item = session.execute(select(ReviewItem)).scalar_one()
    assert item.status == "dismissed" and item.embedding is None and "visitor" in item.note
    assert _state(session)[0] == before[0]   # nobody's record
    committed(mark_visitor)(session, face, actor=world.users["leader"])   # said twice: one answer
    assert session.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "live.visitor")).scalar_one() == 1
    committed(undo_answer)(session, face, actor=world.users["operator"])
    session.expire_all()
    assert session.execute(select(ReviewItem.status)).scalar_one() == "open"
    rec = committed(confirm_face)(session, face, actor=world.users["operator"], employee_id=world.staff["JKT"][2].id)
    assert rec.status == "present"   # the live service passes the embedding again: it is learned
    assert session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 1


def test_person_of_another_office_is_refused_and_nothing_changes(session, world: World) -> None:
    _, face = _unknown_face(session, world)
    before = _state(session)
    with pytest.raises(Invalid) as exc:
        committed(confirm_face)(session, face, actor=world.users["leader"], employee_id=world.staff["BALI"][0].id)
    assert exc.value.code == "other_office" and "not on this office's roster" in exc.value.message
    assert _state(session) == before


def test_ended_apel_is_refused_and_nothing_changes(session, world: World) -> None:
    a, face = _unknown_face(session, world, n=4)
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    before = _state(session)
    for answer in (lambda: confirm_face(session, face, actor=world.users["operator"],
                                        employee_id=world.staff["JKT"][0].id),
                   lambda: mark_visitor(session, face, actor=world.users["operator"]),
                   lambda: undo_answer(session, face, actor=world.users["operator"])):
        with pytest.raises(Conflict) as exc:
            run_in_transaction(session, answer)
        assert exc.value.code == "apel_ended" and "review queue" in exc.value.message
    assert _state(session) == before


@pytest.mark.parametrize("who", ["observer", "operator_elsewhere", "inactive", "nobody"])
def test_user_without_the_right_is_refused_and_nothing_changes(session, world: World, who: str) -> None:
    _, face = _unknown_face(session, world, office="BALI")    # the operator is JKT's
    actor: User | None = None
    if who == "observer":
        actor = world.users["observer"]
    elif who == "operator_elsewhere":
        actor = world.users["operator"]
    elif who == "inactive":
        actor = world.users["hr2"]
        actor.active = False
        session.commit()
    before = _state(session)
    for answer in (lambda: confirm_face(session, face, actor=actor, employee_id=world.staff["BALI"][0].id),
                   lambda: mark_visitor(session, face, actor=actor),
                   lambda: undo_answer(session, face, actor=actor)):
        with pytest.raises(Forbidden) as exc:
            run_in_transaction(session, answer)
        assert exc.value.code == "not_allowed_to_confirm"
    assert _state(session) == before


def test_a_different_second_answer_is_refused(session, world: World) -> None:
    _, face = _unknown_face(session, world)
    e1, e2, _ = world.staff["JKT"]
    committed(confirm_face)(session, face, actor=world.users["operator"], employee_id=e1.id)
    before = _state(session)
    with pytest.raises(Conflict) as exc:
        committed(confirm_face)(session, face, actor=world.users["leader"], employee_id=e2.id)
    assert exc.value.code == "already_confirmed" and "operator already confirmed" in exc.value.message
    with pytest.raises(Conflict):
        committed(mark_visitor)(session, face, actor=world.users["leader"])
    assert _state(session) == before


def test_two_operators_confirming_the_same_face_at_once_make_one_record(session, world: World) -> None:
    a, face = _unknown_face(session, world)
    emp = world.staff["JKT"][0]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def operate(username: str) -> None:
        with world.factory() as s:
            actor = s.execute(select(User).where(User.username == username)).scalar_one()
            barrier.wait()
            try:
                results.append(committed(confirm_face)(s, face, actor=actor, employee_id=emp.id).id)
            except Exception as exc:   # reported below
                results.append(exc)

    threads = [threading.Thread(target=operate, args=(u,)) for u in ("operator", "leader")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and all(isinstance(r, int) for r in results), results
    assert results[0] == results[1]
    session.expire_all()
    assert session.execute(select(func.count()).select_from(AttendanceRecord)
                           .where(AttendanceRecord.employee_id == emp.id)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "live.confirm")).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(ReviewItem)).scalar_one() == 1


def test_unanswered_crops_become_review_evidence_seen_only_by_hr_audited_and_purged(session, world: World,
                                                                                    tmp_path) -> None:
    a, face = _unknown_face(session, world, n=4)                       # an item in the queue
    committed(record_sightings)(session, a.id, face.office_id, seen(None, "stray", at(-2), n=1, conf=0.2))
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 100
    n = committed(keep_crops)(session, a.id, [(face.office_id, "u1", jpeg), (face.office_id, "stray", jpeg)],
                              tmp_path / "ev", 14)
    assert n == 1   # the stray detection has no item: its crop is not kept
    item = session.execute(select(ReviewItem)).scalar_one()
    assert item.evidence_path and open(item.evidence_path, "rb").read() == jpeg
    assert oct(os.stat(item.evidence_path).st_mode & 0o777) == "0o600"
    assert item.expires_at <= utcnow() + timedelta(days=14)
    with pytest.raises(Forbidden):
        run_in_transaction(session, lambda: view_evidence(session, item.id, actor=world.users["operator"]))
    path = run_in_transaction(session, lambda: view_evidence(session, item.id, actor=world.users["hr"]))
    assert path == item.evidence_path
    views = session.execute(select(AuditEntry).where(AuditEntry.action == "review.evidence_view")).scalars().all()
    assert [(v.actor, v.entity_id) for v in views] == [("hr", str(item.id))]
    # the retention job deletes it when its time is up
    assert committed(purge_expired)(session, now=utcnow() + timedelta(days=15)) == 1
    session.expire_all()
    assert session.get(ReviewItem, item.id).evidence_path is None and not os.path.exists(path)


@pytest.mark.parametrize("mask, kind", [(False, "sighting"), (None, "sighting"), (True, "masked_sighting")])
def test_confirmed_face_teaches_a_masked_template_only_when_seen_masked(session, world: World, mask, kind) -> None:
    """A face the camera saw masked teaches a "masked_sighting" (the gallery keeps it with the masked
    variants); one seen unmasked, or whose mask state was never known, a "sighting"."""
    a, face = _unknown_face(session, world, mask=mask)
    emp = world.staff["JKT"][0]
    committed(confirm_face)(session, face, actor=world.users["operator"], employee_id=emp.id)
    tpl = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)).scalar_one()
    assert tpl.kind == kind
