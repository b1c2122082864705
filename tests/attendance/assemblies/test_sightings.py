"""Sightings into records: the rules applied through the database in three time zones,
idempotency, restart safety, closing, review items, evidence keeping, and the live roll-call."""
from __future__ import annotations

import os
from datetime import date, time, timedelta

import numpy as np
from sqlalchemy import func, select

from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
from attendance.assemblies.sightings import Sighting, live_rollcall, record_sightings
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, ReviewItem, SightingTrack
from attendance.rules import local_to_utc

from .conftest import T0, World, at


def _open_apel(session, w: World, **kw):
    args = dict(actor=w.users["leader"], kind="pagi", title="Apel pagi", scheduled_start=T0,
                office_ids=[o.id for o in w.offices.values()])
    args.update(kw)
    a = committed(create_assembly)(session, **args)
    committed(start_assembly)(session, a.id, actor=w.users["leader"])
    return a


def seen(emp_id: int | None, key: str, t0, n: int = 3, conf: float = 0.9, mask: bool | None = True,
         violation: bool = False, step_s: float = 0.5, **kw) -> list[Sighting]:
    return [Sighting(employee_id=emp_id, track_key=key, at=t0 + timedelta(seconds=i * step_s), confidence=conf,
                     mask=mask, distancing_violation=violation, **kw) for i in range(n)]


def rec(session, a, emp) -> AttendanceRecord:
    session.expire_all()
    return session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                          AttendanceRecord.employee_id == emp.id)).scalar_one()


def test_statuses_from_sightings(session, world: World) -> None:
    a = _open_apel(session, world)
    jkt = world.offices["JKT"]
    e1, e2, e3 = world.staff["JKT"]
    committed(record_sightings)(session, a.id, jkt.id, seen(e1.id, "t1", at(-2)))               # early
    committed(record_sightings)(session, a.id, jkt.id, seen(e2.id, "t2", at(30, 1)))            # 30:01 late -> TL2
    committed(record_sightings)(
        session, a.id, jkt.id, seen(e3.id, "t3", at(1), n=2))           # only 2 frames: not seen
    assert rec(session, a, e1).status == "present"
    r2 = rec(session, a, e2)
    assert (r2.status, r2.tier, r2.late_minutes) == ("late", "TL2", 31)
    assert rec(session, a, e3).status == "not_seen"
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    assert rec(session, a, e3).status == "tk"
    assert rec(session, a, e1).status == "present"
    r1 = rec(session, a, e1)
    assert r1.frames == 3 and r1.first_seen_at == at(-2) and r1.last_seen_at == at(-2, 1.0)
    assert r1.mask_frames == 3 and r1.mask_total == 3 and r1.best_confidence == 0.9


def test_low_confidence_frames_do_not_count(session, world: World) -> None:
    a = _open_apel(session, world)
    jkt = world.offices["JKT"]
    e1 = world.staff["JKT"][0]
    committed(record_sightings)(session, a.id, jkt.id, seen(e1.id, "t1", at(0), n=5, conf=0.4))
    assert rec(session, a, e1).status == "not_seen"
    items = session.execute(select(ReviewItem)).scalars().all()
    assert [(i.kind, i.suggested_employee_id) for i in items] == [("low_confidence", e1.id)]
    # Later confident frames: first seen is the first confident one (lateness from there).
    committed(record_sightings)(session, a.id, jkt.id, seen(e1.id, "t1", at(10), n=3, conf=0.8))
    r = rec(session, a, e1)
    assert (r.status, r.tier, r.first_seen_at) == ("late", "TL1", at(10))
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    session.expire_all()
    assert session.execute(select(ReviewItem.status)).scalar_one() == "dismissed"   # counted anyway


