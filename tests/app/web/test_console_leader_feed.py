"""APEL_MEDIA=janus: the read-only console hears and sees the leader, as the embedded mode's observer
connection does (the mosaic and the leader's audio), through Apel's own endpoints
(`/api/v1/live/assemblies/{id}/leader-feed`, its `/answer` and `/close`), never Janus's API. Real parts: a
real Janus, a running Apel, the leader a real aiortc peer publishing a tone and moving bars through
Apel's leader endpoint, the observer's and HR's subscriptions real aiortc peers that receive them."""
from __future__ import annotations

import asyncio
import fractions
from collections.abc import Generator
from typing import Any, cast

import av
import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from attendance.roster.users import create_user
from media.client import connect_peer
from tests.app.live.conftest import build_live_world
from tests.app.web.test_office_video_api import janus_settings
from tests.media.helpers import PatternTrack, wait_for

pytestmark = [pytest.mark.slow]

OBSERVER_PASSWORD = "observer-pass-1234"
RATE = 48000
SAMPLES = 960   # 20 ms, Opus's frame


class ToneTrack(MediaStreamTrack):
    """The leader's voice: a 440 Hz tone, so the receiver can tell sound from Opus's silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start = 0.0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self.n == 0:
            self.start = loop.time()
        delay = self.start + self.n * SAMPLES / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(SAMPLES) + self.n * SAMPLES) / RATE
        pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.n * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self.n += 1
        return frame


class Received:
    """What a subscriber gets of the leader: video frames and their sizes, audio frames and their loudest sample."""

    def __init__(self) -> None:
        self.video = 0
        self.sizes: set[tuple[int, int]] = set()
        self.audio = 0
        self.loudest = 0
        self.tasks: list[asyncio.Task[None]] = []

    def on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.ensure_future(self._run(track)))

    async def _run(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.audio += 1
                    self.loudest = max(self.loudest, int(np.abs(frame.to_ndarray().astype(np.int32)).max()))
                elif isinstance(frame, av.VideoFrame):
                    self.video += 1
                    self.sizes.add((frame.width, frame.height))
        except (MediaStreamError, asyncio.CancelledError):
            pass

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _add_observer(world) -> None:
    with world.server.app.state.session_factory() as db:
        create_user(db, actor="test", username="observer", password=OBSERVER_PASSWORD, role="observer")
        db.commit()
    world.users["observer"] = OBSERVER_PASSWORD


def feed_url(world, tail: str = "", assembly_id: int | None = None) -> str:
    return f"{world.url}/api/v1/live/assemblies/{assembly_id or world.assembly_id}/leader-feed{tail}"


async def leader_offer(http: httpx.AsyncClient, world, headers: dict, console: str) -> dict:
    r = await http.post(feed_url(world), headers=headers, json={"console": console})
    assert r.status_code == 200, r.text
    offer = dict(r.json())
    # Janus's offer of the leader's sound and picture, and nothing else of Janus.
    assert set(offer) == {"sdp", "type", "assembly_id", "subscription"} and offer["type"] == "offer", offer
    assert "m=audio" in offer["sdp"] and "m=video" in offer["sdp"]
    return offer


async def answer(http: httpx.AsyncClient, world, headers: dict, console: str, offer: dict,
                 received: Received) -> RTCPeerConnection:
    sub = RTCPeerConnection()
    try:
        sub.on("track", received.on_track)
        await sub.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await sub.setLocalDescription(await sub.createAnswer())
        r = await http.post(feed_url(world, "/answer"), headers=headers,
                            json={"console": console, "subscription": offer["subscription"],
                                  "sdp": sub.localDescription.sdp, "type": "answer"})
        assert r.status_code == 200, r.text
    except BaseException:
        await sub.close()
        raise
    return sub


async def test_read_only_console_hears_and_sees_the_leader(sqlite_url, settings_factory, janus) -> None:
    gen = cast(Generator[Any, None, None], build_live_world(sqlite_url, settings_factory, {}, **janus_settings(janus)))
    world = await asyncio.to_thread(next, gen)
    pcs: list[RTCPeerConnection] = []
    heard, hr_heard = Received(), Received()
    try:
        await asyncio.to_thread(_add_observer, world)
        observer = await asyncio.to_thread(world.login, "observer")
        leader = await asyncio.to_thread(world.login, "leader")
        hr = await asyncio.to_thread(world.login, "hr")
        operator = await asyncio.to_thread(world.login, "operator")
        async with httpx.AsyncClient(timeout=60) as http:
            # The read-only console's page has the leader's panel; the leader's own console does not.
            page = await http.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=observer)
            assert page.status_code == 200 and 'id="leader-panel"' in page.text, page.text[:300]
            page = await http.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=leader)
            assert page.status_code == 200 and 'id="leader-panel"' not in page.text
            # Refusals come from Apel before Janus hears of anything: not a console role, no such apel.
            for headers, status in (({}, 401), (operator, 403)):
                for tail, body in (("", {}), ("/answer", {"subscription": "x", "sdp": "v=0", "type": "answer"}),
                                   ("/close", {"subscription": "x"})):
                    r = await http.post(feed_url(world, tail), headers=headers, json=body)
                    assert r.status_code == status, (tail, r.status_code, r.text)
            r = await http.post(feed_url(world, assembly_id=world.assembly_id + 999), headers=observer, json={})
            assert r.status_code == 404 and r.json()["detail"]["code"] == "no_such_apel", r.text
            # The leader is not sending yet: a clear 409 to ask again on, not an offer of nothing.
            r = await http.post(feed_url(world), headers=observer, json={"console": "obs"})
            assert r.status_code == 409 and r.json()["detail"]["code"] == "leader_not_live", r.text

            async def leader_signal(offer: dict) -> dict:
                r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader",
                                    headers=leader, json=offer)
                assert r.status_code == 200, r.text
                return dict(r.json())

            lpc, _ = await connect_peer(leader_signal, send_video=PatternTrack((640, 360)), send_audio=ToneTrack(),
                                        receive_video=True)
            pcs.append(lpc)
            live = world.server.app.state.live
            room = live.media.rooms[str(world.assembly_id)]
            assert await wait_for(lambda: room.leader is not None and room.leader.connected.is_set(), 20)

            # The observer: Janus's offer of the leader's feed, through Apel; asking again (a reload)
            # replaces the console's subscription instead of adding one.
            first = await leader_offer(http, world, observer, "obs")
            offer = await leader_offer(http, world, observer, "obs")
            assert list(room.watchers) == [offer["subscription"]] and first["subscription"] not in room.watchers
            # Another user can neither answer nor close it.
            r = await http.post(feed_url(world, "/close"), headers=hr,
                                json={"console": "obs", "subscription": offer["subscription"]})
            assert r.status_code == 404, r.text
            pcs.append(await answer(http, world, observer, "obs", offer, heard))
            # HR's read-only console too, a subscription of its own.
            hr_offer = await leader_offer(http, world, hr, "hr")
            pcs.append(await answer(http, world, hr, "hr", hr_offer, hr_heard))

            assert await wait_for(lambda: heard.video >= 10 and heard.audio >= 50, 30), (heard.video, heard.audio)
            assert heard.sizes == {(640, 360)}
            assert heard.loudest > 3000, heard.loudest   # the tone, not silence
            assert await wait_for(lambda: hr_heard.video >= 10 and hr_heard.audio >= 50, 30)
            assert (live.media_status(world.assembly_id) or {})["observers"] == 2

            # Closed by the console: Janus stops sending; HR's hangs up (its page closed): released too.
            r = await http.post(feed_url(world, "/close"), headers=observer,
                                json={"console": "obs", "subscription": offer["subscription"]})
            assert r.status_code == 200 and r.json()["closed"] is True, r.text
            assert offer["subscription"] not in room.watchers
            await pcs.pop().close()
            assert await wait_for(lambda: not room.watchers, 20), room.watchers

            # The apel ended: refused, and the room is gone.
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
            assert r.status_code == 200, r.text
            r = await http.post(feed_url(world), headers=observer, json={"console": "obs"})
            assert r.status_code == 409 and r.json()["detail"]["code"] == "apel_not_open", r.text
    finally:
        await heard.stop()
        await hr_heard.stop()
        for p in pcs:
            await p.close()
        await asyncio.to_thread(gen.close)


def test_console_leader_feed_is_for_janus_mode_only(sqlite_url, settings_factory) -> None:
    """The embedded mode sends the leader on the read-only console's own connection (`.../observe`, with
    the mosaic): the endpoint says so, and the console page shows no leader panel."""
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = next(gen)
    try:
        _add_observer(world)
        observer = world.login("observer")
        r = httpx.post(feed_url(world), headers=observer, json={"console": "obs"}, timeout=30)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "janus_mode_only", r.text
        page = httpx.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=observer, timeout=30)
        assert page.status_code == 200 and 'id="leader-panel"' not in page.text
    finally:
        gen.close()
