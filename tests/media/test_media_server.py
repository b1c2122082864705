"""The media server with real aiortc peers on loopback: offices stream up, the leader's stream is
encoded once and reaches every office, keyframe requests travel back, bad offers are refused."""
from __future__ import annotations

import asyncio

import pytest

from attendance.errors import ApelError
from media.client import connect_peer
from media.interfaces import SampledFrame
from media.sampling import DropOldestQueue
from media.server import MediaConfig, MediaServer
from media.signaling import parse_offer

from .helpers import Collector, PatternTrack, wait_for

pytestmark = pytest.mark.slow


def office_signal(server: MediaServer, room: str, office: str):
    async def signal(offer: dict) -> dict:
        answer, _ = await server.join_office(room, office, offer["sdp"], offer["type"])
        return {"sdp": answer.sdp, "type": answer.type}
    return signal


def leader_signal(server: MediaServer, room: str):
    async def signal(offer: dict) -> dict:
        answer, _ = await server.join_leader(room, offer["sdp"], offer["type"])
        return {"sdp": answer.sdp, "type": answer.type}
    return signal


async def test_offices_stream_and_leader_is_encoded_once() -> None:
    sink = DropOldestQueue(maxsize=4)
    server = MediaServer(sink, config=MediaConfig(sample_fps=5.0, mosaic_size=(640, 360)))
    offices, collectors = [], []
    leader_view = Collector()
    try:
        leader_pc, _ = await connect_peer(leader_signal(server, "a1"), send_video=PatternTrack((640, 360)),
                                          on_track=leader_view.on_track)
        for i in range(3):
            c = Collector()
            pc, _ = await connect_peer(office_signal(server, "a1", f"o{i}"), send_video=PatternTrack((640, 360)),
                                       receive_audio=True, on_track=c.on_track)
            offices.append(pc)
            collectors.append(c)
        room = server.rooms["a1"]
        # every office sees the leader's camera (640x360), not the slate
        assert await wait_for(lambda: all((640, 360) in c.sizes and c.frames >= 10 for c in collectors), 20)
        # sampled office frames reach the sink, tagged with their stream key
        assert await wait_for(lambda: sink.put_count >= 6, 10)
        keys = {f.stream_key for f in sink.drain()}
        assert keys <= {"a1/o0", "a1/o1", "a1/o2"} and keys
        # one encoder for the whole room: frames encoded ~= frames produced, not 3x
        enc = room.leader_video
        assert enc.subscriber_count == 3
        n_before = enc.frames_encoded
        received_before = [c.frames for c in collectors]
        await asyncio.sleep(2.0)
        encoded = enc.frames_encoded - n_before
        received = [c.frames - b for c, b in zip(collectors, received_before, strict=True)]
        assert 15 <= encoded <= 40, encoded               # ~15 fps source for 2 s, encoded ONCE
        assert all(r >= encoded * 0.6 for r in received), (encoded, received)
        # the leader sees the mosaic of the offices
        assert await wait_for(lambda: (640, 360) in leader_view.sizes, 10)
        status = room.status()
        assert status["leader_connected"] and len(status["offices"]) == 3
        assert all(o["connected"] and o["frames"] > 10 for o in status["offices"])
    finally:
        for c in [leader_view, *collectors]:
            c.stop()
        for pc in offices:
            await pc.close()
        await server.close()


async def test_keyframe_request_from_any_office_reaches_shared_encoder() -> None:
    server = MediaServer(DropOldestQueue(2), config=MediaConfig(mosaic_size=(320, 180)))
    c = Collector()
    try:
        pc, _ = await connect_peer(office_signal(server, "k", "o1"), send_video=PatternTrack((320, 180)),
                                   on_track=c.on_track)
        assert await wait_for(lambda: c.frames >= 3, 15)
        enc = server.rooms["k"].leader_video
        await asyncio.sleep(1.0)   # past the keyframe rate limit
        before_kf, before_req = enc.keyframes, enc.keyframe_requests
        receiver = next(t.receiver for t in pc.getTransceivers() if t.kind == "video")
        ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(ssrc)   # a real RTCP PLI over the wire, as after packet loss
        assert await wait_for(lambda: enc.keyframe_requests > before_req, 5)
        assert await wait_for(lambda: enc.keyframes > before_kf, 5)
    finally:
        c.stop()
        await server.close()


async def test_slow_sink_never_stalls_the_feed() -> None:
    """Nobody drains the sink: frames keep flowing and the queue stays at its bound."""
    sink = DropOldestQueue(maxsize=2)
    server = MediaServer(sink, config=MediaConfig(sample_fps=15.0, mosaic_size=(320, 180)))
    try:
        pc, _ = await connect_peer(office_signal(server, "s", "o1"), send_video=PatternTrack((320, 180)),
                                   receive_video=False)
        tap = lambda: server.rooms["s"].offices["o1"].tap  # noqa: E731
        assert await wait_for(lambda: tap() is not None and tap().stats.frames_in >= 30, 15)
        assert len(sink) == 2 and sink.dropped >= 10 and sink.put_count == sink.dropped + 2
        newest = sink.drain()[-1]
        assert isinstance(newest, SampledFrame) and newest.seq >= tap().stats.frames_sampled - 1
        await pc.close()
    finally:
        await server.close()


