"""Issue 20: a vision node told by the web node that an office publishes (PostgreSQL NOTIFY at the
join's commit, app.live.node.notify_publishing, with the video's mid) opens the office's RTP forward at
once, without waiting for its next look at Janus's room.

Real parts: Janus, a web node (`apel serve`, APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false) on PostgreSQL,
an office that is an aiortc peer with a live encoder (keyframes when asked, as a browser's), and the
node's own NodeRunner with its Janus source in this process (its pool the web node's NoAnalysis: this
is about the video reaching the node, not about faces). The node's looks at the room are made 30 s
apart here, so only the web node's word can open the forward within seconds of the join; without a
listener (SQLite, or the word lost) the looks still find the office, as before."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from app.live import node as node_mod
from app.live.bridge import NoAnalysis
from app.live.node import NodeOptions, NodeRunner
from app.live.node_sources import NOT_PUBLISHING, Feed
from attendance.db import make_engine, make_session_factory
from attendance.errors import ApelError
from media.client import connect_peer
from media.janus.feed_source import JanusFeed, JanusFeedSource
from media.sampling import DropOldestQueue
from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer
from tests.media.helpers import PatternTrack, wait_for
from tests.servers import apel_serve

from .test_janus_nodes import SECRET_KEY, _env
from .vision_nodes import node_world

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LOOK_S = 30.0          # the node's heartbeat and its looks for offices that send nothing yet, here
TOLD_OPEN_S = 3.0      # asserted: join request -> the node's forward made (the looks would take LOOK_S)


async def test_node_told_of_a_publisher_opens_its_forward_at_once(pg_url: str, tmp_path: Path, settings_factory,
                                                                  janus: JanusServer,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node_mod, "WAITING_POLL_S", LOOK_S)
    settings = settings_factory(pg_url)
    apel, _, tokens = await asyncio.to_thread(node_world, pg_url, settings.recogniser_spec,
                                              {"nobody": tmp_path / "none.jpg"}, 1, unenrolled={"nobody"})
    (code, token), = tokens.items()
    source = JanusFeedSource(janus.url, room_key=SECRET_KEY, api_secret=API_SECRET, admin_key=ADMIN_KEY)
    engine = make_engine(pg_url)
    runner = NodeRunner(settings, make_session_factory(engine), source,
                        NodeOptions(lease_s=3 * LOOK_S, heartbeat_s=LOOK_S), pool=NoAnalysis(), node_id="told")
    stop = asyncio.Event()
    running = asyncio.ensure_future(runner.run(stop))
    pc = None
    web_env = {**os.environ, **_env(janus, pg_url, tmp_path / "web"), "APEL_MEDIA": "janus",
               "APEL_JANUS_ANALYSE": "false", "APEL_VISION_WORKERS": "1"}
    try:
        with apel_serve(web_env, tmp_path / "web.log") as (url, _web):
            # the node holds the office, has looked once (nothing published yet) and listens
            def waiting() -> bool:
                run = next(iter(runner.running.values()), None)
                return (run is not None and run.not_publishing and runner.publishers is not None
                        and runner.publishers.listening.is_set())
            assert await wait_for(waiting, 30), "the node never took the office or never listened"

            async def signal(offer: dict) -> dict:
                async with httpx.AsyncClient(timeout=60) as http:
                    r = await http.post(f"{url}/api/v1/live/office/join", json={"office": code, "token": token,
                                                                                **offer})
                assert r.status_code == 200, r.text
                return dict(r.json())

            joined = time.monotonic()
            pc, _ = await connect_peer(signal, send_video=PatternTrack((320, 180)), receive_video=False)
            run = next(iter(runner.running.values()))
            assert await wait_for(lambda: run.feed is not None, TOLD_OPEN_S + 1), \
                f"no forward {TOLD_OPEN_S + 1} s after the join (the node's looks are {LOOK_S:.0f} s apart)"
            opened_s = time.monotonic() - joined
            assert runner.publishers is not None and runner.publishers.notifications == 1
            feed = run.feed
            assert isinstance(feed, JanusFeed)
            assert await wait_for(lambda: feed.track.frames_decoded > 0, 10), f"no frame ({feed.track.error})"
            first_s = time.monotonic() - joined
            print(f"\njoin -> the node's forward {opened_s:.2f} s, its first decoded frame {first_s:.2f} s")
            assert opened_s <= TOLD_OPEN_S, opened_s

            # a word about an office the node does not hold, or one it runs already, changes nothing
            runner.published(apel, 10**6, "0")
            runner.published(apel, run.lease.office_id, "0")
            await asyncio.sleep(0.5)
            assert run.feed is feed and len(runner.running) == 1

            # a stale word (an office that publishes nothing now): Janus refuses the forward, and the source
            # looks for the office itself and says it does not publish (the node looks again later)
            with pytest.raises(ApelError) as refused:
                await source.open(Feed(apel, run.lease.office_id + 1000, "none", f"{apel}/none", 1, "told", "1"),
                                  DropOldestQueue(maxsize=2))
            assert refused.value.code == NOT_PUBLISHING, refused.value
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        if pc is not None:
            await pc.close()
        engine.dispose()
