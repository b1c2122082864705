"""A browser gets errors as a page in its language; API clients get the one JSON error body, the one
the OpenAPI schema publishes."""
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
        assert api.status_code == 404
        assert api.json() == {"detail": {"code": "not_found", "message": "Not Found", "hint": "Tidak ditemukan."}}
        # An unauthenticated page still redirects to the login form, not an error page.
        r = c.get("/employees", headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_forbidden_page_keeps_the_users_menu(sqlite_url: str, settings_factory) -> None:
    from app.web.app import create_app
    from attendance.roster.users import create_user

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


def test_every_refusal_has_the_one_error_body(sqlite_url: str, settings_factory) -> None:
    from app.web.app import create_app
    from attendance.roster.users import create_user

    app = create_app(settings_factory(sqlite_url), migrate=False)
    with app.state.session_factory() as s:
        create_user(s, actor="test", username="hr", password="correct horse battery", role="hr")
        s.commit()
    with TestClient(app) as c:
        r = c.get("/api/v1/auth/me")   # authentication errors too
        assert r.status_code == 401 and r.json()["detail"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        token = c.post("/api/v1/auth/login", json={"username": "hr", "password": "correct horse battery"})
        h = {"Authorization": f"Bearer {token.json()['access_token']}"}
        # A domain refusal (ApelError), in the asked language.
        r = c.get("/api/v1/employees/999?lang=en", headers=h)
        assert r.status_code == 404
        assert r.json()["detail"] == {"code": "employee_not_found", "message": "employee 999 does not exist",
                                      "hint": "Employee not found."}
        # FastAPI's own request validation: the same shape, pydantic's list in `details`.
        r = c.post("/api/v1/offices", headers=h, json={"name": "x"})
        detail = r.json()["detail"]
        assert r.status_code == 422 and detail["code"] == "invalid_request" and "code" in detail["message"]
        assert detail["details"][0]["loc"] == ["body", "code"]
        # A browser asking for a page gets the same refusal as a page in its language.
        page = c.get("/employees/999?lang=en", headers={"accept": "text/html", **h})
        assert page.status_code == 404 and "Employee not found. (employee 999 does not exist)" in page.text

        spec = c.get("/openapi.json").json()
        assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"detail"}
        assert "HTTPValidationError" not in spec["components"]["schemas"]
        for path, item in spec["paths"].items():
            for method, op in item.items():
                assert op["responses"]["4XX"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorBody"}, (method, path)