async def test_office_drop_and_rejoin_keeps_stream_key() -> None:
    sink = DropOldestQueue(maxsize=8)
    events: list[dict] = []
    server = MediaServer(sink, config=MediaConfig(mosaic_size=(320, 180)), on_event=events.append)
    try:
        pc, _ = await connect_peer(office_signal(server, "r", "o1"), send_video=PatternTrack((320, 180)),
                                   receive_video=False)
        room = server.rooms["r"]
        assert await wait_for(lambda: sink.put_count >= 2, 15)
        await pc.close()   # the office drops
        assert await wait_for(lambda: "o1" not in room.offices, 15)
        assert room.status()["offices"][0]["connected"] is False
        pc2, _ = await connect_peer(office_signal(server, "r", "o1"), send_video=PatternTrack((320, 180)),
                                    receive_video=False)
        before = sink.put_count
        assert await wait_for(lambda: sink.put_count >= before + 2, 15)
        assert {f.stream_key for f in sink.drain()} == {"r/o1"}
        kinds = [e["type"] for e in events]
        assert kinds.count("office_joined") == 2 and "office_left" in kinds
        # a second join while connected replaces the first connection instead of doubling the feed
        pc3, _ = await connect_peer(office_signal(server, "r", "o1"), send_video=PatternTrack((320, 180)),
                                    receive_video=False)
        assert len(room.offices) == 1
        await pc2.close()
        await pc3.close()
    finally:
        await server.close()


@pytest.mark.parametrize("sdp,type_,code", [
    ("", "offer", "empty_sdp"),
    ("hello", "offer", "malformed_sdp"),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", "offer", "no_media"),
    ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n"
     "a=rtpmap:96 VP8/90000\r\na=sendrecv\r\n", "offer", "no_ice_credentials"),
    ("v=0\r\n", "answer", "not_an_offer"),
    (None, "offer", "empty_sdp"),
])
async def test_bad_offers_are_refused_with_a_reason(sdp, type_, code) -> None:
    with pytest.raises(ApelError) as err:
        parse_offer(sdp, type_)
    assert err.value.code == code and err.value.message


async def test_office_must_send_video() -> None:
    server = MediaServer(DropOldestQueue(2))
    try:
        async def signal(offer: dict) -> dict:
            answer, _ = await server.join_office("x", "o1", offer["sdp"], offer["type"])
            return {"sdp": answer.sdp, "type": answer.type}
        with pytest.raises(ApelError) as err:
            await connect_peer(signal, receive_video=True)
        assert err.value.code == "no_camera"
        assert "x" not in server.rooms or not server.rooms["x"].offices
    finally:
        await server.close()


async def test_leader_audio_reaches_offices_encoded_once() -> None:
    from aiortc.mediastreams import AudioStreamTrack

    server = MediaServer(DropOldestQueue(2), config=MediaConfig(mosaic_size=(320, 180)))
    audio_frames = [0, 0]

    def counter(i):
        def on_track(track):
            async def run():
                try:
                    while True:
                        await track.recv()
                        if track.kind == "audio":
                            audio_frames[i] += 1
                except Exception:
                    pass
            asyncio.ensure_future(run())
        return on_track

    try:
        await connect_peer(leader_signal(server, "au"), send_video=PatternTrack((320, 180)),
                           send_audio=AudioStreamTrack())
        for i in range(2):
            await connect_peer(office_signal(server, "au", f"o{i}"), send_video=PatternTrack((320, 180)),
                               receive_audio=True, on_track=counter(i))
        assert await wait_for(lambda: min(audio_frames) >= 50, 15)   # 20 ms frames: 1 s of the leader's voice
        enc = server.rooms["au"].leader_audio
        assert enc.subscriber_count == 2
        assert enc.frames_encoded > 0
    finally:
        await server.close()


def test_mosaic_draws_overlays_scaled_to_the_tile() -> None:
    import av
    import numpy as np

    from media.interfaces import Overlay, OverlayBox, StaticOverlays
    from media.mosaic import grid_shape, render_mosaic

    assert grid_shape(1) == (1, 1) and grid_shape(2) == (2, 1) and grid_shape(5) == (3, 2)
    frame = av.VideoFrame.from_ndarray(np.zeros((720, 1280, 3), np.uint8), format="bgr24")
    overlays = StaticOverlays()
    overlays.set("r/a", Overlay(boxes=[OverlayBox((640, 360, 200, 200), "Budi", (0, 0, 255))]))
    img = render_mosaic([("r/a", "A", frame, False), ("r/b", "B", None, False)], overlays, (1280, 720))
    # two tiles side by side (640x720 each): the box's top-left corner lands at (320, 360) in tile A
    assert tuple(img[420, 321]) == (0, 0, 255)        # the left edge of the box
    assert tuple(img[200, 100]) == (0, 0, 0)
    overlays.set("r/a", None)
    img2 = render_mosaic([("r/a", "A", frame, False)], overlays, (1280, 720))
    assert tuple(img2[360, 650]) == (0, 0, 0)
