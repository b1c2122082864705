"""In a real headless Chromium against a real server (issue 19): the leader issues an office token on the
apel page and gets the full join link from APEL_PUBLIC_URL; its QR code loads under the page's CSP; a
real click on "Salin tautan" puts the link on the clipboard and selects it (so Ctrl+C works where the
browser refuses the clipboard). And the "Tambah OPD" form's fields line up. Screenshots go to
tests/_artifacts/."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.app.live.conftest import ServerThread, free_port
from tests.e2e.cdp import Browser

from .browser_seed import PASSWORD, open_apel

pytestmark = [pytest.mark.e2e]
PUBLIC = "https://apel.example.go.id"
ARTIFACTS = Path(__file__).resolve().parents[2] / "_artifacts"


async def _click(page, selector: str) -> None:
    """A trusted click (a user gesture), as the clipboard demands, at the element's centre."""
    x, y = await page.eval(f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
                           " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        await page.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


async def test_copy_button_puts_the_full_join_link_on_the_clipboard(chromium, sqlite_url, settings_factory,
                                                                    tmp_path) -> None:
    from app.web.app import create_app

    app = create_app(settings_factory(sqlite_url, public_url=PUBLIC))
    with app.state.session_factory() as db:
        aid = open_apel(db).assembly_id
    server = ServerThread(app, free_port())
    server.start()
    browser = Browser(tmp_path / "chrome-profile", [])
    try:
        await browser.start()
        page = await browser.new_page()
        await page.send("Browser.grantPermissions", origin=server.url,
                        permissions=["clipboardReadWrite", "clipboardSanitizedWrite"])
        await page.send("Emulation.setFocusEmulationEnabled", enabled=True)   # headless: the page has the focus
        await page.login(server.url, "leader", PASSWORD)
        await page.goto(f"{server.url}/apel/{aid}")
        await page.eval("navigator.clipboard.writeText('nothing copied yet')")
        await page.eval("document.querySelector('form[action$=\"/token\"] button').click()")
        assert await page.wait_for("document.readyState === 'complete' && !!document.getElementById('join-url')", 20)
        url = await page.eval("document.getElementById('join-url').value")
        assert url.startswith(f"{PUBLIC}/live/join?office=BKPSDM#token="), url
        assert await page.wait_for("document.getElementById('join-qr').naturalWidth > 0", 10), "QR blocked or broken"

        await _click(page, "#copy-join-url")
        status = await page.wait_for("document.getElementById('copy-status').textContent", 10)
        assert status == "Tautan disalin.", (status, page.console)
        assert await page.eval("navigator.clipboard.readText()") == url
        selected = await page.eval("(() => { const f = document.getElementById('join-url');"
                                   " return [document.activeElement === f, f.selectionStart, f.selectionEnd]; })()")
        assert selected == [True, 0, len(url)]
        assert not [m for m in page.console if "Content Security Policy" in m or "EXCEPTION" in m], page.console
        await page.screenshot(ARTIFACTS / "token-join-link.png")

        # "Tambah OPD": the fields of one row line up, whether a label wraps or a hint sits under a field.
        hr = await browser.new_page()
        await hr.login(server.url, "hr", PASSWORD)
        await hr.goto(f"{server.url}/offices")
        rows = await hr.eval("""(() => { const form = document.querySelector('#add-office form.grid'), rows = {};
            const cols = getComputedStyle(form).gridTemplateColumns.split(' ').length;
            const items = [...form.children].filter(c => c.getClientRects().length);   // grid items, in order
            items.forEach((item, i) => { const f = item.matches('label') && item.querySelector('input, select');
              if (!f) return; const r = f.getBoundingClientRect(), row = Math.floor(i / cols);
              (rows[row] = rows[row] || []).push([f.name, Math.round(r.top), Math.round(r.height)]); });
            return Object.values(rows); })()""")
        assert sum(len(r) for r in rows) >= 7, rows
        for row in rows:
            assert len({top for _, top, _ in row}) == 1 and len({h for _, _, h in row}) == 1, row
        await hr.screenshot(ARTIFACTS / "offices-form.png")
    finally:
        await browser.close()
        server.stop()
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
