"""APEL_MEDIA=janus end to end with real parts: a real Janus (the `janus` fixture), a running Apel, an
office that is a real aiortc peer sending a synthetic office made of real photos through Apel's own
join endpoint (the contract `apel camera` uses), the vision pipeline fed by Janus's RTP forward, the
leader publishing once and the office receiving it through Apel's proxy.

Apel's rules hold in front of Janus: a bad token is refused before Janus sees anything, and a Janus
that is down is a clear 503 `janus_unreachable` to the office and a `media_error` to the consoles."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8
from media.janus import videoroom as vr
from media.janus.client import JanusClient
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import Collector, PatternTrack, wait_for

from .conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
MARKED = {"present", "late"}


def janus_settings(janus) -> dict:
    return {"media": "janus", "janus_url": janus.url, "janus_api_secret": API_SECRET, "janus_admin_key": ADMIN_KEY}


async def participants(janus, room: int) -> list[dict]:
    """Who publishes in the room, as Janus itself says (its own API, with the test's secrets)."""
    client = JanusClient(janus.url, api_secret=API_SECRET)
    session = await client.create_session()
    try:
        control = vr.VideoRoomControl(await session.attach(), admin_key=ADMIN_KEY)
        if not await control.exists(room):
            return []
        return await control.participants(room)
    finally:
        await session.destroy()
        await client.aclose()


async def join_office(world, packets: list[bytes], token: str | None = None) -> tuple[RTCPeerConnection, dict]:
    """The office as `apel camera` joins: one offer to Apel's join endpoint, camera up only."""
    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": world.office_code, "token": token or world.tokens[world.office_code],
                                      **offer})
        if r.status_code != 200:
            raise AssertionError((r.status_code, r.json()))
        return dict(r.json())

    return await connect_peer(signal, send_video=PreEncodedTrack(packets), receive_video=False)


async def rollcall(world, headers: dict) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_office_through_janus_is_analysed_and_receives_the_leader(sqlite_url, settings_factory, shared_data,
                                                                        janus, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    packets = await asyncio.to_thread(encode_clip_vp8, str(clip), size=(1280, 720), fps=15)
    gen = build_live_world(sqlite_url, settings_factory, photos, min_confidence=LIVE_MIN_CONFIDENCE,
                           **janus_settings(janus))
    world = await asyncio.to_thread(next, gen)
    pcs: list[RTCPeerConnection] = []
    collector = Collector()
    room = world.assembly_id   # janus_room_base 0
    try:
        # A wrong token is refused by Apel with a real offer in hand, and Janus never hears of it.
        probe = RTCPeerConnection()
        pcs.append(probe)
        probe.addTransceiver(PatternTrack(), direction="sendonly")
        await probe.setLocalDescription(await probe.createOffer())
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": world.office_code, "token": "not-the-token",
                                      "sdp": probe.localDescription.sdp, "type": "offer"})
            assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_token"
            r = await http.post(f"{world.url}/api/v1/live/office/leader-feed",
                                json={"office": world.office_code, "token": "not-the-token"})
            assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_token"
        assert (await asyncio.to_thread(janus.admin, "list_sessions"))["sessions"] == []

        # The office joins through Apel: Janus's answer, and one publisher in the apel's room.
        t_join = time.monotonic()
        pc, reply = await join_office(world, packets)
        pcs.append(pc)
        assert reply["media"] == "janus" and reply["leader_feed"] == "/api/v1/live/office/leader-feed"
        assert "janus" not in reply["sdp"].lower() or "a=fingerprint" in reply["sdp"]
        assert [p["display"] for p in await participants(janus, room)] == ["OPD1 Dinas Satu"]

        # The vision pipeline sees the office's video via Janus's RTP forward: everyone is marked.
        hr = await asyncio.to_thread(world.login, "hr")
        everyone = set(world.people.values())

        async def marked() -> set[int]:
            view = await rollcall(world, hr)
            return {p["employee_id"] for o in view["offices"] for p in o["people"] if p["status"] in MARKED}

        deadline = time.monotonic() + 240
        while (seen := await marked()) != everyone:
            assert time.monotonic() < deadline, f"marked {seen} of {everyone}"
            await asyncio.sleep(0.5)
        view = await rollcall(world, hr)
        media = view["media"]
        assert media["media"] == "janus" and media["media_error"] is None
        feed = media["offices"][0]
        assert feed["connected"] and feed["frames"] > 0 and feed["resolution"] == [1280, 720]
        # The media path's share of the join: the first frame decoded from Janus's forward (the first
        # analysed frame also waits for a vision worker, which a loaded test machine makes slow).
        assert feed["join_to_first_frame_s"] is not None and feed["join_to_first_frame_s"] < 8, feed
        print(f"janus: join to first forwarded frame {feed['join_to_first_frame_s']} s, to first analysed "
              f"{feed['join_to_first_analysis_s']} s, everyone marked {time.monotonic() - t_join:.1f} s after the join")

        # The leader publishes once; the office subscribes through Apel and receives it.
        leader = await asyncio.to_thread(world.login, "leader")

        async def leader_signal(offer: dict) -> dict:
            async with httpx.AsyncClient(timeout=60) as http:
                r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader",
                                    headers=leader, json=offer)
            assert r.status_code == 200, r.text
            return dict(r.json())

        lpc, _ = await connect_peer(leader_signal, send_video=PatternTrack((640, 360)), receive_video=True)
        pcs.append(lpc)
        async with httpx.AsyncClient(timeout=60) as http:
            auth = {"office": world.office_code, "token": world.tokens[world.office_code]}
            r = await http.post(f"{world.url}{reply['leader_feed']}", json=auth)
            assert r.status_code == 200, r.text
            offer = r.json()
            assert offer["type"] == "offer" and set(offer) == {"sdp", "type", "assembly_id", "office", "subscription"}
            sub = RTCPeerConnection()
            pcs.append(sub)
            sub.on("track", collector.on_track)
            await sub.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            await sub.setLocalDescription(await sub.createAnswer())
            r = await http.post(f"{world.url}{reply['leader_feed']}/answer",
                                json={**auth, "subscription": offer["subscription"],
                                      "sdp": sub.localDescription.sdp, "type": "answer"})
            assert r.status_code == 200, r.text
        assert await wait_for(lambda: collector.frames >= 10, 20), collector.frames
        assert collector.sizes == {(640, 360)}
        publishers = sorted(p["display"] for p in await participants(janus, room))
        assert publishers == ["OPD1 Dinas Satu", "leader"]

        # Ending the apel destroys its room in Janus.
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
            assert r.status_code == 200, r.text
        live = world.server.app.state.live
        assert await wait_for(lambda: str(world.assembly_id) not in live.media.rooms, 15)
        assert await participants(janus, room) == []
    finally:
        collector.stop()
        for p in pcs:
            await p.close()
        await asyncio.to_thread(gen.close)


