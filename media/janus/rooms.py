"""Media on Janus behind Apel's own endpoints: `JanusMedia` has the shape the live service uses of the
embedded `MediaServer` (rooms with a status, `join_office`, `join_leader`, `close_room`, `close`, the
same events), so the join endpoints and `apel camera` keep their contract: the office POSTs its offer
to Apel, Apel (after its own checks) joins it to the apel's Janus room as a publisher and answers with
Janus's SDP; the media then flows between the peer and Janus.

Browsers never reach Janus's API. What Apel hands out is an SDP answer (or, to an office that also
wants the leader, Janus's SDP offer of the leader's feed, `subscribe_leader`; to the leader's console
that opens an office large, Janus's SDP offer of that office's video, `watch_office`; to a read-only
console, Janus's SDP offer of the leader's feed, `watch_leader`), nothing else:
no session, handle, room number, secret or PIN.

For the vision pipeline each office's video is forwarded by Janus (`rtp_forward`) to a UDP port of
this process and decoded there (`RtpForwardTrack`), and a `FrameTap` samples it into the same
`FrameSink` as in the embedded mode. A forward that has no frame yet asks the office for a keyframe
(Janus sends a PLI) every quarter second, so the first analysed frame does not wait for the room's
periodic keyframe."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCSessionDescription

from attendance.errors import ApelError
from media.events import EventCallback, MediaEvents
from media.interfaces import FrameSink
from media.janus import videoroom as vr
from media.janus.client import JanusClient, JanusError, JanusHandle, JanusSession, JanusUnavailable
from media.janus.rtp_source import RtpForwardTrack
from media.janus.shared_calls import SharedCalls
from media.sampling import FrameTap, office_status
from media.signaling import parse_offer, require

log = logging.getLogger("apel.media.janus")

LEADER_FEED = 1
FIRST_OFFICE_FEED = 100    # publisher ids for offices joined without one of their own (tests)
KEYFRAME_NUDGE_S = 0.25     # a forward without a frame asks for a keyframe this often ...
KEYFRAME_NUDGE_FOR_S = 15.0  # ... for at most this long
FORWARD_WATCH_S = 1.0       # how often each room's RTP forwards are listed (see _watch_forwards)
LEADER_START_WAIT_S = 5.0   # an office asking for the leader a moment after the leader joined waits this long
MAX_WATCHERS = 32           # consoles' subscriptions to office videos and the leader per room (each costs Janus)


@dataclass
class JanusConfig:
    url: str
    api_secret: str | None = None        # Janus's API secret (general.api_secret): every request carries it
    admin_key: str | None = None         # the VideoRoom's admin_key: creating rooms and RTP forwards need it
    room_key: str = ""                   # derives each room's secret and PIN (Apel's own secret key)
    room_base: int = 0                   # Janus room number = room_base + the apel's id
    forward_host: str = "127.0.0.1"      # this process's address as Janus reaches it, for the RTP forwards
    analyse: bool = True                 # forward each office's video here for the vision pipeline
    sample_fps: float = 5.0
    frozen_after_s: float = 2.0
    connect_timeout_s: float = 30.0      # a publisher whose media never starts is dropped


class JanusPeer:
    """One Janus handle Apel holds for someone: an office or the leader publishing, an office
    subscribed to the leader, or a console watching an office or, read-only, the leader (role "watcher",
    `viewer` says whose, `office_key` None for the leader)."""

    def __init__(self, room: JanusRoom, role: str, handle: JanusHandle, *, feed_id: int | None = None,
                 office_key: str | None = None, label: str = "") -> None:
        self.id = uuid.uuid4().hex[:12]
        self.room = room
        self.role = role
        self.handle = handle
        self.feed_id = feed_id
        self.office_key = office_key
        self.label = label
        self.viewer: str | None = None           # a watcher's console (who asked for it)
        self.video_mid: str | None = None        # an office publisher's video stream, for watchers
        self.tap: FrameTap | None = None
        self.source: RtpForwardTrack | None = None
        self.forward_id: int | None = None
        self.joined_at = time.monotonic()
        self.connected = asyncio.Event()
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []


class JanusRoom:
    """An apel's VideoRoom, as Apel keeps it: who publishes, who subscribes, the offices' taps."""

    def __init__(self, media: JanusMedia, room_id: str, number: int) -> None:
        self.media = media
        self.room_id = room_id
        self.number = number
        self.keys = vr.room_keys(media.config.room_key, number)
        self.offices: dict[str, JanusPeer] = {}
        self.office_labels: dict[str, str] = {}
        self.leader: JanusPeer | None = None
        self.subscribers: dict[str, JanusPeer] = {}     # peer id -> an office watching the leader
        self.watchers: dict[str, JanusPeer] = {}        # peer id -> a console watching an office (or the leader)
        self.created_in: JanusSession | None = None     # the session the room was (re)created in
        self.watching: asyncio.Task[None] | None = None  # asks for keyframes when another process forwards
        self.creating: SharedCalls[JanusSession, bool] = SharedCalls()   # session -> the create under way in it
        self._next_feed = FIRST_OFFICE_FEED

    def stream_key(self, office_key: str) -> str:
        return f"{self.room_id}/{office_key}"

    def next_feed(self) -> int:
        self._next_feed += 1
        return self._next_feed

    def peers(self) -> list[JanusPeer]:
        return [p for p in [self.leader, *self.offices.values(), *self.subscribers.values(),
                            *self.watchers.values()] if p is not None]

    def status(self) -> dict[str, Any]:
        """The embedded room's status fields, from the forwarded feeds' taps, plus Janus's health."""
        offices = [office_status(key, self.office_labels[key], self.offices.get(key), self.media.config.frozen_after_s)
                   for key in sorted(self.office_labels)]
        observers = sum(1 for w in self.watchers.values() if w.office_key is None)   # consoles hearing the leader
        return {"room": self.room_id, "leader_connected": self.leader is not None, "observers": observers,
                "offices": offices, "media": "janus", "media_error": self.media.lost,
                "leader_stream": {"frames_encoded": 0, "receivers": len(self.subscribers), "keyframes": 0}}


