"""An office's video from Janus into a process that did not take the office's join (a vision node): a
frame source in the shape app/live/node_sources.FrameSource describes (`open(feed, sink)` -> something
with `close()`), built on Janus's RTP forward and `RtpForwardTrack`, sampled by the same `FrameTap`.

It finds everything from the feed and the shared settings (docs/janus.md): the room is
`room_base + apel id`, its keys come from Apel's secret key, the office publishes as
`office_feed_id(office id)`, and the video's mid is asked of Janus. An office that does not publish
(yet) is an `ApelError` `office_not_publishing`, which the node asks again several times a second: one
listing of the room's publishers answers for every office of the room asked about meanwhile.

The first frame needs a keyframe, and Janus does not ask the office for one when a forward starts: the
forward is made with an RTCP port of the node's (`RtpForwardTrack(feedback=True)`), from which the
node asks for keyframes (PLI) itself until its first frame, the moment the forward exists. (The web
node, which holds the office's publisher handle, also asks when it sees a new forward in the room.)

A forward lives as long as the publisher it was made from: an office that drops and joins again (a
browser that reloads) is a new publisher, and the old forward went with the old one. So an open feed
says when it should be made again (`JanusFeed.stalled`, asked by the node several times a second):
its office left the room's publishers, or no frame came for a while (the publisher was replaced
between two listings, or its video stopped); the node then closes it and opens the office again."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from attendance.errors import ApelError
from media.interfaces import FrameSink
from media.janus import videoroom as vr
from media.janus.client import JanusClient, JanusError, JanusSession
from media.janus.rtp_source import RtpForwardTrack
from media.sampling import FrameTap

log = logging.getLogger("apel.media.janus.feed")

PUBLISHERS_FRESH_S = 0.2   # a listing of a room's publishers answers the opens of this long after it
STALL_S = 3.0              # a forward that gave frames and then none for this long is made again ...
FIRST_FRAME_S = 8.0        # ... and one that gave none this long after it was made (its keyframe is asked)


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
    opened_at: float = field(default_factory=time.monotonic)

    async def stalled(self) -> str | None:
        """Why this forward should be made again (the office rejoined or stopped sending), or None.
        The publisher listing is the one the waiting offices' opens share (PUBLISHERS_FRESH_S)."""
        try:
            left = self.feed_id not in await self.source._publishing(self.control, self.room)
        except Exception as exc:   # Janus unreachable: its forward stops too, which the frames tell
            log.debug("listing the publishers of room %s: %s", self.room, exc)
            left = False
        if left:
            return "the office left Janus's room"
        quiet = self.track.seconds_since_frame()
        if quiet is None:
            waited = time.monotonic() - self.opened_at
            return f"no frame {waited:.1f} s after the forward was made" if waited > FIRST_FRAME_S else None
        return f"no frame for {quiet:.1f} s" if quiet > STALL_S else None

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
        self._publishers: dict[int, tuple[float, set[int]]] = {}   # room -> (monotonic, publisher ids)

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

    async def _publishing(self, control: vr.VideoRoomControl, room: int) -> set[int]:
        """The room's publishers, listed once for all the offices asked about within PUBLISHERS_FRESH_S."""
        listed = self._publishers.get(room)
        if listed is None or time.monotonic() - listed[0] > PUBLISHERS_FRESH_S:
            try:
                ids = {int(p["id"]) for p in await control.participants(room) if p.get("publisher")}
            except JanusError as exc:
                if vr.janus_code(exc) != vr.NO_SUCH_ROOM:
                    raise
                ids = set()   # no office has joined the apel yet (the web node makes the room then)
            listed = self._publishers[room] = (time.monotonic(), ids)
        return listed[1]

    async def open(self, feed: FeedRef, sink: FrameSink) -> JanusFeed:
        session, control = await self._connect()
        room = self.room_base + feed.assembly_id
        keys = vr.room_keys(self.room_key, room)
        feed_id = vr.office_feed_id(feed.office_id)
        try:
            if feed_id not in await self._publishing(control, room):   # cheap while the office has not joined
                raise ApelError("office_not_publishing", f"office {feed.stream_key} is not sending to Janus", 409)
            mid = await vr.publisher_video_mid(session, room, keys, feed_id)
        except JanusError as exc:
            if vr.janus_code(exc) in (vr.NO_SUCH_ROOM, vr.NO_SUCH_FEED):
                raise ApelError("office_not_publishing", f"office {feed.stream_key} is not sending to Janus",
                                409) from exc
            raise
        if mid is None:
            raise ApelError("office_not_publishing", f"office {feed.stream_key} sends no video to Janus", 409)
        track = RtpForwardTrack(address=self.node_address, feedback=True)   # where Janus sends it: this machine
        track.start()
        try:
            forward_id = await control.rtp_forward(room, keys, feed_id, self.node_address, track.port, video_mid=mid,
                                                   rtcp_port=track.rtcp_port)
        except BaseException:
            await track.close()
            raise
        track.ask_keyframe()   # at once, if Janus's first RTCP packets are in (else the track asks again soon)
        tap = FrameTap(feed.stream_key, track, sink, sample_fps=self.sample_fps)
        tap.start()
        return JanusFeed(self, control, room, keys, feed_id, forward_id, track, tap)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.destroy()
            self._session = None
        await self.client.aclose()
