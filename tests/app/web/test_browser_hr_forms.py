"""In a real headless Chromium against a real server: the employees page checks a NIP as it is typed
(wrong digits marked, the reason beside them) before the rest of the form, and "Akhiri apel" on the
apel page asks first; answering "Cancel" leaves the apel open."""
from __future__ import annotations

import shutil

import pytest

from tests.app.live.conftest import ServerThread, free_port
from tests.e2e.cdp import Browser

from .browser_seed import PASSWORD, open_apel

pytestmark = [pytest.mark.e2e]


async def test_nip_checked_as_typed_and_end_asks(chromium, sqlite_url, settings_factory, tmp_path) -> None:
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url))
    with app.state.session_factory() as db:
        aid = open_apel(db).assembly_id
    server = ServerThread(app, free_port())
    server.start()
    browser = Browser(tmp_path / "chrome-profile", [])
    try:
        await browser.start()
        hr = await browser.new_page()
        await hr.login(server.url, "hr", PASSWORD)
        await hr.goto(f"{server.url}/employees?lang=en")
        await hr.eval("(() => { const i = document.querySelector('input[name=nip]');"
                      " i.value = '19851312 201001 1 001'; i.dispatchEvent(new Event('input')); })()")
        shown = await hr.wait_for("(() => { const s = document.getElementById('nip-problem');"
                                  " return s && s.textContent.includes('digits 5-6') && s.innerHTML; })()", 20)
        assert shown and "<mark>1</mark><mark>3</mark>" in shown, shown
        assert await hr.eval("document.querySelector('input[name=name]').value") == ""   # nothing else typed yet
        await hr.eval("(() => { const i = document.querySelector('input[name=nip]');"
                      " i.value = 'NIP. 19850312 201001 1 001'; i.dispatchEvent(new Event('input')); })()")
        ok = await hr.wait_for("(() => { const s = document.getElementById('nip-problem');"
                               " return s && s.textContent.includes('born 1985-03-12') && s.textContent; })()", 20)
        assert ok

        lead = await browser.new_page()
        await lead.login(server.url, "leader", PASSWORD)
        await lead.goto(f"{server.url}/apel/{aid}?lang=en")
        # The user answers "Cancel" to the question the page asks.
        await lead.eval("window.confirm = (m) => { window.__asked = m; return false; }")
        await lead.eval("document.querySelector('form[action$=\"/end\"] button').click()")
        await lead.eval("new Promise(r => setTimeout(r, 500))")
        assert (await lead.eval("window.__asked || ''")).startswith("End the apel now?")
        status = await lead.eval(f"fetch('/api/v1/assemblies/{aid}').then(r => r.json()).then(b => b.status)")
        assert status == "open"
    finally:
        await browser.close()
        server.stop()
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