def test_time_zones_through_the_database(session, world: World) -> None:
    """Each office's apel at 07:30 local; each person seen at 07:40 local: 10 min late everywhere."""
    a = _open_apel(session, world, scheduled_start=None, local_date=date(2026, 11, 30), local_time=time(7, 30))
    for code, tz in (("JKT", "Asia/Jakarta"), ("BALI", "Asia/Makassar"), ("PAPUA", "Asia/Jayapura")):
        emp = world.staff[code][0]
        committed(record_sightings)(session, a.id, world.offices[code].id,
                                    seen(emp.id, f"{code}-1", local_to_utc(date(2026, 11, 30), time(7, 40), tz)))
        emp2 = world.staff[code][1]
        committed(record_sightings)(session, a.id, world.offices[code].id,
                                    seen(emp2.id, f"{code}-2", local_to_utc(date(2026, 11, 30), time(7, 30), tz)))
    for code in ("JKT", "BALI", "PAPUA"):
        r = rec(session, a, world.staff[code][0])
        assert (r.status, r.tier, r.late_minutes) == ("late", "TL1", 10), code
        assert rec(session, a, world.staff[code][1]).status == "present", code
    # The same instant is on time in Jakarta but 2 h late in Papua (their apel started 2 h earlier).
    b = _open_apel(session, world, scheduled_start=None, local_date=date(2026, 12, 1), local_time=time(7, 30))
    instant = local_to_utc(date(2026, 12, 1), time(7, 30), "Asia/Jakarta")
    committed(record_sightings)(session, b.id, world.offices["JKT"].id, seen(world.staff["JKT"][0].id, "x", instant))
    committed(record_sightings)(
        session, b.id, world.offices["PAPUA"].id, seen(world.staff["PAPUA"][0].id, "y", instant))
    assert rec(session, b, world.staff["JKT"][0]).status == "present"
    rp = rec(session, b, world.staff["PAPUA"][0])
    assert (rp.status, rp.tier, rp.late_minutes) == ("late", "TL4", 120)


def test_idempotent_and_restart_safe(db_url: str, world: World) -> None:
    eng1 = make_engine(db_url)
    s1 = make_session_factory(eng1)()
    a = _open_apel(s1, world)
    jkt = world.offices["JKT"]
    e1, e2, _ = world.staff["JKT"]
    batch = seen(e1.id, "j1:7", at(-2), n=4, violation=True) + seen(None, "j1:8", at(-2), n=4, mask=False)
    batch[0].new_alerts = 1   # an alert episode began with this face: counted once however often re-sent
    r = committed(record_sightings)(s1, a.id, jkt.id, batch)
    assert (r.accepted, r.duplicates) == (8, 0)
    r = committed(record_sightings)(s1, a.id, jkt.id, batch)               # the same batch again
    assert (r.accepted, r.duplicates) == (0, 8)
    r = committed(record_sightings)(
        s1, a.id, jkt.id, batch[1:3] + seen(e2.id, "j1:9", at(-1)))   # partial overlap + new
    assert (r.accepted, r.duplicates) == (3, 2)
    s1.close()
    eng1.dispose()   # "the server stops"

    eng2 = make_engine(db_url)   # a new engine and session see everything
    s2 = make_session_factory(eng2)()
    r1 = rec(s2, a, e1)
    assert (r1.status, r1.frames, r1.distancing_alerts) == ("present", 4, 1)
    assert rec(s2, a, e2).status == "present"
    assert s2.execute(select(func.count()).select_from(SightingTrack)).scalar() == 3
    unknown = s2.execute(select(ReviewItem)).scalar_one()
    assert unknown.kind == "unknown" and unknown.track.frames == 4
    # After the restart the office rejoins and resends; nothing is counted twice, new frames are.
    r = committed(record_sightings)(s2, a.id, jkt.id, batch + seen(e1.id, "j1:7", at(-2, 2.0), n=2))
    assert (r.accepted, r.duplicates) == (2, 8)
    assert rec(s2, a, e1).frames == 6
    roll = live_rollcall(s2, a.id, jkt.id)
    o = roll["offices"][0]
    assert (o["roster"], o["present"], o["not_yet_seen"], o["unknown_faces"]) == (3, 2, 1, 1)
    s2.close()
    eng2.dispose()


