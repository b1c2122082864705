"""The VideoRoom requests Apel uses (Janus 1.x's multistream API): rooms with a secret and a PIN Apel
keeps, publishers that join with the peer's own offer, subscribers that Janus offers to, and RTP
forwards of a publisher's video to a vision node.

Room secrets and PINs are derived from Apel's own key and the room number (`room_secret`): an Apel
that restarts mid-apel can still join, forward and destroy the rooms it created, and nobody who
reaches Janus without them can (the API secret already keeps them out).

A vision node's forwards carry its mark: their SSRC is `forward_ssrc(node id)`, which Janus lists
back (`listforwarders`). So a node that takes over a dead node's offices finds the forwards the dead
one left (Janus would keep sending them to a port nobody reads) among the others in the room (the live
nodes', the web node's unmarked ones) without any record of them, even of a forward made a moment
before the death."""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from media.janus.client import JanusError, JanusHandle, JanusSession

NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
OFFICE_FEED_BASE = 1000      # office publisher ids: this + the office's id (the leader is 1)


@dataclass(frozen=True)
class RoomKeys:
    """What Janus asks of anyone who manages (secret) or joins (pin) a room."""

    secret: str
    pin: str


def room_keys(key: str, room: int) -> RoomKeys:
    mac = hmac.new(key.encode(), f"apel-janus-room:{room}".encode(), hashlib.sha256).hexdigest()
    return RoomKeys(secret=mac[:32], pin=mac[32:48])


@dataclass(frozen=True)
class Forwarder:
    """One RTP forward of a room, as `listforwarders` tells it."""

    publisher_id: int
    stream_id: int
    host: str
    port: int
    ssrc: int | None     # None: made without one, so no node's mark (the web node's own forwards)


def forward_ssrc(owner: str) -> int:
    """The SSRC a forward made for `owner` (a vision node's id) carries: its mark in `listforwarders`.
    Never 0 (Janus would take that for none)."""
    digest = hashlib.sha256(f"apel-forward:{owner}".encode()).digest()
    return int.from_bytes(digest[:4], "big") or 1


def janus_code(exc: JanusError) -> int | None:
    details = exc.details if isinstance(exc.details, dict) else {}
    code = details.get("janus_code")
    return int(code) if isinstance(code, int) else None


class VideoRoomControl:
    """Room-level requests on one control handle (create, destroy, participants, RTP forwards)."""

    def __init__(self, handle: JanusHandle, *, admin_key: str | None = None) -> None:
        self.handle = handle
        self.admin_key = admin_key

    async def create(self, room: int, keys: RoomKeys, *, description: str = "", publishers: int = 100,
                     bitrate: int = 0, fir_freq: int = 10) -> bool:
        """Creates the room; False if it exists already (an Apel that restarted: the keys are the same)."""
        body: dict[str, Any] = {
            "request": "create", "room": room, "description": description[:100], "secret": keys.secret,
            "pin": keys.pin, "is_private": True, "publishers": publishers, "bitrate": bitrate,
            "fir_freq": fir_freq, "videocodec": "vp8", "audiocodec": "opus", "notify_joining": False,
            "permanent": False, "lock_record": True, "require_pvtid": False,
        }
        if self.admin_key:
            body["admin_key"] = self.admin_key
        try:
            await self.handle.request(body)
        except JanusError as exc:
            if janus_code(exc) == ROOM_EXISTS:
                return False
            raise
        return True

    async def destroy(self, room: int, keys: RoomKeys) -> None:
        try:
            await self.handle.request({"request": "destroy", "room": room, "secret": keys.secret,
                                       "permanent": False})
        except JanusError as exc:
            if janus_code(exc) != NO_SUCH_ROOM:
                raise

    async def exists(self, room: int) -> bool:
        data = await self.handle.request({"request": "exists", "room": room})
        return bool(data.get("exists"))

    async def participants(self, room: int) -> list[dict[str, Any]]:
        data = await self.handle.request({"request": "listparticipants", "room": room})
        return list(data.get("participants") or [])

    async def rtp_forward(self, room: int, keys: RoomKeys, publisher_id: int, host: str, port: int, *,
                          video_mid: str, pt: int = 96, ssrc: int | None = None,
                          rtcp_port: int | None = None) -> int:
        """Forwards the publisher's video stream (`video_mid`) as plain RTP to host:port; the stream id.
        `rtcp_port`: the receiver's port for RTCP feedback; a keyframe request (PLI) sent from it to the
        forward (Janus writes to it first, so the receiver learns where) is passed on to the publisher."""
        stream: dict[str, Any] = {"mid": video_mid, "port": port, "pt": pt}
        if ssrc is not None:
            stream["ssrc"] = ssrc
        if rtcp_port is not None:
            stream["rtcp_port"] = rtcp_port
        body: dict[str, Any] = {"request": "rtp_forward", "room": room, "publisher_id": publisher_id,
                                "host": host, "host_family": "ipv4", "secret": keys.secret, "streams": [stream]}
        if self.admin_key:
            body["admin_key"] = self.admin_key
        data = await self.handle.request(body)
        forwarders = data.get("forwarders") or []
        if not forwarders:
            raise JanusError(None, f"Janus made no RTP forward for publisher {publisher_id} (mid {video_mid})")
        return int(forwarders[0]["stream_id"])

    async def list_forwarders(self, room: int, keys: RoomKeys) -> list[Forwarder]:
        """Every RTP forward of the room's publishers; none if the room does not exist."""
        try:
            data = await self.handle.request({"request": "listforwarders", "room": room, "secret": keys.secret})
        except JanusError as exc:
            if janus_code(exc) == NO_SUCH_ROOM:
                return []
            raise
        found = []
        for publisher in data.get("publishers") or []:
            for fwd in publisher.get("forwarders") or []:
                ssrc = fwd.get("ssrc")
                found.append(Forwarder(int(publisher["publisher_id"]), int(fwd["stream_id"]), str(fwd.get("host", "")),
                                       int(fwd.get("port") or 0), int(ssrc) if isinstance(ssrc, int) else None))
        return found

    async def stop_rtp_forward(self, room: int, keys: RoomKeys, publisher_id: int, stream_id: int) -> None:
        """Idempotent: a forward, publisher or room already gone is not an error."""
        try:
            body: dict[str, Any] = {"request": "stop_rtp_forward", "room": room, "publisher_id": publisher_id,
                                    "stream_id": stream_id, "secret": keys.secret}
            if self.admin_key:
                body["admin_key"] = self.admin_key
            await self.handle.request(body)
        except JanusError as exc:
            if janus_code(exc) not in (NO_SUCH_ROOM, NO_SUCH_FEED):
                raise


