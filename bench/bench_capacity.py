"""Capacity of one Apel server on this machine: N offices streaming 720p at 15 fps, 10 enrolled people
each (a synthetic office from `apel synth-office` built from ../shared/data/faces/lfw10), the leader's
console connected. For each N: time from an office's join until each of its people is marked (present
or late) on the live roll-call, frames dropped, the longest gap in any office feed, server CPU
(the server and its vision workers, from /proc). Also the join latency: the operator's join request
until the first analysed frame of that office (measured by the server).

The server is a real `apel serve` process; the offices are aiortc peers in this process that send a
clip encoded ONCE to VP8 up front (so this process does not spend the cores the server needs on
encoding 720p for every office; a real office encodes on its own machine).

    .venv/bin/python bench/bench_capacity.py [--offices 2,4,8] [--seconds 40] [--people 10]

Conditions (the capacity target): every person marked within 15 s of the office joining; no feed frozen > 2 s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
CLK = os.sysconf("SC_CLK_TCK")
MARKED = {"present", "late"}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and all its live descendants (the vision workers)."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                stack.extend(int(k) for k in kids)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


HFOV = 45.0
FARTHEST_ROW_M = 4.0
ENROL_PHOTOS = 3



async def leader_session(http, tries: int = 150) -> dict[str, str]:
    """Wait for the server to answer, then log in as the bench's leader; the bearer header."""
    import httpx

    for _ in range(tries):
        try:
            if (await http.get("/api/v1/health")).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)
    r = await http.post("/api/v1/auth/login", json={"username": "leader", "password": "bench-leader-1"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}

def make_office_clip(workdir: Path, people: int, seconds: int) -> tuple[Path, Path]:
    clip, truth = workdir / "office.mp4", workdir / "truth.json"
    if not clip.exists():
        cmd = [sys.executable, "-m", "app.cli", "synth-office", "--roster", str(SHARED / "faces" / "lfw10"),
               "--people", str(people), "--seconds", str(seconds), "--out", str(clip), "--truth", str(truth),
               "--width", "1280", "--height", "720", "--fps", "15", "--hfov", str(HFOV),
               "--nearest-row", "3", "--farthest-row", str(FARTHEST_ROW_M), "--arrive-within", "0"]
        subprocess.run(cmd, cwd=ROOT, check=True)
    return clip, truth


def seed(data_dir: Path, offices: int, people_dirs: list[Path], min_confidence: float | None,
         back_row_m: float | None = None) -> dict:
    """Offices, 10 employees each enrolled from three photos per person, a leader and HR, an open apel."""
    import face_recognition
    import numpy as np

    from app.settings import Settings
    from app.web.app import create_app
    from attendance.assemblies.lifecycle import create_assembly, issue_office_token, start_assembly
    from attendance.db.unit_of_work import committed
    from attendance.models import AssemblyKind, Employee, FaceTemplate, Office, User
    from attendance.roster.passwords import hash_password
    from attendance.vision.enrol import enrol_face

    app = create_app(Settings(data_dir=data_dir, secret_key="bench"))
    templates = {}
    backend = None
    for d in people_dirs:
        # Three enrolment photos per person, as docs/roster.md asks of HR; never the photo the
        # synthetic office shows on camera (its last one).
        templates[d.name] = []
        for photo in sorted(d.glob("*.jpg"))[:ENROL_PHOTOS]:
            face = enrol_face(face_recognition.load_image_file(str(photo)))   # the default recogniser, as the server's
            backend = face.backend
            templates[d.name] += [("photo", face.embedding)] + [("masked", m) for m in face.masked_embeddings]
    with app.state.session_factory() as db:
        leader = User(username="leader", password_hash=hash_password("bench-leader-1"), role="leader")
        hr = User(username="hr", password_hash=hash_password("bench-hr-1234"), role="hr")
        admin = User(username="admin", password_hash="-", role="admin")
        db.add_all([leader, hr, admin])
        offs = []
        n = 0
        for k in range(offices):
            o = Office(code=f"OPD{k + 1}", name=f"Dinas {k + 1}", timezone="Asia/Makassar", camera_hfov_deg=HFOV,
                       back_row_m=back_row_m)
            db.add(o)
            db.flush()
            offs.append(o)
            for name, embs in templates.items():
                n += 1
                e = Employee(nip=f"1980010120050{n:05d}", name=name.replace("_", " "), office_id=o.id)
                db.add(e)
                db.flush()
                for j, (kind, emb) in enumerate(embs):
                    db.add(FaceTemplate(employee_id=e.id, backend=backend, kind=kind,
                                        embedding=np.asarray(emb, "<f4").tobytes(), source_sha256=f"{n:032d}{j:032d}"))
        db.commit()
        if min_confidence is not None:
            from attendance.assemblies.rulesets import create_ruleset_version

            committed(create_ruleset_version)(
                db, actor=admin, name="default", reason="bench", min_confidence=min_confidence)
        a = committed(create_assembly)(db, actor=leader, kind=list(AssemblyKind)[0].value, title="Bench apel",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[o.id for o in offs], ruleset_name="default")
        committed(start_assembly)(db, a.id, actor=leader)
        tokens = {o.code: committed(issue_office_token)(db, a.id, o.id, actor=leader, ttl_minutes=60) for o in offs}
        aid = a.id
    app.state.engine.dispose()
    return {"assembly_id": aid, "tokens": tokens}


async def run(n_offices: int, seconds: float, packets: list[bytes], people_dirs: list[Path], port: int,
              back_row_m: float | None,
              min_confidence: float | None) -> dict:
    import httpx

    from media.client import PreEncodedTrack, connect_peer

    work = Path(tempfile.mkdtemp(prefix="apel-cap-"))
    info = seed(work / "data", n_offices, people_dirs, min_confidence, back_row_m)
    env = {**os.environ, "APEL_DATA_DIR": str(work / "data"), "APEL_SECRET_KEY": "bench", "APEL_PORT": str(port),
           "APEL_VISION_WORKERS": os.environ.get("APEL_VISION_WORKERS", "2")}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    pcs, tracks = [], []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            auth = await leader_session(http)
            aid = info["assembly_id"]
            # warm the live service (vision workers) as an operator opening the page would
            await http.get("/api/v1/live/ice-servers", headers=auth)
            await asyncio.sleep(3)

            async def leader_signal(offer):
                r = await http.post(f"/api/v1/live/assemblies/{aid}/leader", json=offer, headers=auth)
                r.raise_for_status()
                return r.json()
            # the leader's console: a 720p camera going out to every office, the mosaic coming back
            pc, _ = await connect_peer(leader_signal, send_video=PreEncodedTrack(packets), receive_video=True)
            pcs.append(pc)

            cpu0, t_start = tree_cpu_s(server.pid), time.monotonic()
            joined_at: dict[str, float] = {}
            failed_joins = 0
            for code, token in info["tokens"].items():
                async def signal(offer, code=code, token=token):
                    r = await http.post("/api/v1/live/office/join", json={"office": code, "token": token, **offer})
                    r.raise_for_status()
                    return r.json()
                track = PreEncodedTrack(packets)
                joined_at[code] = time.monotonic()
                try:
                    pc, _ = await connect_peer(signal, send_video=track, receive_video=False)
                except Exception as exc:   # an overloaded server: count the office as failed, go on
                    print(f"  office {code} could not join: {exc.__class__.__name__}: {exc}", flush=True)
                    failed_joins += 1
                    continue
                pcs.append(pc)
                tracks.append(track)
            marked_at: dict[tuple[str, int], float] = {}
            roster: dict[str, int] = {}
            last = None
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
                now = time.monotonic()
                last = r.json()
                for o in last["offices"]:
                    roster[o["code"]] = o["roster"]
                    for p in o["people"]:
                        if p["status"] in MARKED and (o["code"], p["employee_id"]) not in marked_at:
                            marked_at[(o["code"], p["employee_id"])] = now - joined_at[o["code"]]
                if len(marked_at) == sum(roster.values()) and roster:
                    await asyncio.sleep(max(0.0, min(5.0, deadline - time.monotonic())))  # keep measuring feeds
                    break
                await asyncio.sleep(0.5)
            wall = time.monotonic() - t_start
            cpu = tree_cpu_s(server.pid) - cpu0
            r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
            media = r.json().get("media") or {}
            leader_stream = media.get("leader_stream", {})
        times = sorted(marked_at.values())
        total = sum(roster.values())
        feeds = media.get("offices", [])
        sent = sum(t.sent for t in tracks)
        received = sum(o["frames"] for o in feeds)
        max_gap = max((o["max_gap_s"] or 0.0) for o in feeds) if feeds else None
        joins = [o.get("join_to_first_analysis_s") for o in feeds if o.get("join_to_first_analysis_s") is not None]
        first_frames = [o.get("join_to_first_frame_s") for o in feeds if o.get("join_to_first_frame_s") is not None]
        within = sum(1 for t in times if t <= 15.0)
        return {
            "offices": n_offices, "back_row_m": back_row_m, "people": total, "marked": len(times),
            "marked_within_15s": within,
            "time_to_mark_p50": statistics.median(times) if times else None,
            "time_to_mark_p90": times[int(0.9 * (len(times) - 1))] if times else None,
            "time_to_mark_max": times[-1] if times else None,
            "frames_sent": sent, "frames_received": received,
            "dropped_pct": 100.0 * (sent - received) / sent if sent else None,
            "analysed": sum(o.get("analysed_frames", 0) for o in feeds),
            "sampled": sum(o.get("sampled", 0) for o in feeds),
            "max_feed_gap_s": max_gap,
            "join_to_first_analysis_s": joins,
            "join_to_first_frame_s": first_frames,
            "server_cpu_pct": 100.0 * cpu / wall,
            "leader_frames_encoded": leader_stream.get("frames_encoded"),
            "failed_joins": failed_joins,
            "ok": failed_joins == 0 and within == total and total > 0 and max_gap is not None and max_gap <= 2.0,
        }
    finally:
        for pc in pcs:
            await pc.close()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        if os.environ.get("APEL_BENCH_KEEP"):
            print(f"  kept {work} (server.log)", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offices", default="2,4,8", help="comma-separated office counts to try")
    ap.add_argument("--seconds", type=float, default=40.0, help="measurement time per office count (upper bound)")
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--clip-seconds", type=int, default=12)
    ap.add_argument("--port", type=int, default=8766)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--min-confidence", type=float, default=0.5,
                    help="rules' min_confidence for the bench apel (vision reports 0.5-0.8 for correctly named "
                         "50 px faces; the rules' default 0.6 leaves some unseen); negative = keep the default")
    ap.add_argument("--back-row", type=float, default=FARTHEST_ROW_M,
                    help="the offices' back-row distance setting in metres, as an operator would enter it "
                         f"(default {FARTHEST_ROW_M:g}: where the clip's back row stands); 0 = unknown")
    args = ap.parse_args()
    if not (SHARED / "faces" / "lfw10").is_dir():
        sys.exit("needs ../shared/data/faces/lfw10")
    people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[: args.people]
    work = Path(tempfile.mkdtemp(prefix="apel-clip-"))
    clip, _ = make_office_clip(work, args.people, args.clip_seconds)
    t0 = time.perf_counter()
    from media.client import encode_clip_vp8

    packets = encode_clip_vp8(str(clip), size=(1280, 720), fps=15)
    print(f"office clip: {clip.name}, {len(packets)} VP8 frames at 1280x720 "
          f"(encoded once in {time.perf_counter() - t0:.1f} s); "
          f"{os.cpu_count()} cores; vision workers {os.environ.get('APEL_VISION_WORKERS', '2')}", flush=True)
    results = []
    for n in [int(x) for x in args.offices.split(",")]:
        r = await run(n, args.seconds, packets, people_dirs, args.port, args.back_row or None,
                      None if args.min_confidence < 0 else args.min_confidence)
        results.append(r)
        p50 = r["time_to_mark_p50"]
        print(f"offices={n:>2}: marked {r['marked']}/{r['people']} ({r['marked_within_15s']} within 15 s), "
              f"time-to-mark p50 {p50 if p50 is None else round(p50, 1)} s "
              f"p90 {r['time_to_mark_p90'] and round(r['time_to_mark_p90'], 1)} s "
              f"max {r['time_to_mark_max'] and round(r['time_to_mark_max'], 1)} s; "
              f"frames dropped {r['dropped_pct'] and round(r['dropped_pct'], 1)}%; "
              f"longest feed gap {r['max_feed_gap_s']} s; analysed {r['analysed']}/{r['sampled']} sampled; "
              f"server CPU {r['server_cpu_pct']:.0f}% of a core; join->first frame {r['join_to_first_frame_s']} s, "
              f"->first analysis {r['join_to_first_analysis_s']} s; "
              f"{'MEETS' if r['ok'] else 'FAILS'} both conditions", flush=True)
    good = [r["offices"] for r in results if r["ok"]]
    print(f"largest office count meeting both conditions: {max(good) if good else 'none of those tried'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
