"""How fast the attendance side takes sightings during a live apel, on SQLite and PostgreSQL.

Scenario (the live capacity target): 8 offices, 10 people each, one analysed frame per office
per 0.5 s; every frame yields one sighting per face. Three ways of writing the same sightings:
- per_frame: one `record_sightings` call per office frame (10 sightings) — what the live writer does;
- per_second: one call per office per second (2 frames, 20 sightings);
- per_sighting (baseline): one call per sighting.
Also the latency of `live_rollcall` (what the leader console polls) once everything is in, and the
size of the track table against the number of sightings (aggregates, not per-frame rows).

    .venv/bin/python bench/bench_sightings.py [--seconds 30] [--offices 8] [--people 10] [--pg URL]

It creates throw-away databases (a SQLite file in a temp dir; a PostgreSQL database it drops).
Figures are printed; nothing is asserted (timing goals belong to benchmarks, not tests).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select, text

from attendance.assemblies.lifecycle import create_assembly, start_assembly
from attendance.assemblies.sightings import Sighting, live_rollcall, record_sightings
from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade
from attendance.db.unit_of_work import committed
from attendance.models import Employee, Office, SightingTrack, User

START = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)


def seed(factory, offices: int, people: int):
    with factory() as s:
        leader = User(username=f"leader-{uuid.uuid4().hex[:6]}", password_hash="x", role="leader")
        s.add(leader)
        ofs = [Office(code=f"B{uuid.uuid4().hex[:6]}{i}", name=f"Bench {i}", timezone="Asia/Makassar")
               for i in range(offices)]
        s.add_all(ofs)
        s.flush()
        staff = {}
        for o in ofs:
            staff[o.id] = []
            for p in range(people):
                e = Employee(nip=uuid.uuid4().hex[:18], name=f"P{p}", office_id=o.id)
                s.add(e)
                staff[o.id].append(e)
        s.commit()
        return leader, [o.id for o in ofs], {k: [e.id for e in v] for k, v in staff.items()}


def frames(office_ids, staff, seconds: float, prefix: str):
    """Per office, a list of frames; each frame is a list of sightings (one per person)."""
    n = int(seconds / 0.5)
    out = {}
    for oid in office_ids:
        out[oid] = []
        for f in range(n):
            at = START + timedelta(seconds=f * 0.5)
            out[oid].append([Sighting(employee_id=eid, track_key=f"{prefix}-{oid}-{k}", at=at, confidence=0.8,
                                      mask=(k % 3 != 0), distancing_violation=(k == 0 and f % 7 == 0))
                             for k, eid in enumerate(staff[oid])])
    return out


def run_mode(factory, leader, office_ids, staff, seconds: float, mode: str) -> dict:
    with factory() as s:
        a = committed(create_assembly)(
            s, actor=s.merge(leader), kind="pagi", title=f"bench {mode}", scheduled_start=START,
            office_ids=office_ids)
        committed(start_assembly)(s, a.id, actor=s.merge(leader))
        aid = a.id
    data = frames(office_ids, staff, seconds, mode)
    calls: list[list[Sighting]] = []
    for oid in office_ids:
        fs = data[oid]
        if mode == "per_frame":
            calls += [(oid, f) for f in fs]
        elif mode == "per_second":
            calls += [(oid, fs[i] + fs[i + 1]) for i in range(0, len(fs) - 1, 2)]
        else:
            calls += [(oid, [x]) for f in fs for x in f]
    total = sum(len(c[1]) for c in calls)
    lat = []
    with factory() as s:
        t0 = time.perf_counter()
        for oid, batch in calls:
            t = time.perf_counter()
            committed(record_sightings)(s, aid, oid, batch)
            lat.append(time.perf_counter() - t)
        wall = time.perf_counter() - t0
        roll = []
        for _ in range(20):
            t = time.perf_counter()
            r = live_rollcall(s, aid)
            roll.append(time.perf_counter() - t)
        tracks = s.execute(select(func.count()).select_from(SightingTrack)
                           .where(SightingTrack.assembly_id == aid)).scalar()
    assert r["totals"]["present"] == len(office_ids) * len(staff[office_ids[0]]), r["totals"]
    lat.sort()
    return {"mode": mode, "sightings": total, "calls": len(calls), "wall_s": wall,
            "sightings_per_s": total / wall, "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))], "rollcall_p50_ms": 1000 * statistics.median(roll),
            "track_rows": tracks}


def bench(url: str, label: str, args: argparse.Namespace) -> None:
    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    leader, office_ids, staff = seed(factory, args.offices, args.people)
    # Real-time need: offices * people sightings every 0.5 s.
    need = args.offices * args.people / 0.5
    print(f"\n## {label}: {args.offices} offices x {args.people} people, {args.seconds:.0f} s of apel "
          f"(live need: {need:.0f} sightings/s)")
    print(f"{'mode':<13}{'sightings':>10}{'calls':>7}{'wall s':>8}{'sight/s':>9}{'p50 ms':>8}{'p95 ms':>8}"
          f"{'x need':>8}{'rollcall ms':>12}{'track rows':>11}")
    results = {}
    for mode in ("per_sighting", "per_frame", "per_second"):
        r = run_mode(factory, leader, office_ids, staff, args.seconds, mode)
        results[mode] = r
        print(f"{mode:<13}{r['sightings']:>10}{r['calls']:>7}{r['wall_s']:>8.2f}{r['sightings_per_s']:>9.0f}"
              f"{r['p50_ms']:>8.2f}{r['p95_ms']:>8.2f}{r['sightings_per_s'] / need:>8.1f}"
              f"{r['rollcall_p50_ms']:>12.2f}{r['track_rows']:>11}")
    base = results["per_sighting"]["sightings_per_s"]
    print(f"ratio vs per-sighting baseline: per_frame x{results['per_frame']['sightings_per_s'] / base:.1f}, "
          f"per_second x{results['per_second']['sightings_per_s'] / base:.1f}; "
          f"track rows / sightings = {results['per_frame']['track_rows']}/{results['per_frame']['sightings']}")
    engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--offices", type=int, default=8)
    p.add_argument("--people", type=int, default=10)
    p.add_argument("--pg", default=os.environ.get("APEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--no-pg", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        bench(f"sqlite:///{d}/bench.db", "SQLite (file, WAL)", args)
    if args.no_pg:
        return
    admin = make_engine(args.pg).execution_options(isolation_level="AUTOCOMMIT")
    name = f"apel_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"\nPostgreSQL not reachable ({exc.__class__.__name__}); skipped")
        return
    try:
        bench(args.pg.rsplit("/", 1)[0] + f"/{name}", "PostgreSQL", args)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
