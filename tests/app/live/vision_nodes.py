"""What the tests of vision nodes as processes share (test_vision_nodes: file sources;
test_janus_nodes: Janus's forwards): a PostgreSQL world of offices whose staff are the people of one
synthetic office clip, `apel node` started as a process, waits that fail with the nodes' logs, the
lease holders, the times a node logged in its own log, and the checks that nothing was counted twice
after a take-over."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.live.node import NodeRunner, NodeStream, _Running
from app.live.node_sources import make_source
from app.settings import Settings
from attendance.assemblies.lifecycle import create_assembly, issue_office_token, start_assembly
from attendance.assemblies.rulesets import create_ruleset_version
from attendance.db import make_engine, make_session_factory
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, Employee, FaceTemplate, Office, SightingTrack, User, VisionNode
from attendance.nodes.leases import balance, leases_of, register_node
from attendance.vision.config import backend_name
from tests.conftest import ROOT

from .conftest import LIVE_MIN_CONFIDENCE, OFFICE_HFOV, enrol_photo
from .node_rollcall import World

MARKED = {"present", "late"}


def until(what: str, check: Callable[[], object], timeout: float, procs: list[subprocess.Popen],
          logs: list[Path]) -> object:
    """`check()`'s first true value within `timeout` s; fails with the logs' tails when it times out or
    one of `procs` ends meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        for p in procs:
            assert p.poll() is None, f"a node ended ({p.returncode}) while waiting for {what}:\n{tail(logs)}"
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail(logs)}")


def tail(logs: list[Path], lines: int = 25) -> str:
    return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])
                     for p in logs if p.exists())


def node_world(url: str, recogniser: str, photos: dict[str, Path], offices: int, *, hfov: float = OFFICE_HFOV,
               leader_password: str | None = None, unenrolled: Collection[str] = (),
               strangers: Collection[str] = ()) -> tuple[int, dict[int, list[int]], dict[str, str]]:
    """`offices` offices, each with the clip's people enrolled as its own staff; an open apel
    scheduled 30 minutes ahead (everyone seen is present). Returns the apel's id, the staff by office
    id (in the order of `photos`), and each office's token (by code) for joining it. `leader_password`:
    the leader may log in. `unenrolled`: people on the roster with no face enrolled (only a person's
    answer names them); `strangers`: people of the clip on no roster (visitors)."""
    from attendance.roster.passwords import hash_password

    embeddings = {name: [] if name in unenrolled else enrol_photo(photo, recogniser)
                  for name, photo in photos.items() if name not in strangers}
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as db:
            rows = [Office(code=f"OPD{i + 1}", name=f"Dinas {i + 1}", timezone="Asia/Makassar",
                           camera_hfov_deg=hfov) for i in range(offices)]
            leader = User(username="leader", role="leader",
                          password_hash=hash_password(leader_password) if leader_password else "-")
            admin = User(username="admin", password_hash="-", role="admin")
            db.add_all([*rows, leader, admin])
            db.flush()
            staff: dict[int, list[int]] = {}
            n = 0
            for office in rows:
                staff[office.id] = []
                for name, embs in embeddings.items():
                    n += 1
                    e = Employee(nip=f"19800101200501{n:04d}", name=f"{name} ({office.code})", office_id=office.id)
                    db.add(e)
                    db.flush()
                    for k, emb in enumerate(embs):
                        db.add(FaceTemplate(employee_id=e.id, backend=backend_name(recogniser),
                                            embedding=np.asarray(emb, "<f4").tobytes(),
                                            kind="photo" if k == 0 else "masked", source_sha256=f"{n:02d}{k:062d}"))
                    staff[office.id].append(e.id)
            db.commit()
            committed(create_ruleset_version)(db, actor=admin, name="default", reason="live test calibration",
                                              min_confidence=LIVE_MIN_CONFIDENCE)
            a = committed(create_assembly)(db, actor=leader, kind="pagi", title="Apel pagi",
                                           scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                           office_ids=[o.id for o in rows], ruleset_name="default")
            committed(start_assembly)(db, a.id, actor=leader)
            tokens = {o.code: committed(issue_office_token)(db, a.id, o.id, actor=leader, ttl_minutes=60)
                      for o in rows}
            return a.id, staff, tokens
    finally:
        engine.dispose()


