"""`apel serve` stopped (SIGTERM: a restart, a redeploy) while a console watches a live apel: the
console's event stream never ends by itself, yet the service stops within seconds and runs its
shutdown hooks (app.cli.main.GRACEFUL_SHUTDOWN_S), which write what the live service still holds."""
from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.cli.main import GRACEFUL_SHUTDOWN_S
from tests.servers import apel_serve

ROOT = Path(__file__).resolve().parents[3]


def test_serve_stops_promptly_with_a_console_watching(tmp_path: Path) -> None:
    from app.settings import Settings
    from app.web.app import create_app
    from attendance.assemblies.lifecycle import create_assembly, start_assembly
    from attendance.db.unit_of_work import committed
    from attendance.models import AssemblyKind
    from attendance.roster.offices import create_office
    from attendance.roster.users import create_user

    env = {**os.environ, "APEL_DATA_DIR": str(tmp_path), "APEL_DATABASE_URL": f"sqlite:///{tmp_path / 'apel.db'}",
           "APEL_SECRET_KEY": "test-secret-key-for-serve"}
    env.pop("APEL_DB_URL", None)
    app = create_app(Settings(data_dir=tmp_path, database_url=env["APEL_DATABASE_URL"]))
    with app.state.session_factory() as db:
        office = create_office(db, actor="test", code="OPD1", name="Dinas Satu")
        leader = create_user(db, actor="test", username="leader", password="a long password", role="leader")
        a = committed(create_assembly)(db, actor=leader, kind=list(AssemblyKind)[0].value, title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[office.id])
        committed(start_assembly)(db, a.id, actor=leader)
        db.commit()
        assembly_id = a.id
    app.state.engine.dispose()

    with apel_serve(env, tmp_path / "serve.log") as (url, proc):
        r = httpx.post(f"{url}/api/v1/auth/login", json={"username": "leader", "password": "a long password"})
        assert r.status_code == 200, r.text
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}
        streaming = threading.Event()

        def watch() -> None:   # the leader's console: an event stream held open
            try:
                with httpx.stream("GET", f"{url}/api/v1/live/assemblies/{assembly_id}/events", headers=auth,
                                  timeout=None) as s:
                    for line in s.iter_lines():
                        if line.startswith("event: rollcall"):
                            streaming.set()
            except httpx.HTTPError:
                pass
        threading.Thread(target=watch, daemon=True).start()
        assert streaming.wait(30), "the console's event stream did not start"

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(GRACEFUL_SHUTDOWN_S + 30)
        took = time.monotonic() - t0
        out = (tmp_path / "serve.log").read_text()
        assert "Application shutdown complete" in out, out[-2000:]
        assert took < GRACEFUL_SHUTDOWN_S + 25, took
