"""media/janus against a real Janus (the `janus` fixture): an aiortc peer publishes a real photo as
video into a VideoRoom, an aiortc subscriber receives it, and an RTP forward of the publisher is
decoded by PyAV into frames that show the same picture. A Janus that is down is a clear
`janus_unreachable`, quickly."""
from __future__ import annotations

import asyncio
import fractions
import time

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.client import connect_peer
from media.janus import videoroom as vr
from media.janus.client import JanusClient, JanusError, JanusUnavailable
from media.janus.rtp_source import RtpForwardTrack
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import Collector, wait_for

pytestmark = [pytest.mark.shared_data]
PHOTO = "groups/photos/dlib_bald_guys.jpg"
SIZE = (640, 360)


def photo_bgr(shared_data, size=SIZE) -> np.ndarray:
    import cv2

    img = cv2.imread(str(shared_data / PHOTO))
    assert img is not None
    return np.ascontiguousarray(cv2.resize(img, size, interpolation=cv2.INTER_AREA))


class PhotoTrack(MediaStreamTrack):
    """A real photo as a 15 fps camera."""

    kind = "video"

    def __init__(self, img: np.ndarray, fps: float = 15.0) -> None:
        super().__init__()
        self.img, self.interval, self.n, self.t0 = img, 1.0 / fps, 0, time.monotonic()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        delay = self.t0 + self.n * self.interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame.from_ndarray(self.img, format="bgr24")
        frame.pts, frame.time_base = int(self.n * self.interval * 90000), fractions.Fraction(1, 90000)
        self.n += 1
        return frame


