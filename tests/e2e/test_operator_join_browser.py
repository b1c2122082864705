"""An office operator's first apel in a real headless Chromium: signed in, the menu leads to their
office's open apel (it answered 403 before), its Join button to the join page; they join with the
leader's token and the fake camera. The leader ends the apel: the page says so in its own language
("Apel telah selesai.", not an English "wrong token" refusal) and stops trying to join again."""
from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from attendance.i18n import t
from tests.app.live.conftest import build_live_world

from .cdp import Browser

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COUNT_JOINS = """(() => { window.__joins = 0; const f = window.fetch;
  window.fetch = (url, opts) => { if (String(url).includes('/office/join')) window.__joins += 1; return f(url, opts); };
  return true; })()"""


async def test_operator_finds_the_apel_joins_and_is_told_it_ended(chromium, sqlite_url, settings_factory,
                                                                   tmp_path) -> None:
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", ["--use-fake-ui-for-media-stream",
                                                    "--use-fake-device-for-media-stream"])
    try:
        await browser.start()
        page = await browser.new_page()
        await page.login(world.url, "operator", world.users["operator"], page="/live/join")
        await page.goto(f"{world.url}/")
        await page.eval("document.querySelector('nav.mainnav a[href=\"/live\"]').click()")   # the menu entry
        assert await page.wait_for("document.getElementById('operator-apels') && location.pathname === '/live'", 20)
        row = await page.eval("document.querySelector('#operator-apels tbody tr').textContent")
        assert "Apel pagi" in row and world.office_code in row
        await page.eval("document.querySelector('#operator-apels a.btn').click()")   # Join
        assert await page.wait_for("location.pathname === '/live/join' && document.readyState === 'complete'"
                                   " && document.getElementById('office').value", 20) == world.office_code
        await page.eval(f"document.getElementById('token').value = '{world.tokens[world.office_code]}';"
                        "document.getElementById('join-form').requestSubmit(); true")
        assert await page.wait_for("document.getElementById('status').dataset.state === 'connected'", 40), \
            (await page.eval("document.getElementById('status').textContent"), page.console[-5:])
        await page.eval(COUNT_JOINS)

        leader = await asyncio.to_thread(world.login, "leader")
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
        assert r.status_code == 200, r.text
        state = await page.wait_for("document.getElementById('status').dataset.state === 'closed' && 'closed'", 45)
        text = await page.eval("document.getElementById('status').textContent")
        lang = await page.eval("document.documentElement.lang")
        assert state == "closed", text
        assert text == t("live.status.closed", lang)
        joins = await page.eval("window.__joins")
        await asyncio.sleep(6)   # the retry backoff starts at 1 s: a page still trying would have tried again
        assert await page.eval("window.__joins") == joins
        assert await page.eval("document.getElementById('status').dataset.state") == "closed"
    finally:
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
