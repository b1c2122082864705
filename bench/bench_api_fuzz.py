"""Schemathesis over every API operation, long run: the real app (lifespan, live service, vision worker)
on a fresh SQLite file and/or a fresh PostgreSQL database, seeded with three offices, twelve people,
closed apels and an open one, and a user of every role; every operation of /openapi.json fuzzed as
admin and as an operator (bearer tokens), in-process over ASGI. Per operation and role: schemathesis's
coverage phase (boundary values, missing and wrongly typed fields) and --examples cases drawn by
Hypothesis, valid and invalid, derandomized (the same run every time). Checks: not a server error;
status code documented; content type documented; body matches the published schema.

Baseline, same run and same client: --baseline authenticated GET /api/v1/auth/me requests, the cost
floor of one request through the harness, so the fuzz's time per case reads as a multiple of it.

Prints cases run, server errors, schema violations (each distinct one with a curl command), time.
Exits 1 if anything was found.

Usage:
  nice -n 10 .venv/bin/python bench/bench_api_fuzz.py                       # SQLite and PostgreSQL
  nice -n 10 .venv/bin/python bench/bench_api_fuzz.py --backend sqlite --examples 30
PostgreSQL: APEL_BENCH_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres, used to
create and drop a database named apel_fuzz_<random>).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("APEL_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ROLES = ("admin", "opbkd")


def pg_database() -> tuple[str, Callable[[], None]]:
    from sqlalchemy import text

    from attendance.db import make_engine

    admin = make_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    name = f"apel_fuzz_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def baseline_ms(app, token: str, n: int) -> float:
    """Median ms of an authenticated GET /api/v1/auth/me through schemathesis's ASGI client."""
    from schemathesis.python.asgi import ASGIClient

    times = []
    with ASGIClient(app) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200, r.text
    return statistics.median(times)


def run(backend: str, args: argparse.Namespace) -> bool:
    from app.settings import Settings
    from app.web.app import create_app
    from tests.app.web.api_fuzz import fuzz, seed_app

    drop: Callable[[], None] = lambda: None  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="apel-fuzz-") as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/apel.db"
        else:
            url, drop = pg_database()
        try:
            settings = Settings(data_dir=Path(tmp) / "data", database_url=url, secret_key="bench-secret",
                                vision_workers=1)
            app = create_app(settings)
            _, actors = seed_app(app)
            base = baseline_ms(app, actors["admin"].token, args.baseline)
            report = fuzz(app, actors, ROLES, max_examples=args.examples, coverage=not args.no_coverage)
            app.state.engine.dispose()
        finally:
            drop()
    per_case = report.seconds / max(report.total, 1) * 1000
    by_role = ", ".join(f"{r}: {sum(n for (a, _), n in report.cases.items() if a == r)}" for r in ROLES)
    slowest = sorted(report.op_seconds.items(), key=lambda kv: -kv[1])[:5]
    print(f"\n== {backend}: {report.summary()}")
    print(f"   {report.total} cases ({by_role}), {report.seconds:.1f} s, {per_case:.1f} ms per case; "
          f"baseline GET /auth/me median {base:.1f} ms ({per_case / base:.1f}x)")
    print("   slowest operations: " + "; ".join(f"{op} {t:.1f} s" for op, t in slowest))
    return not report.findings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--examples", type=int, default=25, help="drawn cases per operation and role (besides coverage)")
    ap.add_argument("--no-coverage", action="store_true", help="skip schemathesis's coverage phase")
    ap.add_argument("--baseline", type=int, default=200, help="GET /auth/me requests for the baseline")
    args = ap.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    ok = all([run(b, args) for b in backends])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
