"""Join latency: from the operator's join request to the first analysed frame of that office, on
loopback, split into the media part (join -> first decoded frame on the server) and the rest (sampling,
vision's first frame). The same office leaves and joins again `--joins` times against one running
`apel serve`; the vision workers are warm after the first join, as they are in an apel.

Baseline in the same run: vision alone on the same clip's frames (OfficePipeline.process in this
process, first frame of a fresh pipeline), i.e. the floor that no media path can beat.

    .venv/bin/python bench/bench_join.py [--joins 5] [--people 10]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_capacity import SHARED, leader_session, make_office_clip, seed


def vision_floor(clip: Path, people_dirs: list[Path], frames: int = 3) -> list[float]:
    """Seconds for a fresh OfficePipeline's first frames, no media involved."""
    import av
    import face_recognition
    import numpy as np

    from attendance.vision.config import PipelineConfig
    from attendance.vision.enrol import enrol_face
    from attendance.vision.pipeline import OfficePipeline
    from attendance.vision.types import RosterPerson

    roster = []
    for d in people_dirs:
        face = enrol_face(face_recognition.load_image_file(str(sorted(d.glob("*.jpg"))[0])))
        embs = np.stack([face.embedding, *face.masked_embeddings]).astype(np.float32)
        roster.append(RosterPerson(d.name, embs, ("photo",) + ("masked",) * (len(embs) - 1)))
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=45.0))
    out = []
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i < 40 or i % 5:      # people have arrived by frame 40 (the clip's first 30% is arrival)
                continue
            img = f.to_ndarray(format="bgr24")
            t0 = time.perf_counter()
            pipe.process(img, i / 15)
            out.append(time.perf_counter() - t0)
            if len(out) >= frames:
                break
    return out


async def main() -> None:
    import httpx

    from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joins", type=int, default=5)
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--port", type=int, default=8767)
    args = ap.parse_args()
    people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[: args.people]
    work = Path(tempfile.mkdtemp(prefix="apel-join-"))
    clip, _ = make_office_clip(work, args.people, 12)
    packets = encode_clip_vp8(str(clip), size=(1280, 720), fps=15)
    # start the office's clip after the arrival phase, as an office joining a formed apel would
    packets = packets[60:] if len(packets) > 120 else packets   # 60: a keyframe (one every 30 frames)
    floor = vision_floor(clip, people_dirs)
    info = seed(work / "data", 1, people_dirs, 0.5)
    env = {**os.environ, "APEL_DATA_DIR": str(work / "data"), "APEL_SECRET_KEY": "bench",
           "APEL_VISION_WORKERS": os.environ.get("APEL_VISION_WORKERS", "1")}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(args.port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    base = f"http://127.0.0.1:{args.port}"
    rows = []
    push = None
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            auth = await leader_session(http)
            aid = info["assembly_id"]
            code, token = next(iter(info["tokens"].items()))
            # a console is watching (the roll-call is pushed only to watchers)
            async def watch():
                async with httpx.AsyncClient(base_url=base, timeout=None) as sse:
                    async with sse.stream("GET", f"/api/v1/live/assemblies/{aid}/events", headers=auth) as r:
                        async for _ in r.aiter_lines():
                            pass
            watcher = asyncio.ensure_future(watch())
            # the office page asks for the ICE servers before it joins: that also starts the workers
            await http.get("/api/v1/live/ice-servers", headers={"X-Office-Code": code, "X-Office-Token": token})
            await asyncio.sleep(5)
            answered = {}   # the last join's answer time, set by `signal`

            async def signal(offer):
                t = time.monotonic()
                r = await http.post("/api/v1/live/office/join", json={"office": code, "token": token, **offer})
                r.raise_for_status()
                answered["s"] = time.monotonic() - t
                return r.json()

            for k in range(args.joins):
                answered.clear()
                t0 = time.monotonic()
                pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(packets), receive_video=False)
                status = None
                while time.monotonic() - t0 < 60:
                    r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
                    feeds = (r.json().get("media") or {}).get("offices", [])
                    status = feeds[0] if feeds else None
                    if status and status.get("connected") and status.get("join_to_first_analysis_s") is not None:
                        break
                    await asyncio.sleep(0.1)
                client_s = time.monotonic() - t0
                rows.append((status.get("join_to_first_frame_s"), status.get("join_to_first_analysis_s"), client_s))
                print(f"  join {k + 1}: answer in {answered['s']:.2f} s, join -> first frame {rows[-1][0]} s, "
                      f"-> first analysed frame {rows[-1][1]} s "
                      f"(seen by the client's polling after {client_s:.2f} s)", flush=True)
                await asyncio.sleep(4.0)   # let sightings flow to the console
                r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
                push = (r.json().get("media") or {}).get("sighting_to_console_s")
                await pc.close()
                await asyncio.sleep(2.0)
            watcher.cancel()
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    ff = [r[0] for r in rows if r[0] is not None]
    fa = [r[1] for r in rows if r[1] is not None]
    print(f"{args.people} people, 1280x720, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"join -> first frame on the server: median {statistics.median(ff):.2f} s (n={len(ff)})")
    print(f"join -> first analysed frame:      median {statistics.median(fa):.2f} s, max {max(fa):.2f} s")
    print(f"baseline, vision alone: first frame of a fresh pipeline {floor[0]:.2f} s "
          f"(next frames {', '.join(f'{x:.2f}' for x in floor[1:])} s)")
    print(f"join -> first analysed frame minus the vision baseline: {statistics.median(fa) - floor[0]:.2f} s")
    print(f"sighting -> roll-call pushed to the console (office frame received -> SSE event sent): {push}")


if __name__ == "__main__":
    asyncio.run(main())
