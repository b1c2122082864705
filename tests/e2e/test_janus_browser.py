"""APEL_MEDIA=janus in a real browser: headless Chromium joins from the unchanged office page with its
fake camera playing a synthetic office of real photos; the video reaches Janus through Apel's join
endpoint and comes back to Apel by Janus's RTP forward. The leader (an aiortc peer) publishes once,
and the page, told by the join's answer, receives the leader on its second connection through Apel's
leader-feed endpoints."""
from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest

from media.client import connect_peer
from tests.app.live.conftest import build_live_world, office_clip
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import PatternTrack, wait_for

from .cdp import Browser, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]


async def test_office_page_joins_through_janus_and_receives_the_leader(chromium, sqlite_url, settings_factory,
                                                                       shared_data, janus, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office.y4m", fps=15, max_seconds=8)
    gen = build_live_world(sqlite_url, settings_factory, photos, media="janus", janus_url=janus.url,
                           janus_api_secret=API_SECRET, janus_admin_key=ADMIN_KEY)
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", fake_camera(y4m))
    pcs = []
    try:
        await browser.start()
        office = await browser.new_page()
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])
        live = world.server.app.state.live

        def frames() -> int:
            media = live.media_status(world.assembly_id) or {"offices": []}
            return sum(o["frames"] for o in media["offices"] if o["connected"])

        assert await wait_for(lambda: frames() > 30, 30), (live.media_status(world.assembly_id), office.console)
        assert live.media_status(world.assembly_id)["media"] == "janus"

        # the leader publishes once; the page subscribes on its own and shows it
        leader = await asyncio.to_thread(world.login, "leader")

        async def signal(offer: dict) -> dict:
            async with httpx.AsyncClient(timeout=60) as http:
                r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader",
                                    headers=leader, json=offer)
            assert r.status_code == 200, r.text
            return dict(r.json())

        pc, _ = await connect_peer(signal, send_video=PatternTrack((640, 360)), receive_video=True)
        pcs.append(pc)
        width = await office.wait_for("document.getElementById('leader').videoWidth || 0", 40, 0.5)
        assert width == 640, office.console
    finally:
        for p in pcs:
            await p.close()
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
