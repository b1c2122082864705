"""Distance and distancing on synthetic offices: median depth error relative to the true
distance, and precision/recall of "closer than the minimum" pairs, against the truth written
by `apel synth-office`. Four estimators on the same faces of the same run:
- baseline: depth from the face box width with a fixed face width (0.16 m), the usual shortcut;
- eye spacing: depth from eye spacing with the mean IPD, tracked (the depth each track carries,
  before any use of rows), placed at the face-box centre;
- rows (v1): the first row-aware refinement (each depth pulled toward its row's by inverse-
  variance weighting), kept here frozen as `rows_v1_positions` so later changes are measured
  against it in the same run;
- pipeline: what the pipeline reports now (`FaceResult.position_m` and `FrameResult.violations`);
- pipeline, camera height set: the same with the office's camera height measured
  (`PipelineConfig.camera_height_m`, here the truth's 2.6 m, and `eye_height_m` the office's
  average head height, the truth's 1.60 m), recomputed from the recorded faces;
- pipeline, row lines set: the formation's row lines measured on the floor
  (`PipelineConfig.row_lines_m`, here the lines the synthetic office puts its rows on,
  `synth.row_lines_m`; people stand off them by sd 6 cm), and with the camera height as well.

Only pairs whose two people the pipeline detected can be judged by the distance estimate;
missed people are reported separately (they are a detection figure, see bench_speed.py).
Pairs whose true distance is within +-10% of the minimum are a "don't care" band (neither a
hit nor a miss, counted and printed): rows 1 m apart put many neighbours at 1.0-1.1 m, where
the label flips on a few centimetres that no camera estimate resolves.

Every estimator's pairs are also split by the truth's rows: pairs within one row, and pairs
across rows (people in neighbouring rows, rows 1 m apart: such a pair is closer than 1 m only
because its two people stepped off their lines toward each other). A last line, "ceiling", is
not an estimator: each detected person is put on their true row's line at their true x, and
their step off the line is measured with the error the face's own depth cues carry at best
(their IPD against the mean, the office's IPD spread; their eye height against the heads'
plane, the office's head-height spread over the camera's height above the heads; no landmark
noise, no row mistakes), then judged with the same rule as the pipeline (P(d < minimum) >
0.55). It is what a perfect use of one frame's faces could reach on these offices.

Rendering an office and running the pipeline over it is the slow part (~45 s a seed); with
`--cache DIR` each seed's observations (the last frame's faces: boxes, their tracks' depths, the
pipeline's positions and violations, and the truth) are kept in DIR (outside the repository) and
reused, so the estimators can be compared again in seconds. A cached seed re-scores the
pipeline's *recorded* output; `--rescore` recomputes "pipeline" from the recorded boxes and
depths with the current distance code (what the pipeline would report with it; the tracks'
depths do not depend on it). Depths cached before the pipeline corrected the measured eye
spacing for face size (`camera.unbiased_eye_px`) are corrected on loading (`unbias`; nil
above 10 px, see models/ipd_bias.json); `--as-cached` takes them as they are.

Learned geometry (`--days D`): the same office on D days. Each person keeps their own IPD and
head height (`make_office(traits_seed=office)`), and stands somewhere else each day (a new layout,
people shuffled: `day_seed`). The pipeline's own fits of days 1..D-1 teach each person's IPD and
eye height, as the live service does after each apel (`face_geometry`, one sample per person per
day: here the last frame's fit, named by the pipeline's recognition, never by the truth). Day D
is then judged twice on the same faces: as before ("pipeline now", "... row lines set") and read
with what was learned (LEARNED), with no office setting and with camera height and row lines.
Both judge the same faces of the same run, so the comparison is paired. `--same-places`: everybody
keeps their row and their rank in it every day (`make_office(same_places=True)`), the harder case
for learning: a person measured against the same row-mates every day learns their IPD and height
relative to those row-mates, whose own average error then stays in. The learned values'
errors against the truth are printed too.

Distancing alerts over apels (`--apel N`, see "alerts over an apel" below): false alerts per
office-apel on offices where everybody stands 1.0-1.2x the minimum apart, and recall on pairs at
most 0.85x the minimum, for the alert rule (geometry.alerts) against the per-frame rule, each office
a clip run frame by frame through the live pipeline:
`nice -n 10 .venv/bin/python bench/bench_distance.py --apel 3 --people 16 --seconds 10 --cache DIR`
(~4 min per office on a loaded machine); `--kinds apart` for one kind, `--all-cached` to score
every office in DIR, `--sweep` to replay the rule with other settings, `--refit` to rerun the
current fit on each frame's recorded inputs (offices rendered since 2026-12-06 keep them) rather
than replay the pair estimates recorded, so a change to the distance code is judged in seconds.

Run: .venv/bin/python bench/bench_distance.py [--seeds 8 --seed-offset 0 --seconds 4 --people 20 --rows 3,6]
The offices are `make_office(seed=100 + seed-offset + k)`, k < seeds; or name them:
`--offices 100-107,200-207,300-323,600-623,700-723` (the 88 BENCHMARKS.md reports).
Learned geometry: `--days 4 --offices 1-32 --cache DIR` (~45 s per office and day to render)."""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.special import ndtr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vision_office import make_clip, match, project, read_frames

from attendance.vision import pipeline as pipeline_module
from attendance.vision.config import PipelineConfig
from attendance.vision.geometry import face_geometry
from attendance.vision.geometry.camera import MEAN_IPD_M, depth_m, focal_px, position_m, unbiased_eye_px
from attendance.vision.geometry.fit import FrameFit, fit_frame, positions_and_violations
from attendance.vision.geometry.violations import VIOLATION_P_MIN, violations
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.training import synth_office as synth

# --- rows (v1), frozen: distance.row_groups / refine_depths as of commit 6ced214 ---------------

