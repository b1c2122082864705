"""Issue 20: an office that drops and joins again (a browser that reloads) is analysed again by its
vision node. Every part real and in its own process: Janus, one web node (`apel serve`,
APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false), one vision node (`apel node --source janus:`) on
PostgreSQL, and an aiortc office.

The rejoin is a new publisher in the Janus room: the node's RTP forward went with the old one, so the
node must notice its feed went quiet and forward the new publisher to itself. Checked in the node's
own log (a first analysed frame after the rejoin) and in the database (sightings of the office from
after the rejoin)."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from attendance.db import make_engine, make_session_factory
from media.client import encode_clip_vp8
from tests.janus_server import JanusServer
from tests.servers import apel_serve

from .conftest import office_clip
from .test_janus_nodes import HFOV, LEADER_PASSWORD, SAMPLE_FPS, SIZE, BrowserLikeCamera, _env, _join
from .vision_nodes import balanced, first_analysed, logged_at, node_world, start_node, tail, tracks, until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.shared_data]

REJOIN_FIRST_FRAME_S = 10.0   # asserted; the target (about 5 s) is what the printed figure is compared with
RELOAD_GAP_S = 1.0            # the browser's reload: the old connection closed, the page loads, joins again


async def test_rejoined_office_is_analysed_again(pg_url: str, shared_data: Path, tmp_path: Path, settings_factory,
                                                 janus: JanusServer) -> None:
    t_start = time.monotonic()
    node_log = tmp_path / "node.log"
    logs = [node_log]
    proc = start_node(pg_url, tmp_path / "data-node", "janus:127.0.0.1", node_log, SAMPLE_FPS,
                      _env(janus, pg_url, tmp_path / "data-node"))
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    pcs: list[RTCPeerConnection] = []
    try:
        clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path, 2, size=SIZE, hfov=HFOV)
        packets = await asyncio.to_thread(encode_clip_vp8, str(clip), size=SIZE, fps=15, bitrate=600_000,
                                          gop=10**6)
        recogniser = settings_factory(pg_url).recogniser_spec
        apel, _, tokens = await asyncio.to_thread(node_world, pg_url, recogniser, photos, 1, hfov=HFOV,
                                                  leader_password=LEADER_PASSWORD)
        (code, token), = tokens.items()
        key = f"{apel}/{code}"
        web_env = {**os.environ, **_env(janus, pg_url, tmp_path / "web"), "APEL_MEDIA": "janus",
                   "APEL_JANUS_ANALYSE": "false", "APEL_VISION_WORKERS": "1"}
        with apel_serve(web_env, tmp_path / "web.log") as (url, web):
            logs.append(tmp_path / "web.log")
            await asyncio.to_thread(until, "the node holding the office", lambda: balanced(factory, apel, [1]), 60,
                                    [proc], logs)

            # The office joins and is analysed.
            joined = time.time()
            pcs.append(await _join(url, code, token, BrowserLikeCamera(packets)))
            first = await asyncio.to_thread(until, "the office's first analysed frame",
                                            lambda: first_analysed(node_log, key, joined), 30, [proc], logs)
            assert isinstance(first, float)
            print(f"\njoin to first analysed frame {first - joined:.2f} s")

            # The browser reloads: its connection closes, and it joins again with a new peer.
            closed = time.time()
            await pcs.pop().close()
            await asyncio.sleep(RELOAD_GAP_S)
            rejoined = time.time()
            pcs.append(await _join(url, code, token, BrowserLikeCamera(packets)))

            def seen_after_rejoin() -> bool:   # the outcome, whatever the node logs
                return any(t.last_at.replace(tzinfo=t.last_at.tzinfo or UTC) > datetime.fromtimestamp(rejoined, UTC)
                           for t in tracks(factory, apel))

            await asyncio.to_thread(until, "sightings of the office after its rejoin", seen_after_rejoin, 30,
                                    [proc], logs)
            again = first_analysed(node_log, key, rejoined)
            assert again is not None, tail(logs)
            rejoin_s = again - rejoined
            print(f"rejoin to first analysed frame {rejoin_s:.2f} s; sightings after the rejoin "
                  f"{time.time() - rejoined:.1f} s; whole test {time.monotonic() - t_start:.0f} s")
            assert rejoin_s <= REJOIN_FIRST_FRAME_S, rejoin_s
            reopened = [t for t, _ in logged_at(node_log, "stalled .*: opening it again")]
            assert reopened and min(reopened) >= closed - 0.01, (closed, reopened)   # not before it left
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 10) == 0, tail(logs)
            assert web.poll() is None, tail(logs)
    finally:
        for pc in pcs:
            await pc.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        engine.dispose()
