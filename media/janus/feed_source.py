"""An office's video from Janus into a process that did not take the office's join (a vision node): a
frame source in the shape app/live/node_sources.FrameSource describes (`open(feed, sink)` -> something
with `close()`), built on Janus's RTP forward and `RtpForwardTrack`, sampled by the same `FrameTap`.

It finds everything from the feed and the shared settings (docs/janus.md): the room is
`room_base + apel id`, its keys come from Apel's secret key, the office publishes as
`office_feed_id(office id)`, and the video's mid is asked of Janus. An office that does not publish
(yet) is an `ApelError` `office_not_publishing`, which the node asks again several times a second: one
listing of the room's publishers answers for every office of the room asked about meanwhile. On
PostgreSQL the web node also tells the node the moment an office published, with its video's mid
(app.live.node.notify_publishing): that open asks for the forward at once, before the office's media is
even up, so the office's first keyframe finds the forward there.

The first frame needs a keyframe, and Janus does not ask the office for one when a forward starts: the
forward is made with an RTCP port of the node's (`RtpForwardTrack(feedback=True)`), from which the
node asks for keyframes (PLI) itself until its first frame, the moment the forward exists. (The web
node, which holds the office's publisher handle, also asks when it sees a new forward in the room.)

A forward lives as long as the publisher it was made from: an office that drops and joins again (a
browser that reloads) is a new publisher, and the old forward went with the old one. So an open feed
says when it should be made again (`JanusFeed.stalled`, asked by the node several times a second):
its office left the room's publishers, or no frame came for a while (the publisher was replaced
between two listings, or its video stopped); the node then closes it and opens the office again.

A forward also outlives the process it was made for: Janus keeps sending it to the port of a node that
died. So every forward a node makes carries the node's mark (`videoroom.forward_ssrc`, from the feed's
`node_id`), and a node that takes over offices asks its source to stop the forwards in their room that
carry the mark of a node gone (`stop_orphans`); a forward this process could not stop (Janus briefly
unreachable) is tried again later, and `close` stops whatever of its own is left."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from attendance.errors import ApelError
from media.interfaces import FrameSink
from media.janus import videoroom as vr
from media.janus.client import JanusClient, JanusError, JanusSession, JanusUnavailable
from media.janus.rtp_source import RtpForwardTrack
from media.janus.shared_calls import SharedCalls
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


# A feed may also carry `node_id` (app/live/node_sources.Feed does): the node its forward is marked with.


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
    listed: bool = True   # a listing showed the office publishing since the forward was asked for
    opened_at: float = field(default_factory=time.monotonic)
    closed: bool = False

    async def stalled(self) -> str | None:
        """Why this forward should be made again (the office rejoined or stopped sending), or None.
        The publisher listing is the one the waiting offices' opens share (PUBLISHERS_FRESH_S)."""
        try:
            publishing = self.feed_id in await self.source._publishing(self.control, self.room)
        except Exception as exc:   # Janus unreachable: its forward stops too, which the frames tell
            log.debug("listing the publishers of room %s: %s", self.room, exc)
            publishing = True
        # A forward opened on the web node's word precedes the office's media: Janus lists it as a
        # publisher only once that is up, so its absence means it left only after it was seen.
        left = self.listed and not publishing
        self.listed = self.listed or publishing
        if left:
            return "the office left Janus's room"
        quiet = self.track.seconds_since_frame()
        if quiet is None:
            waited = time.monotonic() - self.opened_at
            return f"no frame {waited:.1f} s after the forward was made" if waited > FIRST_FRAME_S else None
        return f"no frame for {quiet:.1f} s" if quiet > STALL_S else None

    async def close(self) -> None:
        """Stops the forward in Janus (or leaves it to the source to try again), then the reader."""
        if self.closed:
            return
        self.closed = True
        try:
            await self.source._stop_forward(self.control, self.room, self.keys, self.feed_id, self.forward_id)
        finally:
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
        self._listing: SharedCalls[int, set[int]] = SharedCalls()   # room -> its listing under way
        self.owner: str | None = None              # the node whose mark this process's forwards carry
        self._rooms: dict[int, vr.RoomKeys] = {}   # rooms this process made forwards in
        self._open: set[int] = set()               # stream ids of this process's forwards not stopped yet
        self._leftover: dict[int, tuple[int, vr.RoomKeys, int]] = {}   # stream id -> (room, keys, publisher)

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
        """The room's publishers, listed once for all the offices asked about within PUBLISHERS_FRESH_S
        (offices opened together wait for the same listing)."""
        listed = self._publishers.get(room)
        if listed is not None and time.monotonic() - listed[0] <= PUBLISHERS_FRESH_S:
            return listed[1]
        return await self._listing.run(room, lambda: self._list_publishers(control, room))

    async def _list_publishers(self, control: vr.VideoRoomControl, room: int) -> set[int]:
        try:
            ids = {int(p["id"]) for p in await control.participants(room) if p.get("publisher")}
        except JanusError as exc:
            if vr.janus_code(exc) != vr.NO_SUCH_ROOM:
                raise
            ids = set()   # no office has joined the apel yet (the web node makes the room then)
        self._publishers[room] = (time.monotonic(), ids)
        return ids

    async def open(self, feed: FeedRef, sink: FrameSink) -> JanusFeed:
        """`feed.video_mid`, when given (the web node said the office just published it): the forward is
        asked for at once, without listing the room nor asking Janus for the mid; should Janus refuse it
        (the office left meanwhile, or the mid was not the publisher's), the office is looked for as usual."""
        session, control = await self._connect()
        room = self.room_base + feed.assembly_id
        keys = vr.room_keys(self.room_key, room)
        feed_id = vr.office_feed_id(feed.office_id)
        told = getattr(feed, "video_mid", None)
        if told is not None:
            try:
                return await self._forward(feed, sink, control, room, keys, feed_id, str(told), listed=False)
            except JanusError as exc:
                if isinstance(exc, JanusUnavailable):
                    raise
                log.info("a forward of %s with the mid the web node told failed (%s): looking for the office",
                         feed.stream_key, exc.message)
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
        return await self._forward(feed, sink, control, room, keys, feed_id, mid)

    async def _forward(self, feed: FeedRef, sink: FrameSink, control: vr.VideoRoomControl, room: int,
                       keys: vr.RoomKeys, feed_id: int, mid: str, *, listed: bool = True) -> JanusFeed:
        """The forward of the office's video stream `mid` to a new reader here, sampled into `sink`;
        `listed`: the office was seen among the room's publishers (not when opened on the web node's word)."""
        owner = getattr(feed, "node_id", None) or None
        if owner is not None:
            self.owner = owner
        self._rooms[room] = keys
        track = RtpForwardTrack(address=self.node_address, feedback=True)   # where Janus sends it: this machine
        track.start()
        try:
            forward_id = await control.rtp_forward(room, keys, feed_id, self.node_address, track.port, video_mid=mid,
                                                   rtcp_port=track.rtcp_port,
                                                   ssrc=vr.forward_ssrc(owner) if owner else None)
        except BaseException:
            await track.close()
            raise
        self._open.add(forward_id)
        try:
            track.ask_keyframe()   # at once, if Janus's first RTCP packets are in (else the track asks again soon)
            tap = FrameTap(feed.stream_key, track, sink, sample_fps=self.sample_fps)
            tap.start()
        except BaseException:
            await self._stop_forward(control, room, keys, feed_id, forward_id)
            await track.close()
            raise
        if self._leftover:
            await self._retry_leftovers(control)
        return JanusFeed(self, control, room, keys, feed_id, forward_id, track, tap, listed=listed)

    # -- the forwards' lifecycle: every forward this process made is stopped, by it or by the node after it
    async def _stop_forward(self, control: vr.VideoRoomControl, room: int, keys: vr.RoomKeys, feed_id: int,
                            forward_id: int) -> bool:
        """Stops one of this process's forwards; one Janus refused or could not hear of is kept, to be
        tried again (`_retry_leftovers`), and False. Never raises an ApelError."""
        try:
            await control.stop_rtp_forward(room, keys, feed_id, forward_id)
        except ApelError as exc:
            self._leftover[forward_id] = (room, keys, feed_id)
            log.warning("stopping the forward %s of feed %s in room %s failed (tried again later): %s",
                        forward_id, feed_id, room, exc.message)
            return False
        self._open.discard(forward_id)
        self._leftover.pop(forward_id, None)
        return True

    async def _retry_leftovers(self, control: vr.VideoRoomControl) -> None:
        for forward_id, (room, keys, feed_id) in list(self._leftover.items()):
            if await self._stop_forward(control, room, keys, feed_id, forward_id):
                log.info("stopped the forward %s of feed %s in room %s, left from an earlier stop",
                         forward_id, feed_id, room)

    async def stop_orphans(self, assembly_id: int, gone: Collection[str]) -> list[vr.Forwarder]:
        """Stops the forwards in the apel's room that carry the mark of a node in `gone` (dead or
        stopped: it holds no lease), and retries this process's own leftovers; never this process's
        forwards nor those of a node not in `gone`. Idempotent. The ones stopped; a Janus error raises
        (the caller tries again later)."""
        _, control = await self._connect()
        if self._leftover:
            await self._retry_leftovers(control)
        marks = {vr.forward_ssrc(n): n for n in gone if n and n != self.owner}
        if self.owner is not None:
            marks.pop(vr.forward_ssrc(self.owner), None)
        if not marks:
            return []
        room = self.room_base + assembly_id
        keys = vr.room_keys(self.room_key, room)
        stopped = []
        for fwd in await control.list_forwarders(room, keys):
            if fwd.ssrc in marks and fwd.stream_id not in self._open:
                await control.stop_rtp_forward(room, keys, fwd.publisher_id, fwd.stream_id)
                log.info("stopped the forward %s of feed %s in room %s to %s:%d, left by node %s",
                         fwd.stream_id, fwd.publisher_id, room, fwd.host, fwd.port, marks[fwd.ssrc])
                stopped.append(fwd)
        return stopped

    async def _stop_own_left(self, control: vr.VideoRoomControl) -> int:
        """At the end: any forward with this process's mark still in a room it used (one whose stop
        failed, or made by an open that was cancelled before it heard the forward's id)."""
        if self.owner is None:
            return 0
        mark, n = vr.forward_ssrc(self.owner), 0
        for room, keys in self._rooms.items():
            for fwd in await control.list_forwarders(room, keys):
                if fwd.ssrc == mark:
                    await control.stop_rtp_forward(room, keys, fwd.publisher_id, fwd.stream_id)
                    log.info("stopped the forward %s of feed %s in room %s, still there at the stop",
                             fwd.stream_id, fwd.publisher_id, room)
                    n += 1
        return n

    async def close(self) -> None:
        """After the feeds are closed: whatever forward of this process's is still in Janus is stopped
        (a Janus error is logged: the node that takes the offices over stops them), then the session."""
        if self._session is not None and self._session.lost is None and self._control is not None:
            try:
                if self.owner is None:
                    await self._retry_leftovers(self._control)
                else:   # every forward of this process's is found by its mark, the leftovers too
                    await self._stop_own_left(self._control)
                    self._leftover.clear()
            except ApelError as exc:
                log.warning("stopping this node's forwards left in Janus: %s (the next holder of its offices "
                            "stops them)", exc.message)
        if self._session is not None:
            await self._session.destroy()
            self._session = None
        await self.client.aclose()