def _rows_v1_groups(z, v, f_px, row_sd_m=0.08, rel_sd=0.05, head_sd_m=0.08):
    labels = np.full(len(z), -1, int)
    ok = np.flatnonzero(np.isfinite(z) & (z > 0) & np.isfinite(v))
    if len(ok) <= 1:
        labels[ok] = 0
        return labels
    zo, vo = z[ok], v[ok]
    lz = np.log(zo)
    zm = np.sqrt(zo[:, None] * zo[None, :])
    var_z = 2 * rel_sd ** 2 + 2 * (row_sd_m / zm) ** 2
    sd_v = f_px * head_sd_m / zo + 2.0
    var_v = sd_v[:, None] ** 2 + sd_v[None, :] ** 2
    d2 = (lz[:, None] - lz[None, :]) ** 2 / var_z + (vo[:, None] - vo[None, :]) ** 2 / var_v
    lab = fcluster(linkage(d2[np.triu_indices(len(ok), 1)], method="average"), t=5.99, criterion="distance")
    for _ in range(5):
        rows = sorted(set(lab.tolist()))
        cz = np.array([np.median(lz[lab == c]) for c in rows])
        cv = np.array([np.median(vo[lab == c]) for c in rows])
        dz2 = (lz[:, None] - cz[None, :]) ** 2 / (rel_sd ** 2 + (row_sd_m / np.exp(cz)[None, :]) ** 2)
        cost = dz2 + (vo[:, None] - cv[None, :]) ** 2 / sd_v[:, None] ** 2
        new = np.array([rows[b] for b in np.argmin(cost, axis=1)])
        if np.array_equal(new, lab):
            break
        lab = new
    order = sorted(set(lab.tolist()), key=lambda c: float(np.median(zo[lab == c])))
    labels[ok] = [order.index(c) for c in lab]
    return labels


def rows_v1_positions(centres, z, f_px, width, height, row_sd_m=0.08, rel_sd=0.05):
    c = np.asarray(centres, np.float64).reshape(-1, 2)
    z = np.asarray(z, np.float64).ravel()
    labels = _rows_v1_groups(z, c[:, 1] - height / 2.0, f_px)
    out = z.copy()
    for r in set(labels.tolist()) - {-1}:
        idx = np.flatnonzero(labels == r)
        if len(idx) < 2:
            continue
        lz = np.log(z[idx])
        for k, i in enumerate(idx):
            others = np.delete(lz, k)
            med = float(np.median(others))
            s_row2 = (row_sd_m / math.exp(med)) ** 2
            spread = math.sqrt(rel_sd ** 2 + s_row2)
            kept = others[np.abs(others - med) <= 3 * spread]
            kept = kept if len(kept) else others
            cm = float(kept.mean())
            prior = s_row2 + spread ** 2 / len(kept)
            w = prior / (prior + rel_sd ** 2)
            out[i] = math.exp(cm + w * (lz[k] - cm))
    return [position_m(cx, cy, zz, f_px, width, height) for (cx, cy), zz in zip(c, out, strict=True)]


# --- observing: render an office, run the pipeline, keep the last frame --------------------------

def observe(work: Path, seed: int, people: int, seconds: float, rows_m: tuple[float, float] = (3.0, 6.0),
            traits_seed: int | None = None, same_places: bool = False) -> dict:
    clip, truth, roster, _, _ = make_clip(work, people, seconds, 5.0, seed, rows_m=rows_m, traits_seed=traits_seed,
                                          same_places=same_places)
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=truth["hfov_deg"], min_distance_m=truth["min_distance_m"]))
    f = focal_px(truth["width"], truth["hfov_deg"])
    res = None
    t_last = 0.0
    for t, frame in read_frames(clip, 5.0, truth["fps"]):
        res, t_last = pipe.process(frame, t), t
    # Score the last frame: everybody has arrived and tracks have settled. The depth each face's
    # track carries (eye spacing, tracked) is what the pipeline starts from; a face without one
    # gets the pipeline's own fallback (box width), as in OfficePipeline._result.
    raw_z = {tr.track_id: tr.depth_m for tr in pipe.tracks}
    faces = []
    for fc in res.faces:
        x, y, w, h = fc.box
        z = raw_z.get(fc.track_id)
        faces.append({"box": [x, y, w, h], "z": z if z is not None else depth_m(w * 0.40, f),
                      "position_m": list(fc.position_m), "mask": bool(fc.mask), "id": fc.person_id})
    return {"seed": seed, "t_last": t_last, "truth": truth, "faces": faces,
            "violations": [[i, j] for i, j, _ in res.violations], "eye_px_unbiased": True}


def unbias(obs: dict) -> dict:
    """Observations cached before the pipeline corrected the eye spacing's size bias
    (camera.unbiased_eye_px) carry the depths it measured then: correct them as the pipeline
    now does (each track's depth is a running mean of nearly equal depths, so correcting the mean
    is correcting each)."""
    if obs.get("eye_px_unbiased"):
        return obs
    truth = obs["truth"]
    f = focal_px(truth["width"], truth["hfov_deg"])
    faces = [dict(fc, z=depth_m(unbiased_eye_px(f * MEAN_IPD_M / fc["z"]), f))
             for fc in obs["faces"]]
    return dict(obs, faces=faces, eye_px_unbiased=True)


def load_or_observe(cache: Path | None, work: Path, seed: int, people: int, seconds: float,
                    rows_m: tuple[float, float] = (3.0, 6.0), traits_seed: int | None = None,
                    same_places: bool = False) -> dict:
    rows = "" if rows_m == (3.0, 6.0) else f"_rows{rows_m[0]:g}-{rows_m[1]:g}"
    rows += "" if traits_seed is None else f"_traits{traits_seed}" + ("_kept" if same_places else "")
    path = cache / f"office_{people}_{seconds:g}_{seed}{rows}.json" if cache else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    obs = observe(work, seed, people, seconds, rows_m, traits_seed, same_places)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obs))
    return obs


# --- scoring ---------------------------------------------------------------------------------

