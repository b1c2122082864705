"""A small, hand-checkable dataset for the report tests: three offices in three time zones, twelve
employees, five apels (three closed in November 2026 local time, one closed in December, one open).

The expected figures in the tests are counted by hand from the tables below, not computed by the
code under test."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.models import Assembly, AssemblyOffice, AttendanceRecord, Employee, Office, RuleSet, SightingTrack

# office code -> (name, tz)
OFFICES = {
    "BKD": ("Badan Kepegawaian Daerah", "Asia/Makassar"),
    "DINKES": ("Dinas Kesehatan", "Asia/Jakarta"),
    "DKI": ("Dinas Komunikasi dan Informatika", "Asia/Jayapura"),
}
# nip suffix -> (office, name)
EMPLOYEES = {
    1: ("BKD", "Ayu Lestari"), 2: ("BKD", "Bagus Pratama"), 3: ("BKD", "Citra Dewi"),
    4: ("BKD", "Dewa Made"), 5: ("BKD", "=HYPERLINK(\"http://evil\",\"x\")"),
    6: ("DINKES", "Eka Putri"), 7: ("DINKES", "Fajar Nugroho"), 8: ("DINKES", "Gede Suardana"),
    9: ("DINKES", "Hana Wijaya"),
    10: ("DKI", "Indra Kusuma"), 11: ("DKI", "Joko Santoso"), 12: ("DKI", "Komang Ayu"),
}

# A record: (status, tier, late_minutes, category, mask_frames, mask_total, alerts)
P = ("present", None, None, None, 10, 10, 0)
APEL1 = {  # 2026-11-01 07:30 WITA = 2026-10-31 23:30 UTC: counts in NOVEMBER (month taken in local time)
    1: ("present", None, None, None, 10, 10, 2),
    2: ("late", "TL1", 5, None, 2, 10, 0),
    3: ("late", "TL3", 75, None, 5, 10, 1),
    4: ("tk", None, None, None, 0, 0, 0),
    5: ("excused", None, None, "sakit", 0, 0, 0),
    6: P, 7: P,
    8: ("excused", None, None, "dinas_luar", 0, 0, 0),
    9: ("late", "TL4", 120, None, 0, 4, 3),
    10: ("excused", None, None, "cuti", 0, 0, 0),
    11: ("tk", None, None, None, 0, 0, 0),
    12: ("late", "TL2", 45, None, 6, 6, 0),
}
APEL2 = {i: P for i in range(1, 13)} | {
    1: ("late", "TL1", 1, None, 8, 8, 0),
    6: ("excused", None, None, "izin", 0, 0, 0),
    10: ("excused", None, None, "tugas_belajar", 0, 0, 0),
}
APEL_DEC = {i: ("tk", None, None, None, 0, 0, 0) for i in range(1, 13)}   # December: not in the November recap
APEL_OCT = {i: ("tk", None, None, None, 0, 0, 0) for i in range(1, 13)}   # 2026-10-31 07:30 WITA: October
APEL_OPEN = {1: P, 6: ("late", "TL1", 10, None, 3, 3, 0)}                 # others have no record yet
# The tracks behind the alerts (assemblies.counts: each episode marks both faces of its pair, the
# office counts half the marks): per apel, (office, employee or None for an unknown face, marks).
# nov1: BKD Ayu-Citra once and Ayu-unknown once (2 episodes; Ayu 2, Citra 1), DINKES Hana-unknown
# three times (3 episodes): 5 in all.
ALERT_TRACKS = {"nov1": [("BKD", 1, 2), ("BKD", 3, 1), ("BKD", None, 1), ("DINKES", 9, 3), ("DINKES", None, 3)]}


@dataclass
class Dataset:
    offices: dict[str, int] = field(default_factory=dict)
    employees: dict[int, int] = field(default_factory=dict)
    apels: dict[str, int] = field(default_factory=dict)


def nip(i: int) -> str:
    return f"19800101200501{i:04d}"


def seed(session: Session) -> Dataset:
    ds = Dataset()
    rs = session.execute(select(RuleSet).order_by(RuleSet.id)).scalars().first()
    for code, (name, tz) in OFFICES.items():
        o = Office(code=code, name=name, timezone=tz)
        session.add(o)
        session.flush()
        ds.offices[code] = o.id
    for i, (code, name) in EMPLOYEES.items():
        e = Employee(nip=nip(i), name=name, office_id=ds.offices[code])
        session.add(e)
        session.flush()
        ds.employees[i] = e.id

    def apel(key: str, start: datetime, status: str, records: dict) -> None:
        a = Assembly(kind="pagi", title=f"Apel {key}", scheduled_start=start, status=status, ruleset_id=rs.id)
        session.add(a)
        session.flush()
        ds.apels[key] = a.id
        for oid in ds.offices.values():
            session.add(AssemblyOffice(assembly_id=a.id, office_id=oid, scheduled_start=start))
        for i, (st, tier, mins, cat, mf, mt, alerts) in records.items():
            seen = st in ("present", "late")
            first = start + timedelta(minutes=mins or 0, seconds=-30 if st == "present" else 0) if seen else None
            session.add(AttendanceRecord(
                assembly_id=a.id, employee_id=ds.employees[i], office_id=ds.offices[EMPLOYEES[i][0]],
                status=st, tier=tier, late_minutes=mins, excuse_category=cat,
                excuse_reason="surat" if cat else None, first_seen_at=first,
                last_seen_at=first + timedelta(minutes=20) if first else None,
                frames=12 if seen else 0, best_confidence=0.91 if seen else None,
                mask_frames=mf, mask_total=mt, distancing_alerts=alerts, corrected=bool(cat)))
        for k, (code, who, marks) in enumerate(ALERT_TRACKS.get(key, [])):
            session.add(SightingTrack(
                assembly_id=a.id, office_id=ds.offices[code], track_key=f"j1-{k}",
                identity_key=str(ds.employees[who]) if who else "unknown",
                employee_id=ds.employees[who] if who else None, first_at=start, last_at=start, frames=10,
                confident_frames=10 if who else 0, best_confidence=0.9, mask_frames=0, mask_total=0,
                violation_frames=marks * 3, distancing_alerts=marks, in_violation=False))
        session.flush()

    apel("nov1", datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "closed", APEL1)
    apel("nov2", datetime(2026, 11, 2, 23, 30, tzinfo=UTC), "closed", APEL2)
    apel("open", datetime(2026, 11, 3, 23, 30, tzinfo=UTC), "open", APEL_OPEN)
    apel("dec", datetime(2026, 12, 1, 0, 0, tzinfo=UTC), "closed", APEL_DEC)
    apel("oct", datetime(2026, 10, 30, 23, 30, tzinfo=UTC), "closed", APEL_OCT)
    session.commit()
    return ds
