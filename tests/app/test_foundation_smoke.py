"""The skeleton itself: migrations reach head on both databases and the app answers."""
from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import inspect

from attendance.db.migrate import current_heads


def test_migrations_reach_head(db_url: str) -> None:
    assert current_heads(db_url) != []
    from attendance.db import make_engine

    eng = make_engine(db_url)
    tables = set(inspect(eng).get_table_names())
    eng.dispose()
    assert {"offices", "employees", "face_templates", "users", "audit_log"} <= tables


def test_health(db_url: str, settings_factory) -> None:
    from app.web.app import create_app

    app = create_app(settings_factory(db_url), migrate=False)
    with TestClient(app) as client:
        r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
