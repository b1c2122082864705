"""An office's video from Janus into a process that did not take the office's join (a vision node): a
frame source in the shape app/live/node_sources.FrameSource describes (`open(feed, sink)` -> something
with `close()`), built on Janus's RTP forward and `RtpForwardTrack`, sampled by the same `FrameTap`.

It finds everything from the feed and the shared settings (docs/janus.md): the room is
`room_base + apel id`, its keys come from Apel's secret key, the office publishes as
`office_feed_id(office id)`, and the video's mid is asked of Janus. An office that does not publish
(yet) is an `ApelError` `office_not_publishing`, which the node retries later.

The first frame needs a keyframe, and only the holder of the office's publisher handle (the web node's
JanusMedia) can ask for one: it watches the room's forwards and asks as soon as a new one appears."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from attendance.errors import ApelError
from media.interfaces import FrameSink
from media.janus import videoroom as vr
from media.janus.client import JanusClient, JanusError, JanusSession
from media.janus.rtp_source import RtpForwardTrack
from media.sampling import FrameTap

log = logging.getLogger("apel.media.janus.feed")


class FeedRef(Protocol):
    """What the source needs of a leased feed (app/live/node_sources.Feed has it)."""

    @property
    def assembly_id(self) -> int: ...

    @property
    def office_id(self) -> int: ...

    @property
    def stream_key(self) -> str: ...


@dataclass
class JanusFeed:
    """One office's forward into this process; `close` stops it (no frame is pushed after it returns)."""

    source: JanusFeedSource
    control: vr.VideoRoomControl
    room: int
    keys: vr.RoomKeys
    feed_id: int
    forward_id: int
    track: RtpForwardTrack
    tap: FrameTap

    async def close(self) -> None:
        try:
            await self.control.stop_rtp_forward(self.room, self.keys, self.feed_id, self.forward_id)
        except ApelError as exc:   # Janus gone: the forward went with it
            log.info("stopping the forward of feed %s: %s", self.feed_id, exc.message)
        await self.tap.stop()
        await self.track.close()


class JanusFeedSource:
    """Opens office feeds as RTP forwards from Janus to `node_address` (this machine as Janus reaches it)."""

    def __init__(self, url: str, *, room_key: str, api_secret: str | None = None, admin_key: str | None = None,
                 room_base: int = 0, node_address: str = "127.0.0.1", sample_fps: float = 5.0) -> None:
        self.client = JanusClient(url, api_secret=api_secret)
        self.admin_key = admin_key
        self.room_key = room_key
        self.room_base = room_base
        self.node_address = node_address
        self.sample_fps = sample_fps
        self._session: JanusSession | None = None
        self._control: vr.VideoRoomControl | None = None
        self._lock = asyncio.Lock()

    async def _connect(self) -> tuple[JanusSession, vr.VideoRoomControl]:
        async with self._lock:
            if self._session is not None and self._session.lost is None and self._control is not None:
                return self._session, self._control
            if self._session is not None:
                await self._session.destroy()
            session = await self.client.create_session()
            try:
                control = vr.VideoRoomControl(await session.attach(), admin_key=self.admin_key)
            except BaseException:
                await session.destroy()
                raise
            self._session, self._control = session, control
            return session, control

    async def open(self, feed: FeedRef, sink: FrameSink) -> JanusFeed:
        session, control = await self._connect()
        room = self.room_base + feed.assembly_id
        keys = vr.room_keys(self.room_key, room)
        feed_id = vr.office_feed_id(feed.office_id)
        try:
            mid = await vr.publisher_video_mid(session, room, keys, feed_id)
        except JanusError as exc:
            if vr.janus_code(exc) in (vr.NO_SUCH_ROOM, vr.NO_SUCH_FEED):
                raise ApelError("office_not_publishing", f"office {feed.stream_key} is not sending to Janus",
                                409) from exc
            raise
        if mid is None:
            raise ApelError("office_not_publishing", f"office {feed.stream_key} sends no video to Janus", 409)
        track = RtpForwardTrack(address=self.node_address)   # where Janus sends it: this machine
        track.start()
        try:
            forward_id = await control.rtp_forward(room, keys, feed_id, self.node_address, track.port, video_mid=mid)
        except BaseException:
            await track.close()
            raise
        tap = FrameTap(feed.stream_key, track, sink, sample_fps=self.sample_fps)
        tap.start()
        return JanusFeed(self, control, room, keys, feed_id, forward_id, track, tap)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.destroy()
            self._session = None
        await self.client.aclose()
