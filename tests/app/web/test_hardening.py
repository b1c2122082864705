"""Sessions and logins, hardened: security headers on every response, a page markup the strict
Content-Security-Policy allows, a secure-cookie switch, logins that take as long for an unknown name as
for a wrong password, and a data directory and SQLite file only their owner can read."""
from __future__ import annotations

import re
import stat
import statistics
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.web.headers import CSP

TEMPLATES = Path(__file__).resolve().parents[3] / "app" / "web" / "templates"
PASSWORD = "correct horse battery"


def _app_with_user(sqlite_url: str, settings_factory, **overrides):
    from app.web.app import create_app
    from attendance.roster.users import create_user

    app = create_app(settings_factory(sqlite_url, **overrides), migrate=False)
    with app.state.session_factory() as s:
        create_user(s, actor="test", username="hr", password=PASSWORD, role="hr")
        s.commit()
    return app


def test_every_response_carries_the_security_headers(sqlite_url: str, settings_factory) -> None:
    app = _app_with_user(sqlite_url, settings_factory)
    with TestClient(app) as c:
        for r in (c.get("/login"), c.get("/api/v1/auth/me"), c.get("/no-such-page", headers={"accept": "text/html"}),
                  c.get("/static/js/apel.js"), c.post("/api/v1/auth/login", json={"username": "hr", "password": "x"})):
            assert r.headers["content-security-policy"] == CSP, r.url
            assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"
            assert "strict-transport-security" not in r.headers   # plain http: HSTS would be meaningless
        # Swagger UI is served from here (app.web.api_docs): its page gets the same policy as every other.
        assert c.get("/docs").headers["content-security-policy"] == CSP
    with TestClient(app, base_url="https://testserver") as c:
        assert c.get("/login").headers["strict-transport-security"].startswith("max-age=")


def test_templates_need_no_inline_script_or_style() -> None:
    """The policy allows no inline code: no event-handler attribute, style attribute, javascript: URL or
    executable inline <script> (JSON data blocks are not executed, so they are allowed)."""
    bad = re.compile(r"""\son[a-z]+\s*=|\sstyle\s*=|javascript:|<style\b"""
                     r"""|<script(?![^>]*\b(src=|type="application/json"))""", re.IGNORECASE)
    offenders = [f"{p.relative_to(TEMPLATES)}: {m.group(0).strip()}"
                 for p in sorted(TEMPLATES.rglob("*.html")) for m in bad.finditer(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_is_secure_only_when_configured(sqlite_url: str, settings_factory, secure: bool) -> None:
    app = _app_with_user(sqlite_url, settings_factory, cookie_secure=secure)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post("/api/v1/auth/login", json={"username": "hr", "password": PASSWORD})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("apel_session=") and ("secure" in cookie.lower()) is secure


def test_unknown_username_takes_as_long_as_a_wrong_password(sqlite_url: str, settings_factory) -> None:
    app = _app_with_user(sqlite_url, settings_factory)

    def median_login_s(usernames: list[str]) -> float:
        times = []
        with TestClient(app) as c:
            for name in usernames:
                t0 = time.perf_counter()
                r = c.post("/api/v1/auth/login", json={"username": name, "password": "wrong password"})
                times.append(time.perf_counter() - t0)
                assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_credentials"
        return statistics.median(times)

    median_login_s(["warm-up"])   # the dummy hash is made on the first unknown name
    known = median_login_s(["hr"] * 5)
    unknown = median_login_s([f"ghost{i}" for i in range(5)])
    assert unknown > known / 3, (unknown, known)


def test_data_dir_and_sqlite_file_are_private(tmp_path: Path) -> None:
    from app.settings import Settings
    from app.web.app import create_app

    settings = Settings(data_dir=tmp_path / "data", secret_key="test-secret")
    app = create_app(settings)
    app.state.engine.dispose()
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    db = tmp_path / "data" / "apel.db"
    assert db.stat().st_size > 0   # migrated: the file the engine made is the real database
    for path in [db, *tmp_path.glob("data/apel.db-*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
