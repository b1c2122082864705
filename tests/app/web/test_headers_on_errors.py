"""Every answer carries the security headers, a server fault's included: an unhandled exception is
answered by Starlette's ServerErrorMiddleware, outside every added middleware, so the headers must
wrap the whole stack. The fault answers in the one error body (or the error page), never bare."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.web.headers import CSP

HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY", "x-content-type-options": "nosniff",
           "referrer-policy": "same-origin"}


@pytest.fixture
def crashing_client(sqlite_url: str, settings_factory):
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url, vision_workers=1), migrate=False)

    @app.get("/api/v1/crash")
    def api_crash() -> None:
        raise RuntimeError("boom")

    @app.get("/crash-page")
    def page_crash() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def test_a_server_fault_carries_the_security_headers(crashing_client: TestClient) -> None:
    r = crashing_client.get("/api/v1/crash")
    assert r.status_code == 500
    assert {k: r.headers.get(k) for k in HEADERS} == HEADERS
    assert r.json()["detail"]["code"] == "internal_error" and "boom" not in r.text   # no internals leak
    assert r.json()["detail"]["hint"].startswith("Terjadi kesalahan")                 # the default language


def test_a_page_fault_is_an_error_page_with_the_headers(crashing_client: TestClient) -> None:
    r = crashing_client.get("/crash-page", headers={"accept": "text/html"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert {k: r.headers.get(k) for k in HEADERS} == HEADERS
    assert "boom" not in r.text


def test_https_faults_carry_hsts(crashing_client: TestClient) -> None:
    r = crashing_client.get("https://testserver/api/v1/crash")
    assert r.status_code == 500 and r.headers["strict-transport-security"].startswith("max-age=")