NAMES = ("baseline", "eye spacing", "rows (v1)", "pipeline", "camera height", "row lines", "height + lines", "ceiling")
LEARNED = ("learned", "learned + height + lines")     # with --days: geometry learned on the earlier days
LABEL = {"learned": "pipeline, geometry learned on earlier days",
         "learned + height + lines": "same, camera height and row lines set",
"baseline": "baseline (box width, 0.16 m)", "eye spacing": "eye spacing, tracked",
         "rows (v1)": "rows v1 (before head plane)", "pipeline": "pipeline now",
         "camera height": "pipeline, camera height set", "row lines": "pipeline, row lines set",
         "height + lines": "pipeline, camera height and row lines set",
         "ceiling": "ceiling: rows, lines, x known"}
CEILING_DRAWS = 20     # draws of the cues' errors per office (the ceiling's own noise averages out)


def ceiling_pairs(truth: dict, ids: list[str], rng: np.random.Generator) -> set[frozenset]:
    """The pairs a perfect use of one frame's faces would report (see the module's docstring):
    rows, their lines and x known; each person's step off the line measured with the best
    error their own IPD and eye height allow, combined with the steps' spread as a prior."""
    people = {p["id"]: p for p in truth["people"]}
    lines = truth.get("row_lines_m") or synth.row_lines_m(len(truth["people"]))
    md = truth["min_distance_m"]
    step_sd = truth.get("row_depth_sd_m", synth.ROW_DEPTH_SD_M)
    rel_ipd = synth.IPD_SD_M / synth.IPD_MEAN_M
    rel_eye = truth["head_heights_m"]["sd"] / (truth["camera_height_m"] - truth["head_heights_m"]["mean"])
    rel = 1.0 / math.sqrt(1.0 / rel_ipd ** 2 + 1.0 / rel_eye ** 2)
    x, z, post = {}, {}, {}
    for i in ids:
        fx, fz = people[i]["floor_m"]
        line = lines[people[i]["row"]]
        meas_sd = rel * line
        k = step_sd ** 2 / (step_sd ** 2 + meas_sd ** 2)
        x[i], z[i] = fx, line + k * (fz - line + rng.normal(0.0, meas_sd))
        post[i] = k * meas_sd ** 2           # the posterior variance of the step
    out = set()
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            i, j = ids[a], ids[b]
            dx, dz = x[i] - x[j], z[i] - z[j]
            d = math.hypot(dx, dz)
            sd = math.sqrt(post[i] + post[j]) * abs(dz) / max(d, 1e-9)
            p = ndtr((md - d) / sd) if sd > 0 else float(d < md)
            if p > VIOLATION_P_MIN:
                out.add(frozenset((i, j)))
    return out


def frame_inputs(obs: dict) -> tuple:
    """What every estimator reads from one cached frame: (centres, depths, focal length, width,
    height, minimum distance, the pipeline's mask call per face (None for caches from before
    2026-11-29 evening, which have none))."""
    truth = obs["truth"]
    W = truth["width"]
    centres = [(x + w / 2, y + h / 2) for x, y, w, h in (fc["box"] for fc in obs["faces"])]
    masked = [fc["mask"] for fc in obs["faces"]] if all("mask" in fc for fc in obs["faces"]) else None
    return (centres, [fc["z"] for fc in obs["faces"]], focal_px(W, truth["hfov_deg"]), W, truth["height"],
            truth["min_distance_m"], masked)


def office_settings(truth: dict) -> tuple[float, list[float]]:
    """The office's camera height above the staff's average eye height (PipelineConfig.camera_height_m
    minus eye_height_m: the truth's camera and average head height) and its row lines
    (PipelineConfig.row_lines_m; offices cached before the truth carried them: the lines
    `synth.row_lines_m` puts that many people on), as an operator would measure them."""
    above = truth["camera_height_m"] - truth["head_heights_m"]["mean"]
    return above, truth.get("row_lines_m") or synth.row_lines_m(len(truth["people"]))


def learned_settings(truth: dict) -> dict[str, tuple[float | None, list[float] | None]]:
    """LEARNED estimator -> (camera height above the eyes, row lines) it runs with."""
    above, lines = office_settings(truth)
    return dict(zip(LEARNED, ((None, None), (above, lines)), strict=True))


def learned_for(faces: list[dict], learned: dict[str, face_geometry.GeometrySamples]) -> list:
    """Per face, what was learned of the person it was named as (None: unknown face or not learned)."""
    return [face_geometry.geometry(learned[fc["id"]]) if fc.get("id") in learned else None for fc in faces]


def estimates(obs: dict, rescore: bool) -> dict[str, tuple[list, list]]:
    """Estimator -> (positions per face, violating pairs (i, j))."""
    boxes = [fc["box"] for fc in obs["faces"]]
    centres, zs, f, W, H, md, masked = frame_inputs(obs)
    out = {}
    box_pos = [position_m(cx, cy, f * 0.16 / max(w, 1), f, W, H)
               for (cx, cy), (_, _, w, _) in zip(centres, boxes, strict=True)]
    eye_pos = [position_m(cx, cy, z, f, W, H) for (cx, cy), z in zip(centres, zs, strict=True)]
    v1_pos = rows_v1_positions(centres, zs, f, W, H)
    for k, pos in (("baseline", box_pos), ("eye spacing", eye_pos), ("rows (v1)", v1_pos)):
        out[k] = (pos, [(i, j) for i, j, _ in violations(pos, md)])
    if rescore:
        pos, close = positions_and_violations(centres, None, zs, f, W, H, md, masked=masked)
        out["pipeline"] = (pos, [(i, j) for i, j, _ in close])
    else:
        out["pipeline"] = ([tuple(fc["position_m"]) for fc in obs["faces"]], [tuple(p) for p in obs["violations"]])
    # The office's camera height and row lines measured: what the pipeline reports with them set.
    above, lines = office_settings(obs["truth"])
    pos, close = positions_and_violations(centres, None, zs, f, W, H, md, masked=masked, camera_above_m=above)
    out["camera height"] = (pos, [(i, j) for i, j, _ in close])
    for k, h in (("row lines", None), ("height + lines", above)):
        pos, close = positions_and_violations(centres, None, zs, f, W, H, md, masked=masked,
                                                       camera_above_m=h, row_lines_m=lines)
        out[k] = (pos, [(i, j) for i, j, _ in close])
    # With --days: each face read with what the earlier days learned of the person it was named as.
    for k, (h, ln) in learned_settings(obs["truth"]).items():
        if k in obs.get("geometry", {}):
            fit = fit_frame(centres, None, zs, f, W, H, md, masked=masked, camera_above_m=h, row_lines_m=ln,
                                     geometry=obs["geometry"][k])
            out[k] = (fit.positions, [(i, j) for i, j, _ in fit.violations])
    return out