class JanusMedia(MediaEvents):
    """The live service's media on Janus (see the module's docstring)."""

    def __init__(self, sink: FrameSink, config: JanusConfig, on_event: EventCallback | None = None) -> None:
        self.sink = sink
        self.config = config
        self.on_event = on_event
        self.rooms: dict[str, JanusRoom] = {}
        self.client = JanusClient(config.url, api_secret=config.api_secret)
        self.lost: str | None = None       # why Janus is unreachable now (None while it works)
        self._session: JanusSession | None = None
        self._control: vr.VideoRoomControl | None = None
        self._lock = asyncio.Lock()
        self._by_handle: dict[int, JanusPeer] = {}
        self._leaving: set[asyncio.Task[None]] = set()   # leaves Janus's events started, awaited by close()

    # -- helpers
    async def _connect(self) -> tuple[JanusSession, vr.VideoRoomControl]:
        """Apel's one Janus session (made again after Janus restarted or was unreachable)."""
        async with self._lock:
            if self._session is not None and self._session.lost is None and self._control is not None:
                return self._session, self._control
            if self._session is not None:
                await self._session.destroy()
            session = await self.client.create_session(on_event=self._on_janus_event, on_lost=self._on_lost)
            try:
                control = vr.VideoRoomControl(await session.attach(), admin_key=self.config.admin_key)
            except BaseException:
                await session.destroy()
                raise
            self._session, self._control = session, control
            if self.lost is not None:
                log.info("Janus is reachable again")
                for room_id in self.rooms:
                    self._emit(type="media_restored", room=room_id)
            self.lost = None
            return session, control

    async def _room(self, room_id: str) -> tuple[JanusRoom, JanusSession]:
        """The apel's room, created in Janus if this session has not yet (Janus restarted, or first use)."""
        session, control = await self._connect()
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = JanusRoom(self, room_id, self.config.room_base + int(room_id))
        if room.created_in is not session:
            # offices joining together share one create (each would otherwise send its own and wait)
            description = f"Apel {room_id}"
            await room.creating.run(session, lambda: control.create(room.number, room.keys, description=description))
            room.created_in = session
        if room.watching is None or room.watching.done():
            room.watching = asyncio.ensure_future(self._watch_forwards(room))
        return room, session

    async def _watch_forwards(self, room: JanusRoom) -> None:
        """A vision node elsewhere forwards an office's feed (media/janus/feed_source.py) but cannot ask
        the office for a keyframe: every second the room's forwards are listed, and the office behind
        each new one is asked for a keyframe (through its publisher handle, which Apel holds)."""
        seen: set[int] = set()
        while True:
            await asyncio.sleep(FORWARD_WATCH_S)
            control = self._control
            if control is None or self.lost is not None or room.created_in is None:
                continue
            try:
                data = await control.handle.request({"request": "listforwarders", "room": room.number,
                                                     "secret": room.keys.secret})
            except ApelError as exc:
                log.debug("listing the forwards of room %s: %s", room.number, exc.message)
                continue
            current: set[int] = set()
            for publisher in data.get("publishers") or []:
                new = False
                for fwd in publisher.get("forwarders") or []:
                    sid = int(fwd.get("stream_id") or 0)
                    current.add(sid)
                    new |= sid not in seen and fwd.get("type") == "video"
                peer = next((p for p in room.offices.values() if p.feed_id == publisher.get("publisher_id")), None)
                if new and peer is not None:
                    peer.tasks.append(asyncio.ensure_future(self._ask_keyframe(peer)))
            seen = current

    async def _ask_keyframe(self, peer: JanusPeer) -> None:
        try:
            await peer.handle.message({"request": "configure", "keyframe": True}, timeout_s=5)
        except ApelError as exc:
            log.info("asking %s for a keyframe: %s", peer.label, exc.message)

    def _on_lost(self, why: str) -> None:
        """Janus went away mid-apel: every feed through it is gone. The consoles hear why at once; the
        offices' peers fail and rejoin (their joins answer 503 janus_unreachable until Janus is back)."""
        self.lost = why
        for room in self.rooms.values():
            room.created_in = None
            self._emit(type="media_error", room=room.room_id, code="janus_unreachable", message=why)
            for peer in room.peers():
                self._leave_soon(peer)

    def _on_janus_event(self, handle_id: int, event: dict[str, Any]) -> None:
        peer = self._by_handle.get(handle_id)
        if peer is None:
            return
        kind = event.get("janus")
        if kind == "webrtcup":
            peer.connected.set()
        elif kind in ("hangup", "detached"):
            self._leave_soon(peer)

    def _leave_soon(self, peer: JanusPeer) -> None:
        """A leave that Janus's events (not a request) start: tracked, so close() waits for it."""
        async def _leave() -> None:
            try:
                await self.leave(peer)
            except Exception:
                log.exception("releasing %s (%s) failed", peer.label, peer.role)

        task = asyncio.ensure_future(_leave())
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    def _watch(self, peer: JanusPeer) -> None:
        self._by_handle[peer.handle.id] = peer

        async def _timeout() -> None:
            try:
                await asyncio.wait_for(peer.connected.wait(), self.config.connect_timeout_s)
            except TimeoutError:
                log.info("Janus peer %s (%s) never connected; dropping it", peer.id, peer.role)
                await self.leave(peer)

        peer.tasks.append(asyncio.ensure_future(_timeout()))

    # -- joins
    async def join_office(self, room_id: str, office_key: str, sdp: object, type_: object = "offer", *,
                          label: str | None = None,
                          feed_id: int | None = None) -> tuple[RTCSessionDescription, JanusPeer]:
        """`feed_id`: the office's publisher id (videoroom.office_feed_id), so other processes find it."""
        offer, summary = parse_offer(sdp, type_)
        require(summary, sends_video=True)
        room, session = await self._room(room_id)
        previous = room.offices.get(office_key)
        if previous is not None:   # a rejoin replaces the old publisher (Janus refuses a second one anyway)
            await self.leave(previous, rejoining=True)
        feed = feed_id if feed_id is not None else room.next_feed()
        display = label or office_key
        handle, answer, joined = await self._publish(room, session, feed, display, offer)
        peer = JanusPeer(room, "office", handle, feed_id=feed, office_key=office_key, label=display)
        peer.video_mid = vr.video_mid(joined, feed)
        room.offices[office_key] = peer
        room.office_labels[office_key] = display
        self._watch(peer)
        if self.config.analyse:
            mid = vr.video_mid(joined, feed)
            if mid is None:
                await self.leave(peer)
                raise ApelError("no_camera", "Janus took no video stream from this offer")
            await self._forward(room, peer, mid)
        self._emit(type="office_joined", room=room_id, office=office_key, stream=room.stream_key(office_key),
                   rejoin=previous is not None)
        return RTCSessionDescription(sdp=answer["sdp"], type="answer"), peer

    async def _publish(self, room: JanusRoom, session: JanusSession, feed: int, display: str,
                       offer: RTCSessionDescription) -> tuple[JanusHandle, dict[str, str], dict[str, Any]]:
        try:
            return await vr.publish(session, room.number, room.keys, feed, display,
                                    {"sdp": offer.sdp, "type": "offer"})
        except JanusError as exc:
            if vr.janus_code(exc) == vr.NO_SUCH_ROOM:   # destroyed behind Apel's back: make it again, once
                room.created_in = None
                room, session = await self._room(room.room_id)
                return await vr.publish(session, room.number, room.keys, feed, display,
                                        {"sdp": offer.sdp, "type": "offer"})
            if isinstance(exc, JanusUnavailable):
                raise
            raise ApelError("negotiation_failed", f"Janus refused the offer: {exc.message}") from exc

    async def _forward(self, room: JanusRoom, peer: JanusPeer, mid: str) -> None:
        """Janus forwards the office's video here; a tap samples the decoded frames into the sink."""
        assert peer.office_key is not None and peer.feed_id is not None
        _, control = await self._connect()
        source = RtpForwardTrack(address="127.0.0.1")
        source.start()
        peer.source = source
        peer.tap = FrameTap(room.stream_key(peer.office_key), source, self.sink, sample_fps=self.config.sample_fps)
        peer.tap.start()
        try:
            peer.forward_id = await control.rtp_forward(room.number, room.keys, peer.feed_id,
                                                        self.config.forward_host, source.port, video_mid=mid)
        except BaseException:
            await self.leave(peer)
            raise
        peer.tasks.append(asyncio.ensure_future(self._nudge_keyframes(peer)))

    async def _nudge_keyframes(self, peer: JanusPeer) -> None:
        deadline = time.monotonic() + KEYFRAME_NUDGE_FOR_S
        while peer.source is not None and peer.source.frames_decoded == 0 and time.monotonic() < deadline:
            await asyncio.sleep(KEYFRAME_NUDGE_S)
            try:
                await peer.handle.message({"request": "configure", "keyframe": True}, timeout_s=5)
            except ApelError as exc:
                log.info("asking %s for a keyframe: %s", peer.label, exc.message)
                return

    async def join_leader(self, room_id: str, sdp: object,
                          type_: object = "offer") -> tuple[RTCSessionDescription, JanusPeer]:
        """The leader publishes once; Janus fans the leader out to every office that subscribes."""
        offer, summary = parse_offer(sdp, type_)
        require(summary, sends_video=True)
        room, session = await self._room(room_id)
        if room.leader is not None:
            await self.leave(room.leader, rejoining=True)
        handle, answer, _ = await self._publish(room, session, LEADER_FEED, "leader", offer)
        peer = JanusPeer(room, "leader", handle, feed_id=LEADER_FEED, label="leader")
        room.leader = peer
        self._watch(peer)
        self._emit(type="leader_joined", room=room_id)
        return RTCSessionDescription(sdp=answer["sdp"], type="answer"), peer

    async def join_observer(self, room_id: str, sdp: object,
                            type_: object = "offer") -> tuple[RTCSessionDescription, JanusPeer]:
        raise ApelError("janus_no_mosaic", "the read-only console's mosaic is not available with APEL_MEDIA=janus "
                        "yet", 501)

    async def subscribe_leader(self, room_id: str, office_key: str) -> tuple[dict[str, str], JanusPeer]:
        """Janus's offer of the leader's feed to one office (its previous subscription is replaced)."""
        room, session = await self._room(room_id)
        leader = room.leader
        if leader is not None and not leader.connected.is_set():   # joined a moment ago: its media is starting
            try:
                await asyncio.wait_for(leader.connected.wait(), LEADER_START_WAIT_S)
            except TimeoutError:
                pass
        if leader is None or not leader.connected.is_set():
            raise ApelError("leader_not_live", "the leader is not sending yet; try again shortly", 409)
        for old in [p for p in room.subscribers.values() if p.office_key == office_key]:
            await self.leave(old)
        try:
            handle, offer = await vr.subscribe(session, room.number, room.keys, LEADER_FEED)
        except JanusError as exc:
            if vr.janus_code(exc) == vr.NO_SUCH_FEED:
                raise ApelError("leader_not_live", "the leader is not sending yet; try again shortly", 409) from exc
            raise
        peer = JanusPeer(room, "subscriber", handle, office_key=office_key, label=office_key)
        room.subscribers[peer.id] = peer
        self._watch(peer)
        return offer, peer

    async def start_subscription(self, room_id: str, office_key: str, peer_id: str, sdp: object,
                                 type_: object = "answer") -> None:
        """The office's answer to Janus's offer of the leader's feed."""
        room = self.rooms.get(room_id)
        peer = room.subscribers.get(peer_id) if room is not None else None
        if peer is None or peer.office_key != office_key:
            raise ApelError("no_such_subscription", "no such subscription for this office (ask for a new one)", 404)
        await self._answer(peer, sdp, type_, "the leader feed's offer")

    async def watch_office(self, room_id: str, office_key: str, viewer: str) -> tuple[dict[str, str], JanusPeer]:
        """Janus's offer of one office's video to a console that opens it large (the caller has checked
        that `viewer` may). Video only: the leader's console has no use for each office's sound. The
        viewer's previous subscription to this office is replaced. 409 `office_not_publishing` when
        the office sends nothing to Janus (not joined, or gone), 503 when Janus is unreachable."""
        def not_publishing() -> ApelError:
            return ApelError("office_not_publishing", f"office {office_key} is not sending video to this apel", 409)

        return await self._watch_feed(room_id, viewer, office_key, not_publishing,
                                      "too many office videos are open in this apel's consoles; close one first")

    async def watch_leader(self, room_id: str, viewer: str) -> tuple[dict[str, str], JanusPeer]:
        """Janus's offer of the leader's feed, sound and picture, to a read-only console (the caller has
        checked that `viewer` may): what the embedded mode's observer connection brings besides the mosaic.
        A watcher like an office video's (`office_key` None), so it counts against MAX_WATCHERS and the
        viewer's previous one is replaced. 409 `leader_not_live` until the leader sends, 503 when Janus is
        unreachable."""
        def not_live() -> ApelError:
            return ApelError("leader_not_live", "the leader is not sending yet; try again shortly", 409)

        return await self._watch_feed(room_id, viewer, None, not_live,
                                      "too many videos are open in this apel's consoles; close one first")

    async def _watch_feed(self, room_id: str, viewer: str, office_key: str | None, not_sending: Callable[[], ApelError],
                          too_many: str) -> tuple[dict[str, str], JanusPeer]:
        """A console's subscription to one publisher of the room: the office `office_key`, or the leader
        (None), its video stream alone where the publisher has one marked (an office's), else all of it."""
        session, _ = await self._connect()   # Janus down: JanusUnavailable (503), not "not sending"
        room = self.rooms.get(room_id)
        current = room if room is not None and room.created_in is session else None
        feed = None if current is None else current.leader if office_key is None else current.offices.get(office_key)
        if feed is not None and not feed.connected.is_set():   # joined a moment ago: media starting
            try:
                await asyncio.wait_for(feed.connected.wait(), LEADER_START_WAIT_S)
            except TimeoutError:
                pass
        if room is None or feed is None or feed.closed or not feed.connected.is_set() or feed.feed_id is None:
            raise not_sending()
        for old in [p for p in room.watchers.values() if p.viewer == viewer and p.office_key == office_key]:
            await self.leave(old)
        if len(room.watchers) >= MAX_WATCHERS:
            raise ApelError("too_many_watchers", too_many, 429)
        try:
            handle, offer = await vr.subscribe(session, room.number, room.keys, feed.feed_id, mid=feed.video_mid)
        except JanusError as exc:
            if vr.janus_code(exc) in (vr.NO_SUCH_FEED, vr.NO_SUCH_ROOM):
                raise not_sending() from exc
            if isinstance(exc, JanusUnavailable):
                raise
            raise ApelError("negotiation_failed", f"Janus refused the subscription: {exc.message}") from exc
        peer = JanusPeer(room, "watcher", handle, feed_id=feed.feed_id, office_key=office_key,
                         label=f"{viewer} watching {office_key or 'the leader'}")
        peer.viewer = viewer
        room.watchers[peer.id] = peer
        self._watch(peer)
        return offer, peer

    async def _answer(self, peer: JanusPeer, sdp: object, type_: object, offer: str) -> None:
        """A subscriber's SDP answer to Janus's offer (`offer` says which, for the error); Janus refusing
        it hangs the subscriber up."""
        if type_ != "answer" or not isinstance(sdp, str) or not sdp.lstrip().startswith("v=0"):
            raise ApelError("not_an_answer", f"expected an SDP answer to {offer}")
        try:
            await vr.start(peer.handle, {"sdp": sdp, "type": "answer"})
        except JanusError as exc:
            await self.leave(peer)
            if isinstance(exc, JanusUnavailable):
                raise
            raise ApelError("negotiation_failed", f"Janus refused the answer: {exc.message}") from exc

    def _watcher(self, room_id: str, viewer: str, peer_id: str) -> JanusPeer:
        room = self.rooms.get(room_id)
        peer = room.watchers.get(peer_id) if room is not None else None
        if peer is None or peer.viewer != viewer:
            raise ApelError("no_such_subscription", "no such office video subscription (ask for a new one)", 404)
        return peer

    async def start_watch(self, room_id: str, viewer: str, peer_id: str, sdp: object,
                          type_: object = "answer") -> None:
        """The console's answer to Janus's offer of an office's video (or the leader's: watch_leader); the
        office (the leader) is asked for a keyframe at once, so the picture does not wait for the room's
        periodic one."""
        peer = self._watcher(room_id, viewer, peer_id)
        watching = peer.room.leader if peer.office_key is None else peer.room.offices.get(peer.office_key)
        await self._answer(peer, sdp, type_, "the leader's offer" if peer.office_key is None
                           else "the office video's offer")
        if watching is not None and not watching.closed:
            peer.tasks.append(asyncio.ensure_future(self._ask_keyframe(watching)))

    async def stop_watch(self, room_id: str, viewer: str, peer_id: str) -> None:
        """The console closed the office's large view: Janus stops sending it."""
        await self.leave(self._watcher(room_id, viewer, peer_id))

    # -- teardown
    async def leave(self, peer: JanusPeer, *, rejoining: bool = False) -> None:
        if peer.closed:
            return
        peer.closed = True
        room = peer.room
        if peer.role == "office" and room.offices.get(peer.office_key or "") is peer:
            del room.offices[peer.office_key]  # type: ignore[arg-type]
        elif peer.role == "leader" and room.leader is peer:
            room.leader = None
        elif peer.role == "subscriber":
            room.subscribers.pop(peer.id, None)
        elif peer.role == "watcher":
            room.watchers.pop(peer.id, None)
        self._by_handle.pop(peer.handle.id, None)
        current = asyncio.current_task()
        others = [t for t in peer.tasks if t is not current]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        if peer.forward_id is not None and self._control is not None and peer.feed_id is not None:
            try:
                await self._control.stop_rtp_forward(room.number, room.keys, peer.feed_id, peer.forward_id)
            except ApelError as exc:
                log.info("stopping the forward of %s: %s", peer.label, exc.message)
        if peer.tap is not None:
            await peer.tap.stop()
        if peer.source is not None:
            await peer.source.close()
        await peer.handle.detach()
        self._emit_left(room.room_id, peer.role, peer.office_key, room.stream_key(peer.office_key or ""), rejoining)

    async def close_room(self, room_id: str) -> None:
        """The apel ended: everyone is hung up and the room is destroyed in Janus."""
        room = self.rooms.pop(room_id, None)
        if room is None:
            return
        if room.watching is not None:
            room.watching.cancel()
            await asyncio.gather(room.watching, return_exceptions=True)
        for peer in room.peers():
            await self.leave(peer)
        if room.created_in is not None and room.created_in.lost is None and self._control is not None:
            try:
                await self._control.destroy(room.number, room.keys)
            except ApelError as exc:
                log.warning("destroying Janus room %s: %s", room.number, exc.message)
        self._emit(type="room_closed", room=room_id)

    async def close(self) -> None:
        for room_id in list(self.rooms):
            await self.close_room(room_id)
        await asyncio.gather(*self._leaving, return_exceptions=True)
        if self._session is not None:
            await self._session.destroy()
            self._session = None
        await self.client.aclose()
