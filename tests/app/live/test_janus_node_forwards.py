"""Issue 20: every RTP forward a vision node had Janus make is stopped, whichever way the node lets
go of the office; Janus would otherwise send each one to a port nobody reads for the rest of the day.
Every part real and in its own process: Janus, one web node (`apel serve`, APEL_MEDIA=janus,
APEL_JANUS_ANALYSE=false: it makes no forward of its own), two vision nodes (`apel node --source
janus:`) on PostgreSQL, and two aiortc offices. What counts is what Janus itself lists
(`listforwarders` of the apel's room), not what the nodes log.

One node holds both offices; a second node starts and the first gives it one (its forward of that
office is stopped); an office rejoins (one forward of it, not two); the first node is killed (SIGKILL:
no clean-up of its own) and the survivor, taking its office over, stops the forward Janus kept
sending to the dead node's port; then the survivor stops (SIGTERM) and no forward is left at all.
The offices send a test pattern: faces are not the point."""
from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection

from attendance.db import make_engine, make_session_factory
from media.client import connect_peer
from media.janus import videoroom as vr
from media.janus.client import JanusClient
from tests.conftest import fresh_pg
from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer
from tests.media.helpers import PatternTrack
from tests.servers import apel_serve

from .vision_nodes import balanced, holders, node_ids, node_world, start_node, tail, until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET_KEY = "apel-test-janus-node-forwards"   # the web node's and every node's (Janus rooms' keys)
SAMPLE_FPS = 2.0
CLEANED_S = 15.0    # from the kill: the lease lapses (about 6 s), the taker stops what the dead node left