def spans_rows(pair: frozenset, row: dict, n_rows: int | None) -> bool:
    """Whether the pair's people stand in `n_rows` different rows (None: any pair)."""
    return n_rows is None or len({row[x] for x in pair}) == n_rows


def score(observations: list[dict], rescore: bool, names: tuple[str, ...] = NAMES) -> dict:
    err = {k: [] for k in names if k != "ceiling"}
    counts = {k: [0, 0, 0] for k in names}   # tp, fp, fn
    split = {(k, w): [0, 0, 0] for k in names for w in ("within", "across")}
    detected = present = in_band = 0
    rng = np.random.default_rng(0)
    for obs in observations:
        truth = obs["truth"]
        _, pts = project(truth)
        byid = {p["id"]: p for p in truth["people"]}
        present_ids = [p["id"] for p in truth["people"] if p["appear_s"] <= obs["t_last"]]
        m = match([fc["box"] for fc in obs["faces"]], present_ids, pts)
        present += len(present_ids)
        detected += len(m)
        est = estimates(obs, rescore)
        for i in m:
            tz = float(np.linalg.norm(byid[m[i]]["position_m"]))
            for k in err:
                err[k].append(abs(float(np.linalg.norm(est[k][0][i])) - tz) / tz)
        truth_pairs = {frozenset((x, y)) for x, y, _ in truth["violations"] if x in m.values() and y in m.values()}
        lo, hi = 0.9 * truth["min_distance_m"], 1.1 * truth["min_distance_m"]
        floor = {p["id"]: p["floor_m"] for p in truth["people"]}
        band = {frozenset((x, y)) for x in m.values() for y in m.values()
                if x < y and lo <= float(np.hypot(*np.subtract(floor[x], floor[y]))) <= hi}
        truth_pairs -= band
        in_band += len(band)
        ids = sorted(m.values())
        row = {p["id"]: p.get("row", 0) for p in truth["people"]}
        for k in names:
            if k == "ceiling":
                draws = [ceiling_pairs(truth, ids, rng) for _ in range(CEILING_DRAWS)]
            else:
                preds = est[k][1]
                draws = [{frozenset((m[i], m[j])) for i, j in preds if i in m and j in m}]
                extra = sum(1 for i, j in preds if i not in m or j not in m)
                counts[k][1] += extra
            for pred in draws:
                pred = pred - band
                for c, n_rows in ((counts[k], None), (split[k, "within"], 1), (split[k, "across"], 2)):
                    t = {q for q in truth_pairs if spans_rows(q, row, n_rows)}
                    got = {q for q in pred if spans_rows(q, row, n_rows)}
                    c[0] += len(got & t) / len(draws)
                    c[1] += len(got - t) / len(draws)
                    c[2] += len(t - got) / len(draws)
    return {"err": err, "counts": counts, "split": split, "detected": detected, "present": present, "in_band": in_band}


def day_seed(office: int, day: int) -> int:
    """make_office's seed for `office` on `day` (--days): a fresh layout each day, the office's
    people and their own IPDs and heights the same (`traits_seed` = office)."""
    return 10000 + 10 * office + day


def learn_over_days(days: list[dict]) -> tuple[dict, dict]:
    """Learn each named person's geometry from every day but the last, as the product does after
    each roll-call (`face_geometry`: one sample per person per day, here the last frame's fit),
    reading each day with what the days before it learned. Returns the last day's observations
    with `geometry` (per estimator in LEARNED, per face: what was learned of the person the face
    was named as) and the learned values' errors against the truth."""
    learned: dict[str, dict[str, face_geometry.GeometrySamples]] = {k: {} for k in LEARNED}
    for obs in days[:-1]:
        for k, fit in learned_fits(obs, learned).items():
            for fc, ipd, eye in zip(obs["faces"], fit.ipd_samples_m, fit.eye_offset_samples_m, strict=True):
                if fc.get("id"):
                    prev = learned[k].get(fc["id"], face_geometry.GeometrySamples())
                    learned[k][fc["id"]] = prev.add(*face_geometry.session_sample([(ipd, eye)]))
    last = days[-1]
    geo = {k: learned_for(last["faces"], learned[k]) for k in LEARNED}
    errors = {k: {"ipd": [], "eye": [], "ipd_prior": [], "eye_prior": []} for k in LEARNED}
    people = {q["id"]: q for q in last["truth"]["people"]}
    mean_head = float(np.mean([q["head_height_m"] for q in last["truth"]["people"]]))
    for k in LEARNED:
        for pid, smp in learned[k].items():
            g, q = face_geometry.geometry(smp), people.get(pid)
            if g is None or q is None:
                continue
            if math.isfinite(g.ipd_m):      # (a part never measured is NaN: nothing learned)
                errors[k]["ipd"].append(g.ipd_m - q["ipd_m"])
                errors[k]["ipd_prior"].append(MEAN_IPD_M - q["ipd_m"])
            if math.isfinite(g.eye_offset_m):
                errors[k]["eye"].append(g.eye_offset_m - (q["head_height_m"] - mean_head))
                errors[k]["eye_prior"].append(-(q["head_height_m"] - mean_head))
    return dict(last, geometry=geo), errors


