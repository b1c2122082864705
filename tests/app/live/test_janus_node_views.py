"""Issue 20: the leader's console at province scale, where the vision nodes analyse every office and the
web node (APEL_JANUS_ANALYSE=false) decodes no office video. The node holding an office writes its
overlay and a still of its video into the database (app.live.node_views); the web node serves them on
the same endpoints as its own (app.live.office_watch).

Every part real and in its own process: Janus, `apel serve` (APEL_MEDIA=janus, analyse false), one
`apel node --source janus:` on PostgreSQL, an office joining through Apel as an aiortc peer sending a
synthetic office of real, enrolled faces. Checked: the tile's still (a 320 px JPEG) and the large
view's overlay naming the person come from the node; the observer gets the still, not the overlay;
a node that stops answering (SIGSTOP) is not shown as live after office_watch.NODE_STALE_S; when the
apel ends the office's row is gone. Printed: the overlay's way from the node's write to the console.

Also, without Janus: the write's fence (no lease, an ended apel: nothing written), the node's deletion
of its own rows, and the web node's sweep on its LISTEN connection (rows of ended apels, rows nobody
refreshed for node_views.KEEP_S)."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from app.live import node_views
from app.live.node_listen import SightingsListener, libpq_dsn
from app.live.office_watch import NODE_STALE_S
from attendance.assemblies.lifecycle import end_assembly
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import OfficeView, User
from attendance.nodes.leases import balance, register_node
from attendance.roster.passwords import hash_password
from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8
from tests.conftest import fresh_pg
from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer
from tests.servers import apel_serve

from .conftest import office_clip
from .vision_nodes import node_world, start_node, tail, until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SECRET_KEY = "apel-test-janus-node-views"   # the web node's and the node's (Janus rooms' keys)
PASSWORD = "console-pass-123"
SAMPLE_FPS = 3.0
SIZE, HFOV = (640, 360), 22.5


def _env(janus: JanusServer, url: str, data_dir: Path) -> dict[str, str]:
    return {"APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(data_dir), "APEL_SECRET_KEY": SECRET_KEY,
            "APEL_JANUS_URL": janus.url, "APEL_JANUS_API_SECRET": API_SECRET, "APEL_JANUS_ADMIN_KEY": ADMIN_KEY,
            "APEL_LANGUAGE": "en", "APEL_KEEP_EVIDENCE": "false", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    yield from fresh_pg(pg_template)


def _rows(factory: sessionmaker[Session], apel: int) -> list[OfficeView]:
    with factory() as s:
        return list(s.execute(select(OfficeView).where(OfficeView.assembly_id == apel)).scalars())


async def _login(http: httpx.AsyncClient, url: str, username: str) -> dict[str, str]:
    r = await http.post(f"{url}/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _join(url: str, code: str, token: str, packets: list[bytes]) -> RTCPeerConnection:
    async def signal_(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{url}/api/v1/live/office/join", json={"office": code, "token": token, **offer})
        assert r.status_code == 200, r.text
        return dict(r.json())

    pc, _ = await connect_peer(signal_, send_video=PreEncodedTrack(packets), receive_video=False)
    return pc


class OverlayStream:
    """The large view's overlay stream (Server-Sent Events), read in the background: each event's data
    with the wall time it arrived."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.events: list[tuple[float, dict]] = []
        self.status: int | None = None
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as http, \
                http.stream("GET", self.url, headers=self.headers) as r:
            self.status = r.status_code
            event = None
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "overlay":
                    self.events.append((time.time(), json.loads(line.split(":", 1)[1])))

    async def wait_for(self, what: str, check, timeout: float, after: int = 0) -> tuple[float, dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got in self.events[after:]:
                if check(got[1]):
                    return got
            assert not self._task.done() or self._task.exception() is None, self._task.exception()
            await asyncio.sleep(0.1)
        raise AssertionError(f"no overlay event with {what} within {timeout} s: {self.events[-3:]}")

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_the_console_shows_a_nodes_office(pg_url: str, shared_data: Path, tmp_path: Path, settings_factory,
                                                janus: JanusServer) -> None:
    logs = [tmp_path / "node.log"]
    # The node starts first: its vision worker loads its model while the clip is rendered.
    procs = [start_node(pg_url, tmp_path / "data-node", "janus:127.0.0.1", logs[0], SAMPLE_FPS,
                        _env(janus, pg_url, tmp_path / "data-node"))]
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    pcs: list[RTCPeerConnection] = []
    streams: list[OverlayStream] = []
    try:
        clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path, 2, size=SIZE, hfov=HFOV)
        packets = await asyncio.to_thread(encode_clip_vp8, str(clip), size=SIZE, fps=15, bitrate=600_000, gop=15)
        recogniser = settings_factory(pg_url).recogniser_spec
        apel, _, tokens = await asyncio.to_thread(node_world, pg_url, recogniser, photos, 1, hfov=HFOV,
                                                  leader_password=PASSWORD)
        with factory() as s:
            s.add(User(username="observer", role="observer", password_hash=hash_password(PASSWORD)))
            s.commit()
        (code, token), = tokens.items()
        names = [f"{name} ({code})" for name in photos]
        web_env = {**os.environ, **_env(janus, pg_url, tmp_path / "web"), "APEL_MEDIA": "janus",
                   "APEL_JANUS_ANALYSE": "false", "APEL_VISION_WORKERS": "1"}
        with apel_serve(web_env, tmp_path / "web.log") as (url, web):
            logs.append(tmp_path / "web.log")
            office = f"{url}/api/v1/live/assemblies/{apel}/offices/{code}"
            async with httpx.AsyncClient(timeout=30) as http:
                leader, observer = await _login(http, url, "leader"), await _login(http, url, "observer")
                r = await http.get(f"{office}/preview", headers=leader)   # nothing yet: the same 409 as today
                assert r.status_code == 409 and r.json()["detail"]["code"] == "office_not_publishing", r.text
                streams.append(OverlayStream(f"{office}/overlay", leader))

                pcs.append(await _join(url, code, token, packets))
                joined = time.monotonic()

                async def preview(headers: dict[str, str]) -> httpx.Response | None:
                    r = await http.get(f"{office}/preview", headers=headers)
                    assert r.status_code in (200, 409), r.text
                    return r if r.status_code == 200 else None

                async def first(what: str, ask, timeout: float):
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        got = await ask()
                        if got:
                            return got
                        assert procs[0].poll() is None and web.poll() is None, tail(logs)
                        await asyncio.sleep(0.3)
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail(logs)}")

                # The tile's still: a JPEG of the office's video, 320 px wide, made by the node.
                still = await first("the tile's still from the node", lambda: preview(leader), 60)
                still_s = time.monotonic() - joined
                assert still.headers["content-type"] == "image/jpeg"
                picture = cv2.imdecode(np.frombuffer(still.content, np.uint8), cv2.IMREAD_COLOR)
                assert picture is not None and picture.shape[1] == 320, picture is None or picture.shape
                assert picture.shape[0] == 180 and float(picture.std()) > 10   # the office, not a blank frame
                # ... for the observer too; the overlay that names people is not for them
                assert await first("the observer's still", lambda: preview(observer), 10)
                r = await http.get(f"{office}/overlay", headers=observer)
                assert r.status_code == 403 and r.json()["detail"]["code"] == "observer_no_people", r.text

                # The large view's overlay names the person, as the web node's own would.
                def named(data: dict) -> bool:
                    return any(b["label"].startswith(tuple(names)) for b in data["boxes"])

                arrived, data = await streams[0].wait_for("a person named", named, 60)
                assert data["office"] == code and data["frame_size"] == list(SIZE), data
                assert data["caption"] and all(b["color"].startswith("#") for b in data["boxes"]), data
                print(f"\nfrom the join: the node's first still served {still_s:.1f} s, the overlay naming a "
                      f"person {arrived - time.time() + time.monotonic() - joined:.1f} s")

                # How long an overlay the node wrote takes to reach the console (the web node polls the
                # database): each new event against the row as it is when the event arrives.
                lags: list[float] = []
                from_frame: list[float] = []   # the node received the overlay's frame (same machine's clock)
                seen, deadline = len(streams[0].events), time.monotonic() + 8
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    if len(streams[0].events) == seen:
                        continue
                    seen = len(streams[0].events)
                    arrived, data = streams[0].events[-1]
                    with factory() as s:
                        row = s.execute(select(OfficeView.overlay, OfficeView.overlay_at, OfficeView.overlay_frame_t)
                                        .where(OfficeView.assembly_id == apel)).one()
                    if row.overlay == {k: v for k, v in data.items() if k != "office"} and row.overlay_at:
                        lags.append(arrived - row.overlay_at.timestamp())
                        from_frame.append(arrived - row.overlay_frame_t)
                assert lags, "no overlay event matched the node's row"
                print(f"the node's write to the console's overlay event: median {statistics.median(lags):.3f} s, "
                      f"max {max(lags):.3f} s; the node's frame to it: median {statistics.median(from_frame):.3f} s, "
                      f"max {max(from_frame):.3f} s ({len(lags)} events in 8 s)")
                assert statistics.median(from_frame) < 2.0, from_frame

                # A node that stops answering is not shown as live.
                os.killpg(procs[0].pid, signal.SIGSTOP)
                stopped = time.monotonic()
                try:
                    async def gone() -> bool:
                        return await preview(leader) is None
                    await first("the stale still refused", gone, NODE_STALE_S + 5)
                    stale_s = time.monotonic() - stopped
                    seen = len(streams[0].events)
                    await streams[0].wait_for("no boxes", lambda d: d["boxes"] == [] and d["frame_size"] is None,
                                              5, after=seen - 1)
                    print(f"a paused node's still refused {stale_s:.1f} s after the pause")
                    assert stale_s >= NODE_STALE_S - 2.5, stale_s   # live until then
                finally:
                    os.killpg(procs[0].pid, signal.SIGCONT)
                # ... and shown again once it writes again (it takes the office's lease back)
                assert await first("the still after the node resumed", lambda: preview(leader), 30)
                assert _rows(factory, apel)

                # The apel ends: the node deletes the office's row at its next heartbeat.
                r = await http.post(f"{url}/api/v1/assemblies/{apel}/end", headers=leader)
                assert r.status_code == 200, r.text
                ended = time.monotonic()
                await asyncio.to_thread(until, "the office's view deleted", lambda: not _rows(factory, apel), 10,
                                        procs, logs)
                print(f"the apel ended: its views deleted {time.monotonic() - ended:.1f} s after")
                async def refused() -> bool:   # (once the web node's read of a second ago is renewed)
                    return await preview(leader) is None
                await first("the ended apel's still refused", refused, 3)
                assert not _rows(factory, apel)   # nothing written after the end
            procs[0].send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(procs[0].wait, 10) == 0, tail(logs)
            assert web.poll() is None, tail(logs)
    finally:
        for stream in streams:
            await stream.close()
        for pc in pcs:
            await pc.close()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGCONT)
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        engine.dispose()