def running_node(settings: Settings, factory: sessionmaker[Session], world: World,
                 node_id: str = "nodeA") -> tuple[NodeRunner, NodeStream]:
    """A vision node in this process, registered, holding the office's lease and running its feed as
    far as the node knows (its video is not opened: the tests give its result path the frames'
    results). Its loop side (bridge, writer) is the test's to start."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    runner = NodeRunner(settings, factory, make_source(f"file:{settings.data_dir}/{{office}}.mp4"), node_id=node_id)
    with factory() as s:
        committed(register_node)(s, runner.id, hostname="test", pid=0, capacity=10)
        lease = committed(balance)(s, runner.id, capacity=10, lease_s=300).held[0]
    info = NodeStream(f"{world.assembly_id}/{world.office_code}", world.assembly_id, world.office_id, 0,
                      world.office_code, track_prefix=f"{runner.id}-{world.office_id}-{lease.epoch}", names={},
                      joined_at=time.monotonic(), backend="dlib-128", lease_epoch=lease.epoch)
    # no retry of its video within OPEN_RETRY_S
    runner.running[(world.assembly_id, world.office_id)] = _Running(lease, info, failed_at=time.monotonic())
    return runner, info


def start_node(url: str, data_dir: Path, source: str, log: Path, sample_fps: float,
               env: dict[str, str] | None = None) -> subprocess.Popen:
    """`apel node --source SOURCE` in a session of its own (so a SIGKILL to its group takes its vision
    worker too), one vision worker, its output in `log`."""
    full_env = {**os.environ, "APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(data_dir), "APEL_VISION_WORKERS": "1",
                "APEL_KEEP_EVIDENCE": "false", "APEL_LANGUAGE": "en", "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("w") as out:   # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "app.cli", "node", "--source", source,
                                 "--sample-fps", str(sample_fps)], cwd=ROOT, env=full_env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def node_ids(factory: sessionmaker[Session]) -> dict[int, str]:
    """Each registered node's id by its process id."""
    with factory() as s:
        return {pid: nid for nid, pid in s.execute(select(VisionNode.id, VisionNode.pid))}


def holders(factory: sessionmaker[Session], apel: int) -> dict[int, str | None]:
    """Who holds each office of the apel (office id -> node id, None when free)."""
    with factory() as s:
        return {o: n for o, (n, _) in leases_of(s, apel).items()}


def balanced(factory: sessionmaker[Session], apel: int, shares: list[int]) -> dict[str, list[int]] | None:
    """The offices by holder once the nodes hold exactly `shares` offices each (in any order)."""
    by: dict[str, list[int]] = defaultdict(list)
    for office, n in holders(factory, apel).items():
        if n is not None:
            by[n].append(office)
    return by if sorted(len(v) for v in by.values()) == sorted(shares) else None


def tracks(factory: sessionmaker[Session], apel: int) -> list[SightingTrack]:
    with factory() as s:
        return list(s.execute(select(SightingTrack).where(SightingTrack.assembly_id == apel)).scalars())


def analysed_by(factory: sessionmaker[Session], apel: int, node: str, offices: list[int]) -> bool:
    """The node has written sightings of each of `offices` (its tracks carry its id)."""
    seen = {t.office_id for t in tracks(factory, apel) if t.track_key.startswith(f"{node}-")}
    return set(offices) <= seen


def statuses(factory: sessionmaker[Session], apel: int) -> dict[int, str]:
    with factory() as s:
        return dict(s.execute(select(AttendanceRecord.employee_id, AttendanceRecord.status)
                              .where(AttendanceRecord.assembly_id == apel)).all())


_LOGGED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def logged_at(log: Path, pattern: str) -> list[tuple[float, re.Match[str]]]:
    """The wall time (time.time()) of each line of a node's log (logging's default asctime, local
    time, milliseconds) whose message matches `pattern`, with its match."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        stamp = _LOGGED.match(line)
        m = re.search(pattern, line) if stamp else None
        if stamp and m:
            found.append((datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), m))
    return found


def first_analysed(log: Path, stream_key: str, after: float = 0.0) -> float | None:
    """When the node first logged an analysed frame of `stream_key` (app/live/bridge.py) after `after`."""
    times = [t for t, _ in logged_at(log, rf"office {re.escape(stream_key)}: first analysed frame") if t >= after]
    return min(times) if times else None


def assert_counted_once(factory: sessionmaker[Session], apel: int, sample_fps: float, *, victim: str,
                        survivor: str, victims_offices: list[int], everyone: list[int]) -> None:
    """Nothing counted twice across a take-over: per office the runs (node, lease epoch) never overlap
    in time, no track holds more frames than were sampled in its time, the victim's offices were
    analysed by both nodes, no track is written twice, and each person has one record."""
    runs: dict[int, dict[str, list[datetime]]] = defaultdict(lambda: defaultdict(list))
    all_tracks = tracks(factory, apel)
    for t in all_tracks:
        run = t.track_key.rsplit("-", 1)[0]
        runs[t.office_id][run] += [t.first_at, t.last_at]
        span = (t.last_at - t.first_at).total_seconds()
        assert t.frames <= span * sample_fps * 1.5 + 1, (t.track_key, t.frames, span)
    for office, by_run in runs.items():
        spans = sorted((min(v), max(v)) for v in by_run.values())
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end < start, f"office {office}: two runs overlap: {spans}"
    for office in victims_offices:
        assert {r.split("-")[0] for r in runs[office]} == {victim, survivor}, (office, set(runs[office]))
    keys = [(t.office_id, t.track_key, t.identity_key) for t in all_tracks]
    assert len(keys) == len(set(keys))
    with factory() as s:
        recs = s.execute(select(AttendanceRecord.employee_id).where(AttendanceRecord.assembly_id == apel)).all()
    assert sorted(r[0] for r in recs) == sorted(everyone)   # one record per person
