"""End to end with real parts: an office (a real aiortc peer) streams a synthetic office built from real
photos; the vision workers recognise the enrolled people; the live roll-call (pushed over SSE) shows
them present. The office drops and rejoins, then the server restarts and it rejoins again: no record
is lost or duplicated."""
from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
from sqlalchemy import func, select

from attendance.models import AssemblyOffice, AttendanceRecord, AuditEntry, LearnedFaceGeometry
from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8
from tests.media.helpers import wait_for

from .conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip, restart

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
MARKED = {"present", "late"}


class RollcallWatcher:
    """Reads the console's event stream (SSE) like the browser does."""

    def __init__(self, url: str, headers: dict) -> None:
        self.url, self.headers = url, headers
        self.latest: dict | None = None
        self.events = 0
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=None) as http:
            async with http.stream("GET", self.url, headers=self.headers) as r:
                event = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "rollcall":
                        self.latest = json.loads(line[6:])
                        self.events += 1

    def statuses(self) -> dict[int, str]:
        if not self.latest:
            return {}
        return {p["employee_id"]: p["status"] for o in self.latest["offices"] for p in o["people"]}

    def stop(self) -> None:
        self.task.cancel()


_ENCODED: dict[str, list[bytes]] = {}


async def join(world, clip):
    """The office: a real aiortc peer sending the clip (VP8, encoded once and cached, so the test's own
    process does not take the CPU the vision workers need)."""
    if str(clip) not in _ENCODED:
        _ENCODED[str(clip)] = await asyncio.to_thread(encode_clip_vp8, str(clip), size=(1280, 720), fps=15)
    player = PreEncodedTrack(_ENCODED[str(clip)])

    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": world.office_code, "token": world.tokens[world.office_code], **offer})
        assert r.status_code == 200, r.text
        return r.json()

    pc, reply = await connect_peer(signal, send_video=player, receive_video=True)
    return pc, player, reply


def records(world) -> dict[int, tuple[str, object, int]]:
    with world.server.app.state.session_factory() as db:
        rows = db.execute(select(AttendanceRecord.employee_id, AttendanceRecord.status, AttendanceRecord.first_seen_at)
                          .where(AttendanceRecord.assembly_id == world.assembly_id)).all()
        counts = dict(db.execute(select(AttendanceRecord.employee_id, func.count())
                                 .where(AttendanceRecord.assembly_id == world.assembly_id)
                                 .group_by(AttendanceRecord.employee_id)).all())
    return {r[0]: (r[1], r[2], counts[r[0]]) for r in rows}


def learned(world) -> dict[int, tuple[int, float, int]]:
    """employee id -> (roll-calls that taught the IPD, the IPD learned, roll-calls that taught the eye height)."""
    from attendance.roster.learned_geometry import load_geometry

    with world.server.app.state.session_factory() as db:
        rows = db.execute(select(LearnedFaceGeometry)).scalars().all()
        geo = load_geometry(db, [r.employee_id for r in rows])
        return {r.employee_id: (r.ipd_sessions, geo[str(r.employee_id)].ipd_m, r.eye_sessions) for r in rows}


def lessons_logged(caplog) -> list[str]:
    """The live service's log lines saying it stored (or tried to store) an apel's lesson."""
    return [r.getMessage() for r in caplog.records if r.name == "apel.live" and "face geometry" in r.getMessage()]


def join_count(world) -> int:
    with world.server.app.state.session_factory() as db:
        return db.execute(select(AssemblyOffice.join_count).where(
            AssemblyOffice.assembly_id == world.assembly_id, AssemblyOffice.office_id == world.office_id)).scalar_one()