def test_fence_own_rows_and_the_web_nodes_sweep(pg_url: str, settings_factory) -> None:
    """The write needs this run of the lease and an open apel; a node deletes only its own rows; the web
    node's LISTEN connection deletes the rows of ended apels and of nodes gone for KEEP_S."""
    apel, _, _ = node_world(pg_url, settings_factory(pg_url).recogniser_spec, {}, 2)
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            committed(register_node)(s, "nodeA", hostname="test", pid=0, capacity=1)
            committed(register_node)(s, "nodeB", hostname="test", pid=0, capacity=1)
            (mine,) = committed(balance)(s, "nodeA", capacity=1, lease_s=300).held
            (theirs,) = committed(balance)(s, "nodeB", capacity=1, lease_s=300).held
            overlay = {"frame_size": [640, 360], "boxes": [], "lines": [], "caption": "0/0"}
            stale = node_views.ViewWrite(apel, mine.office_id, mine.epoch - 1, overlay, b"jpeg")
            other = node_views.ViewWrite(apel, theirs.office_id, theirs.epoch, overlay, b"jpeg")
            ok = node_views.ViewWrite(apel, mine.office_id, mine.epoch, overlay, b"jpeg")
            assert committed(node_views.write_views)(s, "nodeA", [stale, other]) == 0   # not this run / not ours
            assert committed(node_views.write_views)(s, "nodeA", [ok]) == 1
            assert committed(node_views.write_views)(s, "nodeB", [other]) == 1
            # only the part due is overwritten
            assert committed(node_views.write_views)(s, "nodeA", [node_views.ViewWrite(
                apel, mine.office_id, mine.epoch, None, b"newer")]) == 1
            row = s.get(OfficeView, (apel, mine.office_id))
            assert row is not None and row.still_jpeg == b"newer" and row.overlay == overlay
            assert committed(node_views.drop_views)(s, "nodeA", apel, theirs.office_id) == 0   # not its row
            assert committed(node_views.drop_views)(s, "nodeA") == 1
            assert [r.node_id for r in _rows(factory, apel)] == ["nodeB"]
            assert committed(node_views.write_views)(s, "nodeA", [ok]) == 1
            # nodeB's row is left behind (its node died) a minute ago
            s.execute(text("UPDATE office_views SET updated_at = statement_timestamp() - interval '61 seconds' "
                           "WHERE node_id = 'nodeB'"))
            s.commit()

        async def sweep_once() -> int:
            dsn = libpq_dsn(pg_url)
            assert dsn is not None
            listener = SightingsListener(dsn, lambda _: None, lambda: None, node_views.SWEEP_SQL)
            listener.start()
            try:
                await asyncio.wait_for(listener.listening.wait(), 10)
                return listener.swept
            finally:
                await listener.stop()

        assert asyncio.run(sweep_once()) == 1   # at once when it connects
        assert [r.node_id for r in _rows(factory, apel)] == ["nodeA"]
        with factory() as s:
            s.execute(text("UPDATE assemblies SET status = 'closed' WHERE id = :id"), {"id": apel})
            s.commit()
            assert committed(node_views.write_views)(s, "nodeA", [ok]) == 0   # the apel ended: nothing written
        assert asyncio.run(sweep_once()) == 1
        assert _rows(factory, apel) == []
    finally:
        engine.dispose()


def test_ending_the_apel_deletes_its_stills(pg_url: str, settings_factory) -> None:
    """The leader's end takes the offices' stills with it, before any node's heartbeat or sweep."""
    apel, _, _ = node_world(pg_url, settings_factory(pg_url).recogniser_spec, {}, 1)
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            committed(register_node)(s, "nodeA", hostname="test", pid=0, capacity=1)
            (lease,) = committed(balance)(s, "nodeA", capacity=1, lease_s=300).held
            overlay = {"frame_size": [640, 360], "boxes": [], "lines": [], "caption": "0/0"}
            write = node_views.ViewWrite(apel, lease.office_id, lease.epoch, overlay, b"jpeg")
            assert committed(node_views.write_views)(s, "nodeA", [write]) == 1
            leader = s.execute(select(User).where(User.username == "leader")).scalar_one()
            committed(end_assembly)(s, apel, actor=leader)
        assert _rows(factory, apel) == []
    finally:
        engine.dispose()
