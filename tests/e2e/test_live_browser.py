"""A real headless Chromium joins from the office page with its fake camera playing a synthetic office
(.y4m); a second page is the leader's console. The enrolled people must appear present on the console;
a screenshot of it is saved to tests/_artifacts/."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.app.live.conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip

from .cdp import Browser, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"


async def test_office_page_joins_and_console_shows_people_present(chromium, sqlite_url, settings_factory,
                                                                 shared_data, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office.y4m", fps=15, max_seconds=8)
    gen = build_live_world(sqlite_url, settings_factory, photos, min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", fake_camera(y4m))
    try:
        await browser.start()
        office = await browser.new_page()
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])

        console = await browser.new_page()
        await console.login(world.url, "leader", world.users["leader"], page="/live/join")
        await console.goto(f"{world.url}/live/assemblies/{world.assembly_id}")
        ids = sorted(world.people.values())
        marked = ("(() => { const ids = " + json.dumps(ids) + "; return ids.every(id => {"
                  " const li = document.querySelector(`li[data-employee-id=\"${id}\"]`);"
                  " return li && ['present', 'late'].includes(li.dataset.status); }); })()")
        ok = await console.wait_for(marked, 120, 0.5)
        await console.eval("new Promise(r => setTimeout(r, 1500))")   # let the mosaic show the overlays
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await console.screenshot(ARTIFACTS / "live_console.png")
        people = await console.eval("[...document.querySelectorAll('li[data-employee-id]')]"
                                    ".map(li => [li.dataset.employeeId, li.dataset.status])")
        assert ok, f"console shows {people}; office page log {office.console[-5:]}"
        # the office feed reached the server at a usable size and the console received the mosaic
        media = world.server.app.state.live.media_status(world.assembly_id)
        feed = media["offices"][0]
        assert feed["connected"] and feed["frames"] > 30 and feed["resolution"][0] >= 640
        assert await console.eval("document.getElementById('mosaic').videoWidth") > 0
        leader_rows = await console.eval("document.querySelector('#offices-table tbody tr').dataset.office")
        assert leader_rows == world.office_code
        # The leader ends the apel: the console no longer offers "Akhiri apel" nor shows a live feed.
        assert await console.eval("document.getElementById('end-apel').hidden") is False
        ended = await console.eval(f"Live.postJSON('/api/v1/assemblies/{world.assembly_id}/end', {{}})"
                                   ".then(() => 'ok', (e) => String(e))")
        assert ended == "ok", ended
        after = ("document.getElementById('end-apel').hidden && [...document.querySelectorAll("
                 "'#offices-table td[data-feed]')].every(td => td.dataset.feed === 'ended') && 'yes'")
        assert await console.wait_for(after, 30, 0.5) == "yes", await console.eval(
            "document.querySelector('#offices-table tbody').innerText")
    finally:
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