async def test_janus_down_is_a_clear_error_and_joins_recover(sqlite_url, settings_factory, janus) -> None:
    packets = [bytes(p) for p in await asyncio.to_thread(_pattern_packets)]
    gen = build_live_world(sqlite_url, settings_factory, {}, **janus_settings(janus))
    world = await asyncio.to_thread(next, gen)
    pcs: list[RTCPeerConnection] = []
    try:
        pc, _ = await join_office(world, packets)
        pcs.append(pc)
        hr = await asyncio.to_thread(world.login, "hr")
        assert await wait_for_async(lambda: _frames(world, hr), 20), "no frame through Janus"

        # Janus goes away mid-apel: the consoles are told why, at once
        janus.stop()
        t0 = time.monotonic()
        while (await rollcall(world, hr))["media"]["media_error"] is None:
            assert time.monotonic() - t0 < 15, "the console was not told that Janus is gone"
            await asyncio.sleep(0.3)
        view = await rollcall(world, hr)
        assert "cannot be reached" in view["media"]["media_error"]
        assert not view["media"]["offices"][0]["connected"]

        # ... and a join is refused with a reason and a retryable status (the office page and
        # `apel camera` retry 503s), not answered with a dead feed.
        with pytest.raises(AssertionError) as refused:
            pc2, _ = await join_office(world, packets)
            pcs.append(pc2)
        status, body = refused.value.args[0]
        assert status == 503 and body["detail"]["code"] == "janus_unreachable", body
        assert body["detail"]["hint"]

        # Janus is back: the next join works again, and the console's error clears
        janus.start()
        pc3, _ = await join_office(world, packets)
        pcs.append(pc3)
        assert await wait_for_async(lambda: _frames(world, hr), 20), "no frame after Janus came back"
        assert (await rollcall(world, hr))["media"]["media_error"] is None
    finally:
        for p in pcs:
            await p.close()
        await asyncio.to_thread(gen.close)


def _pattern_packets() -> list[bytes]:
    """A few seconds of moving bars, VP8, encoded once (the media path does not need faces)."""
    import fractions

    import av
    import numpy as np

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.bit_rate, codec.gop_size, codec.time_base = 300_000, 15, fractions.Fraction(1, 15)
    codec.options = {"deadline": "realtime", "lag-in-frames": "0"}
    out: list[bytes] = []
    for i in range(45):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, (i * 7) % 280:(i * 7) % 280 + 40] = (0, 255, 0)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        frame.pts = i
        frame.pict_type = av.video.frame.PictureType.I if i % 15 == 0 else av.video.frame.PictureType.NONE
        out += [bytes(p) for p in codec.encode(frame)]
    out += [bytes(p) for p in codec.encode(None)]
    return out


async def _frames(world, hr) -> bool:
    media = (await rollcall(world, hr))["media"]
    return bool(media and media["offices"] and media["offices"][0]["connected"] and media["offices"][0]["frames"] > 0)


