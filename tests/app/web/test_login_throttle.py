"""Failed logins are limited per address and username, per address (spraying one password over many
accounts) and per username across addresses (many machines guessing one account); X-Forwarded-For
counts only from a configured proxy. Every refusal says how long to wait, in Retry-After too."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.web.login import PER_CLIENT, PER_CLIENT_AND_USER, PER_USER, WINDOW_S
from tests.servers import apel_serve

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parents[3]


def _app(sqlite_url: str, settings_factory, **overrides):
    from app.web.app import create_app
    from attendance.roster.users import create_user

    app = create_app(settings_factory(sqlite_url, **overrides), migrate=False)
    with app.state.session_factory() as s:
        for name in ("hr", "leader"):
            create_user(s, actor="test", username=name, password=PASSWORD, role="hr")
        s.commit()
    return app


def _login(app, peer: str, username: str, password: str = "wrong password", **headers: str) -> httpx.Response:
    with TestClient(app, client=(peer, 40000)) as c:
        return c.post("/api/v1/auth/login", json={"username": username, "password": password}, headers=headers)


def _throttled(r: httpx.Response, code: str) -> None:
    assert r.status_code == 429, r.text
    detail = r.json()["detail"]
    assert detail["code"] == code and "try again in" in detail["message"] and detail["hint"]
    wait = int(r.headers["retry-after"])
    assert 0 < wait <= WINDOW_S and detail["details"]["retry_after_s"] == wait


def test_one_account_from_many_addresses_is_limited(sqlite_url: str, settings_factory) -> None:
    app = _app(sqlite_url, settings_factory)
    for i in range(PER_USER):
        assert _login(app, f"198.51.100.{i + 1}", "hr").status_code == 401
    _throttled(_login(app, "198.51.100.200", "hr"), "account_throttled")
    # Even the right password waits: the guesser could have found it. Other accounts are untouched.
    _throttled(_login(app, "198.51.100.201", "hr", PASSWORD), "account_throttled")
    assert _login(app, "198.51.100.201", "leader", PASSWORD).status_code == 200


def test_one_address_spraying_many_accounts_is_limited(sqlite_url: str, settings_factory) -> None:
    app = _app(sqlite_url, settings_factory)
    for i in range(PER_CLIENT):
        assert _login(app, "203.0.113.7", f"pegawai{i}", "Bismillah123").status_code == 401
    _throttled(_login(app, "203.0.113.7", "leader", "Bismillah123"), "too_many_attempts")
    assert _login(app, "203.0.113.8", "leader", PASSWORD).status_code == 200   # another address still logs in


def test_forwarded_for_from_an_untrusted_peer_is_ignored(sqlite_url: str, settings_factory) -> None:
    app = _app(sqlite_url, settings_factory)
    for i in range(PER_CLIENT_AND_USER):
        assert _login(app, "203.0.113.9", "hr", **{"X-Forwarded-For": f"10.1.0.{i}"}).status_code == 401
    _throttled(_login(app, "203.0.113.9", "hr", **{"X-Forwarded-For": "10.1.0.250"}), "too_many_attempts")


def test_forwarded_for_from_a_trusted_proxy_names_the_client(sqlite_url: str, settings_factory) -> None:
    app = _app(sqlite_url, settings_factory, trusted_proxies="10.0.0.1, 192.168.50.0/24")
    for _ in range(PER_CLIENT_AND_USER):   # through two of our proxies, from one client
        r = _login(app, "10.0.0.1", "hr", **{"X-Forwarded-For": "198.51.100.4, 192.168.50.3"})
        assert r.status_code == 401
    _throttled(_login(app, "10.0.0.1", "hr", **{"X-Forwarded-For": "198.51.100.4"}), "too_many_attempts")
    # Another client behind the same proxy is not blocked; neither is the account for it yet.
    assert _login(app, "10.0.0.1", "hr", PASSWORD, **{"X-Forwarded-For": "198.51.100.5"}).status_code == 200
    # A client putting an address of its own in front does not escape: the nearest untrusted hop counts.
    _throttled(_login(app, "10.0.0.1", "hr", **{"X-Forwarded-For": "1.2.3.4, 198.51.100.4"}), "too_many_attempts")


def test_login_page_says_when_to_come_back(sqlite_url: str, settings_factory) -> None:
    app = _app(sqlite_url, settings_factory)
    with TestClient(app, client=("203.0.113.20", 1)) as c:
        page = c.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        for _ in range(PER_CLIENT_AND_USER + 1):
            r = c.post("/login", data={"username": "hr", "password": "nope nope", "csrf_token": csrf})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= WINDOW_S


def test_bad_trusted_proxies_setting_is_refused(settings_factory, sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="APEL_TRUSTED_PROXIES"):
        settings_factory(sqlite_url, trusted_proxies="10.0.0.1, proxy.local")


def test_apel_serve_takes_the_peer_not_the_forwarded_header(tmp_path: Path) -> None:
    """The real server: uvicorn by default believes X-Forwarded-For from a local peer, so every guess
    from this machine could claim a new address. `apel serve` leaves that to APEL_TRUSTED_PROXIES."""
    from app.settings import Settings
    from app.web.app import create_app
    from attendance.roster.users import create_user

    env = {**os.environ, "APEL_DATA_DIR": str(tmp_path), "APEL_DATABASE_URL": f"sqlite:///{tmp_path / 'apel.db'}",
           "APEL_SECRET_KEY": "test-secret-key-for-serve", "APEL_RECOGNIZER": "dlib", "APEL_VISION_WORKERS": "1"}
    env.pop("APEL_TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    app = create_app(Settings(data_dir=tmp_path, database_url=env["APEL_DATABASE_URL"], recognizer="dlib"))
    with app.state.session_factory() as db:
        create_user(db, actor="test", username="hr", password=PASSWORD, role="hr")
        db.commit()
    app.state.engine.dispose()
    with apel_serve(env, tmp_path / "serve.log") as (url, _proc):
        codes = [httpx.post(f"{url}/api/v1/auth/login", json={"username": "hr", "password": "wrong password"},
                            headers={"X-Forwarded-For": f"10.9.0.{i}"}, timeout=10).status_code
                 for i in range(PER_CLIENT_AND_USER + 1)]
        assert codes == [401] * PER_CLIENT_AND_USER + [429]
