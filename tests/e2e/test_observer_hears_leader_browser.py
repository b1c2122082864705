"""APEL_MEDIA=janus in a real browser, as an observer: the read-only console plays the leader (sound and
picture) in its leader panel, received from Janus through Apel's `.../leader-feed` endpoints, as the
embedded mode's observer connection carries the leader's audio with the mosaic. Before the leader sends,
the panel says it waits for the leader (in Indonesian and English) and asks again; when the leader hangs
up it says so again and plays the leader's return. The leader is a real aiortc peer (a tone and moving
bars)."""
from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Generator
from typing import Any, cast

import httpx
import pytest
from aiortc import RTCPeerConnection

from attendance.i18n import t
from attendance.roster.users import create_user
from media.client import connect_peer
from tests.app.live.conftest import build_live_world
from tests.app.web.test_console_leader_feed import ToneTrack
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import PatternTrack

from .cdp import Browser
from .test_console_grid_browser import ARTIFACTS, click

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PANEL = "document.getElementById('leader-panel')"
VIDEO = "document.getElementById('leader-video')"
PASSWORD = "observer-pass-1234"


async def _leader(world, headers: dict) -> RTCPeerConnection:
    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader", headers=headers,
                                json=offer)
        assert r.status_code == 200, r.text
        return dict(r.json())

    pc, _ = await connect_peer(signal, send_video=PatternTrack((640, 360)), send_audio=ToneTrack(), receive_video=True)
    return pc


async def test_observer_console_plays_the_leader(chromium, sqlite_url, settings_factory, janus, tmp_path) -> None:
    gen = cast(Generator[Any, None, None], build_live_world(
        sqlite_url, settings_factory, {}, media="janus", janus_url=janus.url, janus_api_secret=API_SECRET,
        janus_admin_key=ADMIN_KEY))
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", [])
    leader_pc: RTCPeerConnection | None = None
    try:
        with world.server.app.state.session_factory() as db:
            create_user(db, actor="test", username="observer", password=PASSWORD, role="observer")
            db.commit()
        leader = await asyncio.to_thread(world.login, "leader")
        await browser.start()
        page = await browser.new_page()
        await page.login(world.url, "observer", PASSWORD, page="/live/join")

        # No leader yet: the panel says what it waits for, in the page's language, and shows no black box.
        for lang in ("id", "en"):
            await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang={lang}")
            said = await page.wait_for(f"{PANEL}.dataset.state === 'waiting_leader'"
                                       " && document.getElementById('leader-msg').textContent", 20)
            assert said == t("console_leader.waiting_leader", lang), (lang, said, page.console[-5:])
            assert await page.eval(f"{VIDEO}.hidden && getComputedStyle({VIDEO}).display === 'none'")

        # The leader starts: asked again within 3 s (or at once on the leader's join), then plays.
        t_leader = time.monotonic()
        leader_pc = await _leader(world, leader)
        width = await page.wait_for(f"{PANEL}.dataset.state === 'playing' && {VIDEO}.videoWidth", 30, 0.5)
        assert width == 640, (await page.eval(f"[{PANEL}.dataset.state, {PANEL}.innerText]"), page.console[-5:])
        print(f"observer console: the leader's offer to the panel playing {time.monotonic() - t_leader:.1f} s")
        assert await page.eval(f"{VIDEO}.srcObject.getAudioTracks().length") == 1
        audio0 = int(await page.eval(f"{PANEL}.dataset.audio"))
        t0 = await page.eval(f"{VIDEO}.currentTime")
        await asyncio.sleep(1.5)
        assert await page.eval(f"{VIDEO}.currentTime") > t0
        assert int(await page.eval(f"{PANEL}.dataset.audio")) > audio0   # the leader's sound keeps coming
        # Sound: played at once, or (the browser holds it back until a press) the panel's button brings it.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "observer_leader_panel.png")
        sound = await page.eval(f"{PANEL}.dataset.sound")
        print(f"observer console: the leader's sound {sound} when it started")
        if sound == "held":
            assert not await page.eval("document.getElementById('leader-sound').hidden")
            await click(page, "#leader-sound")
            assert await page.wait_for(f"{PANEL}.dataset.sound === 'on'", 10)
        assert await page.eval(f"!{VIDEO}.muted && !{VIDEO}.paused")
        room = world.server.app.state.live.media.rooms[str(world.assembly_id)]
        assert [w.office_key for w in room.watchers.values()] == [None]   # one subscription: the leader's

        # The leader hangs up: the panel says it waits again, the subscription is released; the leader's
        # return plays.
        await leader_pc.close()
        leader_pc = None
        assert await page.wait_for(f"{PANEL}.dataset.state === 'waiting_leader'", 20), \
            await page.eval(f"[{PANEL}.dataset.state, {PANEL}.innerText]")
        for _ in range(50):
            if not room.watchers:
                break
            await asyncio.sleep(0.2)
        assert room.watchers == {}, room.watchers
        leader_pc = await _leader(world, leader)
        assert await page.wait_for(f"{PANEL}.dataset.state === 'playing' && {VIDEO}.videoWidth", 30, 0.5) == 640
    finally:
        if leader_pc is not None:
            await leader_pc.close()
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
