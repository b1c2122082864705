"""A browser gets errors as a page in its language; API clients keep JSON."""
from __future__ import annotations

from fastapi.testclient import TestClient


def test_page_errors_are_pages_and_api_errors_stay_json(sqlite_url: str, settings_factory) -> None:
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url), migrate=False)
    with TestClient(app) as c:
        page = c.get("/no-such-page", headers={"accept": "text/html"})
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Permintaan tidak dapat diproses" in page.text
        en = c.get("/no-such-page?lang=en", headers={"accept": "text/html"})
        assert "could not be processed" in en.text
        api = c.get("/api/v1/no-such-thing", headers={"accept": "text/html"})
        assert api.status_code == 404 and api.json()["detail"] == "Not Found"
        # An unauthenticated page still redirects to the login form, not an error page.
        r = c.get("/employees", headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_forbidden_page_keeps_the_users_menu(sqlite_url: str, settings_factory) -> None:
    from app.web.app import create_app
    from attendance.roster import create_user

    app = create_app(settings_factory(sqlite_url), migrate=False)
    with app.state.session_factory() as s:
        create_user(s, actor="test", username="obs", password="correct horse battery", role="observer")
        s.commit()
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "obs", "password": "correct horse battery"})
        assert r.status_code == 200
        page = c.get("/users", headers={"accept": "text/html"})
        assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
        assert "Keluar" in page.text   # the logged-in user's menu (log-out button), not an anonymous page
