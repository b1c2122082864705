"""Corrections and their audit, concurrent edits, the review queue, and rule changes that must not
rewrite closed apels."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from sqlalchemy import select

from attendance.assemblies.corrections import correct_record, excuse_employee, list_corrections
from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
from attendance.assemblies.review import assign_review_item, dismiss_review_item, purge_expired
from attendance.assemblies.rulesets import create_ruleset_version, current_ruleset
from attendance.assemblies.sightings import record_sightings
from attendance.audit import verify_chain
from attendance.db.unit_of_work import committed
from attendance.errors import Conflict, Forbidden, Invalid, StaleVersion
from attendance.models import AttendanceRecord, AuditEntry, Correction, FaceTemplate, ReviewItem, User

from .conftest import T0, World, at
from .test_sightings import rec, seen


def _closed_apel(session, w: World, sightings=None):
    a = committed(create_assembly)(session, actor=w.users["leader"], kind="pagi", title="Apel", scheduled_start=T0,
                                   office_ids=[w.offices["JKT"].id])
    committed(start_assembly)(session, a.id, actor=w.users["leader"])
    if sightings:
        committed(record_sightings)(session, a.id, w.offices["JKT"].id, sightings)
    committed(end_assembly)(session, a.id, actor=w.users["leader"])
    return a


def test_correction_keeps_original_and_audits(session, world: World) -> None:
    e1 = world.staff["JKT"][0]
    a = _closed_apel(session, world)
    r = rec(session, a, e1)
    assert r.status == "tk"
    v = r.version
    out = committed(correct_record)(session, r.id, actor=world.users["hr"], expected_version=v, status="excused",
                                    excuse_category="sakit", reason="Surat keterangan dokter",
                                    attachment_ref="SKD-2026-114")
    assert (out.status, out.excuse_category, out.excuse_attachment, out.corrected) == \
        ("excused", "sakit", "SKD-2026-114", True)
    assert out.version == v + 1
    c = session.execute(select(Correction)).scalar_one()
    assert c.before["status"] == "tk" and c.after["status"] == "excused" and c.actor == "hr"
    assert c.reason == "Surat keterangan dokter" and c.attachment_ref == "SKD-2026-114" and c.at is not None
    assert (c.version_before, c.version_after) == (v, v + 1)
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "attendance.status")).scalar_one()
    assert entry.actor == "hr" and entry.before["status"] == "tk" and entry.after["status"] == "excused"
    assert entry.reason == "Surat keterangan dokter"
    assert verify_chain(session).ok
    assert [x.id for x in list_corrections(session, record_id=r.id)] == [c.id]


def test_stale_version_is_refused_with_current_value(session, world: World) -> None:
    a = _closed_apel(session, world)
    r = rec(session, a, world.staff["JKT"][0])
    v = r.version
    committed(correct_record)(
        session, r.id, actor=world.users["hr"], expected_version=v, status="present", reason="hadir, kamera mati")
    with pytest.raises(StaleVersion) as err:
        committed(correct_record)(
            session, r.id, actor=world.users["hr2"], expected_version=v, status="tk", reason="saya kira TK")
    assert err.value.current["status"] == "present" and err.value.current["version"] == v + 1
    assert rec(session, a, world.staff["JKT"][0]).status == "present"
    assert len(session.execute(select(Correction)).scalars().all()) == 1


def test_two_sessions_racing_one_gets_the_conflict(db_url: str, world: World, factory) -> None:
    """Both sessions read version v and pass the version check; the database's version counter
    lets only one UPDATE through."""
    with factory() as s:
        a = _closed_apel(s, world)
        rid = rec(s, a, world.staff["JKT"][0]).id
    s1, s2 = factory(), factory()
    try:
        hr1, hr2 = s1.get(User, world.users["hr"].id), s2.get(User, world.users["hr2"].id)
        r1, r2 = s1.get(AttendanceRecord, rid), s2.get(AttendanceRecord, rid)
        assert r1.version == r2.version
        v = r1.version
        committed(correct_record)(s1, rid, actor=hr1, expected_version=v, status="excused", excuse_category="izin",
                                  reason="izin keluarga")
        with pytest.raises(StaleVersion) as err:
            committed(correct_record)(s2, rid, actor=hr2, expected_version=v, status="present", reason="hadir")
        assert "same moment" in err.value.message     # caught by the UPDATE's version check, not before
        assert err.value.current["status"] == "excused" and err.value.current["version"] == v + 1
    finally:
        s1.close()
        s2.close()
    with factory() as s:
        r = s.get(AttendanceRecord, rid)
        assert (r.status, r.version) == ("excused", v + 1)
        assert [c.actor for c in s.execute(select(Correction)).scalars()] == ["hr"]


@pytest.mark.parametrize("role", ["leader", "operator", "observer"])
def test_only_hr_and_admin_correct(session, world: World, role: str) -> None:
    a = _closed_apel(session, world)
    r = rec(session, a, world.staff["JKT"][0])
    with pytest.raises(Forbidden):
        committed(correct_record)(session, r.id, actor=world.users[role], expected_version=r.version, status="present",
                                  reason="x")
    with pytest.raises(Forbidden):
        committed(excuse_employee)(session, a.id, world.staff["JKT"][1].id, actor=world.users[role], category="sakit",
                                   reason="x")
    committed(correct_record)(session, r.id, actor=world.users["admin"], expected_version=r.version, status="present",
                              reason="admin fixed it")


def test_bad_corrections_change_nothing(session, world: World) -> None:
    a = _closed_apel(session, world)
    r = rec(session, a, world.staff["JKT"][0])
    v, hr = r.version, world.users["hr"]
    for kwargs in (dict(status="late", reason="x"),                              # late without tier
                   dict(status="late", tier="TL9", reason="x"),
                   dict(status="excused", excuse_category="liburan", reason="x"),
                   dict(status="present", tier="TL1", reason="x"),
                   dict(status="not_seen", reason="x"),
                   dict(status="present", reason="   "),
                   dict(status="tk", reason="same as now")):
        with pytest.raises(Invalid):
            committed(correct_record)(session, r.id, actor=hr, expected_version=v, **kwargs)
    assert rec(session, a, world.staff["JKT"][0]).version == v
    assert session.execute(select(Correction)).first() is None


def test_excuse_in_advance_survives_close(session, world: World) -> None:
    a = committed(create_assembly)(session, actor=world.users["leader"], kind="disiplin", title="Apel disiplin",
                                   scheduled_start=T0, office_ids=[world.offices["JKT"].id])
    e1, e2, _ = world.staff["JKT"]
    committed(excuse_employee)(session, a.id, e1.id, actor=world.users["hr"], category="cuti", reason="cuti tahunan",
                               attachment_ref="ST-CUTI-77")
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    # A manual correction during the apel is not overwritten by later sightings.
    committed(record_sightings)(session, a.id, world.offices["JKT"].id, seen(e2.id, "t", at(40)))
    r2 = rec(session, a, e2)
    committed(correct_record)(session, r2.id, actor=world.users["hr"], expected_version=r2.version, status="present",
                              reason="was at the gate at 07:30, camera queue")
    committed(record_sightings)(session, a.id, world.offices["JKT"].id, seen(e2.id, "t", at(41)))
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    r1, r2 = rec(session, a, e1), rec(session, a, e2)
    assert (r1.status, r1.excuse_category, r1.excuse_attachment) == ("excused", "cuti", "ST-CUTI-77")
    assert r2.status == "present" and r2.frames == 6


def test_rule_change_does_not_rewrite_closed_apels(session, world: World) -> None:
    e1 = world.staff["JKT"][0]
    a = _closed_apel(session, world, seen(e1.id, "t", at(20)))
    assert (rec(session, a, e1).status, rec(session, a, e1).tier) == ("late", "TL1")
    with pytest.raises(Forbidden):
        committed(create_ruleset_version)(session, actor=world.users["hr"], reason="x", grace_minutes=25)
    with pytest.raises(Invalid):
        committed(create_ruleset_version)(session, actor=world.users["admin"], reason="bad", tl1_max_minutes=100)
    with pytest.raises(Invalid) as refused:   # a NUL would be a 500 on PostgreSQL
        committed(create_ruleset_version)(session, actor=world.users["admin"], reason="Perbup\x00", grace_minutes=25)
    assert refused.value.code == "reason_control_character"
    new = committed(create_ruleset_version)(
        session, actor=world.users["admin"], reason="Perbup 2026: toleransi 25 menit",
        grace_minutes=25, tl1_max_minutes=40)
    assert (new.name, new.version) == ("default", 2) and current_ruleset(session).id == new.id
    # The closed apel keeps its rules and its outcome.
    session.expire_all()
    r = rec(session, a, e1)
    assert (r.status, r.tier) == ("late", "TL1") and a.ruleset.version == 1
    # The same sighting in a new apel is on time under the new rules.
    b = _closed_apel(session, world, seen(e1.id, "t", at(20)))
    assert b.ruleset.version == 2 and rec(session, b, e1).status == "present"
    # Reviewing a face on the old apel still judges by its pinned version 1.
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "ruleset.create")).scalar_one().after[
        "grace_minutes"] == 25


def test_new_rule_family_for_a_kind(session, world: World) -> None:
    committed(create_ruleset_version)(
        session, actor=world.users["admin"], name="disiplin", reason="apel disiplin: tanpa toleransi",
        excuse_categories=["sakit", "cuti", {"code": "dinas_luar", "id": "Dinas luar"}])
    a = committed(create_assembly)(session, actor=world.users["leader"], kind="disiplin", title="Apel disiplin",
                                   scheduled_start=T0, office_ids=[world.offices["JKT"].id])
    assert a.ruleset.name == "disiplin" and a.ruleset.category_codes() == ["sakit", "cuti", "dinas_luar"]
    with pytest.raises(Invalid):
        committed(excuse_employee)(
            session, a.id, world.staff["JKT"][0].id, actor=world.users["hr"], category="izin", reason="x")


def test_review_assign_enrols_face_and_corrects_closed_apel(session, world: World) -> None:
    e1 = world.staff["JKT"][0]
    emb = np.linspace(0, 1, 128, dtype=np.float32)
    a = _closed_apel(session, world, seen(None, "u", at(12), n=4, embedding=emb, mask=False))
    item = session.execute(select(ReviewItem)).scalar_one()
    assert item.kind == "unknown" and rec(session, a, e1).status == "tk"
    with pytest.raises(Forbidden):
        committed(assign_review_item)(session, item.id, actor=world.users["leader"], employee_id=e1.id, reason="x")
    out = committed(assign_review_item)(session, item.id, actor=world.users["hr"], employee_id=e1.id,
                                        reason="dikenali oleh atasan langsung")
    assert (out.status, out.tier, out.late_minutes, out.frames) == ("late", "TL1", 12, 4)
    tpl = session.execute(select(FaceTemplate)).scalar_one()
    assert tpl.kind == "sighting" and tpl.employee_id == e1.id and tpl.embedding == emb.tobytes()
    assert tpl.source_sha256 == hashlib.sha256(emb.tobytes()).hexdigest()
    session.expire_all()
    item = session.get(ReviewItem, item.id)
    assert item.status == "assigned" and item.embedding is None       # moved into the template
    c = session.execute(select(Correction)).scalar_one()
    assert (c.kind, c.before["status"], c.after["status"]) == ("review_assign", "tk", "late")
    assert session.execute(select(AuditEntry).where(AuditEntry.action == "review.assign")).scalar_one().after[
        "face_template_id"] == tpl.id
    with pytest.raises(Conflict) as refused:
        committed(assign_review_item)(session, item.id, actor=world.users["hr"], employee_id=e1.id, reason="again")
    assert refused.value.code == "wrong_state"
    assert verify_chain(session).ok


def test_review_dismiss_and_retention(session, world: World, tmp_path) -> None:
    from datetime import timedelta

    from attendance.models import utcnow

    a = committed(create_assembly)(session, actor=world.users["leader"], kind="pagi", title="Apel", scheduled_start=T0,
                                   office_ids=[world.offices["JKT"].id])
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    emb = np.ones(128, dtype=np.float32)
    for key in ("u1", "u2"):
        committed(record_sightings)(session, a.id, world.offices["JKT"].id,
                                    seen(None, key, at(0), embedding=emb, face_crop_jpeg=b"\xff\xd8jpeg"),
                                    keep_evidence=True, evidence_dir=tmp_path, retention_days=1)
    i1, i2 = session.execute(select(ReviewItem).order_by(ReviewItem.id)).scalars().all()
    p1, p2 = i1.evidence_path, i2.evidence_path
    committed(dismiss_review_item)(session, i1.id, actor=world.users["hr"], reason="tamu dari dinas lain")
    import os

    assert not os.path.exists(p1) and i1.embedding is None and i1.status == "dismissed"
    assert committed(purge_expired)(session) == 0 and os.path.exists(p2)
    assert committed(purge_expired)(session, now=utcnow() + timedelta(days=1, minutes=1)) == 1
    session.expire_all()
    i2 = session.get(ReviewItem, i2.id)
    assert not os.path.exists(p2) and i2.embedding is None and i2.evidence_path is None
    assert i2.status == "open"    # still reviewable by times and frames, just without the face


def test_confirmed_track_keeps_counting_while_open(session, world: World) -> None:
    """HR confirms a low-confidence face during the apel: that track's later frames are the person's."""
    a = committed(create_assembly)(session, actor=world.users["leader"], kind="pagi", title="Apel", scheduled_start=T0,
                                   office_ids=[world.offices["JKT"].id])
    committed(start_assembly)(session, a.id, actor=world.users["leader"])
    e1, e2 = world.staff["JKT"][0], world.staff["JKT"][1]
    jkt = world.offices["JKT"].id
    committed(record_sightings)(session, a.id, jkt, seen(e1.id, "t", at(-1), n=3, conf=0.4))
    item = session.execute(select(ReviewItem)).scalar_one()
    assert (item.kind, item.suggested_employee_id) == ("low_confidence", e1.id)
    # It was really e2 (the pipeline mixed them up).
    r = committed(assign_review_item)(
        session, item.id, actor=world.users["hr"], employee_id=e2.id, reason="rekan satu bidang")
    assert (r.status, r.frames) == ("present", 3)
    committed(record_sightings)(session, a.id, jkt, seen(e1.id, "t", at(0), n=2, conf=0.4))
    assert rec(session, a, e2).frames == 5
    assert session.execute(select(ReviewItem).where(ReviewItem.status == "open")).first() is None
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    assert rec(session, a, e2).status == "present" and rec(session, a, e1).status == "tk"


def test_review_on_an_old_apel_uses_its_pinned_rules(session, world: World) -> None:
    e1 = world.staff["JKT"][0]
    _closed_apel(session, world, seen(None, "u", at(20), n=3))              # judged by v1: grace 0
    committed(create_ruleset_version)(
        session, actor=world.users["admin"], reason="toleransi 25 menit", grace_minutes=25,
        tl1_max_minutes=40)
    item = session.execute(select(ReviewItem)).scalar_one()
    r = committed(assign_review_item)(session, item.id, actor=world.users["hr"], employee_id=e1.id, reason="dikenali")
    assert (r.status, r.tier, r.late_minutes) == ("late", "TL1", 20)    # v2 would have said present


def test_concurrent_corrections_both_land_and_the_chain_holds(db_url: str, world: World, factory) -> None:
    """Two HR users correct two different records at the same moment: both corrections are kept and
    the audit chain stays one line (the loser of the race for the chain's tip runs again)."""
    import threading

    from attendance import audit

    with factory() as s:
        a = _closed_apel(s, world)
        r1, r2 = rec(s, a, world.staff["JKT"][0]), rec(s, a, world.staff["JKT"][1])
        ids = (r1.id, r1.version, r2.id, r2.version)
    s1, s2 = factory(), factory()
    try:
        # s1 is mid-transaction: it has appended to the audit chain but not committed yet.
        rec1 = s1.get(AttendanceRecord, ids[0])
        rec1.status, rec1.corrected = "present", True
        s1.flush()
        audit.record(s1, actor="hr", action="attendance.status", entity="attendance_record", entity_id=ids[0],
                     before={"status": "tk"}, after={"status": "present"}, reason="manual")
        done = threading.Event()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                committed(correct_record)(
                    s2, ids[2], actor=s2.get(User, world.users["hr2"].id), expected_version=ids[3],
                    status="excused", excuse_category="izin", reason="izin keluarga")
            except BaseException as exc:
                errors.append(exc)
            done.set()

        th = threading.Thread(target=other)
        th.start()
        done.wait(0.5)
        s1.commit()
        th.join(60)
        assert done.is_set() and errors == []
    finally:
        s1.close()
        s2.close()
    with factory() as s:
        assert s.get(AttendanceRecord, ids[0]).status == "present"
        assert s.get(AttendanceRecord, ids[2]).status == "excused"
        report = verify_chain(s)
        assert report.ok, report.problem
        # Each correction of the closed apel is followed by the seal of its records in the same commit.
        assert [e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()][-4:] == \
            ["attendance.status", "apel.records_sealed", "attendance.status", "apel.records_sealed"]


def test_review_assign_refuses_a_stale_record_version(session, world: World) -> None:
    e1 = world.staff["JKT"][0]
    a = _closed_apel(session, world, seen(None, "u", at(5), n=3))
    r = rec(session, a, e1)
    seen_version = r.version                       # what the first HR user's page showed
    committed(correct_record)(session, r.id, actor=world.users["hr2"], expected_version=seen_version, status="excused",
                              excuse_category="sakit", reason="surat dokter")
    item = session.execute(select(ReviewItem)).scalar_one()
    with pytest.raises(StaleVersion) as err:
        committed(assign_review_item)(session, item.id, actor=world.users["hr"], employee_id=e1.id, reason="dia",
                                      expected_version=seen_version)
    assert err.value.current["status"] == "excused"
    session.expire_all()
    assert session.get(ReviewItem, item.id).status == "open"
