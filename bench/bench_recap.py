"""Monthly recap (rekap kehadiran) at province scale: 10,000 employees x 22 apels, SQLite and PostgreSQL.

What it does, per backend:
1. creates a fresh database (a temp SQLite file; a throw-away PostgreSQL database), migrates it;
2. bulk-inserts 10,000 employees in 40 offices and, for the measured month (November 2026) and the
   month before (history the query must skip), 22 closed apels each, with one attendance record per
   employee and apel (440,000 records), statuses drawn from a fixed seed;
3. times `monthly_recap` (the set-based GROUP BY used by the API, pages and exports), median of
   --runs runs, with the per-employee rows built (what the export needs);
4. times the baseline measured in the same run: the naive per-employee loop (for each employee, load
   their records of the month and count them in Python), on --baseline-sample employees, and
   extrapolates it linearly to all employees (it is linear: one indexed query per employee). The
   sample's counts are checked against the recap, so both compute the same thing.

Usage:
  .venv/bin/python bench/bench_recap.py                     # both backends
  .venv/bin/python bench/bench_recap.py --backend sqlite --runs 5 --exports
PostgreSQL: APEL_BENCH_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres, used to
create and drop a database named apel_bench_<random>).
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text

from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade
from attendance.models import Assembly, AssemblyOffice, AttendanceRecord, Employee, Office, RuleSet
from attendance.reports.apel import apel_report
from attendance.reports.recap import monthly_recap

TZ = "Asia/Makassar"
MONTH = "2026-11"
PG_ADMIN = os.environ.get("APEL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CATS = ("sakit", "izin", "cuti", "dinas_luar", "tugas_belajar")


def apel_days(year: int, month: int, n: int) -> list[date]:
    """n apel days in the month: weekdays first, then Saturdays (apel disiplin, ceremonies) if the
    month has fewer than n weekdays (November 2026 has 21)."""
    days = [date(year, month, d) for d in range(1, 29)]
    picked = [d for d in days if d.weekday() < 5][:n]
    picked += [d for d in days if d.weekday() == 5][: n - len(picked)]
    if len(picked) < n:
        raise SystemExit(f"cannot place {n} apels in {year}-{month:02d}")
    return sorted(picked)


def draw(rng: random.Random) -> dict:
    """~80% on time, 10% late (tiers skewed to TL1), 4% TK, 6% excused."""
    x = rng.random()
    rec = {"status": "present", "tier": None, "late_minutes": None, "excuse_category": None,
           "frames": 10, "best_confidence": 0.9, "mask_frames": 8, "mask_total": 10, "distancing_alerts": 0}
    if x < 0.10:
        minutes = rng.choice([5, 12, 25, 40, 55, 70, 100])
        tier = "TL1" if minutes <= 30 else "TL2" if minutes <= 60 else "TL3" if minutes <= 90 else "TL4"
        rec.update(status="late", tier=tier, late_minutes=minutes)
    elif x < 0.14:
        rec.update(status="tk", frames=0, best_confidence=None, mask_frames=0, mask_total=0)
    elif x < 0.20:
        rec.update(status="excused", excuse_category=rng.choice(CATS), frames=0, best_confidence=None,
                   mask_frames=0, mask_total=0)
    if rec["frames"] and rng.random() < 0.05:
        rec["distancing_alerts"] = 1
    return rec


def seed(url: str, employees: int, offices: int, apels: int, rng: random.Random) -> float:
    t0 = time.perf_counter()
    engine = make_engine(url)
    with engine.begin() as conn:
        rs_id = conn.execute(select(RuleSet.id).order_by(RuleSet.id).limit(1)).scalar_one()
        conn.execute(insert(Office), [{"code": f"OPD{i:03d}", "name": f"Perangkat Daerah {i:03d}",
                                       "timezone": TZ} for i in range(offices)])
        office_ids = conn.execute(select(Office.id).order_by(Office.id)).scalars().all()
        now = datetime.now(UTC)
        conn.execute(insert(Employee), [{"nip": f"19800101{i:010d}", "name": f"Pegawai {i:05d}",
                                         "office_id": office_ids[i % offices], "active": True,
                                         "created_at": now, "updated_at": now} for i in range(employees)])
        emp = conn.execute(select(Employee.id, Employee.office_id).order_by(Employee.id)).all()
        z = ZoneInfo(TZ)
        days = apel_days(2026, 10, apels) + apel_days(2026, 11, apels)
        for day in days:
            start = datetime.combine(day, dtime(7, 30), tzinfo=z).astimezone(UTC)
            aid = conn.execute(insert(Assembly).returning(Assembly.id), [{
                "kind": "pagi", "title": f"Apel pagi {day.isoformat()}", "scheduled_start": start,
                "status": "closed", "ruleset_id": rs_id, "created_at": now, "ended_at": start + timedelta(hours=1),
            }]).scalar_one()
            conn.execute(insert(AssemblyOffice), [{"assembly_id": aid, "office_id": o, "scheduled_start": start,
                                                   "join_count": 1} for o in office_ids])
            rows = []
            for eid, oid in emp:
                r = draw(rng)
                seen = r["status"] in ("present", "late")
                first = start + timedelta(minutes=r["late_minutes"] or 0) if seen else None
                rows.append({"assembly_id": aid, "employee_id": eid, "office_id": oid, **r,
                             "first_seen_at": first, "last_seen_at": first, "corrected": False,
                             "updated_at": now, "version": 1})
            conn.execute(insert(AttendanceRecord), rows)
    if not url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    return time.perf_counter() - t0


def naive_recap_for(session, employee_ids: list[int], lo: datetime, hi: datetime) -> dict[int, Counter]:
    """The baseline: what a straightforward implementation does, one employee at a time."""
    out: dict[int, Counter] = {}
    for eid in employee_ids:
        recs = session.execute(
            select(AttendanceRecord).join(Assembly, Assembly.id == AttendanceRecord.assembly_id)
            .where(AttendanceRecord.employee_id == eid, Assembly.scheduled_start >= lo,
                   Assembly.scheduled_start < hi, Assembly.status == "closed")).scalars().all()
        c: Counter = Counter()
        for r in recs:
            c["apels"] += 1
            c[r.status] += 1
            if r.tier:
                c[r.tier] += 1
            if r.status == "excused" and r.excuse_category:
                c[r.excuse_category] += 1
        out[eid] = c
    return out


def measure(label: str, url: str, args: argparse.Namespace) -> dict:
    from attendance.reports.recap import month_bounds

    upgrade(url)
    seed_s = seed(url, args.employees, args.offices, args.apels, random.Random(20261128))
    engine = make_engine(url)
    factory = make_session_factory(engine)
    times, office_only = [], []
    with factory() as s:
        monthly_recap(s, MONTH, tz=TZ)  # warm-up (plans, caches), not counted
        cpu = []
        for _ in range(args.runs):
            t0, c0 = time.perf_counter(), time.process_time()
            rc = monthly_recap(s, MONTH, tz=TZ)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            monthly_recap(s, MONTH, tz=TZ, with_employees=False)
            office_only.append(time.perf_counter() - t0)
        apel_times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            ar = apel_report(s, rc.apels[-1]["id"])
            apel_times.append(time.perf_counter() - t0)
        assert ar.total.roster == args.employees
        assert len(rc.apels) == args.apels, len(rc.apels)
        assert len(rc.employees) == args.employees, len(rc.employees)
        assert rc.total.apels == args.apels   # apels held, not people's records
        assert sum(e.counts.apels for e in rc.employees) == args.employees * args.apels
        lo, hi = month_bounds(MONTH, TZ)
        rng = random.Random(7)
        sample = sorted(rng.sample([e.employee_id for e in rc.employees], min(args.baseline_sample, args.employees)))
        t0 = time.perf_counter()
        naive = naive_recap_for(s, sample, lo, hi)
        naive_s = time.perf_counter() - t0
        by_id = {e.employee_id: e.counts for e in rc.employees}
        for eid, c in naive.items():   # both compute the same figures
            got = by_id[eid]
            assert (c["apels"], c["present"], c["late"], c["tk"]) == (got.apels, got.present, got.late, got.tk), eid
            assert all(c[t] == got.tiers[t] for t in ("TL1", "TL2", "TL3", "TL4"))
            assert all(c[k] == got.excused[k] for k in CATS)
        export_s = {}
        if args.exports:
            from attendance.reports.publish import export_recap
            from attendance.reports.signing import load_signer

            signer = load_signer(Path(tempfile.mkdtemp(prefix="apel-bench-key-")))
            for fmt in ("csv", "xlsx", "pdf"):
                t0 = time.perf_counter()
                exp = export_recap(s, MONTH, fmt=fmt, lang="id", signer=signer, actor="bench", tz=TZ)
                export_s[fmt] = (time.perf_counter() - t0, len(exp.data))
                s.rollback()
    engine.dispose()
    per_emp = naive_s / len(sample)
    return {"label": label, "seed_s": seed_s, "median": statistics.median(times), "min": min(times),
            "cpu_median": statistics.median(cpu), "load": os.getloadavg()[0],
            "apel_report": statistics.median(apel_times),
            "max": max(times), "office_only": statistics.median(office_only), "naive_sample": len(sample),
            "naive_s": naive_s, "naive_per_emp_ms": per_emp * 1000, "naive_total": per_emp * args.employees,
            "exports": export_s}


def pg_database():
    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    name = f"apel_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--employees", type=int, default=10_000)
    ap.add_argument("--offices", type=int, default=40)
    ap.add_argument("--apels", type=int, default=22, help="closed apels in the month (and as many the month before)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-sample", type=int, default=500)
    ap.add_argument("--exports", action="store_true",
                    help="also time one signed export per format (recap, all employees)")
    args = ap.parse_args()

    results = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="apel-bench-") as d:
            results.append(measure("SQLite", f"sqlite:///{d}/bench.db", args))
    if args.backend in ("postgresql", "both"):
        url, drop = pg_database()
        try:
            results.append(measure("PostgreSQL", url, args))
        finally:
            drop()

    n = args.employees
    print(f"\nMonthly recap, {n:,} employees x {args.apels} apels ({n * args.apels:,} records in the month, "
          f"{2 * n * args.apels:,} in the database), median of {args.runs} runs")
    print(f"{'backend':<11} {'seed s':>7} {'recap s':>8} {'min':>6} {'max':>6} {'offices-only s':>15} "
          f"{'naive ms/emp':>13} {'naive total s':>14} {'speed-up':>9}")
    for r in results:
        print(f"{r['label']:<11} {r['seed_s']:7.1f} {r['median']:8.3f} {r['min']:6.3f} {r['max']:6.3f} "
              f"{r['office_only']:15.3f} {r['naive_per_emp_ms']:13.2f} {r['naive_total']:14.1f} "
              f"{r['naive_total'] / r['median']:8.0f}x")
        print(f"  this process's CPU time per recap (median): {r['cpu_median']:.3f} s"
              + (" (SQLite runs in-process: this is the work itself, free of other processes' load)"
                 if r["label"] == "SQLite" else " (the SQL runs in the server process)"))
        print(f"  1-minute load average at the end of this backend's runs: {r['load']:.1f} on {os.cpu_count()} cores")
        print(f"  laporan apel for one apel ({n:,} people, {args.offices} offices), median: {r['apel_report']:.3f} s")
        verdict = "MEETS" if r["median"] < 2.0 else "MISSES"
        if r["naive_sample"] >= n:
            print(f"  {verdict} the 2 s goal; baseline run on all {n:,} employees ({r['naive_s']:.2f} s)")
        else:
            print(f"  {verdict} the 2 s goal; baseline measured on {r['naive_sample']} employees "
                  f"({r['naive_s']:.2f} s) and extrapolated linearly to {n:,}")
        for fmt, (secs, size) in r["exports"].items():
            print(f"  signed {fmt.upper()} export of the full recap: {secs:.2f} s, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
