"""One vision worker serving several offices at once, as in the live capacity test (8 offices on
2 workers = 4 offices per worker), without the media server around it: how soon is each person
marked, and what does a frame cost, with the pipeline's detection scheduling against the fixed
schedule it replaced, in the same run on the same frames.

Each office shows the capacity bench's clip (`apel synth-office --roster faces/lfw10 --people 10
--width 1280 --height 720 --fps 15 --hfov 45 --nearest-row 3 --farthest-row 4 --arrive-within 0`:
two rows 3 and 4 m from the camera, lined up when the office joins, as the capacity target sets it; the
enrolment photos differ from the photos on camera), looping, each office joining at a different
point of the loop. The worker takes one frame per office in turn, the latest one at that moment
(the live pool's one-frame-in-flight rule). The clock is this process's CPU time divided by
--cpu-share (the share of a core a worker gets next to the media path; 0.6 on the 2-core capacity
run), so the figures hold whatever else the machine is doing. A person is marked after
--min-frames analysed frames naming them (the attendance rule's default 3).

    .venv/bin/python bench/bench_worker_load.py [--offices 4] [--seconds 30] [--cpu-share 0.6]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attendance.vision.config import PipelineConfig
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.synth_office import make_office

SHARED = ROOT.parent / "shared" / "data"

# What the pipeline did before the scheduling of detections and confirmation views (2026-11-29):
# a full-frame, full-scale detection every 2 s of stream time, every view 0.4 s apart.
FIXED = dict(detect_max_interval_s=2.0, full_scale_every=1, confirm_interval_s=0.4, min_frames_between_detections=1,
             max_confirms_per_frame=8, busy_gap_s=1e9)


ROWS_M = (3.0, 4.0)   # the capacity case: two rows, 3 to 4 m from the camera


def decoded_frames(clip: Path) -> list:
    """Every frame of the clip, decoded once up front (the CPU-time clock must not pay for decoding)."""
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames


def office_clip(work: Path, seconds: int) -> tuple[list, dict, Path]:
    clip, truth_p = work / "office.mp4", work / "truth.json"
    truth = make_office(SHARED / "faces" / "lfw10", 10, seconds, clip, truth_p, fps=15.0, size=(1280, 720),
                        hfov_deg=45.0, seed=0, rows_m=ROWS_M, arrive_within_s=0.0)
    frames = decoded_frames(clip)
    roster_dir = work / "roster"
    for p in truth["people"]:
        shown = Path(p["photo"])
        others = [x for x in sorted(shown.parent.glob("*.jpg")) if x.name != shown.name]
        d = roster_dir / p["id"]
        d.mkdir(parents=True, exist_ok=True)
        for x in others[:3]:   # three enrolment photos per person (docs/roster.md)
            (d / x.name).symlink_to(x.resolve())
    return frames, truth, roster_dir


def run(config: PipelineConfig, roster, frames: list, truth: dict, offices: int, seconds: float, share: float,
        min_frames: int) -> dict:
    fps = truth["fps"]
    loop_s = len(frames) / fps
    pipes = [OfficePipeline(roster, config) for _ in range(offices)]
    offsets = [k * loop_s / offices for k in range(offices)]
    seen: list[dict[str, int]] = [{} for _ in range(offices)]
    marked: list[dict[str, float]] = [{} for _ in range(offices)]
    costs: list[float] = []
    analysed = [0] * offices
    cpu0 = time.process_time()
    clock = 0.0
    while clock < seconds:
        for k, pipe in enumerate(pipes):
            stream_t = clock + offsets[k]
            frame = frames[int(stream_t * fps) % len(frames)]
            c = time.process_time()
            res = pipe.process(frame, stream_t)
            costs.append(time.process_time() - c)
            analysed[k] += 1
            clock = (time.process_time() - cpu0) / share
            for face in res.faces:
                if face.person_id is None:
                    continue
                n = seen[k][face.person_id] = seen[k].get(face.person_id, 0) + 1
                if n >= min_frames and face.person_id not in marked[k]:
                    marked[k][face.person_id] = clock
    times = sorted(t for m in marked for t in m.values())
    people = offices * len(truth["people"])
    q = statistics.quantiles(times, n=10) if len(times) > 1 else times * 9
    return {"marked": len(times), "people": people, "within_15s": sum(t <= 15.0 for t in times),
            "p50_s": round(statistics.median(times), 2) if times else None,
            "p90_s": round(q[8], 2) if times else None,
            "max_s": round(times[-1], 2) if times else None,
            "frames_per_office_s": round(sum(analysed) / offices / clock, 2),
            "cost_ms_median": round(1000 * statistics.median(costs), 1),
            "cost_ms_mean": round(1000 * statistics.mean(costs), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offices", type=int, default=4, help="offices served by the one worker")
    ap.add_argument("--seconds", type=float, default=30.0, help="simulated seconds per configuration")
    ap.add_argument("--cpu-share", type=float, default=0.6, help="share of a core the worker gets")
    ap.add_argument("--clip-seconds", type=int, default=12)
    ap.add_argument("--min-frames", type=int, default=3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if not 0.05 <= a.cpu_share <= 1.0:
        ap.error("--cpu-share must be between 0.05 and 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="apel-bench-load-") as tmp:
        frames, truth, roster_dir = office_clip(Path(tmp), a.clip_seconds)
        roster = enrol_roster(roster_dir)
        base = PipelineConfig(hfov_deg=truth["hfov_deg"])
        fixed = PipelineConfig(hfov_deg=truth["hfov_deg"], **FIXED)
        # warm the models once so neither configuration pays for loading them
        OfficePipeline(roster, base).process(frames[0], 0.0)
        results = {}
        # the office's back-row setting as its operator would enter it: where the clip's back row stands
        back_row = PipelineConfig(hfov_deg=truth["hfov_deg"], back_row_m=ROWS_M[1])
        configs = (("fixed schedule (before)", fixed), ("scheduled", base), ("scheduled, back row set", back_row))
        for name, cfg in configs:
            r = run(cfg, roster, frames, truth, a.offices, a.seconds, a.cpu_share, a.min_frames)
            results[name] = r
            print(f"{name:>24}: marked {r['marked']}/{r['people']} ({r['within_15s']} within 15 s), time-to-mark "
                  f"p50 {r['p50_s']} s p90 {r['p90_s']} s max {r['max_s']} s; {r['frames_per_office_s']} frames/s "
                  f"per office; frame cost median {r['cost_ms_median']} ms, mean {r['cost_ms_mean']} ms", flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
