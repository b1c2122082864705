"""APEL_MEDIA=janus in a real browser, as an observer: the read-only console opens an office large and
plays its video (received from Janus through Apel's endpoints, as the leader's does), with no overlay
stream asked for and nothing drawn over the picture; its note says the picture comes without names.
The office joins with a real aiortc sender; the tile shows the office's still. The console's own
connection has no mosaic to receive in this mode: it is never asked for (its 501 was once retried
forever), and the status line says where the video is instead."""
from __future__ import annotations

import asyncio
import shutil
from collections.abc import Generator
from typing import Any, cast

import pytest

from attendance.i18n import t
from attendance.roster.users import create_user
from tests.app.live.conftest import build_live_world
from tests.janus_server import ADMIN_KEY, API_SECRET

from .cdp import Browser
from .test_console_grid_browser import click, join_office, synthetic_clip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOX = "document.querySelector('#office-detail .office-video')"
VIDEO = f"{BOX}.querySelector('video')"
PASSWORD = "observer-pass-1234"


async def test_observer_sees_the_office_video_without_names(chromium, sqlite_url, settings_factory, janus,
                                                            tmp_path) -> None:
    gen = cast(Generator[Any, None, None], build_live_world(
        sqlite_url, settings_factory, {}, extra_offices=1, media="janus", janus_url=janus.url,
        janus_api_secret=API_SECRET, janus_admin_key=ADMIN_KEY))
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", [])
    office_pc = None
    try:
        with world.server.app.state.session_factory() as db:
            create_user(db, actor="test", username="observer", password=PASSWORD, role="observer")
            db.commit()
        office_pc = await join_office(world, await asyncio.to_thread(synthetic_clip, tmp_path / "office.avi"))
        room = world.server.app.state.live.media.rooms[str(world.assembly_id)]
        await browser.start()
        page = await browser.new_page()
        await page.login(world.url, "observer", PASSWORD, page="/live/join")
        await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang=en")
        feed = await page.wait_for("(() => { const t = document.querySelector('.office-tile[data-office=\"OPD1\"]');"
                                   " return t && t.dataset.feed === 'ok' && 'ok'; })()", 40)
        assert feed == "ok", page.console[-5:]
        still = await page.wait_for("(() => { const i = document.querySelector('.office-tile[data-office=\"OPD1\"]"
                                    " .tile-preview'); return i && !i.hidden && i.naturalWidth; })()", 20)
        assert still == 320, (still, page.console[-5:])

        await click(page, '#office-grid .office-tile[data-office="OPD1"]')
        width = await page.wait_for(f"{BOX} && {BOX}.dataset.state === 'playing' && {VIDEO}.videoWidth", 40, 0.5)
        assert width == 640, (await page.eval(f"{BOX} && [{BOX}.dataset.state, {BOX}.innerText]"), page.console[-5:])
        t0 = await page.eval(f"{VIDEO}.currentTime")
        await asyncio.sleep(1.5)
        assert await page.eval(f"{VIDEO}.currentTime") > t0
        assert len(room.watchers) == 1
        note = await page.eval("document.querySelector('#office-detail .detail-media').textContent")
        assert note == t("observer_video.note", "en"), note
        # No overlay stream was asked for, and nothing is drawn over the picture.
        asked = await page.eval("performance.getEntriesByType('resource').map(e => e.name)"
                                ".filter(n => n.includes('/overlay')).length")
        assert asked == 0
        assert await page.eval(f"{BOX}.dataset.boxes === undefined")
        painted = await page.eval(
            f"(() => {{ const c = {BOX}.querySelector('canvas'); if (!c.width) return 0;"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()")
        assert painted == 0, painted

        # Seconds after loading: the mosaic was never asked for, and the status line says why.
        observe = await page.eval("performance.getEntriesByType('resource').map(e => e.name)"
                                  ".filter(n => n.endsWith('/observe')).length")
        assert observe == 0, observe
        status = await page.eval("[document.getElementById('status').dataset.state,"
                                 " document.getElementById('status').textContent]")
        assert status == ["no-mosaic", t("console_observer.no_mosaic", "en")], status

        await click(page, "#office-detail-close")
        assert await page.wait_for("document.getElementById('office-detail').hidden", 10)
        for _ in range(50):
            if not room.watchers:
                break
            await asyncio.sleep(0.2)
        assert room.watchers == {}, room.watchers
    finally:
        if office_pc is not None:
            await office_pc.close()
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