def _env(janus: JanusServer, url: str, data_dir: Path) -> dict[str, str]:
    return {"APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(data_dir), "APEL_SECRET_KEY": SECRET_KEY,
            "APEL_JANUS_URL": janus.url, "APEL_JANUS_API_SECRET": API_SECRET, "APEL_JANUS_ADMIN_KEY": ADMIN_KEY,
            "APEL_LANGUAGE": "en", "APEL_KEEP_EVIDENCE": "false", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    yield from fresh_pg(pg_template)


async def _join(url: str, code: str, token: str) -> RTCPeerConnection:
    async def signal_(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{url}/api/v1/live/office/join", json={"office": code, "token": token, **offer})
        assert r.status_code == 200, r.text
        return dict(r.json())

    pc, _ = await connect_peer(signal_, send_video=PatternTrack((320, 180)), receive_video=False)
    return pc


class Room:
    """The apel's Janus room's forwards, as Janus lists them (a session of the test's own each time:
    the waits poll from worker threads)."""

    def __init__(self, janus: JanusServer, apel: int) -> None:
        self.url = janus.url
        self.number = apel   # APEL_JANUS_ROOM_BASE is 0
        self.keys = vr.room_keys(SECRET_KEY, self.number)

    def listed(self) -> list[vr.Forwarder]:
        return asyncio.run(self._list())

    async def _list(self) -> list[vr.Forwarder]:
        client = JanusClient(self.url, api_secret=API_SECRET)
        try:
            session = await client.create_session()
            try:
                return await vr.VideoRoomControl(await session.attach()).list_forwarders(self.number, self.keys)
            finally:
                await session.destroy()
        finally:
            await client.aclose()


def by_node(forwards: list[vr.Forwarder], nodes: list[str]) -> dict[str, list[vr.Forwarder]]:
    """The forwards by the node whose mark (SSRC) they carry; "?" for an unmarked one."""
    marks = {vr.forward_ssrc(n): n for n in nodes}
    out: dict[str, list[vr.Forwarder]] = {}
    for f in forwards:
        out.setdefault(marks.get(f.ssrc or 0, "?"), []).append(f)
    return out


def one_each(room: Room, publishers: set[int]) -> list[vr.Forwarder] | None:
    """The room's forwards once every office has exactly one (and there are no others)."""
    got = room.listed()
    per = Counter(f.publisher_id for f in got)
    return got if set(per) == publishers and set(per.values()) == {1} else None


async def test_no_forward_outlives_its_node(pg_url: str, tmp_path: Path, settings_factory,
                                            janus: JanusServer) -> None:
    logs = [tmp_path / "node-a.log", tmp_path / "node-b.log"]
    procs = [start_node(pg_url, tmp_path / "data-a", "janus:127.0.0.1", logs[0], SAMPLE_FPS,
                        _env(janus, pg_url, tmp_path / "data-a"))]
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    pcs: list[RTCPeerConnection] = []
    try:
        recogniser = settings_factory(pg_url).recogniser_spec
        apel, _, tokens = await asyncio.to_thread(node_world, pg_url, recogniser, {}, 2)
        room = Room(janus, apel)
        web_env = {**os.environ, **_env(janus, pg_url, tmp_path / "web"), "APEL_MEDIA": "janus",
                   "APEL_JANUS_ANALYSE": "false", "APEL_VISION_WORKERS": "1"}
        with apel_serve(web_env, tmp_path / "web.log") as (url, web):
            logs.append(tmp_path / "web.log")
            await asyncio.to_thread(until, "node A holding both offices", lambda: balanced(factory, apel, [2]), 60,
                                    procs, logs)
            for code, token in tokens.items():
                pcs.append(await _join(url, code, token))
            publishers = {vr.office_feed_id(o) for o in holders(factory, apel)}
            first = await asyncio.to_thread(until, "node A's forward of each office",
                                            lambda: one_each(room, publishers), 30, procs, logs)
            a = node_ids(factory)[procs[0].pid]
            assert isinstance(first, list) and set(by_node(first, [a])) == {a}, first

            # A second node: A gives it one office, and stops its forward of it.
            procs.append(start_node(pg_url, tmp_path / "data-b", "janus:127.0.0.1", logs[1], SAMPLE_FPS,
                                    _env(janus, pg_url, tmp_path / "data-b")))
            await asyncio.to_thread(until, "one office each", lambda: balanced(factory, apel, [1, 1]), 60, procs,
                                    logs)
            b = node_ids(factory)[procs[1].pid]

            def shared() -> list[vr.Forwarder] | None:
                got = one_each(room, publishers)
                return got if got and {n: len(f) for n, f in by_node(got, [a, b]).items()} == {a: 1, b: 1} else None

            split = await asyncio.to_thread(until, "one forward by each node", shared, 30, procs, logs)
            assert isinstance(split, list)

            # An office drops and joins again (a browser that reloads): its node's forward of the old
            # publisher is stopped, and one forward of the new one made.
            (code, token), old_ids = next(iter(tokens.items())), {f.stream_id for f in split}
            await pcs.pop(0).close()
            await asyncio.sleep(1.0)
            pcs.append(await _join(url, code, token))

            def renewed() -> list[vr.Forwarder] | None:
                got = shared()
                return got if got and len({f.stream_id for f in got} - old_ids) == 1 else None

            split = await asyncio.to_thread(until, "one forward of the rejoined office", renewed, 30, procs, logs)
            assert isinstance(split, list)
            dead = by_node(split, [a, b])[a]

            # A dies without a word: B takes its office over and stops the forward Janus kept to A's port.
            os.killpg(procs[0].pid, signal.SIGKILL)
            killed = time.monotonic()
            procs[0].wait(10)
            await asyncio.to_thread(until, "B holding both offices",
                                    lambda: all(n == b for n in holders(factory, apel).values()), 30, procs[1:], logs)

            def cleaned() -> list[vr.Forwarder] | None:
                got = one_each(room, publishers)
                return got if got and set(by_node(got, [a, b])) == {b} else None

            try:
                after = await asyncio.to_thread(until, "B's forwards only", cleaned, CLEANED_S, procs[1:], logs)
            finally:
                now = await asyncio.to_thread(room.listed)
                left = [f for f in now if f.stream_id in {d.stream_id for d in dead}]
                print(f"\nforwards in Janus {time.monotonic() - killed:.1f} s after the kill: {now}")
            assert not left, f"Janus still forwards to the dead node: {left}\n{tail(logs)}"
            assert isinstance(after, list) and not {f.port for f in after} & {d.port for d in dead}
            assert f"left by node {a}" in logs[1].read_text(), tail(logs)
            print(f"the dead node's forward stopped {time.monotonic() - killed:.1f} s after the kill")

            # B stops cleanly: it leaves nothing in Janus.
            procs[1].send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(procs[1].wait, 10) == 0, tail(logs)
            assert await asyncio.to_thread(room.listed) == [], tail(logs)
            assert web.poll() is None, tail(logs)
    finally:
        for pc in pcs:
            await pc.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        engine.dispose()