def learned_fits(obs: dict, learned: dict) -> dict[str, FrameFit]:
    """One day's fit per LEARNED estimator, each face read with what the days before it taught."""
    centres, zs, f, W, H, md, masked = frame_inputs(obs)
    return {k: fit_frame(centres, None, zs, f, W, H, md, masked=masked, camera_above_m=h, row_lines_m=ln,
                                  geometry=learned_for(obs["faces"], learned[k]))
            for k, (h, ln) in learned_settings(obs["truth"]).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-offset", type=int, default=0, help="offices are make_office(seed=100 + offset + k)")
    ap.add_argument("--offices", default=None,
                    help="make_office seeds as ranges, e.g. 100-107,200-207,300-323 (instead of --seeds/--seed-offset)")
    ap.add_argument("--rows", default="3,6", help="the front and back rows' distances from the camera, metres "
                    "(default 3,6: four rows 1 m apart; 3,6.6: 1.2 m apart, "
                    "as the office page advises for a 1 m minimum)")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--cache", type=Path, default=None, help="keep/reuse each seed's observations here")
    ap.add_argument("--rescore", action="store_true", help="recompute 'pipeline' with the current distance code")
    ap.add_argument("--days", type=int, default=0,
                    help="each office on this many days (same people, own IPDs and heights, a new layout each day): "
                    "geometry learned on all but the last day, the last day judged")
    ap.add_argument("--same-places", action="store_true",
                    help="with --days: everybody keeps their row and rank in it every day (default: people shuffle)")
    ap.add_argument("--as-cached", action="store_true",
                    help="take cached depths as they are "
                    "(by default depths cached before the eye-spacing correction are corrected)")
    ap.add_argument("--apel", type=int, default=0,
                    help="alerts over apels: this many 'apart' and as many 'close' offices (seeds 900 + k)")
    ap.add_argument("--sweep", action="store_true", help="with --apel: replay the alert rule with other settings")
    ap.add_argument("--refit", action="store_true",
                    help="with --apel: rerun the current fit on each frame's recorded inputs (what the pipeline would "
                    "report now) instead of replaying the recorded fit's pair estimates")
    ap.add_argument("--kinds", default="apart,close", help="with --apel: which offices (apart, close)")
    ap.add_argument("--all-cached", action="store_true",
                    help="with --apel and --cache: score every office of this size in the cache")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apel-bench-distance-"))
    if a.apel or a.all_cached:
        run_apel(a, work)
        return
    seeds = seed_list(a.offices) if a.offices else [100 + a.seed_offset + k for k in range(a.seeds)]
    rows_m = tuple(float(x) for x in a.rows.split(","))
    names = NAMES
    if a.days >= 2:
        names = NAMES + LEARNED
        obs, errs = [], {k: {} for k in LEARNED}
        by_office = [[load_or_observe(a.cache, work, day_seed(o, d), a.people, a.seconds, rows_m, traits_seed=o,
                                      same_places=a.same_places) for d in range(a.days)] for o in seeds]
        # The learning curve: each day judged with what the days before it taught.
        print("day judged: precision / recall (tp/fp/fn), depth median error; pipeline now, then with geometry learned "
              "on the days before it; without office settings | with camera height and row lines")
        for d in range(1, a.days + 1):
            learnt = [learn_over_days(days[:d]) for days in by_office] if d > 1 else None
            judged = [last for last, _ in learnt] if learnt else [days[0] for days in by_office]
            r = score(judged, a.rescore, ("pipeline", "height + lines") + (LEARNED if d > 1 else ()))
            cells = []
            for k in (("pipeline", LEARNED[0]), ("height + lines", LEARNED[1])):
                cells.append(" -> ".join(
                    f"{pr(c[0], c[1])} / {pr(c[0], c[2])} ({tally(*c)}) {np.median(r['err'][q]):.1%}"
                    for q in k if q in r["counts"] for c in [r["counts"][q]]))
            print(f"  day {d} ({d - 1} learned): {cells[0]} | {cells[1]}")
        for last, e in learnt:      # the last day, learned on all before it: judged in full below
            obs.append(last)
            for k in LEARNED:
                for q, v in e[k].items():
                    errs[k].setdefault(q, []).extend(v)
        for k in LEARNED:
            e = errs[k]
            print(f"{LABEL[k]}: learned on {a.days - 1} day(s), error sd (robust) against the truth: "
                  f"IPD {robust_sd(e['ipd']) * 1000:.1f} mm "
                  f"(population mean: {robust_sd(e['ipd_prior']) * 1000:.1f} mm), "
                  f"eye height {robust_sd(e['eye']) * 100:.1f} cm "
                  f"(office average: {robust_sd(e['eye_prior']) * 100:.1f} cm), "
                  f"{len(e['ipd'])} / {len(e['eye'])} people measured")
    else:
        obs = [load_or_observe(a.cache, work, s, a.people, a.seconds, rows_m) for s in seeds]
    if not a.as_cached:
        obs = [unbias(o) for o in obs]
    r = score(obs, a.rescore, names)
    print(f"{len(seeds)} offices x {a.people} people (1920x1080, hfov 70, rows {rows_m[0]:g}-{rows_m[1]:g} m), "
          "last frame of each "
          f"{a.seconds:g} s clip; make_office seeds {a.offices or f'{seeds[0]}-{seeds[-1]}'}")
    print(f"people detected: {r['detected']}/{r['present']}; pairs in the +-10% don't-care band: {r['in_band']}")
    for k in names:
        tp, fp, fn = r["counts"][k]
        e = r["err"].get(k)
        depth = (f"depth median error {np.median(e):.1%} (90th pct {np.percentile(e, 90):.1%}); " if e is not None
                 else f"(mean of {CEILING_DRAWS} draws)" + " " * 23)
        print(f"{LABEL[k]:42s} {depth}violations precision {pr(tp, fp)} recall {pr(tp, fn)} ({tally(tp, fp, fn)})")
    print("pairs within one row / across rows: precision, recall (tp/fp/fn); fp outside the matched faces not split")
    for k in names:
        w, x = r["split"][k, "within"], r["split"][k, "across"]
        print(f"{LABEL[k]:42s} within {pr(w[0], w[1])} / {pr(w[0], w[2])} ({tally(*w)}); "
              f"across {pr(x[0], x[1])} / {pr(x[0], x[2])} ({tally(*x)})")


# --- alerts over an apel: what a leader sees ----------------------------------------------------
#
# `--apel N`: N offices where everybody stands at or beyond the minimum ("apart": rows and neighbours
# 1.0-1.2x the minimum apart) and N where some neighbours stand clearly too close ("close": a
# neighbour gap of 0.55-0.85x the minimum, one gap in five; the rest as "apart"), each a clip of
# `--seconds` seconds run frame by frame (5 frames a second) through the live pipeline. Each
# frame's inputs to the alert rule (track ids, positions, the fit's pair estimates) and the
# per-frame violations are recorded, then scored:
# - alert rule (geometry.alerts, what the pipeline reports in FrameResult.alerts): each episode is
#   one alert, matched to the truth's pair by the faces' places in its first frame;
# - baseline, the per-frame rule (FrameResult.violations, what the console counted before): a pair
#   closer than the minimum in consecutive frames is one alert (pair episodes; as the console
#   counted it, per face and per change of state, the figure is printed too).
# False alerts: alerts on a pair whose true distance is at least the minimum (or on a face matching
# nobody); per office-apel over the "apart" offices (the target's figure) and the "close" ones.
# Recall: pairs at most 0.85x the minimum (both people detected) with at least one alert. Pairs
# between 0.85x and 1.0x are borderline: their alerts are printed, not scored.

APEL_GAP = (1.0, 1.2)        # neighbours' and rows' spacing, times the minimum
APEL_CLOSE_GAP = (0.55, 0.85)
APEL_CLOSE_SHARE = 0.2
APEL_JITTER_SD_M = 0.04      # people stand a little off their row's line


def apel_layout(kind: str, row_gap: float):
    """A replacement for synth_office._layout (same signature) drawing an "apart" or "close"
    office: rows `row_gap` x the minimum apart, as many per row as the view holds, alternate rows
    shifted half a gap; redrawn until no pair but the intended close neighbours is under the minimum."""
    def layout(n, hfov, rng, min_distance, jitter_rng=None, rows_m=(3.0, 6.0)):
        for _ in range(200):
            out, close_pairs = _apel_layout_once(n, hfov, rng, min_distance, jitter_rng, rows_m[0], row_gap, kind)
            ok = True
            for a in range(n):
                for b in range(a + 1, n):
                    d = math.hypot(out[a][0] - out[b][0], out[a][1] - out[b][1])
                    if d < min_distance and (a, b) not in close_pairs:
                        ok = False
            if ok:
                return out
        raise RuntimeError(f"no {kind} layout of {n} people in 200 draws")
    return layout


def _apel_layout_once(n, hfov, rng, md, jitter_rng, front_m, row_gap, kind):
    rows, left = [], n
    z = front_m
    while left > 0:
        width = 0.9 * 2 * z * math.tan(math.radians(hfov) / 2) * 0.8
        cap = max(1, int(width / (APEL_GAP[1] * md)) + 1)
        rows.append((z, min(cap, left)))
        left -= rows[-1][1]
        z += row_gap * md
    out, close_pairs = [], set()
    for r, (z, c) in enumerate(rows):
        gaps, close = [], []
        for _ in range(c - 1):
            tight = kind == "close" and rng.random() < APEL_CLOSE_SHARE
            gaps.append(rng.uniform(*(APEL_CLOSE_GAP if tight else APEL_GAP)) * md)
            close.append(tight)
        xs = np.concatenate([[0.0], np.cumsum(gaps)]) if gaps else np.array([0.0])
        xs = xs - xs.mean() + (0.5 * APEL_GAP[0] * md if r % 2 else 0.0)
        zr = np.full(len(xs), float(z))
        if jitter_rng is not None:
            zr += np.clip(jitter_rng.normal(0.0, APEL_JITTER_SD_M, len(xs)), -0.08, 0.08)
        base = len(out)
        close_pairs |= {(base + k, base + k + 1) for k, t in enumerate(close) if t}
        out += [(float(x), float(zz), r) for x, zz in zip(xs, zr, strict=True)]
    return out, close_pairs


class _Recording:
    """Stands in for the pipeline's DistancingAlerts: records what the rule is given each frame and
    answers as the rule does."""
    def __init__(self, inner):
        self.inner, self.frames = inner, []

    def update(self, t_s, track_ids, positions, pairs=None):
        self.frames.append({"t": t_s, "ids": list(track_ids), "pos": [list(p) for p in positions],
                            "pairs": None if pairs is None else [[e.i, e.j, e.distance_m, e.sd_m, e.p_close,
                                                                  [list(m) for m in e.modes]] for e in pairs]})
        return self.inner.update(t_s, track_ids, positions, pairs)


def record_clip(clip: Path, truth: dict, roster) -> list[dict]:
    """The clip through the live pipeline frame by frame, each frame's faces, violations, alerts,
    the fit's inputs and what the alert rule was given (so the fit and the rule can be rerun)."""
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=truth["hfov_deg"], min_distance_m=truth["min_distance_m"]))
    rec = _Recording(pipe.alerts)
    pipe.alerts = rec
    frames = []
    # The fit's inputs of each frame too, so `--refit` can rerun the current fit on them (the fit
    # feeds nothing back into tracking or recognition: the replay is what the pipeline would do).
    fit_inputs: list[dict] = []
    real_fit = pipeline_module.fit_frame

    def recording_fit(centres, eye_y_px, z_m, f_px, width, height, min_distance_m, **kw):
        fit_inputs.append({"centres": [list(map(float, c)) for c in centres], "z": [float(z) for z in z_m],
                           "masked": [bool(m) for m in kw.get("masked") or []], "f": f_px, "w": width, "h": height,
                           "ipd_m": kw.get("ipd_m", MEAN_IPD_M)})
        return real_fit(centres, eye_y_px, z_m, f_px, width, height, min_distance_m, **kw)

    pipeline_module.fit_frame = recording_fit
    try:
        for t, frame in read_frames(clip, 5.0, truth["fps"]):
            n_fit = len(fit_inputs)
            res = pipe.process(frame, t)
            frames.append({"t": t, "boxes": [list(fc.box) for fc in res.faces],
                           "tracks": [fc.track_id for fc in res.faces],
                           "violations": [[i, j] for i, j, _ in res.violations],
                           "alerts": [[al.a, al.b, al.new] for al in res.alerts],
                           "fit": fit_inputs[-1] if len(fit_inputs) > n_fit else None})
    finally:
        pipeline_module.fit_frame = real_fit
    for f, r in zip(frames, rec.frames, strict=True):
        f["rule"] = r
    return frames


