"""Logging out revokes: a session cookie or bearer token copied before the logout (a shared computer, a
token in a script's log) stops working at once, on both databases, as does every one issued before a
password change. The check rides on the user lookup each request already does."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.attendance.roster.conftest import PASSWORD, Env, make_env


@pytest.fixture
def env(db_url: str, settings_factory) -> Iterator[Env]:
    yield from make_env(db_url, settings_factory, None)   # type: ignore[arg-type]  # no photos analysed here


def _login(app: object, username: str = "hr") -> tuple[TestClient, str, str, str]:
    """A logged-in browser: the client, its CSRF token, its session cookie, and the bearer token."""
    c = TestClient(app)   # type: ignore[arg-type]
    r = c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, r.json()["csrf_token"], c.cookies["apel_session"], r.json()["access_token"]


def _me_with_cookie(app: object, cookie: str) -> int:
    with TestClient(app) as other:   # type: ignore[arg-type]  # another browser holding a copy of the cookie
        other.cookies.set("apel_session", cookie)
        return other.get("/api/v1/auth/me").status_code


def _me_with_token(app: object, token: str) -> int:
    with TestClient(app) as other:   # type: ignore[arg-type]
        return other.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_logout_revokes_the_cookie_and_the_token(env: Env) -> None:
    c, csrf, cookie, token = _login(env.app)
    assert _me_with_cookie(env.app, cookie) == 200 and _me_with_token(env.app, token) == 200
    with c:
        assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).json() == {"ok": True}
    assert _me_with_cookie(env.app, cookie) == 401
    assert _me_with_token(env.app, token) == 401
    # Pages too: the copied cookie is sent to the login form, not let in.
    with TestClient(env.app, follow_redirects=False) as other:   # type: ignore[arg-type]
        other.cookies.set("apel_session", cookie)
        assert other.get("/").headers["location"].startswith("/login")
    # Logging in again works, with a new session.
    _, _, cookie2, token2 = _login(env.app)
    assert _me_with_cookie(env.app, cookie2) == 200 and _me_with_token(env.app, token2) == 200


def test_logout_with_a_token_ends_every_session_of_the_user(env: Env) -> None:
    """One version per user: logging out anywhere logs the user out everywhere; other users are untouched."""
    _, _, cookie, token = _login(env.app)
    _, _, other_cookie, other_token = _login(env.app, "leader")
    with TestClient(env.app) as c:   # type: ignore[arg-type]
        r = c.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    assert _me_with_token(env.app, token) == 401 and _me_with_cookie(env.app, cookie) == 401
    assert _me_with_token(env.app, other_token) == 200 and _me_with_cookie(env.app, other_cookie) == 200


def test_logout_page_revokes_the_cookie(env: Env) -> None:
    c, csrf, cookie, _ = _login(env.app)
    with c:
        r = c.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    assert _me_with_cookie(env.app, cookie) == 401


def test_password_change_revokes_other_sessions_and_keeps_this_one(env: Env) -> None:
    c, csrf, _, token = _login(env.app)
    _, _, elsewhere, _ = _login(env.app)   # the same user on another computer
    with c:
        r = c.post("/api/v1/auth/password", headers={"X-CSRF-Token": csrf},
                   json={"current_password": PASSWORD, "new_password": "a much longer passphrase"})
        assert r.status_code == 200, r.text
        assert c.get("/api/v1/auth/me").status_code == 200   # this browser goes on
    assert _me_with_cookie(env.app, elsewhere) == 401
    assert _me_with_token(env.app, token) == 401


def test_an_admin_setting_a_password_revokes_the_users_sessions(env: Env) -> None:
    _, _, cookie, token = _login(env.app, "leader")
    r = env.client.patch(f"/api/v1/users/{env.users['leader']}", headers=env.token("admin"),
                         json={"password": "a new passphrase for the leader"})
    assert r.status_code == 200, r.text
    assert _me_with_cookie(env.app, cookie) == 401 and _me_with_token(env.app, token) == 401