def similar(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference per pixel and channel (0 = the same picture)."""
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


async def test_publish_subscribe_and_forward_a_real_photo(janus, shared_data) -> None:
    img = photo_bgr(shared_data)
    client = JanusClient(janus.url, api_secret=API_SECRET)
    session = await client.create_session()
    control = vr.VideoRoomControl(await session.attach(), admin_key=ADMIN_KEY)
    keys = vr.room_keys("test-key", 4242)
    pcs: list[RTCPeerConnection] = []
    source = RtpForwardTrack()
    collector = Collector()
    try:
        assert await control.create(4242, keys) is True
        assert await control.create(4242, keys) is False      # exists: Apel restarted, same keys
        joined: dict = {}

        async def signal(offer: dict) -> dict:
            handle, answer, data = await vr.publish(session, 4242, keys, 100, "OPD1", offer)
            joined.update(data, handle=handle)
            return answer

        pc, _ = await connect_peer(signal, send_video=PhotoTrack(img), receive_video=False)
        pcs.append(pc)
        assert [p["id"] for p in await control.participants(4242)] == [100]

        # the forward: decoded by PyAV from plain RTP, the same picture
        source.start()
        mid = vr.video_mid(joined, 100)
        assert mid is not None
        forward = await control.rtp_forward(4242, keys, 100, "127.0.0.1", source.port, video_mid=mid)
        t0 = time.monotonic()
        frame = None
        while frame is None:
            try:
                frame = await asyncio.wait_for(source.recv(), 0.5)
            except TimeoutError:
                assert time.monotonic() - t0 < 20, f"no forwarded frame ({source.error})"
                await joined["handle"].message({"request": "configure", "keyframe": True})
        # what another process (a vision node) learns of the feed without having published it
        assert await vr.publisher_video_mid(session, 4242, keys, 100) == mid
        assert [p["id"] for p in await control.participants(4242)] == [100]
        got = frame.to_ndarray(format="bgr24")
        assert got.shape == (SIZE[1], SIZE[0], 3)
        assert similar(got, img) < 12, similar(got, img)
        assert similar(got, np.zeros_like(img)) > 40           # not a black feed

        # a subscriber: Janus offers, the peer answers, frames of the same size arrive
        handle, offer = await vr.subscribe(session, 4242, keys, 100)
        sub = RTCPeerConnection()
        pcs.append(sub)
        sub.on("track", collector.on_track)
        await sub.setRemoteDescription(RTCSessionDescription(**offer))
        await sub.setLocalDescription(await sub.createAnswer())
        await vr.start(handle, {"sdp": sub.localDescription.sdp, "type": "answer"})
        assert await wait_for(lambda: collector.frames >= 5, 20), collector.frames
        assert collector.sizes == {SIZE}

        await control.stop_rtp_forward(4242, keys, 100, forward)
        # a wrong secret is refused by Janus itself
        with pytest.raises(JanusError):
            await control.destroy(4242, vr.room_keys("another-key", 4242))
        await control.destroy(4242, keys)
        assert await control.exists(4242) is False
    finally:
        collector.stop()
        for p in pcs:
            await p.close()
        await source.close()
        await session.destroy()
        await client.aclose()
    assert not source._thread or not source._thread.is_alive()


async def test_janus_down_is_a_clear_error(janus) -> None:
    client = JanusClient(janus.url, api_secret=API_SECRET)
    lost: list[str] = []
    session = await client.create_session(on_lost=lost.append)
    try:
        # a wrong API secret: Janus refuses Apel, and says so
        wrong = JanusClient(janus.url, api_secret="wrong")
        with pytest.raises(JanusUnavailable, match="refused"):
            await wrong.create_session()
        await wrong.aclose()

        janus.stop()
        t0 = time.monotonic()
        with pytest.raises(JanusUnavailable) as err:
            await client.create_session()
        assert err.value.code == "janus_unreachable" and err.value.status == 503
        assert "cannot be reached" in err.value.message and time.monotonic() - t0 < 5
        # the open session notices on its own (its long poll fails), no request needed
        assert await wait_for(lambda: bool(lost), 10), "the session did not notice Janus going away"
        with pytest.raises(JanusUnavailable):
            await session.attach()
    finally:
        await session.destroy()
        await client.aclose()


async def test_feed_source_gives_a_node_an_offices_frames(janus, shared_data) -> None:
    """A vision node's view: from the apel and office ids alone (and the shared keys), the office's
    frames arrive in the node's sink. Nobody here holds the publisher's handle (Apel's JanusMedia does:
    tests/app/live/test_janus_live.py), and none is needed: the feed asks the office for a keyframe
    itself (a PLI on the forward's RTCP port, media/janus/rtp_source.py), so its first frames do not
    wait for the room's periodic keyframe."""
    from dataclasses import dataclass

    from attendance.errors import ApelError
    from media.janus.feed_source import JanusFeedSource
    from media.sampling import DropOldestQueue

    @dataclass(frozen=True)
    class Feed:
        assembly_id: int
        office_id: int
        stream_key: str

    img = photo_bgr(shared_data)
    room_key, assembly_id, office_id = "shared-secret-key", 77, 5
    room = 1000 + assembly_id
    keys = vr.room_keys(room_key, room)
    client = JanusClient(janus.url, api_secret=API_SECRET)
    session = await client.create_session()
    control = vr.VideoRoomControl(await session.attach(), admin_key=ADMIN_KEY)
    source = JanusFeedSource(janus.url, room_key=room_key, api_secret=API_SECRET, admin_key=ADMIN_KEY,
                             room_base=1000)
    pcs: list[RTCPeerConnection] = []
    opened = None
    try:
        await control.create(room, keys)
        sink = DropOldestQueue(maxsize=4)
        with pytest.raises(ApelError) as refused:   # the office has not joined yet
            await source.open(Feed(assembly_id, office_id, "77/OPD5"), sink)
        assert refused.value.code == "office_not_publishing"

        async def signal(offer: dict) -> dict:
            _, answer, _ = await vr.publish(session, room, keys, vr.office_feed_id(office_id), "OPD5", offer)
            return answer

        pc, _ = await connect_peer(signal, send_video=PhotoTrack(img), receive_video=False)
        pcs.append(pc)
        await asyncio.sleep(3)   # the office has been sending for a while, as when a node takes it over
        t0 = time.monotonic()
        opened = await source.open(Feed(assembly_id, office_id, "77/OPD5"), sink)
        assert await wait_for(lambda: sink.put_count >= 3, 15), f"no frames ({opened.track.error})"
        took = time.monotonic() - t0
        frame = sink.drain()[-1]
        assert frame.stream_key == "77/OPD5"
        assert similar(frame.frame_bgr, img) < 12
        print(f"node feed: first frames {took:.2f} s after open")
        await opened.close()
        count = sink.put_count
        await asyncio.sleep(0.5)
        assert sink.put_count == count   # nothing is pushed after close
        assert not opened.track._thread or not opened.track._thread.is_alive()
        opened = None
    finally:
        if opened is not None:
            await opened.close()
        for p in pcs:
            await p.close()
        await source.close()
        await session.destroy()
        await client.aclose()
