"""APEL_MEDIA=janus: the read-only observer's console gets the office video the embedded mode's observer
sees in its mosaic (docs/roster.md), through the same Apel endpoints as the leader's, but never the
overlay stream that names people. Real parts: a real Janus, a running Apel, the office a real aiortc
peer publishing through Apel's join endpoint, the observer's subscription a real aiortc peer that
receives the office's frames."""
from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any, cast

import httpx
import pytest
from aiortc import RTCPeerConnection

from attendance.roster.users import create_user
from tests.app.live.conftest import build_live_world
from tests.app.web.test_office_video_api import (
    answer_offer,
    first_overlay,
    janus_settings,
    office_offer,
    publish_office,
    video_url,
)
from tests.media.helpers import Collector, wait_for

pytestmark = [pytest.mark.slow]

OBSERVER_PASSWORD = "observer-pass-1234"


def _add_observer(world) -> None:
    with world.server.app.state.session_factory() as db:
        create_user(db, actor="test", username="observer", password=OBSERVER_PASSWORD, role="observer")
        db.commit()
    world.users["observer"] = OBSERVER_PASSWORD


async def test_observer_gets_the_video_never_the_names(sqlite_url, settings_factory, janus) -> None:
    gen = cast(Generator[Any, None, None], build_live_world(sqlite_url, settings_factory, {}, **janus_settings(janus)))
    world = await asyncio.to_thread(next, gen)
    pcs: list[RTCPeerConnection] = []
    collector = Collector()
    try:
        await asyncio.to_thread(_add_observer, world)
        observer = await asyncio.to_thread(world.login, "observer")
        leader = await asyncio.to_thread(world.login, "leader")
        operator = await asyncio.to_thread(world.login, "operator")
        async with httpx.AsyncClient(timeout=60) as http:
            # The console page tells office_video.js what this user may have: the picture alone.
            page = await http.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=observer)
            assert page.status_code == 200 and 'data-office-video="plain"' in page.text, page.text[:500]
            assert 'data-media="janus"' in page.text   # so console.js asks for no mosaic, which this mode has not
            page = await http.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=leader)
            assert 'data-office-video="names"' in page.text

            pcs.append(await publish_office(world))
            room = world.server.app.state.live.media.rooms[str(world.assembly_id)]
            publisher = room.offices["OPD1"]
            assert await wait_for(publisher.connected.is_set, 20)

            # The overlay names people: refused to the observer before anything is streamed; the leader has it.
            status, body = await first_overlay(world, observer)
            assert status == 403 and body is not None and body["detail"]["code"] == "observer_no_people", (status, body)
            assert (await first_overlay(world, leader))[0] == 200
            # An operator still gets no office video.
            assert (await http.post(video_url(world), headers=operator, json={})).status_code == 403
            assert room.watchers == {}

            # The observer: Janus's offer of the office's video only, through Apel.
            offer = await office_offer(http, world, observer, console="obs")
            assert len(room.watchers) == 1
            # Another user cannot answer or close the observer's subscription.
            r = await http.post(video_url(world, tail="/close"), headers=leader,
                                json={"console": "obs", "subscription": offer["subscription"]})
            assert r.status_code == 404, r.text

            pcs.append(await answer_offer(http, world, observer, offer, collector, console="obs"))
            assert await wait_for(lambda: collector.frames >= 10, 20), collector.frames
            assert collector.sizes == {(640, 360)}

            # The tiles' stills are the same picture: the observer has them too.
            preview = f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/OPD1/preview"
            assert await wait_for(lambda: publisher.tap is not None and publisher.tap.latest is not None, 20)
            r = await http.get(preview, headers=observer)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text[:200]

            r = await http.post(video_url(world, tail="/close"), headers=observer,
                                json={"console": "obs", "subscription": offer["subscription"]})
            assert r.status_code == 200 and r.json()["closed"] is True, r.text
            assert room.watchers == {}
    finally:
        collector.stop()
        for p in pcs:
            await p.close()
        await asyncio.to_thread(gen.close)
