"""The clean-up of RTP forwards a node left in a real Janus (media/janus/feed_source.py): a taker
stops exactly the forwards marked by the nodes it is told are gone, never its own, a live node's or
an unmarked one (the web node's), and again finds nothing to do; a source that closes stops whatever
of its own is still in Janus, even a forward whose id it never heard."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from aiortc import RTCPeerConnection

from attendance.errors import ApelError
from media.client import connect_peer
from media.janus import videoroom as vr
from media.janus.client import JanusClient
from media.janus.feed_source import JanusFeedSource
from media.sampling import DropOldestQueue
from tests.janus_server import ADMIN_KEY, API_SECRET
from tests.media.helpers import PatternTrack

ROOM_KEY, ROOM_BASE, APEL, OFFICE = "forwards-secret-key", 2000, 31, 4


@dataclass(frozen=True)
class Feed:
    assembly_id: int
    office_id: int
    stream_key: str
    node_id: str


async def test_a_taker_stops_only_the_gone_nodes_forwards(janus) -> None:
    room = ROOM_BASE + APEL
    keys = vr.room_keys(ROOM_KEY, room)
    feed_id = vr.office_feed_id(OFFICE)
    client = JanusClient(janus.url, api_secret=API_SECRET)
    session = await client.create_session()
    control = vr.VideoRoomControl(await session.attach(), admin_key=ADMIN_KEY)
    source = JanusFeedSource(janus.url, room_key=ROOM_KEY, api_secret=API_SECRET, admin_key=ADMIN_KEY,
                             room_base=ROOM_BASE)
    pcs: list[RTCPeerConnection] = []
    opened = None
    try:
        assert await source.stop_orphans(APEL, {"dead"}) == []   # no room yet: nothing to do, no error
        await control.create(room, keys)
        joined: dict = {}

        async def signal(offer: dict) -> dict:
            _, answer, data = await vr.publish(session, room, keys, feed_id, "OPD4", offer)
            joined.update(data)
            return answer

        pc, _ = await connect_peer(signal, send_video=PatternTrack((320, 180)), receive_video=False)
        pcs.append(pc)
        mid = vr.video_mid(joined, feed_id)
        assert mid is not None
        deadline = time.monotonic() + 15
        while opened is None:   # the office publishes once its media is up
            try:
                opened = await source.open(Feed(APEL, OFFICE, f"{APEL}/OPD4", "me"), DropOldestQueue(maxsize=2))
            except ApelError as exc:
                assert exc.code == "office_not_publishing" and time.monotonic() < deadline, exc
                await asyncio.sleep(0.2)

        async def forward(port: int, owner: str | None) -> int:
            return await control.rtp_forward(room, keys, feed_id, "127.0.0.1", port, video_mid=mid,
                                             ssrc=vr.forward_ssrc(owner) if owner else None)
        dead = await forward(41000, "dead")
        dead_too = await forward(41002, "dead")
        live = await forward(41004, "live")
        web = await forward(41006, None)

        def ids(forwards: list[vr.Forwarder]) -> set[int]:
            return {f.stream_id for f in forwards}

        assert ids(await control.list_forwarders(room, keys)) == {opened.forward_id, dead, dead_too, live, web}
        stopped = await source.stop_orphans(APEL, {"dead", "me"})   # "me": the source's own node, never stopped
        assert ids(stopped) == {dead, dead_too}
        assert ids(await control.list_forwarders(room, keys)) == {opened.forward_id, live, web}
        assert await source.stop_orphans(APEL, {"dead"}) == []     # idempotent

        # A forward of this node's that it never heard of (an open cancelled mid-request): gone at the close.
        lost = await forward(41008, "me")
        await opened.close()
        opened = None
        assert lost in ids(await control.list_forwarders(room, keys))
        await source.close()
        assert ids(await control.list_forwarders(room, keys)) == {live, web}
    finally:
        if opened is not None:
            await opened.close()
        for p in pcs:
            await p.close()
        await source.close()
        await session.destroy()
        await client.aclose()