def test_distancing_alerts_are_episodes_of_pairs(session, world: World) -> None:
    """The pipeline marks an episode's first frame on both faces of the pair (FrameResult.alerts,
    translate): the office counts the episode once, each person counts it as theirs. Frames in
    violation are not alerts (they were counted per change of state and per face before, which
    is how one pair swaying at the limit made the console count dozens)."""
    a = _open_apel(session, world)
    e1, e2, _ = world.staff["JKT"]
    flags = [True, True, False, True, True, True, False, False, True]
    marks = [1, 0, 0, 0, 0, 0, 0, 0, 1]    # two episodes: frames 0-5 (swaying) and 8
    batch = []
    for emp, key in ((e1, "t1"), (e2, "t2")):
        batch += [Sighting(emp.id, key, at(0, i), 0.9, True, v, new_alerts=m)
                  for i, (v, m) in enumerate(zip(flags, marks, strict=True))]
    batch += [Sighting(None, "t3", at(0, 8), 0.9, False, True, new_alerts=1)]   # e1 and an unknown: one more
    batch[8].new_alerts = 2
    committed(record_sightings)(session, a.id, world.offices["JKT"].id, batch)
    assert (rec(session, a, e1).distancing_alerts, rec(session, a, e2).distancing_alerts) == (3, 2)
    roll = live_rollcall(session, a.id)
    assert roll["totals"]["distancing_alerts"] == 3


def test_bad_alert_marks_are_refused(session, world: World) -> None:
    import pytest

    from attendance.errors import Invalid

    a = _open_apel(session, world)
    e1 = world.staff["JKT"][0]
    for bad in (-1, 10_000, 1.5):
        with pytest.raises(Invalid):
            record_sightings(session, a.id, world.offices["JKT"].id,
                             [Sighting(e1.id, "t", at(0), 0.9, True, True, new_alerts=bad)])
    session.rollback()
    assert session.execute(select(func.count()).select_from(SightingTrack)).scalar() == 0


def test_closed_apel_ignores_sightings(session, world: World) -> None:
    a = _open_apel(session, world)
    e1 = world.staff["JKT"][0]
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    r = committed(record_sightings)(session, a.id, world.offices["JKT"].id, seen(e1.id, "late-batch", at(1)))
    assert r.ignored == 3 and r.status == "closed"
    assert rec(session, a, e1).status == "tk"
    assert session.execute(select(func.count()).select_from(SightingTrack)).scalar() == 0


def test_bad_sightings_change_nothing(session, world: World) -> None:
    import pytest

    from attendance.errors import Invalid, NotFound

    a = _open_apel(session, world, office_ids=[world.offices["JKT"].id])
    e1 = world.staff["JKT"][0]
    good = seen(e1.id, "t", at(0))
    bad = Sighting(e1.id, "t", at(0, 5).replace(tzinfo=None), 0.9, True, False)
    with pytest.raises(Invalid):
        committed(record_sightings)(session, a.id, world.offices["JKT"].id, good + [bad])
    with pytest.raises(Invalid):
        committed(record_sightings)(
            session, a.id, world.offices["JKT"].id, [Sighting(e1.id, "t", at(0), 1.5, True, False)])
    with pytest.raises(NotFound):   # Bali does not take part
        committed(record_sightings)(session, a.id, world.offices["BALI"].id, good)
    assert session.execute(select(func.count()).select_from(SightingTrack)).scalar() == 0


