"""Issue 20's multi-node apel through Janus, every part real and in its own process: Janus (the
`janus` fixture), one web node (`apel serve`, APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false: it keeps
the rules and the rooms, the nodes analyse) and two vision nodes (`apel node --source janus:`) on one
PostgreSQL database. Six offices join through Apel's join endpoint as aiortc peers sending a synthetic
office made of real, enrolled faces; the leader publishes once and every office receives the leader
through Apel's leader-feed endpoints.

Measured and checked: each office's join to its first analysed frame on a node (the node's own log),
then one node is killed (SIGKILL to its process group: no clean-up) mid-apel and the survivor takes
its offices over: the leases within 10 s, and a frame of each analysed soon after; every person is
marked, and nothing is counted twice (tests/app/live/vision_nodes.assert_counted_once).

The offices' cameras behave as a browser's encoder does: one keyframe when they start and then only
when asked (RTCP PLI/FIR, which Janus sends for a new forward), so a node's first frame depends on
that request working, not on a periodic keyframe."""
from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from pathlib import Path

import httpx
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from attendance.db import make_engine, make_session_factory
from attendance.models import Office
from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8
from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer
from tests.media.helpers import Collector, PatternTrack
from tests.servers import apel_serve

from .conftest import office_clip
from .vision_nodes import (
    MARKED,
    analysed_by,
    assert_counted_once,
    balanced,
    first_analysed,
    holders,
    node_ids,
    node_world,
    start_node,
    statuses,
    tail,
    until,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.shared_data]

OFFICES = 6
PEOPLE = 2                 # per office: the same two enrolled people, as each office's own staff
SAMPLE_FPS = 3.0
SIZE, HFOV = (640, 360), 22.5   # a narrower lens on a smaller frame: faces as large as at 720p, 45 degrees
SECRET_KEY = "apel-test-janus-nodes-secret"   # the web node's and every node's (Janus rooms' keys)
LEADER_PASSWORD = "leader-pass-123"
# What the test asserts: the 10 s for the leases; room for a loaded CI machine's slow vision
# worker on the first frames (the targets, 2 s from a join and 10 s from a death, are what the
# printed figures are compared with: docs/nodes.md, Measured).
TAKEOVER_LEASE_S = 10.0
TAKEOVER_FIRST_FRAME_S = 15.0
JOIN_FIRST_FRAME_S = 10.0


class BrowserLikeCamera(PreEncodedTrack):
    """A pre-encoded office clip with one keyframe, at its start, sent as a browser's encoder sends:
    the keyframe when it starts and again only when the receiver asks (the clip then starts over).
    `asked`: how many times a keyframe was asked for."""

    def __init__(self, packets: list[bytes], fps: int = 15) -> None:
        super().__init__(packets, fps)
        self._clip = list(packets)
        self.asked = 0

    def keyframe(self) -> None:
        """The next packet sent is the clip's first (its keyframe)."""
        self.asked += 1
        n, count = self._n, len(self._clip)
        self._packets = [self._clip[(i - n) % count] for i in range(count)]

    def listen(self, pc: RTCPeerConnection) -> None:
        """Hear the keyframe requests (PLI, FIR) that reach this track's sender."""
        sender = next(s for s in pc.getSenders() if s.track is self)
        ask = sender._send_keyframe

        def asked() -> None:
            ask()
            self.keyframe()
        sender._send_keyframe = asked   # type: ignore[method-assign]


def _env(janus: JanusServer, url: str, data_dir: Path) -> dict[str, str]:
    return {"APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(data_dir), "APEL_SECRET_KEY": SECRET_KEY,
            "APEL_JANUS_URL": janus.url, "APEL_JANUS_API_SECRET": API_SECRET, "APEL_JANUS_ADMIN_KEY": ADMIN_KEY,
            "APEL_LANGUAGE": "en", "APEL_KEEP_EVIDENCE": "false", "PYTHONUNBUFFERED": "1"}


