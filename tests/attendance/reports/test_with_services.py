"""The reports read what the rules area's services write: an apel scheduled at 07:30 local time in
three zones, sightings through record_sightings, an excuse, the close (unseen -> TK), a correction
after close; then the apel report, the recap and the audit chain. Both databases."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from attendance import audit
from attendance.assemblies.corrections import correct_record, excuse_employee
from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
from attendance.assemblies.sightings import Sighting, record_sightings
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, Employee, Office, User
from attendance.reports.apel import apel_report
from attendance.reports.recap import monthly_recap


def _seen(emp_id: int, start: datetime, minutes: float, frames: int = 5, mask: bool = True) -> list[Sighting]:
    at = start + timedelta(minutes=minutes)
    return [Sighting(employee_id=emp_id, track_key=f"t{emp_id}", at=at + timedelta(seconds=i), confidence=0.9,
                     mask=mask, distancing_violation=False) for i in range(frames)]


def test_report_of_a_real_apel_lifecycle(session):
    leader = User(username="pimpinan", password_hash="x", role="leader")
    hr = User(username="bkd", password_hash="x", role="hr")
    offices = {code: Office(code=code, name=f"Kantor {code}", timezone=tz)
               for code, tz in (("WIB1", "Asia/Jakarta"), ("WITA1", "Asia/Makassar"), ("WIT1", "Asia/Jayapura"))}
    session.add_all([leader, hr, *offices.values()])
    session.flush()
    people = {}
    for code, o in offices.items():
        for i in range(4):
            e = Employee(nip=f"19900101201501{o.id:02d}{i:02d}", name=f"{code} P{i}",
                         office_id=o.id)
            session.add(e)
            session.flush()
            people[(code, i)] = e.id
    session.commit()

    a = committed(create_assembly)(session, actor=leader, kind="pagi", title="Apel pagi 2 November",
                                   office_ids=[o.id for o in offices.values()],
                                   local_date=date(2026, 11, 2), local_time=time(7, 30))
    committed(start_assembly)(session, a.id, actor=leader)
    starts = {ao.office_id: ao.scheduled_start for ao in a.offices}
    for code, o in offices.items():
        s0 = starts[o.id]
        batch = (_seen(people[(code, 0)], s0, -2)                 # on time
                 + _seen(people[(code, 1)], s0, 10, mask=False)   # TL1, no mask
                 + _seen(people[(code, 2)], s0, 61))              # TL3 (61 min: TL2 ends at 60)
        committed(record_sightings)(session, a.id, o.id, batch)
    committed(excuse_employee)(
        session, a.id, people[("WIT1", 3)], actor=hr, category="dinas_luar", reason="SPT 12/2026")

    mid = apel_report(session, a.id)
    assert mid.status == "open"
    assert (mid.total.roster, mid.total.present, mid.total.late, mid.total.not_seen) == (12, 3, 6, 2)
    assert mid.total.excused["dinas_luar"] == 1

    committed(end_assembly)(session, a.id, actor=leader)
    r = apel_report(session, a.id)
    t = r.total
    assert (t.roster, t.present, t.late, t.tk, t.not_seen) == (12, 3, 6, 2, 0)
    assert t.tiers == {"TL1": 3, "TL2": 0, "TL3": 3, "TL4": 0}
    assert t.excused["dinas_luar"] == 1
    assert (t.mask_known, t.masked) == (9, 6)
    by_code = {o.code: o for o in r.offices}
    # The same 07:30 local in each zone: WIB, WITA and WIT start at different UTC instants.
    assert len({o.scheduled_start for o in r.offices}) == 3
    assert by_code["WIT1"].figures.tk == 0 and by_code["WIB1"].figures.tk == 1

    # HR corrects a TK after close (sakit, with a letter): the report follows, the chain holds.
    rec = session.query(AttendanceRecord).filter_by(assembly_id=a.id, employee_id=people[("WIB1", 3)]).one()
    committed(correct_record)(session, rec.id, actor=hr, expected_version=rec.version, status="excused",
                              excuse_category="sakit", reason="surat dokter")
    r2 = apel_report(session, a.id)
    assert (r2.total.tk, r2.total.excused["sakit"], r2.total.corrected) == (1, 1, 2)

    rc = monthly_recap(session, "2026-11", tz="Asia/Makassar")
    assert rc.total.apels == 1 and rc.total.tk == 1 and rc.total.tiers["TL3"] == 3   # one apel, 12 people
    p = next(e for e in rc.employees if e.employee_id == people[("WITA1", 2)])
    assert (p.counts.late, p.counts.tiers["TL3"], p.counts.late_minutes) == (1, 1, 61)
    assert audit.verify_chain(session).ok
