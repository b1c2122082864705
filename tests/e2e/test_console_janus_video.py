"""APEL_MEDIA=janus in a real browser: the leader's console opens an office large and plays its video,
received from Janus through Apel's endpoints, with the overlays (names, masks, distancing boxes) drawn
over it on a canvas from the office's overlay stream. The office joins from the unchanged join page in
headless Chromium, its fake camera playing a synthetic office made of real photos, so vision names its
people and the overlay has boxes to draw. The tiles of offices that send show a still of their video.
An office that sends nothing and a Janus that goes away are said in the large view, never a silent
black box; closing the large view closes the subscription. An operator or nobody logged in is refused the
subscription (403/401)."""
from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from tests.app.live.conftest import build_live_world, office_clip
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import wait_for

from .cdp import Browser, fake_camera
from .test_console_grid_browser import ARTIFACTS, click
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]

BOX = "document.querySelector('#office-detail .office-video')"
VIDEO = f"{BOX}.querySelector('video')"


async def test_leader_sees_the_office_large_with_its_overlays_through_janus(chromium, sqlite_url, settings_factory,
                                                                            shared_data, janus, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office.y4m", fps=15, max_seconds=8)
    gen = build_live_world(sqlite_url, settings_factory, photos, extra_offices=1, media="janus", janus_url=janus.url,
                           janus_api_secret=API_SECRET, janus_admin_key=ADMIN_KEY)
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", fake_camera(y4m))
    try:
        await browser.start()
        office = await browser.new_page()
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])
        live = world.server.app.state.live
        room = live.media.rooms[str(world.assembly_id)]

        # No console role (an operator, nobody logged in): refused the office's video before Janus hears of it.
        operator = await asyncio.to_thread(world.login, "operator")
        url = f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/OPD1/video"
        async with httpx.AsyncClient(timeout=30) as http:
            for who, headers, status in (("anonymous", {}, 401), ("operator", operator, 403)):
                r = await http.post(url, headers=headers, json={})
                assert r.status_code == status, (who, r.text)
        assert room.watchers == {}

        page = await browser.new_page()
        await page.login(world.url, "leader", world.users["leader"], page="/live/join")
        await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang=en")
        feed = await page.wait_for("(() => { const t = document.querySelector('.office-tile[data-office=\"OPD1\"]');"
                                   " return t && t.dataset.feed === 'ok' && 'ok'; })()", 40)
        assert feed == "ok", page.console[-5:]
        # The office's tile shows a still of its video (renewed every few seconds); the one not sending none.
        still = await page.wait_for("(() => { const i = document.querySelector('.office-tile[data-office=\"OPD1\"]"
                                    " .tile-preview'); return i && !i.hidden && i.naturalWidth; })()", 20)
        assert still == 320, (still, page.console[-5:])
        assert await page.eval("!document.querySelector('.office-tile[data-office=\"OPD2\"] .tile-preview')")

        # A click opens OPD1 large: its video plays (a picture, and its clock advancing).
        await click(page, '#office-grid .office-tile[data-office="OPD1"]')
        width = await page.wait_for(f"{BOX} && {BOX}.dataset.state === 'playing' && {VIDEO}.videoWidth", 40, 0.5)
        assert width and width > 0, (await page.eval(f"{BOX} && [{BOX}.dataset.state, {BOX}.innerText]"),
                                     page.console[-5:])
        t0 = await page.eval(f"{VIDEO}.currentTime")
        await asyncio.sleep(1.5)
        t1 = await page.eval(f"{VIDEO}.currentTime")
        assert t1 > t0, (t0, t1)
        assert len(room.watchers) == 1
        note = await page.eval("document.querySelector('#office-detail .detail-media').textContent")
        assert "Janus" in note and "not available" not in note, note

        # The overlays: what vision found (named faces) drawn over the video on the canvas.
        boxes = await page.wait_for(f"+{BOX}.dataset.boxes", 120, 0.5)
        assert boxes and boxes > 0, (await page.eval(f"{BOX}.dataset.caption"), page.console[-5:])
        painted = await page.wait_for(
            f"(() => {{ const c = {BOX}.querySelector('canvas'); if (!c.width) return 0;"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()", 10)
        assert painted and painted > 100, painted
        geometry = await page.eval(f"(() => {{ const v = {VIDEO}.getBoundingClientRect(),"
                                   f" c = {BOX}.querySelector('canvas').getBoundingClientRect();"
                                   " return [v.left - c.left, v.top - c.top, v.width - c.width, v.height - c.height]"
                                   ".map(Math.round); })()")
        assert geometry == [0, 0, 0, 0], geometry   # the canvas lies exactly over the video
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "console_janus_video.png")

        # An office that sends nothing: said in the large view, no black video.
        await click(page, '#office-grid .office-tile[data-office="OPD2"]')
        state = await page.wait_for(f"{BOX}.dataset.office === 'OPD2' && {BOX}.dataset.state === 'not_publishing'"
                                    f" && {BOX}.innerText", 20)
        assert state and "not sending video" in state, state
        assert await page.eval(f"{VIDEO}.hidden")
        # Opening another office closed OPD1's subscription; closing the large view leaves none.
        assert await wait_for(lambda: room.watchers == {}, 10), room.watchers
        await click(page, '#office-grid .office-tile[data-office="OPD1"]')
        assert await page.wait_for(f"{BOX}.dataset.office === 'OPD1' && {BOX}.dataset.state === 'playing'", 40)
        assert len(room.watchers) == 1
        await click(page, "#office-detail-close")
        assert await wait_for(lambda: room.watchers == {}, 10), room.watchers

        # Janus goes away with the large view open: the view says so.
        await click(page, '#office-grid .office-tile[data-office="OPD1"]')
        assert await page.wait_for(f"{BOX}.dataset.state === 'playing'", 40)
        await asyncio.to_thread(janus.stop)
        said = await page.wait_for(f"{BOX}.dataset.state === 'janus_down' && {BOX}.innerText", 20)
        assert said and "Janus" in said, (await page.eval(f"[{BOX}.dataset.state, {BOX}.innerText]"))
        assert await page.eval(f"{VIDEO}.hidden")
    finally:
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