async def test_people_marked_present_and_records_survive_rejoin_and_restart(db_url, settings_factory, shared_data,
                                                                           tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="apel.live")
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    settings = settings_factory(db_url)
    gen = build_live_world(db_url, settings_factory, photos, min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    watcher = None
    pcs = []
    try:
        hr = await asyncio.to_thread(world.login, "hr")
        watcher = RollcallWatcher(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/events", hr)
        pc, player, reply = await join(world, clip)
        pcs.append(pc)
        assert reply["roster_size"] == len(photos)
        everyone = set(world.people.values())
        t0 = time.monotonic()
        ok = await wait_for(lambda: all(watcher.statuses().get(e) in MARKED for e in everyone), 150, 0.2)
        assert ok, f"not all marked after {time.monotonic() - t0:.0f} s: {watcher.statuses()}"
        first = records(world)
        assert set(first) == everyone and all(c == 1 for _, _, c in first.values())

        # the office drops and rejoins: the same records continue
        await pc.close()
        live = world.server.app.state.live
        assert await wait_for(lambda: not live.media.rooms[str(world.assembly_id)].offices, 20)
        pc, player, _ = await join(world, clip)
        pcs.append(pc)
        stream = f"{world.assembly_id}/{world.office_code}"
        info = live.streams[stream]
        analysed = info.results
        assert await wait_for(lambda: info.results >= analysed + 5, 60)
        after = records(world)
        assert set(after) == everyone and all(c == 1 for _, _, c in after.values())
        assert all(after[e][1] == first[e][1] and after[e][0] in MARKED for e in everyone)
        assert join_count(world) == 2

        # the server restarts mid-apel: nothing seen is lost, the office rejoins, the apel continues
        await pc.close()
        await asyncio.to_thread(restart, world, settings)
        assert records(world) == after
        # Stopping the service stored what the apel had measured of each person's face so far
        # (their IPD against their row; one row of three has no heads' plane, so no eye height).
        # A masked face teaches no IPD.
        taught_at_restart = learned(world)
        assert set(taught_at_restart) <= everyone and len(taught_at_restart) >= 2, taught_at_restart
        pc, player, _ = await join(world, clip)
        pcs.append(pc)
        hr = await asyncio.to_thread(world.login, "hr")
        async with httpx.AsyncClient(timeout=30) as http:
            async def analysed_after_restart() -> bool:
                r = await http.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall", headers=hr)
                media = r.json().get("media") or {}
                return any((o.get("analysed_frames") or 0) >= 3 for o in media.get("offices", []))
            deadline = time.monotonic() + 60
            while not await analysed_after_restart():
                assert time.monotonic() < deadline, "no frame analysed after the restart"
                await asyncio.sleep(0.5)
        final = records(world)
        assert set(final) == everyone and all(c == 1 for _, _, c in final.values())
        assert all(final[e][1] == first[e][1] for e in everyone)
        assert join_count(world) == 3

        # Ending the apel stores what it measured of anyone not yet taught: one lesson per person
        # per apel, so the frames after the restart change nothing of what was stored at it.
        leader = await asyncio.to_thread(world.login, "leader")
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
            assert r.status_code == 200, r.text
        assert await wait_for(lambda: len(lessons_logged(caplog)) == 2, 20), lessons_logged(caplog)
        geo = learned(world)
        assert set(geo) <= everyone and set(taught_at_restart) <= set(geo), geo
        assert all(geo[e] == taught_at_restart[e] for e in taught_at_restart)
        assert all(n_ipd == 1 and n_eye == 0 and 0.051 < ipd < 0.075 for n_ipd, ipd, n_eye in geo.values()), geo
        with world.server.app.state.session_factory() as db:
            entries = db.execute(select(AuditEntry).where(AuditEntry.action == "face_geometry.learn")
                                 .order_by(AuditEntry.id)).scalars().all()
        assert all(e.actor == "system:vision" and e.entity_id == str(world.assembly_id) for e in entries)
        assert sorted(entries[0].after["employees"]) == sorted(taught_at_restart)
        assert sorted(e for entry in entries for e in entry.after["employees"]) == sorted(geo)
    finally:
        if watcher:
            watcher.stop()
        for pc in pcs:
            await pc.close()
        await asyncio.to_thread(gen.close)


async def test_apel_camera_streams_and_reconnects_after_a_server_restart(sqlite_url, settings_factory, shared_data,
                                                                         tmp_path) -> None:
    import subprocess
    import sys
    from pathlib import Path

    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    settings = settings_factory(sqlite_url)
    gen = build_live_world(sqlite_url, settings_factory, photos, min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    root = Path(__file__).resolve().parents[3]
    cli = subprocess.Popen([sys.executable, "-u", "-m", "app.cli", "camera", "--server", world.url, "--office",
                            world.office_code, "--token", world.tokens[world.office_code], "--loop", str(clip)],
                           cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def frames() -> int:
            live = getattr(world.server.app.state, "live", None)
            status = live.media_status(world.assembly_id) if live else None
            return sum(o["frames"] for o in status["offices"] if o["connected"]) if status else 0

        assert await wait_for(lambda: frames() >= 20, 60), "apel camera did not stream"
        await asyncio.to_thread(restart, world, settings)
        assert await wait_for(lambda: frames() >= 20, 90), "apel camera did not reconnect after the restart"
        assert join_count(world) == 2
    finally:
        cli.terminate()
        try:
            out, err = cli.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            cli.kill()
            out, err = cli.communicate()
        await asyncio.to_thread(gen.close)
    assert "joined apel" in out and "retrying" in err
