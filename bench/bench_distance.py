"""Distance and distancing on synthetic offices: median depth error relative to the true
distance, and precision/recall of "closer than the minimum" pairs, against the truth written
by `apel synth-office`. Three estimators on the same faces of the same run:
- baseline: depth from the face box width with a fixed face width (0.16 m), the usual shortcut;
- current: the pipeline's positions (depth from eye spacing with the mean IPD, tracked);
- row-refined: the same depths through `distance.positions_with_rows` (each depth pulled toward
  its row's, x and y recomputed), from the faces' box centres and eye rows (box top + 0.4 h).
  Once the pipeline itself reports row-refined positions, "current" and "row-refined" would
  both start from refined depths; the bench then needs the raw depth to compare.

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
from attendance.vision.distance import focal_px, position_m, violations  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--people", type=int, default=20)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apel-bench-distance-"))
    names = ("baseline", "current", "row-refined")
    err = {k: [] for k in names}
    counts = {k: [0, 0, 0] for k in names}   # tp, fp, fn
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
        for fc in res.faces:
            x, y, w, h = fc.box
            z = f * 0.16 / max(w, 1)
            box_pos.append(((x + w / 2 - truth["width"] / 2) * z / f, (y + h / 2 - truth["height"] / 2) * z / f, z))
        # The pipeline reports row-refined positions (PipelineConfig.people_in_rows); the eye-spacing
        # depth of each face before refinement is its track's, read from the same run.
        row_pos = [tuple(fc.position_m) for fc in res.faces]
        raw_z = {tr.track_id: tr.depth_m for tr in pipe.tracks}
        cur_pos = [position_m(x + w / 2, y + h / 2, raw_z.get(fc.track_id) or row_pos[i][2], f, truth["width"], truth["height"])
                   for i, fc in enumerate(res.faces) for x, y, w, h in [fc.box]]
        est = {"baseline": box_pos, "current": cur_pos, "row-refined": row_pos}
        for i in m:
            tz = float(np.linalg.norm(byid[m[i]]["position_m"]))
            for k in names:
                err[k].append(abs(float(np.linalg.norm(est[k][i])) - tz) / tz)
        truth_pairs = {frozenset((x, y)) for x, y, _ in truth["violations"] if x in m.values() and y in m.values()}
        lo, hi = 0.9 * truth["min_distance_m"], 1.1 * truth["min_distance_m"]
        floor = {p["id"]: p["floor_m"] for p in truth["people"]}
        band = {frozenset((x, y)) for x in m.values() for y in m.values()
                if x < y and lo <= float(np.hypot(*np.subtract(floor[x], floor[y]))) <= hi}
        truth_pairs -= band
        in_band += len(band)
        for k in names:
            preds = violations(est[k], truth["min_distance_m"])
            pred = {frozenset((m[i], m[j])) for i, j, _ in preds if i in m and j in m} - band
            extra = sum(1 for i, j, _ in preds if i not in m or j not in m)
            c = counts[k]
            c[0] += len(pred & truth_pairs)
            c[1] += len(pred - truth_pairs) + extra
            c[2] += len(truth_pairs - pred)
    print(f"{a.seeds} offices x {a.people} people (1920x1080, hfov 70, rows 3-6 m), last frame of each {a.seconds:g} s clip")
    print(f"people detected: {detected}/{present}; pairs in the +-10% don't-care band: {in_band}")
    label = {"baseline": "baseline (box width, 0.16 m)", "current": "current (eye spacing, tracked)",
             "row-refined": "row-refined (eye spacing + rows)"}
    for k in names:
        tp, fp, fn = counts[k]
        print(f"{label[k]:34s} depth median error {np.median(err[k]):.1%} (90th pct {np.percentile(err[k], 90):.1%}); "
              f"violations precision {tp / max(1, tp + fp):.1%} recall {tp / max(1, tp + fn):.1%} (tp {tp}, fp {fp}, fn {fn})")


if __name__ == "__main__":
    main()