def observe_apel(work: Path, kind: str, seed: int, people: int, seconds: float) -> dict:
    rng = np.random.default_rng([seed, 7])
    row_gap = float(rng.uniform(*APEL_GAP))
    real_layout = synth._layout
    synth._layout = apel_layout(kind, row_gap)
    try:
        clip, truth, roster, _, _ = make_clip(work, people, seconds, 5.0, seed, rows_m=(3.0, 3.0 + 3 * row_gap))
    finally:
        synth._layout = real_layout
    frames = record_clip(clip, truth, roster)
    return {"kind": kind, "seed": seed, "row_gap": row_gap, "truth": truth, "frames": frames}


def load_or_observe_apel(cache: Path | None, work: Path, kind: str, seed: int, people: int, seconds: float) -> dict:
    path = cache / f"apel_{kind}_{people}_{seconds:g}_{seed}.json" if cache else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    obs = observe_apel(work, kind, seed, people, seconds)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obs))
    return obs


def _true_distance(truth: dict) -> dict[frozenset, float]:
    fl = {p["id"]: p["floor_m"] for p in truth["people"]}
    ids = sorted(fl)
    return {frozenset((a, b)): math.hypot(fl[a][0] - fl[b][0], fl[a][1] - fl[b][1])
            for k, a in enumerate(ids) for b in ids[k + 1:]}


