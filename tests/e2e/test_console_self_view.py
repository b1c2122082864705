"""The leader's console in a real headless Chromium: the leader's own picture sits in the mosaic's
corner, and with no camera there is no picture at all. An empty self view (white border, nothing in
it) stood at the foot of the tall video column, left of "Wajah yang belum dikenali"."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.app.live.conftest import build_live_world

from .cdp import Browser

pytestmark = [pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"

# Every visible box of the self view, and the mosaic's.
RECTS = """(() => { const r = (id) => { const e = document.getElementById(id); const b = e.getBoundingClientRect();
  return {hidden: e.hidden || getComputedStyle(e).display === 'none' || b.width === 0, x: b.left, y: b.top,
          w: b.width, h: b.height, stream: !!e.srcObject}; };
  return {self: r('self'), mosaic: r('mosaic')}; })()"""


async def _console(world, browser: Browser):
    page = await browser.new_page()
    await page.login(world.url, "leader", world.users["leader"], page="/live/join")
    await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}")
    await page.wait_for("document.querySelector('#faces h2') && document.getElementById('status').dataset.state"
                        " !== 'idle'", 20)
    return page


async def test_self_view_is_in_the_mosaic_corner_or_absent(chromium, sqlite_url, settings_factory, tmp_path) -> None:
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = await asyncio.to_thread(next, gen)
    no_camera = Browser(tmp_path / "no-camera", [])
    with_camera = Browser(tmp_path / "camera", ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"])
    try:
        await no_camera.start()
        page = await _console(world, no_camera)
        await asyncio.sleep(1.5)   # getUserMedia has failed by now (no device): the page retries
        rects = await page.eval(RECTS)
        assert rects["self"]["hidden"] and not rects["self"]["stream"], rects
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "console_no_camera.png")

        await with_camera.start()
        page = await _console(world, with_camera)
        assert await page.wait_for("document.getElementById('self').srcObject && !document.getElementById('self')"
                                   ".hidden && 'yes'", 20) == "yes"
        await page.eval("new Promise(r => setTimeout(r, 500))")
        rects = await page.eval(RECTS)
        s, m = rects["self"], rects["mosaic"]
        cx, cy = s["x"] + s["w"] / 2, s["y"] + s["h"] / 2
        assert m["x"] <= cx <= m["x"] + m["w"] and m["y"] <= cy <= m["y"] + m["h"], rects   # over the mosaic
        assert s["w"] < m["w"] / 2, rects
    finally:
        await no_camera.close()
        await with_camera.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "no-camera", ignore_errors=True)
        shutil.rmtree(tmp_path / "camera", ignore_errors=True)
