"""APEL_MEDIA=janus: the leader's console subscribes to the office it opens large, through Apel's own
endpoints (`/api/v1/live/assemblies/{id}/offices/{code}/video`, its `/answer` and `/close`, and the
office's `/overlay` stream), never Janus's API. With real parts: a real Janus, a running Apel, the office
a real aiortc peer publishing through Apel's join endpoint, the leader's subscription a real aiortc peer
that receives the office's frames; closing it stops them. Only leaders (and admins) may: HR, an
operator and anyone not logged in are refused before Janus hears of it."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Generator
from typing import Any, cast

import cv2
import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from app.web.schemas.office_video import OfficeOverlayOut
from media.client import connect_peer
from tests.app.live.conftest import build_live_world
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import Collector, PatternTrack, wait_for

pytestmark = [pytest.mark.slow]


def janus_settings(janus) -> dict:
    return {"media": "janus", "janus_url": janus.url, "janus_api_secret": API_SECRET, "janus_admin_key": ADMIN_KEY}


def video_url(world, office: str = "OPD1", tail: str = "") -> str:
    return f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/{office}/video{tail}"


async def publish_office(world, office: str = "OPD1") -> RTCPeerConnection:
    """The office as a browser's camera joins: a live encoder that answers Janus's keyframe requests."""
    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": office, "token": world.tokens[office], **offer})
        assert r.status_code == 200, r.text
        return dict(r.json())

    pc, _ = await connect_peer(signal, send_video=PatternTrack((640, 360)), receive_video=False)
    return pc


def _console(console: str | None) -> dict[str, str]:
    return {"console": console} if console is not None else {}


async def office_offer(http: httpx.AsyncClient, world, headers: dict, *, console: str | None = None,
                       office: str = "OPD1") -> dict:
    """Subscribing, first step: Janus's offer of the office's video for this console page, through Apel
    (the office's video only, no sound)."""
    r = await http.post(video_url(world, office), headers=headers, json=_console(console))
    assert r.status_code == 200, r.text
    offer = dict(r.json())
    assert offer["type"] == "offer" and offer["office"] == office, offer
    assert "m=video" in offer["sdp"] and "m=audio" not in offer["sdp"]
    return offer


async def answer_offer(http: httpx.AsyncClient, world, headers: dict, offer: dict, collector: Collector, *,
                       console: str | None = None) -> RTCPeerConnection:
    """Subscribing, second step: a real aiortc peer answers `offer` through Apel; the office's frames go
    to `collector`. The caller closes the peer."""
    sub = RTCPeerConnection()
    try:
        sub.on("track", collector.on_track)
        await sub.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await sub.setLocalDescription(await sub.createAnswer())
        r = await http.post(video_url(world, offer["office"], "/answer"), headers=headers,
                            json={**_console(console), "subscription": offer["subscription"],
                                  "sdp": sub.localDescription.sdp, "type": "answer"})
        assert r.status_code == 200, r.text
    except BaseException:
        await sub.close()
        raise
    return sub


async def first_overlay(world, headers: dict, office: str = "OPD1") -> tuple[int, dict | None]:
    """The overlay stream's status and its first event's data (it sends the current overlay at once)."""
    url = f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/{office}/overlay"
    async with httpx.AsyncClient(timeout=30) as http, http.stream("GET", url, headers=headers) as r:
        if r.status_code != 200:
            await r.aread()
            return r.status_code, r.json()
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "overlay":
                return 200, json.loads(line.split(":", 1)[1])
    return 200, None


async def test_only_the_leader_subscribes_to_an_office_and_closing_stops_it(sqlite_url, settings_factory,
                                                                            janus) -> None:
    gen = cast(Generator[Any, None, None],
               build_live_world(sqlite_url, settings_factory, {}, extra_offices=1, **janus_settings(janus)))
    world = await asyncio.to_thread(next, gen)
    pcs: list[RTCPeerConnection] = []
    collector = Collector()
    try:
        leader = await asyncio.to_thread(world.login, "leader")
        hr = await asyncio.to_thread(world.login, "hr")
        operator = await asyncio.to_thread(world.login, "operator")
        async with httpx.AsyncClient(timeout=60) as http:
            # No office publishes yet: a clear 409, not an offer of nothing.
            r = await http.post(video_url(world), headers=leader, json={})
            assert r.status_code == 409 and r.json()["detail"]["code"] == "office_not_publishing", r.text
            assert r.json()["detail"]["hint"]

            pcs.append(await publish_office(world))
            live = world.server.app.state.live
            room = live.media.rooms[str(world.assembly_id)]
            publisher = room.offices["OPD1"]
            assert await wait_for(publisher.connected.is_set, 20)

            # Not a console role: refused by Apel, and Janus gets no subscriber.
            for who, headers, status in (("anonymous", {}, 401), ("operator", operator, 403)):
                r = await http.post(video_url(world), headers=headers, json={})
                assert r.status_code == status, (who, r.status_code, r.text)
                r = await http.post(video_url(world, tail="/answer"), headers=headers,
                                    json={"subscription": "x", "sdp": "v=0", "type": "answer"})
                assert r.status_code == status, (who, r.status_code, r.text)
                assert (await first_overlay(world, headers))[0] == status, who
            assert room.watchers == {}

            # An office of the apel that sends nothing, and one that is not in it: 409, still no subscriber.
            for office in ("OPD2", "NOPE"):
                r = await http.post(video_url(world, office), headers=leader, json={})
                assert r.status_code == 409 and r.json()["detail"]["code"] == "office_not_publishing", r.text
            assert room.watchers == {}

            # The leader: Janus's offer of the office's video only (no sound), nothing of Janus but the SDP.
            offer = await office_offer(http, world, leader)
            assert set(offer) == {"sdp", "type", "assembly_id", "office", "subscription"}
            assert len(room.watchers) == 1

            # A bad answer is refused with a reason; an unknown subscription is a 404.
            r = await http.post(video_url(world, tail="/answer"), headers=leader,
                                json={"subscription": offer["subscription"], "sdp": "hello", "type": "answer"})
            assert r.status_code == 400 and r.json()["detail"]["code"] == "not_an_answer", r.text
            r = await http.post(video_url(world, tail="/answer"), headers=leader,
                                json={"subscription": "not-mine", "sdp": "v=0", "type": "answer"})
            assert r.status_code == 404 and r.json()["detail"]["code"] == "no_such_subscription", r.text
            # Another console page keeps its own subscription, and cannot answer or close this one.
            other = (await office_offer(http, world, leader, console="tab2"))["subscription"]
            assert len(room.watchers) == 2
            for tail, extra in (("/answer", {"sdp": "v=0", "type": "answer"}), ("/close", {})):
                r = await http.post(video_url(world, tail=tail), headers=leader,
                                    json={"console": "tab2", "subscription": offer["subscription"], **extra})
                assert r.status_code == 404, (tail, r.text)
            r = await http.post(video_url(world, tail="/close"), headers=leader,
                                json={"console": "tab2", "subscription": other})
            assert r.status_code == 200 and len(room.watchers) == 1, r.text

            pcs.append(await answer_offer(http, world, leader, offer, collector))
            assert await wait_for(lambda: collector.frames >= 10, 20), collector.frames
            assert collector.sizes == {(640, 360)}

            # The tile's still: a small JPEG of the office's latest frame, for the leader only.
            preview = f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/OPD1/preview"
            assert await wait_for(lambda: publisher.tap is not None and publisher.tap.latest is not None, 20)
            r = await http.get(preview, headers=leader)
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text[:200]
            still = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            assert still is not None and still.shape == (180, 320, 3), None if still is None else still.shape
            for headers, status in (({}, 401), (operator, 403), (hr, 200)):
                assert (await http.get(preview, headers=headers)).status_code == status
            r = await http.get(preview.replace("OPD1", "OPD2"), headers=leader)
            assert r.status_code == 409 and r.json()["detail"]["code"] == "office_not_publishing", r.text

            # What the console draws over it: the office's overlay, in the schema the page reads.
            status, overlay = await first_overlay(world, leader)
            assert status == 200 and overlay is not None
            OfficeOverlayOut.model_validate(overlay)
            assert overlay["office"] == "OPD1"
            assert (await first_overlay(world, hr))[0] == 200     # HR names people everywhere: the overlay too

            # The large view closes: Janus stops sending.
            r = await http.post(video_url(world, tail="/close"), headers=leader,
                                json={"subscription": offer["subscription"]})
            assert r.status_code == 200 and r.json()["closed"] is True, r.text
            assert room.watchers == {}
            await asyncio.sleep(1.0)
            before = collector.frames
            await asyncio.sleep(2.0)
            assert collector.frames - before <= 1, (before, collector.frames)
            r = await http.post(video_url(world, tail="/close"), headers=leader,
                                json={"subscription": offer["subscription"]})
            assert r.status_code == 404, r.text

            # Janus down: a clear 503 with the reason, not a dead offer.
            await asyncio.to_thread(janus.stop)
            assert await wait_for(lambda: live.media.lost is not None, 15)
            r = await http.post(video_url(world), headers=leader, json={})
            assert r.status_code == 503 and r.json()["detail"]["code"] == "janus_unreachable", r.text
    finally:
        collector.stop()
        for p in pcs:
            await p.close()
        await asyncio.to_thread(gen.close)


def test_the_office_video_is_for_janus_mode_and_console_roles_only(sqlite_url, settings_factory) -> None:
    """The embedded mode's mosaic carries every office: the endpoints say so (to the leader), and refuse
    everyone else first."""
    gen = cast(Generator[Any, None, None], build_live_world(sqlite_url, settings_factory, {}))
    world = next(gen)
    try:
        leader, operator = world.login("leader"), world.login("operator")
        r = httpx.post(video_url(world), headers=leader, json={}, timeout=30)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "janus_mode_only", r.text
        r = httpx.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/OPD1/overlay", headers=leader,
                      timeout=30)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "janus_mode_only", r.text
        r = httpx.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/offices/OPD1/preview", headers=leader,
                      timeout=30)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "janus_mode_only", r.text
        assert httpx.post(video_url(world), headers=operator, json={}, timeout=30).status_code == 403
        assert httpx.post(video_url(world), json={}, timeout=30).status_code == 401
        r = httpx.post(video_url(world, "x" * 40), headers=leader, json={}, timeout=30)
        assert r.status_code == 422, r.text
    finally:
        gen.close()
