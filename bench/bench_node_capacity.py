"""Capacity of vision nodes (`apel node`) on PostgreSQL, and how it scales from one node to two.

For each layout NODESxWORKERS (e.g. `1x1`: one node with one vision worker; `2x1`: two nodes with one
worker each) and each office count: a fresh PostgreSQL database, the nodes started first (their
workers load their models), then N offices of P people each and an open apel (bench_capacity's
`seed`: each employee enrolled from three lfw10 photos, none the one on camera; back row 4 m; rules'
min_confidence 0.5). Every office's camera is the capacity bench's synthetic office (`apel
synth-office`, 1280x720, 15 fps, two rows at 3 and 4 m, everyone in view from the start), played
by the node's `file:` source. Time-to-mark runs from the apel's start (every office waiting at once:
the capacity bench's worst case, everyone at 07:30 sharp) to the person's record turning present or
late in the database (polled every 0.5 s). A layout *holds* N offices when the nodes lease all N and
every person is marked within 15 s (bench_capacity's condition; a file source has no network, so
its second condition, no feed frozen, does not apply).

Why nodes x workers and not nodes alone: on one machine the cores are fixed, so two nodes with the
workers of one measure the cost of splitting, not scaling. One vision worker is one core's worth of
analysis, so `1x1` against `2x1` is the scaling from one vision core to two (the target: >= 1.8x),
and `1x2` is one node with the embedded server's two workers.

`--decode N` measures, without vision, what the media path costs a node per office: N offices'
720p15 VP8 as Janus forwards it (RTP on loopback, depacketised and decoded by `RtpForwardTrack`,
PyAV/libav in C) against the same N offices played from the clip file (`FileVideoTrack`, what the
capacity runs above pay), each sampled at 5 fps by a `FrameTap` into a sink that converts every
sampled frame to BGR. The receiver is a child process whose CPU is read from /proc; the RTP sender
(packets built once up front) is this process.

    .venv/bin/python bench/bench_node_capacity.py --plan "1x1=4,5,6 2x1=8,10,12" [--people 10]
    .venv/bin/python bench/bench_node_capacity.py --decode 8 --seconds 20
    .venv/bin/python bench/bench_node_capacity.py --sim 10,30 --seconds 20 --clip-seconds 8

`--sim` runs offices of 10 people (the capacity office) and of 30 (1080p, rows 3-6 m, hfov 70; lfw10
and rmfd people) on one vision core on bench_worker_load's CPU-time clock, so its figures do not
depend on what else the machine runs: the cost of an office of 30 against one of 10.
APEL_VISION_NICE (default 5, the product's) is passed to the nodes: on a machine shared with other
jobs, 0 keeps their vision workers from yielding to them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_capacity import FARTHEST_ROW_M, HFOV, MARKED, SHARED, make_office_clip, seed, tree_cpu_s

WITHIN_S = 15.0
SAMPLE_FPS = 5.0
# The office of more than 10 people (`--size 1080`, `--sim 30`): synth-office's defaults for N people with
# 1 m between them, which do not fit a 720p view at a readable face size.
LARGE_SIZE, LARGE_HFOV, LARGE_ROWS_M = (1920, 1080), 70.0, (3.0, 6.0)


@dataclass
class Trial:
    layout: str
    offices: int
    people: int = 0
    marked: int = 0
    marked_within_15s: int = 0
    time_to_mark_p50: float | None = None
    time_to_mark_p90: float | None = None
    time_to_mark_max: float | None = None
    reachable_per_office: int = 0     # what one office alone gets marked within 15 s (the holds bar an office)
    marked_within_15s_per_office: list[int] = field(default_factory=list)
    leased: int = 0
    leases_per_node: list[int] = field(default_factory=list)
    node_cpu_pct: list[float] = field(default_factory=list)   # each node with its workers, t0 -> all marked
    load_avg: str = ""
    ok: bool = False


@contextmanager
def pg_database(template: str | None) -> Iterator[str]:
    """A fresh PostgreSQL database (tests.conftest.fresh_pg), dropped afterwards."""
    from tests.conftest import fresh_pg

    gen: Generator[str, None, None] = fresh_pg(template)  # type: ignore[assignment]
    try:
        yield next(gen)
    finally:
        gen.close()


def start_node(url: str, data_dir: Path, clip: Path, workers: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "APEL_DATABASE_URL": url, "APEL_DATA_DIR": str(data_dir), "APEL_VISION_WORKERS": str(workers),
           "APEL_VISION_NICE": os.environ.get("APEL_VISION_NICE", "5"),
           "APEL_KEEP_EVIDENCE": "false", "APEL_LANGUAGE": "en", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "node", "--source", f"file:{clip}",
                                 "--sample-fps", str(SAMPLE_FPS), "--capacity", "1000"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_nodes(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(10)


def wait_ready(url: str, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 120) -> None:
    """Every node registered, and its workers done loading their models (the node tree idle for 2 s)."""
    from sqlalchemy import func, select

    from attendance.db import make_engine, make_session_factory
    from attendance.models import VisionNode

    engine = make_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p, log in zip(procs, logs, strict=True):
                if p.poll() is not None:
                    raise RuntimeError(f"a node ended ({p.returncode}):\n{log.read_text()[-3000:]}")
            with make_session_factory(engine)() as s:
                if s.execute(select(func.count()).select_from(VisionNode)).scalar_one() >= len(procs):
                    break
            time.sleep(0.3)
        else:
            raise RuntimeError("the nodes did not register in time")
    finally:
        engine.dispose()
    quiet = 0
    while time.monotonic() < deadline and quiet < 2:
        before = [tree_cpu_s(p.pid) for p in procs]
        time.sleep(1.0)
        busy = max(tree_cpu_s(p.pid) - b for p, b in zip(procs, before, strict=True))
        quiet = quiet + 1 if busy < 0.15 else 0


@dataclass
class Office:
    """The clip every office shows, who is in it, and the office's camera settings."""
    clip: Path
    people_dirs: list[Path]
    hfov_deg: float
    back_row_m: float
    reachable: int        # people an office must get marked within 15 s to hold (all, or one office alone's)