async def publish(session: JanusSession, room: int, keys: RoomKeys, feed_id: int, display: str,
                  offer: dict[str, str]) -> tuple[JanusHandle, dict[str, str], dict[str, Any]]:
    """Joins `feed_id` to the room as a publisher with the peer's offer: the handle, Janus's answer
    and the plugin's `joined` data. The handle is detached again if Janus refuses."""
    handle = await session.attach()
    try:
        data, jsep = await handle.message({"request": "joinandconfigure", "ptype": "publisher", "room": room,
                                           "id": feed_id, "display": display[:100], "pin": keys.pin,
                                           "audio": True, "video": True}, jsep=offer)
        if not jsep or jsep.get("type") != "answer":
            raise JanusError("janus_no_answer", f"Janus joined feed {feed_id} without an SDP answer")
    except BaseException:
        await handle.detach()
        raise
    return handle, {"sdp": jsep["sdp"], "type": "answer"}, data


async def subscribe(session: JanusSession, room: int, keys: RoomKeys,
                    feed_id: int, *, mid: str | None = None) -> tuple[JanusHandle, dict[str, str]]:
    """Subscribes to a publisher's feed (only its stream `mid` if given): the handle and Janus's offer
    (the peer answers: `start`)."""
    stream: dict[str, Any] = {"feed": feed_id} if mid is None else {"feed": feed_id, "mid": mid}
    handle = await session.attach()
    try:
        _, jsep = await handle.message({"request": "join", "ptype": "subscriber", "room": room, "pin": keys.pin,
                                        "streams": [stream], "use_msid": False})
        if not jsep or jsep.get("type") != "offer":
            raise JanusError("janus_no_offer", f"Janus subscribed to feed {feed_id} without an SDP offer")
    except BaseException:
        await handle.detach()
        raise
    return handle, {"sdp": jsep["sdp"], "type": "offer"}


async def start(handle: JanusHandle, answer: dict[str, str]) -> None:
    """The subscriber's answer to Janus's offer: media starts flowing."""
    await handle.message({"request": "start"}, jsep={"sdp": answer["sdp"], "type": "answer"})


def office_feed_id(office_id: int) -> int:
    """An office's publisher id in its apel's room: fixed by the office, so another process (a vision
    node) finds the office's feed from the database alone."""
    return OFFICE_FEED_BASE + office_id


async def publisher_video_mid(session: JanusSession, room: int, keys: RoomKeys, feed_id: int) -> str | None:
    """The mid of a publisher's video stream, for a process that did not publish it (a vision node
    about to ask for an RTP forward): a subscriber join that is never started lists the feed's
    streams; the handle is detached at once. None if the feed has no video."""
    handle = await session.attach()
    try:
        data, _ = await handle.message({"request": "join", "ptype": "subscriber", "room": room, "pin": keys.pin,
                                        "streams": [{"feed": feed_id}]})
    finally:
        await handle.detach()
    for stream in data.get("streams") or []:
        if stream.get("type") == "video" and stream.get("active", True) and stream.get("feed_mid") is not None:
            return str(stream["feed_mid"])
    return None


def video_mid(joined: dict[str, Any], feed_id: int) -> str | None:
    """The mid of the publisher's video stream, from the `joined`/`event` data or a participants list."""
    for stream in joined.get("streams") or []:
        if stream.get("type") == "video" and not stream.get("disabled"):
            return str(stream.get("mid"))
    return None
