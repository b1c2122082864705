"""Distance and distancing on synthetic offices: median depth error relative to the true
distance, and precision/recall of "closer than the minimum" pairs, against the truth written
by `apel synth-office`. Baseline in the same run: depth from the face box width with a fixed
face width (0.16 m), the usual shortcut, on the same faces.

Only pairs whose two people the pipeline detected can be judged by the distance estimate;
missed people are reported separately (they are a detection figure, see bench_speed.py).
Pairs whose true distance is within +-10% of the minimum are a "don't care" band (neither a
hit nor a miss, counted and printed): rows 1 m apart put many neighbours at 1.0-1.1 m, where
the label flips on a few centimetres that no camera estimate resolves.

Run: .venv/bin/python bench/bench_distance.py [--seeds 3 --seconds 4 --people 20]"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vision_office import make_clip, project, read_frames, match  # noqa: E402

from attendance.vision import OfficePipeline, PipelineConfig  # noqa: E402
from attendance.vision.distance import focal_px, violations  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--people", type=int, default=20)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apel-bench-distance-"))
    err, err_box = [], []
    tp = fp = fn = tp_b = fp_b = fn_b = 0
    detected = present = in_band = 0
    for seed in range(a.seeds):
        clip, truth, roster, _, _ = make_clip(work, a.people, a.seconds, 5.0, 100 + seed)
        pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=truth["hfov_deg"], min_distance_m=truth["min_distance_m"]))
        f = focal_px(truth["width"], truth["hfov_deg"])
        _, pts = project(truth)
        byid = {p["id"]: p for p in truth["people"]}
        res = None
        t_last = 0.0
        for t, frame in read_frames(clip, 5.0, truth["fps"]):
            res, t_last = pipe.process(frame, t), t
        # Score the last frame: everybody has arrived and tracks have settled.
        present_ids = [p["id"] for p in truth["people"] if p["appear_s"] <= t_last]
        m = match([fc.box for fc in res.faces], present_ids, pts)
        present += len(present_ids)
        detected += len(m)
        box_pos = []
        for i, fc in enumerate(res.faces):
            x, y, w, h = fc.box
            z = f * 0.16 / max(w, 1)
            box_pos.append(((x + w / 2 - truth["width"] / 2) * z / f, (y + h / 2 - truth["height"] / 2) * z / f, z))
            if i in m:
                tz = float(np.linalg.norm(byid[m[i]]["position_m"]))
                err.append(abs(float(np.linalg.norm(fc.position_m)) - tz) / tz)
                err_box.append(abs(float(np.linalg.norm(box_pos[-1])) - tz) / tz)
        truth_pairs = {frozenset((x, y)) for x, y, _ in truth["violations"] if x in m.values() and y in m.values()}
        lo, hi = 0.9 * truth["min_distance_m"], 1.1 * truth["min_distance_m"]
        floor = {p["id"]: p["floor_m"] for p in truth["people"]}
        band = {frozenset((x, y)) for x in m.values() for y in m.values()
                if x < y and lo <= float(np.hypot(*np.subtract(floor[x], floor[y]))) <= hi}
        truth_pairs -= band
        in_band += len(band)
        for preds, counts in ((res.violations, "ours"), (violations(box_pos, truth["min_distance_m"]), "box")):
            pred = {frozenset((m[i], m[j])) for i, j, _ in preds if i in m and j in m} - band
            extra = sum(1 for i, j, _ in preds if i not in m or j not in m)
            t_, f_, n_ = len(pred & truth_pairs), len(pred - truth_pairs) + extra, len(truth_pairs - pred)
            if counts == "ours":
                tp, fp, fn = tp + t_, fp + f_, fn + n_
            else:
                tp_b, fp_b, fn_b = tp_b + t_, fp_b + f_, fn_b + n_
    print(f"{a.seeds} offices x {a.people} people (1920x1080, hfov 70, rows 3-6 m), last frame of each {a.seconds:g} s clip")
    print(f"people detected: {detected}/{present}; pairs in the +-10% don't-care band: {in_band}")
    print(f"depth, pipeline (eye spacing, tracked): median error {np.median(err):.1%}, 90th percentile {np.percentile(err, 90):.1%}")
    print(f"depth, baseline (box width, 0.16 m):    median error {np.median(err_box):.1%}, 90th percentile {np.percentile(err_box, 90):.1%}")
    print(f"violations, pipeline: precision {tp / max(1, tp + fp):.1%} recall {tp / max(1, tp + fn):.1%} (tp {tp}, fp {fp}, fn {fn})")
    print(f"violations, baseline: precision {tp_b / max(1, tp_b + fp_b):.1%} recall {tp_b / max(1, tp_b + fn_b):.1%} (tp {tp_b}, fp {fp_b}, fn {fn_b})")


if __name__ == "__main__":
    main()