def replay_alerts(obs: dict, **rule) -> list[list]:
    """The alert rule over the recorded frames (each frame's alerts as [a, b, new]); with no
    options, what the pipeline reported."""
    from attendance.vision.geometry.alerts import DistancingAlerts
    from attendance.vision.geometry.violations import PairEstimate
    alerts = DistancingAlerts(obs["truth"]["min_distance_m"], **rule)
    out = []
    for f in obs["frames"]:
        r = f["rule"]
        # (offices recorded before the row doubt: five fields, one assignment)
        pairs = None if r["pairs"] is None else [PairEstimate(int(q[0]), int(q[1]), q[2], q[3], q[4],
                                                              tuple(tuple(m) for m in q[5]) if len(q) > 5 else ())
                                                 for q in r["pairs"]]
        now = alerts.update(r["t"], r["ids"], [tuple(p) for p in r["pos"]], pairs)
        out.append([[al.a, al.b, al.new] for al in now])
    return out


def refit_alerts(obs: dict, **rule) -> list[list]:
    """The current fit (`fit_frame`) rerun on each frame's recorded inputs, then the alert rule
    (each frame's alerts as [a, b, new]): what the pipeline would report with the current
    distance code. Offices recorded before the inputs were kept (no "fit") cannot be refitted."""
    from attendance.vision.geometry.alerts import DistancingAlerts
    md = obs["truth"]["min_distance_m"]
    alerts = DistancingAlerts(md, **rule)
    out = []
    for f in obs["frames"]:
        x = f.get("fit")
        if x is None and f["tracks"]:
            raise ValueError(f"office {obs['kind']} {obs['seed']} was recorded without the fit's inputs: "
                             "render it again")
        if x is None:
            now = alerts.update(f["t"], [], [], [])
        else:
            fit = fit_frame([tuple(c) for c in x["centres"]], None, x["z"], x["f"], x["w"], x["h"], md,
                            masked=x["masked"], ipd_m=x["ipd_m"])
            pos = [tuple(round(v, 3) for v in p) for p in fit.positions]
            now = alerts.update(f["t"], f["tracks"], pos, fit.pairs)
        out.append([[al.a, al.b, al.new] for al in now])
    return out


def score_apel(obs: dict, alerts_per_frame: list[list] | None = None) -> dict:
    """Alerts of the rule and of the per-frame baseline against the truth (see above)."""
    truth = obs["truth"]
    md = truth["min_distance_m"]
    dist = _true_distance(truth)
    _, pts = project(truth)
    detected_pairs: set[frozenset] = set()
    rule_hits: dict[frozenset | None, int] = {}
    base_hits: dict[frozenset | None, int] = {}
    base_prev: set[tuple[int, int]] = set()
    console_prev: set[int] = set()
    console = 0
    for k, f in enumerate(obs["frames"]):
        present = [p["id"] for p in truth["people"] if p["appear_s"] <= f["t"]]
        m = match(f["boxes"], present, pts)
        seen = sorted(m.values())
        detected_pairs |= {frozenset((a, b)) for q, a in enumerate(seen) for b in seen[q + 1:]}

        def who(i: int, j: int, m: dict = m) -> frozenset | None:
            return frozenset((m[i], m[j])) if i in m and j in m else None
        frame_alerts = f["alerts"] if alerts_per_frame is None else alerts_per_frame[k]
        for a, b, new in frame_alerts:
            if new:
                key = who(a, b)
                rule_hits[key] = rule_hits.get(key, 0) + 1
        now = {(min(f["tracks"][i], f["tracks"][j]), max(f["tracks"][i], f["tracks"][j])): (i, j)
               for i, j in f["violations"]}
        for key, (i, j) in now.items():
            if key not in base_prev:
                pk = who(i, j)
                base_hits[pk] = base_hits.get(pk, 0) + 1
        base_prev = set(now)
        faces_now = {f["tracks"][i] for i, j in f["violations"]} | {f["tracks"][j] for i, j in f["violations"]}
        console += len(faces_now - console_prev)
        console_prev = faces_now
    out = {"console": console}
    for name, hits in (("rule", rule_hits), ("baseline", base_hits)):
        false = sum(n for key, n in hits.items() if key is None or dist[key] >= md)
        border = sum(n for key, n in hits.items() if key is not None and 0.85 * md < dist[key] < md)
        clear = [key for key in detected_pairs if dist[key] <= 0.85 * md]
        found = sum(1 for key in clear if hits.get(key, 0) > 0)
        out[name] = {"alerts": sum(hits.values()), "false": false, "borderline": border,
                     "clear_pairs": len(clear), "found": found}
    out["borderline_pairs"] = sum(1 for key in detected_pairs if 0.85 * md < dist[key] < md)
    return out


