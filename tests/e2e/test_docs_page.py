"""/docs in a real headless Chromium: Swagger UI, served from this server, renders every operation of
the API under the page's Content-Security-Policy, with no policy violation, no script error and no
request to another origin (office networks often have no internet). A screenshot is saved to
tests/_artifacts/."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.web.headers import CSP
from tests.app.live.conftest import ServerThread, free_port

from .cdp import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
# Installed before any script of the page runs, and not subject to the page's policy.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile));
"""


@pytest.fixture
def server(sqlite_url: str, settings_factory):
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url, vision_workers=1), migrate=False)
    srv = ServerThread(app, free_port())
    srv.start()
    yield srv
    srv.stop()
    app.state.engine.dispose()


async def test_docs_render_every_operation_without_csp_violations(chromium, server, tmp_path) -> None:
    operations = sum(len(ops) for ops in server.app.openapi()["paths"].values())
    browser = Browser(tmp_path / "chrome-profile", [])
    try:
        await browser.start()
        page = await browser.new_page()
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=WATCH_VIOLATIONS)
        await page.goto(f"{server.url}/docs")
        shown = await page.wait_for(f"document.querySelectorAll('.opblock').length >= {operations} "
                                    "&& document.querySelectorAll('.opblock').length", 60)
        assert shown == operations, (shown, page.console)
        # Expanding an operation draws its parameters and responses (Swagger UI styles them inline).
        await page.eval("document.querySelector('.opblock .opblock-summary-control').click()")
        assert await page.wait_for("!!document.querySelector('.opblock.is-open .responses-wrapper')", 20), page.console
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "api_docs.png")
        violations = await page.eval("window.__violations")
        origins = await page.eval("[...new Set(performance.getEntriesByType('resource')"
                                  ".map(e => new URL(e.name).origin))]")
        policy = await page.eval("fetch('/docs').then(r => r.headers.get('content-security-policy'))")
        errors = [line for line in page.console if line.startswith("EXCEPTION")]
    finally:
        await browser.close()
    assert policy == CSP   # the strict policy of every page: scripts and styles from this server only
    assert violations == []
    assert errors == []
    assert origins == [server.url]