def run_trial(layout: str, offices: int, template: str, office: Office, seconds: float) -> Trial:
    import bench_capacity
    from sqlalchemy import select

    from attendance.db import make_engine, make_session_factory
    from attendance.models import Assembly, AttendanceRecord, Employee
    from attendance.nodes.leases import leases_of

    people_dirs = office.people_dirs

    n_nodes, workers = (int(x) for x in layout.split("x"))
    trial = Trial(layout, offices)
    work = Path(tempfile.mkdtemp(prefix="apel-nodecap-"))
    procs: list[subprocess.Popen[bytes]] = []
    logs = [work / f"node-{i}.log" for i in range(n_nodes)]
    with pg_database(template) as url:
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            procs = [start_node(url, work / f"node-{i}", office.clip, workers, log) for i, log in enumerate(logs)]
            wait_ready(url, procs, logs)
            os.environ["APEL_DATABASE_URL"] = url       # seed's Settings read it: the apel goes to this database
            bench_capacity.HFOV = office.hfov_deg   # seed's offices' camera (read when seed runs)
            try:
                info = seed(work / "data", offices, people_dirs, 0.5, office.back_row_m)
            finally:
                del os.environ["APEL_DATABASE_URL"]
                bench_capacity.HFOV = HFOV
            cpu0, t_cpu0 = [tree_cpu_s(p.pid) for p in procs], time.monotonic()
            with factory() as s:
                apel = s.get(Assembly, info["assembly_id"])
                started = apel.started_at if apel else None
            assert started is not None
            # the apel's start on this process's clock (same machine, same wall clock)
            t0 = time.monotonic() - (datetime.now(UTC) - started.replace(tzinfo=started.tzinfo or UTC)).total_seconds()
            trial.load_avg = " ".join(f"{x:.2f}" for x in os.getloadavg())
            marked_at: dict[int, float] = {}
            office_of: dict[int, int] = {}
            total = 0
            t_end = t0 + seconds
            while time.monotonic() < t_end:
                with factory() as s:
                    rows = s.execute(select(AttendanceRecord.employee_id, AttendanceRecord.status, Employee.office_id)
                                     .join(Employee, Employee.id == AttendanceRecord.employee_id)
                                     .where(AttendanceRecord.assembly_id == info["assembly_id"])).all()
                now = time.monotonic()
                total = max(total, len(rows))
                for emp, status, office_id in rows:
                    office_of[emp] = office_id
                    if status in MARKED and emp not in marked_at:
                        marked_at[emp] = now - t0
                if total and len(marked_at) == total and total >= offices * len(people_dirs):
                    break
                for p, log in zip(procs, logs, strict=True):
                    if p.poll() is not None:
                        raise RuntimeError(f"a node ended ({p.returncode}):\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            wall = time.monotonic() - t_cpu0
            trial.node_cpu_pct = [round(100.0 * (tree_cpu_s(p.pid) - c) / wall, 1)
                                  for p, c in zip(procs, cpu0, strict=True)]
            with factory() as s:
                holders = [n for n, _ in leases_of(s, info["assembly_id"]).values()]
            trial.leased = sum(1 for n in holders if n is not None)
            trial.leases_per_node = sorted((holders.count(n) for n in set(holders) if n is not None), reverse=True)
        finally:
            stop_nodes(procs)
            engine.dispose()
    times = sorted(marked_at.values())
    trial.people = offices * len(people_dirs)
    trial.marked = len(times)
    trial.marked_within_15s = sum(1 for t in times if t <= WITHIN_S)
    if times:
        trial.time_to_mark_p50 = round(statistics.median(times), 2)
        trial.time_to_mark_p90 = round(times[int(0.9 * (len(times) - 1))], 2)
        trial.time_to_mark_max = round(times[-1], 2)
    per_office: dict[int, int] = {}
    for emp, t in marked_at.items():
        per_office[office_of[emp]] = per_office.get(office_of[emp], 0) + (t <= WITHIN_S)
    trial.marked_within_15s_per_office = sorted(per_office.values()) + [0] * (offices - len(per_office))
    trial.marked_within_15s_per_office.sort()
    trial.reachable_per_office = office.reachable
    trial.ok = (trial.leased == offices and office.reachable > 0
                and all(n >= office.reachable for n in trial.marked_within_15s_per_office))
    if os.environ.get("APEL_BENCH_KEEP"):
        print(f"  kept {work} (node logs)", flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return trial


@contextmanager
def pg_template() -> Iterator[str]:
    """A migrated database to copy for each trial (migrating per trial would cost seconds each)."""
    from attendance.db.migrate import upgrade

    with pg_database(None) as url:
        upgrade(url)
        yield url.rsplit("/", 1)[1]


def memo_enrolment() -> None:
    """Each trial's seed enrols the same photos again; with 30 people that is most of a minute a trial
    spent before the apel starts. Same image, same template: remember them for this process."""
    import hashlib

    import attendance.vision.enrol as enrol

    plain = enrol.enrol_face
    seen: dict[bytes, object] = {}

    def enrol_face(image_rgb: Any, **kw: Any) -> Any:
        key = hashlib.sha1(image_rgb.tobytes() + repr(sorted(kw.items())).encode()).digest()
        if key not in seen:
            seen[key] = plain(image_rgb, **kw)
        return seen[key]

    enrol.enrol_face = enrol_face


def drop_unusable(roster_dir: Path) -> None:
    """Leave out the enrolment photos the enrolment refuses (small faces among rmfd's photos), as
    `enrol_roster(strict=False)` does for `--sim`; seed would stop at the first."""
    from attendance.vision.enrol import FaceRejected, enrol_face
    from attendance.vision.roster_dir import read_image_rgb

    for photo in sorted(roster_dir.glob("*/*.jpg")):
        try:
            enrol_face(read_image_rgb(photo))
        except (FaceRejected, ValueError) as exc:
            print(f"  enrolment photo left out: {photo.parent.name}/{photo.name} ({exc})", flush=True)
            photo.unlink()


def capacity(plan: str, people: int, seconds: float, clip_seconds: int, size: int = 720) -> list[Trial]:
    """Each layout's counts in order, stopping at its first that fails. With `size` 1080 (the office of
    `people` from lfw10 then rmfd, as `--sim` makes it), an office holds when it gets marked within 15 s
    everyone whom one office alone does (recognition, not load, misses some rmfd faces): the plan's
    first trial must be of one office, and sets that bar."""
    clipdir = Path(tempfile.mkdtemp(prefix="apel-nodeclip-"))
    memo_enrolment()
    if size == 720:
        clip, _ = make_office_clip(clipdir, people, clip_seconds)
        people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[:people]
        office = Office(clip, people_dirs, HFOV, FARTHEST_ROW_M, people)
    else:
        clip, _, roster_dir = mixed_office_clip(clipdir, people, clip_seconds, LARGE_SIZE, LARGE_HFOV, LARGE_ROWS_M)
        drop_unusable(roster_dir)
        office = Office(clip, sorted(roster_dir.iterdir()), LARGE_HFOV, LARGE_ROWS_M[1], 0)
        if plan.split()[0].partition("=")[2].split(",")[0] != "1":
            sys.exit("--size 1080: the plan's first trial must be of one office (e.g. 1x1=1,2,3)")
    trials: list[Trial] = []
    try:
        with pg_template() as template:
            for part in plan.split():
                layout, _, counts = part.partition("=")
                for n in [int(x) for x in counts.split(",")]:
                    t = run_trial(layout, n, template, office, seconds)
                    if office.reachable == 0:       # the first trial, one office alone: it sets the bar
                        office.reachable = t.reachable_per_office = t.marked_within_15s
                        t.ok = t.leased == 1 and t.marked_within_15s > 0
                    trials.append(t)
                    print(f"{layout} offices={n:>2}: marked {t.marked}/{t.people} ({t.marked_within_15s} within 15 s; "
                          f"per office {t.marked_within_15s_per_office}, bar {t.reachable_per_office}), "
                          f"time-to-mark p50 {t.time_to_mark_p50} p90 {t.time_to_mark_p90} max {t.time_to_mark_max} s; "
                          f"leased {t.leased} {t.leases_per_node}; node CPU {t.node_cpu_pct}% of a core; "
                          f"load {t.load_avg}; {'HOLDS' if t.ok else 'FAILS'}", flush=True)
                    if not t.ok:
                        break   # larger counts of this layout would fail too
    finally:
        shutil.rmtree(clipdir, ignore_errors=True)
    best: dict[str, int] = {}
    for t in trials:
        if t.ok:
            best[t.layout] = max(best.get(t.layout, 0), t.offices)
    for layout, n in best.items():
        nodes, workers = (int(x) for x in layout.split("x"))
        print(f"{layout}: holds {n} offices ({n / (nodes * workers):.1f} per vision worker)")
    if "1x1" in best and "2x1" in best:
        print(f"2 nodes / 1 node (one worker each): {best['2x1'] / best['1x1']:.2f}x [target >= 1.8x]")
    return trials


# -- the media path's cost per office (no vision)

RECEIVER = r"""
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
from media.sampling import FrameTap

class Sink:
    def __init__(self): self.n = 0
    def put(self, f):
        f.frame_bgr      # the conversion a vision worker's frame costs
        self.n += 1

async def main(mode, n, clip, warm, seconds):
    sink = Sink()
    tracks, taps = [], []
    for i in range(n):
        if mode == "rtp":
            from media.janus.rtp_source import RtpForwardTrack
            t = RtpForwardTrack()
            t.start()
        else:
            from media.file_source import FileVideoTrack
            t = await asyncio.to_thread(FileVideoTrack, clip, loop=True)
        tap = FrameTap(f"o{i}", t, sink, sample_fps=5.0)
        tap.start()
        tracks.append(t)
        taps.append(tap)
    print(" ".join(str(getattr(t, "port", 0)) for t in tracks), flush=True)
    for wait in (warm, seconds):   # the counts after the opening, then after the measurement
        await asyncio.sleep(wait)
        print(sum(t.stats.frames_in for t in taps), sink.n, flush=True)
    for tap in taps:
        await tap.stop()
    for t in tracks:
        if mode == "rtp":
            await t.close()
        else:
            t.stop()

asyncio.run(main(sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5]), float(sys.argv[6])))
"""


def rtp_frames(packets: list[bytes]) -> list[list[bytes]]:
    """Each VP8 frame as the RTP payloads Janus would forward (aiortc's VP8 packetiser); the RTP header
    (sequence number, timestamp: running on across the clip's loops, as Janus keeps them) is put on
    when sent (`rtp_packet`)."""
    from aiortc.codecs.vpx import Vp8Encoder

    return [Vp8Encoder._packetize(frame, i % (1 << 15)) for i, frame in enumerate(packets)]


def rtp_packet(payload: bytes, *, seq: int, timestamp: int, marker: bool, pt: int = 96, ssrc: int = 1234) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, timestamp & 0xFFFFFFFF,
                       ssrc) + payload


def decode_cost(mode: str, offices: int, clip: Path, seconds: float, frames: list[list[bytes]],
                warm: float = 4.0) -> dict[str, object]:
    """CPU of a receiver process with `offices` feeds of one kind, over `seconds` after a `warm` opening
    (libav probing the stream, the first keyframe)."""
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, str(ROOT), mode, str(offices), str(clip),
                             str(warm), str(seconds)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    ports = [int(x) for x in proc.stdout.readline().split()]
    counts: list[tuple[float, float, int]] = []     # (monotonic, receiver CPU s, frames in)

    def read_counts() -> None:   # the receiver's two count lines, each stamped with its CPU on arrival
        assert proc.stdout is not None
        for line in proc.stdout:
            counts.append((time.monotonic(), tree_cpu_s(proc.pid), int(line.split()[0])))

    import threading

    reader = threading.Thread(target=read_counts, daemon=True)
    reader.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        start, i, seq = time.monotonic(), 0, 0
        while len(counts) < 2 and proc.poll() is None:
            if mode == "rtp":
                # frame i to every office (keyframe every 30, looped with the clip), 15 a second, its packets
                # spread over the frame's 1/15 s as a camera's encoder and Janus send them (not in one burst)
                payloads = frames[i % len(frames)]
                for j, payload in enumerate(payloads):
                    pkt = rtp_packet(payload, seq=seq, timestamp=i * 6000, marker=j == len(payloads) - 1)
                    seq += 1
                    for port in ports:
                        sock.sendto(pkt, ("127.0.0.1", port))
                    time.sleep(max(0.0, start + (i + (j + 1) / len(payloads)) / 15.0 - time.monotonic()))
            i += 1
            time.sleep(max(0.0, start + i / 15.0 - time.monotonic()))
    finally:
        sock.close()
        proc.wait(30)
        reader.join(5)
    (t1, cpu1, n1), (t2, cpu2, n2) = counts[:2]
    cpu_pct = 100.0 * (cpu2 - cpu1) / (t2 - t1)
    return {"mode": mode, "offices": offices, "cpu_pct": cpu_pct, "cpu_pct_per_office": cpu_pct / offices,
            "frames_in_per_office_s": (n2 - n1) / (t2 - t1) / offices}


def decode(offices: int, seconds: float, clip_seconds: int, people: int) -> list[dict[str, object]]:
    from media.client import encode_clip_vp8

    clipdir = Path(tempfile.mkdtemp(prefix="apel-nodeclip-"))
    try:
        clip, _ = make_office_clip(clipdir, people, clip_seconds)
        frames = rtp_frames(encode_clip_vp8(str(clip), size=(1280, 720), fps=15))
        print(f"clip {clip.name}: {len(frames)} VP8 frames, {statistics.mean(len(f) for f in frames):.1f} "
              f"RTP packets a frame", flush=True)
        results = []
        for mode in ("file", "rtp", "file", "rtp"):   # alternated: two runs each
            r = decode_cost(mode, offices, clip, seconds, frames)
            results.append(r)
            print(f"{mode}: {offices} offices, {r['cpu_pct']:.1f}% of a core ({r['cpu_pct_per_office']:.2f}% an "
                  f"office), {r['frames_in_per_office_s']:.1f} frames/s an office in, load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
        return results
    finally:
        shutil.rmtree(clipdir, ignore_errors=True)


# -- offices of 30 people: vision's cost on a CPU-time clock (bench_worker_load), against 10 people

def mixed_office_clip(work: Path, people: int, seconds: int, size: tuple[int, int], hfov: float,
                      rows_m: tuple[float, float]) -> tuple[Path, dict, Path]:
    """An office of `people` from lfw10 (10 people) then rmfd (East-Asian faces, the people with 5 or more
    photos) as a clip, and a roster directory that enrols each from three photos that are not the one on
    camera (as bench_worker_load)."""
    from attendance.vision.training.synth_office import make_office

    pool = work / "pool"
    pool.mkdir()
    dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())
    dirs += sorted(p for p in (SHARED / "faces" / "rmfd").iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 5)
    for d in dirs[:people]:
        (pool / d.name).symlink_to(d.resolve())
    clip, truth_p = work / "office.mp4", work / "truth.json"
    truth = make_office(pool, people, seconds, clip, truth_p, fps=15.0, size=size, hfov_deg=hfov, seed=0,
                        rows_m=rows_m, arrive_within_s=0.0)
    roster_dir = work / "roster"
    for p in truth["people"]:
        shown = Path(p["photo"])
        d = roster_dir / p["id"]
        d.mkdir(parents=True)
        for x in [x for x in sorted(shown.parent.glob("*.jpg")) if x.name != shown.name][:3]:
            (d / x.name).symlink_to(x.resolve())
    return clip, truth, roster_dir


def mixed_office(work: Path, people: int, seconds: int, size: tuple[int, int], hfov: float,
                 rows_m: tuple[float, float]) -> tuple[list, dict, Path]:
    """`mixed_office_clip` with the clip's frames decoded (for the CPU-time clock)."""
    from bench_worker_load import decoded_frames

    clip, truth, roster_dir = mixed_office_clip(work, people, seconds, size, hfov, rows_m)
    return decoded_frames(clip), truth, roster_dir


def simulated(spec: str, counts: list[int], seconds: float, clip_seconds: int) -> list[dict[str, object]]:
    """Offices of one kind on one vision core (bench_worker_load.run, CPU-time clock, share 1.0): the
    most offices with everyone marked within 15 s whom one office alone gets marked within 15 s."""
    from bench_worker_load import office_clip
    from bench_worker_load import run as run_worker

    from attendance.vision.config import PipelineConfig
    from attendance.vision.pipeline import OfficePipeline
    from attendance.vision.roster_dir import enrol_roster

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="apel-nodesim-") as tmp:
        if spec == "10":      # the capacity office: 720p, two rows at 3 and 4 m, hfov 45
            frames, truth, roster_dir = office_clip(Path(tmp), clip_seconds)
            back_row = 4.0
        else:                 # N people: 1080p, rows 3 to 6 m, hfov 70 (synth-office's defaults: N with 1 m apart)
            n = int(spec)
            frames, truth, roster_dir = mixed_office(Path(tmp), n, clip_seconds, LARGE_SIZE, LARGE_HFOV, LARGE_ROWS_M)
            back_row = LARGE_ROWS_M[1]
        roster = enrol_roster(roster_dir, strict=False)
        config = PipelineConfig(hfov_deg=truth["hfov_deg"], back_row_m=back_row)
        OfficePipeline(roster, config).process(frames[0], 0.0)   # load the models outside the clock
        reachable = None
        for k in counts:
            r = run_worker(config, roster, frames, truth, k, seconds, 1.0, 3)
            within = int(r["within_15s"])
            if reachable is None:
                reachable = within      # what one office alone gets marked within 15 s
            ok = within >= k * reachable and reachable > 0
            out.append({**r, "office_people": int(spec), "offices": k, "reachable_per_office": reachable, "holds": ok})
            print(f"{spec} people, {frames[0].shape[1]}x{frames[0].shape[0]}, {k} offices on one core: marked "
                  f"{r['marked']}/{r['people']} ({within} within 15 s; one office alone {reachable}), p50 {r['p50_s']} "
                  f"max {r['max_s']} s, {r['frames_per_office_s']} frames/s an office, frame cost median "
                  f"{r['cost_ms_median']} ms; {'HOLDS' if ok else 'FAILS'}", flush=True)
            if not ok:
                break
        del frames
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="1x1=4,5,6 2x1=8,10,12",
                    help="space-separated NODESxWORKERS=COUNTS; each layout's counts are tried in order, "
                         "stopping at the first that fails")
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--size", type=int, choices=(720, 1080), default=720,
                    help="1080: the office of --people that --sim makes (1920x1080, rows 3-6 m, lfw10 then rmfd)")
    ap.add_argument("--seconds", type=float, default=25.0, help="how long a trial waits for everyone marked")
    ap.add_argument("--clip-seconds", type=int, default=12)
    ap.add_argument("--decode", type=int, default=0, help="measure the media path's cost for this many offices "
                                                          "instead of capacity")
    ap.add_argument("--sim", default="", help="instead: offices of these sizes (comma-separated people counts, "
                                              "10 = the capacity office) on one core, CPU-time clock")
    ap.add_argument("--sim-offices", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (SHARED / "faces" / "lfw10").is_dir():
        sys.exit("needs ../shared/data/faces/lfw10")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    if args.sim:
        out: object = [r for spec in args.sim.split(",") for r in
                       simulated(spec, [int(x) for x in args.sim_offices.split(",")], args.seconds, args.clip_seconds)]
    elif args.decode:
        out = decode(args.decode, args.seconds, args.clip_seconds, args.people)
    else:
        out = [asdict(t) for t in capacity(args.plan, args.people, args.seconds, args.clip_seconds, args.size)]
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