async def wait_for_async(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.3)
    return False


async def test_apel_camera_joins_through_janus_unchanged(sqlite_url, settings_factory, janus, tmp_path) -> None:
    """`apel camera` (the command, as a process) streams into Janus with no change of its own."""
    import subprocess
    import sys

    from .test_live_api import ROOT, _tiny_clip

    clip = tmp_path / "clip.mp4"
    await asyncio.to_thread(_tiny_clip, clip, 3)
    gen = build_live_world(sqlite_url, settings_factory, {}, **janus_settings(janus))
    world = await asyncio.to_thread(next, gen)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "camera", "--server", world.url, "--office",
                             world.office_code, "--token", world.tokens[world.office_code], "--loop", str(clip)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hr = await asyncio.to_thread(world.login, "hr")
        assert await wait_for_async(lambda: _frames(world, hr), 40), "no frame from apel camera through Janus"
        room = world.assembly_id
        assert [p["display"] for p in await participants(janus, room)] == ["OPD1 Dinas Satu"]
    finally:
        proc.terminate()
        out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        await asyncio.to_thread(gen.close)
    assert "joined apel" in out, (out, err)


async def test_a_vision_node_gets_an_offices_frames_from_janus(sqlite_url, settings_factory, janus) -> None:
    """Another process's view (a vision node, media/janus/feed_source.py): from the apel's and the
    office's ids and the shared keys alone it gets the office's frames by an RTP forward, and Apel,
    which holds the office's publisher handle, asks the office for a keyframe for it, so the first
    frame does not wait for the room's periodic keyframe (10 s)."""
    from dataclasses import dataclass

    from media.janus.feed_source import JanusFeedSource
    from media.sampling import DropOldestQueue

    @dataclass(frozen=True)
    class Feed:
        assembly_id: int
        office_id: int
        stream_key: str

    gen = build_live_world(sqlite_url, settings_factory, {}, **janus_settings(janus))
    world = await asyncio.to_thread(next, gen)
    settings = world.server.app.state.settings
    source = JanusFeedSource(janus.url, room_key=settings.session_secret(), api_secret=API_SECRET,
                             admin_key=ADMIN_KEY, room_base=settings.janus_room_base)
    pcs: list[RTCPeerConnection] = []
    opened = None
    try:
        async def signal(offer: dict) -> dict:
            async with httpx.AsyncClient(timeout=60) as http:
                r = await http.post(f"{world.url}/api/v1/live/office/join",
                                    json={"office": world.office_code, "token": world.tokens[world.office_code],
                                          **offer})
            assert r.status_code == 200, r.text
            return dict(r.json())

        # a live encoder (keyframes only at the start and when asked), as a browser's camera
        pc, _ = await connect_peer(signal, send_video=PatternTrack((640, 360)), receive_video=False)
        pcs.append(pc)
        hr = await asyncio.to_thread(world.login, "hr")
        assert await wait_for_async(lambda: _frames(world, hr), 20)
        await asyncio.sleep(2)
        sink = DropOldestQueue(maxsize=4)
        t0 = time.monotonic()
        stream_key = f"{world.assembly_id}/{world.office_code}"
        opened = await source.open(Feed(world.assembly_id, world.office_id, stream_key), sink)
        assert await wait_for(lambda: sink.put_count >= 2, 15), f"no frames ({opened.track.error})"
        took = time.monotonic() - t0
        print(f"node feed through Apel's room: first frames {took:.2f} s after open")
        assert took < 5, took
        assert sink.drain()[-1].frame_bgr.shape == (360, 640, 3)
    finally:
        if opened is not None:
            await opened.close()
        for p in pcs:
            await p.close()
        await source.close()
        await asyncio.to_thread(gen.close)


def test_janus_mode_needs_its_url(tmp_path) -> None:
    """Refused at start-up, not at the first join."""
    from pydantic import ValidationError

    from app.settings import Settings

    for url in (None, "janus.example:8088", "ftp://janus.example/janus"):
        with pytest.raises(ValidationError, match="APEL_MEDIA=janus needs APEL_JANUS_URL"):
            Settings(data_dir=tmp_path, media="janus", janus_url=url, recognizer="dlib")
    s = Settings(data_dir=tmp_path, media="janus", janus_url="http://127.0.0.1:8088/janus", recognizer="dlib")
    assert s.media == "janus" and Settings(data_dir=tmp_path, recognizer="dlib").media == "embedded"


def test_leader_feed_is_for_janus_mode_only(sqlite_url, settings_factory) -> None:
    """The embedded mode sends the leader on the join's own connection: the endpoint says so."""
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = next(gen)
    try:
        r = httpx.post(f"{world.url}/api/v1/live/office/leader-feed",
                       json={"office": world.office_code, "token": world.tokens[world.office_code]}, timeout=30)
        assert r.status_code == 404 and r.json()["detail"]["code"] == "janus_mode_only"
    finally:
        gen.close()
