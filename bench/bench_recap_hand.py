"""Monthly recap with hand marks: what counting "present without camera" (and the per-operator table)
costs the recap, with the recap as it was before in the same run on the same data.

bench_recap.py's data has no sighting tracks, so the hand-mark queries would run over an empty
table there. This bench seeds the same month (bench_recap.seed: 10,000 employees x 22 apels and the
month before) and then what a real month leaves in sighting_tracks: one camera track per present or
late record (about 400,000 over both months) and, for --hand-share of those records, a hand mark
(track key hand:<employee>) by the office's operator; one operator marks ten times as many.

Timed, per backend, median of --runs, alternating old and new so load drifts hit both:
  before: attendance/reports/recap.py as of --before-commit (loaded from git), with the employees;
  after:  the current monthly_recap with the employees and the per-operator table (what HR's page
          and exports ask for), and the offices-only form (observers).
Checked: the figures the two share are equal; by_hand adds up to the hand marks on present/late
records; the outlier operator comes first.

Usage:
  .venv/bin/python bench/bench_recap_hand.py --runs 5
  .venv/bin/python bench/bench_recap_hand.py --backend sqlite --runs 3
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_recap import MONTH, TZ, pg_database, seed
from sqlalchemy import insert, select, text

from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade
from attendance.models import Assembly, AttendanceRecord, Office, SightingTrack
from attendance.reports.recap import monthly_recap

R = AttendanceRecord


def old_recap(commit: str) -> ModuleType:
    src = subprocess.run(["git", "show", f"{commit}:attendance/reports/recap.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp(prefix="apel-recap-before-")) / "recap_before.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("recap_before", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["recap_before"] = mod   # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def seed_tracks(url: str, share: float, rng: random.Random) -> tuple[int, int, float]:
    """Camera tracks for every present/late record, hand marks for `share` of them. Returns (camera
    tracks, hand marks, seconds)."""
    t0 = time.perf_counter()
    engine = make_engine(url)
    cams = hands = 0
    with engine.begin() as conn:
        offices = conn.execute(select(Office.id).order_by(Office.id)).scalars().all()
        outlier = offices[0]
        starts = dict(conn.execute(select(Assembly.id, Assembly.scheduled_start)).all())
        seen = conn.execute(select(R.assembly_id, R.office_id, R.employee_id).where(
            R.status.in_(("present", "late"))).order_by(R.id)).all()
        batch: list[dict] = []
        for aid, oid, eid in seen:
            at = starts[aid]
            base = {"assembly_id": aid, "office_id": oid, "identity_key": str(eid), "employee_id": eid,
                    "first_at": at, "last_at": at + timedelta(minutes=20), "first_confident_at": at,
                    "mask_frames": 0, "mask_total": 0, "violation_frames": 0, "distancing_alerts": 0,
                    "in_violation": False}
            batch.append({**base, "track_key": f"j1-{eid}", "frames": 12, "confident_frames": 12,
                          "best_confidence": 0.9, "confirmed_by": None})
            cams += 1
            if rng.random() < share * (10 if oid == outlier else 1):
                batch.append({**base, "track_key": f"hand:{eid}", "frames": 0, "confident_frames": 3,
                              "best_confidence": 0.0, "confirmed_by": f"op{oid}"})
                hands += 1
            if len(batch) >= 20_000:
                conn.execute(insert(SightingTrack), batch)
                batch = []
        if batch:
            conn.execute(insert(SightingTrack), batch)
    if not url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    engine.dispose()
    return cams, hands, time.perf_counter() - t0


def measure(label: str, url: str, args: argparse.Namespace, before: ModuleType) -> dict:
    upgrade(url)
    seed(url, args.employees, args.offices, args.apels, random.Random(20261128))
    cams, hands, seed_s = seed_tracks(url, args.hand_share, random.Random(18))
    factory = make_session_factory(make_engine(url))
    old_t, new_t, offices_t = [], [], []
    with factory() as s:
        before.monthly_recap(s, MONTH, tz=TZ)   # warm-up, not counted
        monthly_recap(s, MONTH, tz=TZ, with_operators=True)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            old = before.monthly_recap(s, MONTH, tz=TZ)
            old_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            new = monthly_recap(s, MONTH, tz=TZ, with_operators=True)
            new_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            monthly_recap(s, MONTH, tz=TZ, with_employees=False)
            offices_t.append(time.perf_counter() - t0)
        lo, hi = before.month_bounds(MONTH, TZ)
        month_apels = select(Assembly.id).where(Assembly.scheduled_start >= lo, Assembly.scheduled_start < hi)
        marked = s.execute(select(SightingTrack.id).join(R, (R.assembly_id == SightingTrack.assembly_id)
                                                          & (R.employee_id == SightingTrack.employee_id))
                           .where(SightingTrack.track_key.like("hand:%"), R.status.in_(("present", "late")),
                                  R.assembly_id.in_(month_apels))).all()
    assert [(e.employee_id, e.counts.as_dict()) for e in old.employees] == [
        (e.employee_id, {k: v for k, v in e.counts.as_dict().items() if k != "by_hand"}) for e in new.employees]
    assert new.total.by_hand == len(marked) > 0, (new.total.by_hand, len(marked))
    ops = new.hand_operators or []
    assert sum(m.marks for m in ops) == len(marked) and ops[0].operator.startswith("op")
    assert ops[0].marks > 5 * ops[-1].marks   # the outlier stands out
    return {"label": label, "tracks": cams, "hands": hands, "month_hands": len(marked), "seed_s": seed_s,
            "before": statistics.median(old_t), "after": statistics.median(new_t),
            "before_range": (min(old_t), max(old_t)), "after_range": (min(new_t), max(new_t)),
            "offices_only": statistics.median(offices_t), "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--employees", type=int, default=10_000)
    ap.add_argument("--offices", type=int, default=40)
    ap.add_argument("--apels", type=int, default=22)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--hand-share", type=float, default=0.01,
                    help="share of present/late records also marked by hand (the outlier office: 10x)")
    ap.add_argument("--before-commit", default="0231311", help="the recap as it was before hand marks")
    args = ap.parse_args()
    before = old_recap(args.before_commit)
    results = []
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="apel-bench-") as d:
            results.append(measure("SQLite", f"sqlite:///{d}/bench.db", args, before))
    if args.backend in ("postgresql", "both"):
        url, drop = pg_database()
        try:
            results.append(measure("PostgreSQL", url, args, before))
        finally:
            drop()
    print(f"\nMonthly recap with hand marks, {args.employees:,} employees x {args.apels} apels, median of "
          f"{args.runs} runs (before = recap.py at {args.before_commit}, same data, same run)")
    print(f"{'backend':<11} {'tracks':>8} {'hand (month)':>13} {'before s':>9} {'after s':>8} {'x':>5} "
          f"{'offices-only s':>15} {'load':>5}")
    for r in results:
        print(f"{r['label']:<11} {r['tracks']:>8,} {r['month_hands']:>13,} {r['before']:9.3f} {r['after']:8.3f} "
              f"{r['after'] / r['before']:5.2f} {r['offices_only']:15.3f} {r['load']:5.1f}")
        print(f"  before {r['before_range'][0]:.3f}-{r['before_range'][1]:.3f} s, after "
              f"{r['after_range'][0]:.3f}-{r['after_range'][1]:.3f} s; "
              f"{'MEETS' if r['after'] <= 2.0 else 'MISSES'} the 2 s goal")


if __name__ == "__main__":
    main()