def test_evidence_only_when_enabled(session, world: World, tmp_path) -> None:
    a = _open_apel(session, world)
    jkt = world.offices["JKT"].id
    emb = np.arange(128, dtype=np.float32)
    crop = b"\xff\xd8\xff\xe0fake-but-bytes\xff\xd9"
    committed(record_sightings)(session, a.id, jkt, seen(None, "u1", at(0), face_crop_jpeg=crop, embedding=emb))
    committed(record_sightings)(session, a.id, jkt, seen(None, "u2", at(0), face_crop_jpeg=crop, embedding=emb),
                                keep_evidence=True, evidence_dir=tmp_path / "ev", retention_days=7)
    items = {i.track.track_key: i for i in session.execute(select(ReviewItem)).scalars()}
    assert items["u1"].evidence_path is None                 # off by default: no photo kept
    assert items["u1"].embedding == emb.tobytes()            # the embedding is kept for assignment
    path = items["u2"].evidence_path
    assert path and open(path, "rb").read() == crop and oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert items["u2"].expires_at - items["u2"].created_at <= timedelta(days=7, seconds=5)


def test_live_rollcall_counts(session, world: World) -> None:
    from attendance.assemblies.corrections import excuse_employee

    a = _open_apel(session, world)
    jkt, bali = world.offices["JKT"], world.offices["BALI"]
    e1, e2, e3 = world.staff["JKT"]
    committed(record_sightings)(session, a.id, jkt.id, seen(e1.id, "a", at(0), n=4, mask=True))
    committed(record_sightings)(session, a.id, jkt.id, seen(e2.id, "b", at(45), n=4, mask=False))
    committed(excuse_employee)(
        session, a.id, e3.id, actor=world.users["hr"], category="dinas_luar", reason="SPT 12/2026")
    roll = live_rollcall(session, a.id)
    o = {x["code"]: x for x in roll["offices"]}
    j = o["JKT"]
    assert (j["roster"], j["present"], j["late"], j["excused"], j["not_yet_seen"]) == (3, 1, 1, 1, 0)
    assert j["late_by_tier"]["TL2"] == 1 and j["excused_by_category"] == {"dinas_luar": 1}
    assert j["mask_compliance"] == 0.5
    assert [p["status"] for p in j["people"]] == ["present", "late", "excused"]
    assert o["BALI"]["not_yet_seen"] == 3 and o["BALI"]["zone"] == "WITA" and o["PAPUA"]["zone"] == "WIT"
    assert roll["totals"]["roster"] == 9 and roll["totals"]["not_yet_seen"] == 6
    only = live_rollcall(session, a.id, bali.id)
    assert [x["code"] for x in only["offices"]] == ["BALI"]
    committed(end_assembly)(session, a.id, actor=world.users["leader"])
    roll = live_rollcall(session, a.id)
    assert roll["totals"]["tk"] == 6 and roll["totals"]["not_yet_seen"] == 0 and roll["totals"]["excused"] == 1


def test_end_waits_for_an_inflight_write_and_late_writes_are_ignored(db_url: str, world: World) -> None:
    """end_assembly and record_sightings serialise on the apel's row: a close never interleaves
    with a write, and a writer whose session still believes the apel is open is turned away."""
    import threading

    from attendance.assemblies.lookups import lock_open_assembly

    eng = make_engine(db_url)
    fac = make_session_factory(eng)
    writer, closer = fac(), fac()
    try:
        a = _open_apel(writer, world)
        e1 = world.staff["JKT"][0]
        committed(record_sightings)(writer, a.id, world.offices["JKT"].id, seen(e1.id, "w", at(0), n=2))
        assert lock_open_assembly(writer, a.id)          # a write in flight holds the lock
        done = threading.Event()

        def close() -> None:
            committed(end_assembly)(closer, a.id, actor=closer.merge(world.users["leader"]))
            done.set()

        th = threading.Thread(target=close)
        th.start()
        assert not done.wait(0.5)                         # the close waits for the write
        writer.commit()
        th.join(30)
        assert done.is_set()
        # The writer's session still holds the apel as open in its identity map; its next batch,
        # which would have made e1 present, is ignored and changes nothing.
        r = committed(record_sightings)(writer, a.id, world.offices["JKT"].id, seen(e1.id, "w", at(0, 5), n=3))
        assert r.ignored == 3 and r.status == "closed"
        assert rec(writer, a, e1).status == "tk" and rec(writer, a, e1).frames == 2
    finally:
        writer.close()
        closer.close()
        eng.dispose()