def report_apel(obs: list[dict], replayed: list[list[list]] | None = None) -> dict:
    per = [score_apel(o, None if replayed is None else replayed[k]) for k, o in enumerate(obs)]
    tot: dict = {}
    for kind in ("apart", "close"):
        sel = [p for p, o in zip(per, obs, strict=True) if o["kind"] == kind]
        if not sel:
            continue
        for name in ("rule", "baseline"):
            c = {q: sum(p[name][q] for p in sel) for q in sel[0][name]}
            tot[kind, name] = dict(c, offices=len(sel))
        tot[kind, "console"] = sum(p["console"] for p in sel)
        tot[kind, "borderline_pairs"] = sum(p["borderline_pairs"] for p in sel)
    return tot


def print_apel(tot: dict, label: str) -> None:
    print(label)
    for kind in ("apart", "close"):
        if (kind, "rule") not in tot:
            continue
        n = tot[kind, "rule"]["offices"]
        print(f"  {kind} offices ({n}); borderline pairs (0.85-1.0x) detected: {tot[kind, 'borderline_pairs']}; "
              f"the console's old count (per face, per change): {tot[kind, 'console']} "
              f"({tot[kind, 'console'] / n:.1f} per office-apel)")
        for name, title in (("baseline", "per-frame rule (before)"), ("rule", "alert rule (now)")):
            c = tot[kind, name]
            rec = f"{c['found'] / c['clear_pairs']:.1%}" if c["clear_pairs"] else "-"
            print(f"    {title:24s} alerts {c['alerts']:4d}, false {c['false']:4d} "
                  f"({c['false'] / n:.2f} per office-apel), "
                  f"on borderline pairs {c['borderline']:3d}; recall on pairs <= 0.85x {rec} "
                  f"({c['found']}/{c['clear_pairs']})")


def run_apel(a, work: Path) -> None:
    seeds = seed_list(a.offices) if a.offices else [900 + a.seed_offset + k for k in range(a.apel)]
    kinds = a.kinds.split(",")
    obs = []
    for s in seeds:
        for kind in kinds:
            try:
                obs.append(load_or_observe_apel(a.cache, work, kind, s, a.people, a.seconds))
            except RuntimeError as exc:   # a seed whose rows cannot keep everybody apart: say so, go on
                print(f"seed {s} ({kind}): {exc}, skipped")
    if a.cache is not None and a.all_cached:   # every office of this size observed so far, e.g. by runs in parallel
        obs = [json.loads(p.read_text()) for p in sorted(a.cache.glob(f"apel_*_{a.people}_{a.seconds:g}_*.json"))]
        seeds = sorted({o["seed"] for o in obs})
    print(f"{len(obs)} office-apels x {a.people} people (1920x1080, hfov 70, minimum 1 m), "
          f"{a.seconds:g} s apels at 5 frames/s through the live pipeline; seeds {seeds[0]}-{seeds[-1]}")
    # The rule's state never feeds back into the pipeline, so replaying it over the recorded inputs is
    # what the pipeline reports with the current code (offices cached under other settings included).
    replay = refit_alerts if a.refit else replay_alerts
    replayed = [replay(o) for o in obs]
    same = sum(r == [f["alerts"] for f in o["frames"]] for r, o in zip(replayed, obs, strict=True))
    print(f"(alert rule replayed with the current settings{', on the current fit' if a.refit else ''}; "
          f"{same} of {len(obs)} as recorded)")
    print_apel(report_apel(obs, replayed), "before (per-frame rule) and now (alert rule):")
    if a.sweep:
        for scale in (0.0, 0.05):
            for p_min in (0.9, 0.95):
                for hold in (2.0, 3.0):
                    tot = report_apel(obs, [replay(o, p_min=p_min, hold_s=hold, scale_sd=scale) for o in obs])
                    r, c = tot.get(("apart", "rule")), tot.get(("close", "rule"))
                    print(f"  sweep scale_sd {scale} p_min {p_min} hold {hold} s: false per office-apel (apart) "
                          + (f"{r['false'] / r['offices']:.2f}" if r else "-")
                          + (f", recall {c['found']}/{c['clear_pairs']}" if c else ""))


def robust_sd(v: list[float]) -> float:
    """1.4826 x the median absolute deviation: a spread a few failed fits do not inflate."""
    return float(1.4826 * np.median(np.abs(np.asarray(v) - np.median(v)))) if v else float("nan")


def seed_list(spec: str) -> list[int]:
    """"100-107,300" -> [100, ..., 107, 300]."""
    out = []
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def pr(tp: float, other: float) -> str:
    return f"{tp / (tp + other):.1%}" if tp + other > 0 else "-"


def tally(*c: float) -> str:
    return "/".join(f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}" for v in c)


if __name__ == "__main__":
    main()
