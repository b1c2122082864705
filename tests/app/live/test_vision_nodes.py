"""Vision nodes as separate processes on PostgreSQL (`apel node`): two nodes share four offices whose
cameras are a synthetic office rendered from real photos (a file frame source). One node is killed
(SIGKILL: no clean-up at all) mid-apel: the other takes its offices over within 10 s, every person
is marked, and no frame is counted twice (each office's runs on the two nodes are disjoint in time,
and no track holds more frames than were sampled). The survivor then stops on SIGTERM within 5 s
and gives its leases back. Also: `apel node` refuses SQLite and an unreachable database."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.assemblies.lifecycle import create_assembly, start_assembly
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import Employee, Office, SightingTrack, User, VisionNode
from tests.conftest import ROOT

from .conftest import office_clip
from .vision_nodes import (
    MARKED,
    analysed_by,
    assert_counted_once,
    balanced,
    holders,
    node_ids,
    node_world,
    start_node,
    statuses,
    tail,
    until,
)

OFFICES = 4
SAMPLE_FPS = 3.0


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.shared_data
def test_killed_node_offices_taken_over(pg_url: str, shared_data: Path, tmp_path: Path, settings_factory) -> None:
    # The nodes start first: their vision workers load their models while the clip is rendered and
    # the staff enrolled, and they take the offices as soon as the apel opens.
    clips = tmp_path / "clips"
    clips.mkdir()
    logs = [tmp_path / "node-a.log", tmp_path / "node-b.log"]
    procs = [start_node(pg_url, tmp_path / f"data-{i}", f"file:{clips / '{office}.mp4'}", log, SAMPLE_FPS)
             for i, log in enumerate(logs)]
    engine = make_engine(pg_url)
    factory = make_session_factory(engine)
    try:
        clip, photos = office_clip(shared_data, tmp_path)
        for i in range(OFFICES):
            (clips / f"OPD{i + 1}.mp4").symlink_to(clip)
        recogniser = settings_factory(pg_url).recogniser_spec
        apel, staff, _ = node_world(pg_url, recogniser, photos, OFFICES)

        by_node = until("both nodes holding two offices each", lambda: balanced(factory, apel, [2, 2]), 90,
                        procs, logs)
        assert isinstance(by_node, dict)
        ids = node_ids(factory)
        victim, survivor = ids[procs[0].pid], ids[procs[1].pid]
        victims_offices = by_node[victim]

        until("the first node's sightings of its offices", lambda: analysed_by(factory, apel, victim, victims_offices),
              90, procs, logs)
        os.killpg(procs[0].pid, signal.SIGKILL)     # the node and its vision worker, no clean-up
        killed = time.monotonic()
        procs[0].wait(10)
        until("the survivor holding every office",
              lambda: all(n == survivor for n in holders(factory, apel).values()), 15, procs[1:], logs)
        takeover_s = time.monotonic() - killed
        until("the survivor's sightings of the dead node's offices",
              lambda: analysed_by(factory, apel, survivor, victims_offices), 60, procs[1:], logs)
        first_analysis_s = time.monotonic() - killed
        everyone = [e for ids_ in staff.values() for e in ids_]
        until("every person marked", lambda: all(statuses(factory, apel).get(e) in MARKED for e in everyone), 90,
              procs[1:], logs)
        print(f"\ntake-over {takeover_s:.1f} s, first analysis on the survivor {first_analysis_s:.1f} s after the kill",
              flush=True)
        assert takeover_s <= 10.0, takeover_s

        procs[1].send_signal(signal.SIGTERM)
        asked = time.monotonic()
        assert procs[1].wait(10) == 0, tail(logs)
        stop_s = time.monotonic() - asked
        assert stop_s <= 5.0, f"the node took {stop_s:.1f} s to stop\n{tail(logs)}"
        print(f"clean stop {stop_s:.1f} s", flush=True)
        assert all(n is None for n in holders(factory, apel).values())   # given back, not left to lapse
        with factory() as s:
            assert s.execute(select(VisionNode.stopped_at).where(VisionNode.id == survivor)).scalar_one()
        assert_counted_once(factory, apel, SAMPLE_FPS, victim=victim, survivor=survivor,
                            victims_offices=victims_offices, everyone=everyone)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        engine.dispose()


def test_node_refuses_sqlite_and_unreachable(tmp_path: Path, shared_data: Path) -> None:
    clip = shared_data / "video" / "face_recognition_short_hamilton_clip.mp4"
    for url, why in [(f"sqlite:///{tmp_path}/apel.db", "needs a PostgreSQL database"),
                     ("postgresql+psycopg://postgres@127.0.0.1:1/apel", "cannot be reached")]:
        env = {**os.environ, "APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(tmp_path / "data"), "APEL_LANGUAGE": "en"}
        p = subprocess.run([sys.executable, "-m", "app.cli", "node", "--source", f"file:{clip}"], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, p.stderr
        assert why in p.stderr, p.stderr
        assert not (tmp_path / "apel.db").exists()   # nothing made


def test_writes_are_fenced_by_the_lease(db_url: str, settings_factory) -> None:
    """A node writes an office's sightings only while it holds that run of the lease: after a
    take-over by another node its late batch is refused and changes nothing."""
    from app.live.node import NodeRunner, NodeStream
    from app.live.node_sources import FileFrameSource
    from attendance.assemblies.sightings import Sighting
    from attendance.nodes.leases import LEASE_S, balance, register_node

    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with factory() as db:
        office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Makassar")
        leader = User(username="leader", password_hash="-", role="leader")
        db.add_all([office, leader])
        db.flush()
        emp = Employee(nip="198001012005010001", name="Satu", office_id=office.id)
        db.add(emp)
        db.commit()
        a = committed(create_assembly)(db, actor=leader, kind="pagi", title="Apel", office_ids=[office.id],
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30))
        committed(start_assembly)(db, a.id, actor=leader)
        apel, office_id, emp_id = a.id, office.id, emp.id
    node = NodeRunner(settings_factory(db_url), factory, FileFrameSource("/nonexistent/{office}.mp4"), node_id="node-a")
    try:
        with factory() as db:
            committed(register_node)(db, "node-a", hostname="t", pid=1, capacity=4)
            (lease,) = committed(balance)(db, "node-a", capacity=4, lease_s=LEASE_S).held
        info = NodeStream("1/OPD1", apel, office_id, 0, "OPD1", track_prefix=f"node-a-{office_id}-{lease.epoch}",
                          names={}, joined_at=0.0, lease_epoch=lease.epoch)
        now = datetime.now(UTC)

        def batch(i: int) -> list[Sighting]:
            return [Sighting(employee_id=emp_id, track_key=f"{info.track_prefix}-1", at=now + timedelta(seconds=i),
                             confidence=0.9, mask=False, distancing_violation=False)]

        def frames() -> int:
            with factory() as db:
                return sum(t.frames for t in db.execute(select(SightingTrack)).scalars())

        with factory() as db:
            assert node.record(db, info, batch(0)) is not None
        assert frames() == 1
        with factory() as db:   # another node takes the office over (the lease lapsed, or was given back)
            committed(release_all)(db, "node-a")
            committed(register_node)(db, "node-b", hostname="t", pid=2, capacity=4)
            committed(balance)(db, "node-b", capacity=4, lease_s=LEASE_S)
        with factory() as db:
            assert node.record(db, info, batch(1)) is None
        assert frames() == 1 and node.fenced == 1
    finally:
        node.db.close()
        engine.dispose()


def release_all(session: Session, node_id: str) -> int:
    from attendance.nodes.leases import release

    return release(session, node_id)