async def _join(url: str, code: str, token: str, camera: BrowserLikeCamera) -> RTCPeerConnection:
    async def signal_(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{url}/api/v1/live/office/join", json={"office": code, "token": token, **offer})
        assert r.status_code == 200, r.text
        reply = dict(r.json())
        assert reply["media"] == "janus", reply
        return reply

    pc, _ = await connect_peer(signal_, send_video=camera, receive_video=False)
    camera.listen(pc)
    return pc


async def _leader(url: str, apel: int) -> RTCPeerConnection:
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(f"{url}/api/v1/auth/login", json={"username": "leader", "password": LEADER_PASSWORD})
        r.raise_for_status()
        auth = {"Authorization": f"Bearer {r.json()['access_token']}"}

    async def signal_(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{url}/api/v1/live/assemblies/{apel}/leader", headers=auth, json=offer)
        assert r.status_code == 200, r.text
        return dict(r.json())

    pc, _ = await connect_peer(signal_, send_video=PatternTrack((320, 180)), receive_video=False)
    return pc


async def _receive_leader(url: str, code: str, token: str, collector: Collector) -> RTCPeerConnection:
    """The office's second connection, as the join page makes it: Janus's offer of the leader's feed
    through Apel (asked again while the leader is not live yet), and the office's answer."""
    auth = {"office": code, "token": token}
    async with httpx.AsyncClient(timeout=60) as http:
        deadline = time.monotonic() + 30
        while True:
            r = await http.post(f"{url}/api/v1/live/office/leader-feed", json=auth)
            if r.status_code != 409 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert r.status_code == 200, r.text
        offer = r.json()
        pc = RTCPeerConnection()
        pc.on("track", collector.on_track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        r = await http.post(f"{url}/api/v1/live/office/leader-feed/answer",
                            json={**auth, "subscription": offer["subscription"], "sdp": pc.localDescription.sdp,
                                  "type": "answer"})
        assert r.status_code == 200, r.text
    return pc


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"



def _vision_workers_of(pid: int) -> list[int]:
    """The multiprocessing workers (spawned children) of a process, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found

async def test_six_offices_two_nodes_through_janus_one_killed(pg_url: str, shared_data: Path, tmp_path: Path,
                                                              settings_factory, janus: JanusServer) -> None:
    t_start = time.monotonic()
    logs = [tmp_path / "node-a.log", tmp_path / "node-b.log"]
    # The nodes start first: their vision workers load their models while the clip is rendered.
    procs = [start_node(pg_url, tmp_path / f"data-{i}", "janus:127.0.0.1", log, SAMPLE_FPS,
                        _env(janus, pg_url, tmp_path / f"data-{i}")) for i, log in enumerate(logs)]
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    pcs: list[RTCPeerConnection] = []
    collectors: list[Collector] = []
    try:
        clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path, PEOPLE, size=SIZE, hfov=HFOV)
        packets = await asyncio.to_thread(encode_clip_vp8, str(clip), size=SIZE, fps=15, bitrate=600_000,
                                          gop=10**6)
        recogniser = settings_factory(pg_url).recogniser_spec
        apel, staff, tokens = await asyncio.to_thread(node_world, pg_url, recogniser, photos, OFFICES, hfov=HFOV,
                                                      leader_password=LEADER_PASSWORD)
        with factory() as s:
            codes = {o.id: o.code for o in s.query(Office)}
        everyone = [e for ids in staff.values() for e in ids]
        web_env = {**os.environ, **_env(janus, pg_url, tmp_path / "web"), "APEL_MEDIA": "janus",
                   "APEL_JANUS_ANALYSE": "false", "APEL_VISION_WORKERS": "1"}
        with apel_serve(web_env, tmp_path / "web.log") as (url, web):
            logs.append(tmp_path / "web.log")
            by_node = await asyncio.to_thread(until, "both nodes holding three offices each",
                                              lambda: balanced(factory, apel, [3, 3]), 90, procs, logs)
            assert isinstance(by_node, dict)
            ids = node_ids(factory)
            log_of = {ids[p.pid]: log for p, log in zip(procs, logs, strict=False)}
            print(f"\nnodes up and balanced {time.monotonic() - t_start:.1f} s after the start; {_load()}")

            # The offices join, one after another; each office's first analysed frame is in its node's log.
            cameras = {code: BrowserLikeCamera(packets) for code in tokens}
            joined: dict[str, float] = {}
            for code, token in tokens.items():
                joined[code] = time.time()
                pcs.append(await _join(url, code, token, cameras[code]))
            holder = {codes[o]: n for o, n in holders(factory, apel).items()}

            def first_frames() -> dict[str, float] | None:
                got = {c: first_analysed(log_of[str(holder[c])], f"{apel}/{c}", joined[c]) for c in tokens}
                return None if None in got.values() else {c: t - joined[c] for c, t in got.items() if t}

            join_s = await asyncio.to_thread(until, "every office's first analysed frame", first_frames, 60,
                                             procs, logs)
            assert isinstance(join_s, dict)
            # The web node leaves the analysis to the nodes: it started no vision worker (no models loaded).
            assert not _vision_workers_of(web.pid), "the web node started vision workers it never uses"
            print("join to first analysed frame (s): " + ", ".join(f"{c} {s:.2f}" for c, s in join_s.items())
                  + f"; median {statistics.median(join_s.values()):.2f}, max {max(join_s.values()):.2f}; {_load()}")
            assert max(join_s.values()) <= JOIN_FIRST_FRAME_S, join_s

            # The leader publishes once; Janus fans it out to every office (through Apel's endpoints).
            pcs.append(await _leader(url, apel))
            for code, token in tokens.items():
                collectors.append(Collector())
                pcs.append(await _receive_leader(url, code, token, collectors[-1]))
            deadline = time.monotonic() + 30
            while min(c.frames for c in collectors) < 10:
                assert time.monotonic() < deadline, [c.frames for c in collectors]
                await asyncio.sleep(0.2)
            assert all(c.sizes == {(320, 180)} for c in collectors), [c.sizes for c in collectors]
            print(f"the leader reached all {OFFICES} offices; {_load()}")

            # Both nodes analyse their offices (sightings written); then one node dies.
            victim, survivor = ids[procs[0].pid], ids[procs[1].pid]
            victims_offices = by_node[victim]
            await asyncio.to_thread(until, "each node's sightings of its offices",
                                    lambda: all(analysed_by(factory, apel, n, o) for n, o in by_node.items()), 90,
                                    procs, logs)
            os.killpg(procs[0].pid, signal.SIGKILL)   # the node and its vision worker, no clean-up
            killed, killed_wall = time.monotonic(), time.time()
            procs[0].wait(10)
            await asyncio.to_thread(until, "the survivor holding every office",
                                    lambda: all(n == survivor for n in holders(factory, apel).values()), 30,
                                    procs[1:], logs)
            lease_s = time.monotonic() - killed
            keys = [f"{apel}/{codes[o]}" for o in victims_offices]

            def survivor_frames() -> list[float] | None:
                got = [first_analysed(log_of[survivor], k, killed_wall) for k in keys]
                return None if None in got else [t - killed_wall for t in got if t]

            frames_s = await asyncio.to_thread(until, "the survivor's first analysed frame of each taken office",
                                               survivor_frames, 60, procs[1:], logs)
            assert isinstance(frames_s, list)
            await asyncio.to_thread(until, "the survivor's sightings of the dead node's offices",
                                    lambda: analysed_by(factory, apel, survivor, victims_offices), 60, procs[1:], logs)
            sightings_s = time.monotonic() - killed
            await asyncio.to_thread(until, "every person marked",
                                    lambda: all(statuses(factory, apel).get(e) in MARKED for e in everyone), 90,
                                    procs[1:], logs)
            asked = {c: cam.asked for c, cam in cameras.items()}
            print(f"take-over after the kill: leases {lease_s:.1f} s, first analysed frame of each taken office "
                  f"{', '.join(f'{s:.1f}' for s in frames_s)} s (max {max(frames_s):.1f}), their first sightings "
                  f"{sightings_s:.1f} s; keyframes asked of the offices {asked}; {_load()}")
            assert lease_s <= TAKEOVER_LEASE_S, lease_s
            assert max(frames_s) <= TAKEOVER_FIRST_FRAME_S, frames_s

            procs[1].send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(procs[1].wait, 10) == 0, tail(logs)
            assert_counted_once(factory, apel, SAMPLE_FPS, victim=victim, survivor=survivor,
                                victims_offices=victims_offices, everyone=everyone)
            assert web.poll() is None, tail(logs)
            print(f"whole test {time.monotonic() - t_start:.0f} s")
    finally:
        for c in collectors:
            c.stop()
        for pc in pcs:
            await pc.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        engine.dispose()
