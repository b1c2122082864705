"""Why distancing alerts miss pairs clearly too close in dense offices (issue 18 §4), and the alert
rule's recall and false alerts there and on the alert bench's "apart" offices, old rule against new
on the same frames.

Dense offices are made as bench_apel_days makes them: `make_office`'s usual layout (about one
neighbour gap in five 0.55-0.85x the minimum; a back row squeezed into the view stands closer still),
20 people in rows `--rows` metres from a 1080p camera (hfov 70, minimum 1 m), a third masked, each
person with their own IPD and head height (`traits_seed`), arriving within the apel's first 2.4 s
(what an 8 s apel of bench_apel_days gets). Each clip is `--seconds` long and runs at 5 frames a second
through the live pipeline (`bench_distance.record_clip`: each frame's faces, the fit's inputs and the
rule's inputs are kept), so one clip answers both an 8 s apel (its first 8 s: tracking and the rule
are causal, so the prefix is exactly the shorter apel) and a longer one (a real apel stands for
minutes).

For each pair of people at most 0.85x the minimum apart (both present in the clip) that the rule
never alerted on within the apel, the reason, decided from the recorded frames in this order:
- detect: the two were never in one frame as tracks of both, or never for `hold_s` (one of the two
  faces not detected or its track broken: a detection/tracking loss);
- distance: in the frames showing both, the fit put them at or beyond the minimum in most frames
  (the estimate is wrong; split by: a masked face among the two, the two in different true rows,
  the fit's rows for them unlike the truth's);
- doubt: the fit's own distance is under the minimum in most frames but P(too close) stays under
  `p_min` there, and the pair's row is in doubt (the fit judged it over several row assignments);
- sd: the same without row doubt (the distance's own uncertainty, or the rule's widening);
- broken: sure in most frames showing both, but never `hold_s` in a row of sure frames (one unsure
  frame starts the wait again);
- time: the sure run was still going when the apel ended (a longer apel would have alerted).

Every figure is printed twice on the same recorded frames: the fit as it was before this bench's
change ("fit before": `rows.row_alternatives` banning a row with a member within 0.45 m, no doubt
from a person's own cues) and now, both followed by the alert rule; `--sweep` adds other settings of
the rule, `--settings` the office's camera height and row lines set.

Seeds: 6000-6099 are this bench's dense offices; `--apart` offices are bench_distance's "apart"
kind (rendered as `bench_distance.py --apel` renders them, here with `--seconds` apels), scored for
false alerts per office-apel. Rendering is the slow part (about a minute an office): render under
the bench lock with `--observe-only`, then score from the cache (scoring renders nothing).

Run: flock /tmp/helpers/bench.lock nice -n 5 .venv/bin/python bench/bench_alert_recall.py
       --offices 6000-6003 --rows 2.5,4.5 --seconds 25 --apart 930-943 --cache DIR --observe-only
     .venv/bin/python bench/bench_alert_recall.py --offices 6000-6003 --rows 2.5,4.5 --seconds 25
       --apart 930-943 --cache DIR [--sweep] [--settings] [--verbose] [--json OUT]"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_distance import _true_distance, load_or_observe_apel, office_settings, record_clip, seed_list
from bench_vision_office import build_roster_dir, match, project

from attendance.vision.geometry import fit as fit_module
from attendance.vision.geometry import rows as rows_module
from attendance.vision.geometry.alerts import ALERT_HOLD_S, ALERT_P_MIN, DistancingAlerts
from attendance.vision.geometry.fit import fit_frame
from attendance.vision.geometry.rows import SIDE_BY_SIDE_M
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.synth_office import make_office

FPS = 5.0
ARRIVE_S = 2.4       # bench_apel_days' 8 s apel: min(8 x 0.3, 8)
PEOPLE = 20
CLEAR = 0.85         # pairs at most this times the minimum must be alerted on


def observe_dense(work: Path, seed: int, people: int, seconds: float, rows_m: tuple[float, float]) -> dict:
    roster = build_roster_dir(people, work)
    clip, truth_path = work / f"dense_{seed}.mp4", work / f"dense_{seed}.json"
    truth = make_office(roster, people, seconds, clip, truth_path, fps=FPS, size=(1920, 1080), hfov_deg=70.0,
                        min_distance_m=1.0, seed=seed, arrive_within_s=ARRIVE_S, rows_m=rows_m, traits_seed=seed)
    exclude = {Path(p["photo"]).resolve() for p in truth["people"]}
    enrolled = enrol_roster(roster, strict=False, exclude=exclude, limit_per_person=3)
    return {"kind": "dense", "seed": seed, "rows_m": list(rows_m), "truth": truth,
            "frames": record_clip(clip, truth, enrolled)}


def load_or_observe_dense(cache: Path | None, work: Path, seed: int, people: int, seconds: float,
                          rows_m: tuple[float, float]) -> dict:
    path = cache / f"dense_{people}_{seconds:g}_rows{rows_m[0]:g}-{rows_m[1]:g}_{seed}.json" if cache else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    obs = observe_dense(work, seed, people, seconds, rows_m)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obs))
    return obs


def replay(obs: dict, rule: Any, until_s: float, settings: bool = False, before: bool = False) -> list[dict]:
    """The current fit rerun on each recorded frame up to `until_s`, then `rule` (an alert rule with
    DistancingAlerts' `update`): per frame its time, tracks, boxes, positions, pair estimates and
    alerts. `settings`: with the office's camera height and row lines measured (office settings).
    `before`: the fit as it was before this bench's changes (`rows.row_alternatives` banning a row
    with a member within SIDE_BY_SIDE_M, no own-cue doubt: fit.OWN_DISAGREE_CHI2 infinite)."""
    chi2, alternatives = fit_module.OWN_DISAGREE_CHI2, rows_module.row_alternatives
    if before:   # no own-cue doubt, and a row with a member within SIDE_BY_SIDE_M is out (not priced)
        fit_module.OWN_DISAGREE_CHI2 = math.inf
        fit_module.row_alternatives = partial(rows_module.row_alternatives,  # type: ignore[attr-defined]
                                              side_by_side_m=rows_module.SIDE_BY_SIDE_M)
    try:
        return _replay(obs, rule, until_s, settings)
    finally:
        fit_module.OWN_DISAGREE_CHI2 = chi2
        fit_module.row_alternatives = alternatives  # type: ignore[attr-defined]


def _replay(obs: dict, rule: Any, until_s: float, settings: bool) -> list[dict]:
    md = obs["truth"]["min_distance_m"]
    above, lines = office_settings(obs["truth"]) if settings else (None, None)
    out = []
    for f in obs["frames"]:
        if f["t"] >= until_s - 1e-9:
            break
        x = f.get("fit")
        if x is None:
            pos, pairs = [], []
        else:
            fit = fit_frame([tuple(c) for c in x["centres"]], None, x["z"], x["f"], x["w"], x["h"], md,
                            masked=x["masked"], ipd_m=x["ipd_m"], camera_above_m=above, row_lines_m=lines)
            pos, pairs = [tuple(round(v, 3) for v in p) for p in fit.positions], fit.pairs
        now = rule.update(f["t"], f["tracks"] if x is not None else [], pos, pairs)
        out.append({"t": f["t"], "tracks": f["tracks"], "boxes": f["boxes"], "pos": pos, "pairs": pairs,
                    "alerts": [(al.a, al.b, al.new) for al in now]})
    return out


def _runs(ts: list[float], ok: list[bool]) -> list[tuple[float, float, int]]:
    """Runs of consecutive True (start, end, frames)."""
    out, start, n, last = [], None, 0, 0.0
    for t, good in zip(ts, ok, strict=True):
        if good:
            start = t if start is None else start
            n, last = n + 1, t
        elif start is not None:
            out.append((start, last, n))
            start, n = None, 0
    if start is not None:
        out.append((start, last, n))
    return out


def diagnose(obs: dict, rule: Any, until_s: float, p_min: float = ALERT_P_MIN, hold_s: float = ALERT_HOLD_S,
             settings: bool = False, before: bool = False) -> dict:
    """Alerts of `rule` over the apel's first `until_s` seconds against the truth, and the reason
    each pair at most CLEAR x the minimum apart was missed (see the module's docstring)."""
    truth = obs["truth"]
    md = truth["min_distance_m"]
    dist = _true_distance(truth)
    _, pts = project(truth)
    person = {p["id"]: p for p in truth["people"]}
    clear = [k for k, d in dist.items() if d <= CLEAR * md]
    frames = replay(obs, rule, until_s, settings, before)
    t_end = frames[-1]["t"] if frames else 0.0
    hits: Counter = Counter()
    seen: dict[frozenset, list[dict]] = {k: [] for k in clear}
    together: set[frozenset] = set()
    for f in frames:
        present = [p for p, q in person.items() if q["appear_s"] <= f["t"]]
        m = match(f["boxes"], present, pts) if f["pos"] else {}
        inv = {pid: i for i, pid in m.items()}
        ids = sorted(inv)
        together |= {frozenset((a, b)) for k, a in enumerate(ids) for b in ids[k + 1:]}
        for a, b, new in f["alerts"]:
            if new:
                hits[frozenset((m[a], m[b])) if a in m and b in m else None] += 1
        by_ij = {(e.i, e.j): e for e in f["pairs"]}
        for key in clear:
            pa, pb = sorted(key)
            if pa not in inv or pb not in inv:
                continue
            i, j = sorted((inv[pa], inv[pb]))
            e = by_ij.get((i, j))
            d_est = e.distance_m if e is not None else float(np.linalg.norm(np.subtract(f["pos"][i], f["pos"][j])))
            p = rule._p_close(e) if e is not None else 0.0
            dz = [abs(f["pos"][inv[q]][2] - person[q]["position_m"][2]) / person[q]["position_m"][2] for q in (pa, pb)]
            seen[key].append({"t": f["t"], "tracks": (min(f["tracks"][i], f["tracks"][j]),
                                                      max(f["tracks"][i], f["tracks"][j])),
                              "d": d_est, "p": p, "doubt": e is not None and len(e.modes) > 1, "dz": max(dz)})
    false = sum(n for k, n in hits.items() if k is None or dist[k] >= md)
    pairs = []
    for key in clear:
        pa, pb = sorted(key)
        obs_ = seen[key]
        row = {"pair": [pa, pb], "d_true": round(dist[key], 3), "found": hits.get(key, 0) > 0,
               "masked": person[pa]["mask"] or person[pb]["mask"],
               "across": person[pa]["row"] != person[pb]["row"],
               # side by side closer than shoulders allow: only a squeezed synthetic row does that
               "shoulder": person[pa]["row"] == person[pb]["row"] and dist[key] < SIDE_BY_SIDE_M,
               "rows": [person[pa]["row"], person[pb]["row"]],
               "together": key in together, "frames": len(obs_),
               "available_s": round(t_end - max(person[pa]["appear_s"], person[pb]["appear_s"]), 2)}
        if not row["found"]:
            row["reason"] = _reason(obs_, md, p_min, hold_s, t_end)
        if obs_:
            row["d_est_median"] = round(float(np.median([o["d"] for o in obs_])), 3)
            row["p_median"] = round(float(np.median([o["p"] for o in obs_])), 3)
            row["depth_err_median"] = round(float(np.median([o["dz"] for o in obs_])), 3)
        pairs.append(row)
    return {"seed": obs["seed"], "kind": obs["kind"], "alerts": sum(hits.values()), "false": false, "pairs": pairs,
            "borderline_hits": sum(n for k, n in hits.items() if k is not None and CLEAR * md < dist[k] < md)}


def _reason(obs_: list[dict], md: float, p_min: float, hold_s: float, t_end: float) -> str:
    if not obs_:
        return "detect: never both"
    by_track: dict[tuple, list[dict]] = {}
    for o in obs_:
        by_track.setdefault(o["tracks"], []).append(o)
    if max(v[-1]["t"] - v[0]["t"] for v in by_track.values()) < hold_s:
        return "detect: both < hold" + (" (tracks broken)" if len(by_track) > 1 and
                                        obs_[-1]["t"] - obs_[0]["t"] >= hold_s else "")
    if np.mean([o["d"] >= md for o in obs_]) > 0.5:
        return "distance"
    if np.mean([o["p"] >= p_min for o in obs_]) < 0.5:
        return "doubt" if np.mean([o["doubt"] for o in obs_ if o["d"] < md]) >= 0.5 else "sd"
    runs = [r for v in by_track.values() for r in _runs([o["t"] for o in v], [o["p"] >= p_min for o in v])]
    if runs and max(r[1] - r[0] for r in runs) < hold_s and any(r[1] >= t_end - 1e-6 for r in runs):
        return "time"
    return "broken"


RULES: dict[str, Any] = {"now": lambda md: DistancingAlerts(md)}
SWEEP: dict[str, Any] = {
    f"p_min {p}, hold {h:g} s, scale_sd {c}":
        (lambda md, p=p, h=h, c=c: DistancingAlerts(md, p_min=p, hold_s=h, scale_sd=c))
    for p in (0.9, 0.95, 0.98) for h in (3.0, 5.0) for c in (0.0, 0.05)
    if (p, h, c) != (ALERT_P_MIN, ALERT_HOLD_S, 0.05)}


def print_summary(label: str, dense: list[dict], apart: list[dict], verbose: bool) -> None:
    pairs = [q for r in dense for q in r["pairs"]]
    together = [q for q in pairs if q["together"]]
    found = sum(q["found"] for q in together)
    reasons = Counter(q["reason"] for q in pairs if not q["found"])
    shoulder = [q for q in together if q["shoulder"]]
    line = f"{label}: "
    if dense:
        line += (f"dense ({len(dense)}): recall on pairs <= {CLEAR}x {found}/{len(together)} "
                 f"({found / max(len(together), 1):.1%}; "
                 f"of all such pairs {sum(q['found'] for q in pairs)}/{len(pairs)}), "
                 f"false alerts {sum(r['false'] for r in dense)} ({sum(r['false'] for r in dense) / len(dense):.2f} "
                 f"per office-apel), on 0.85-1.0x pairs {sum(r['borderline_hits'] for r in dense)}; "
                 f"without pairs side by side < {SIDE_BY_SIDE_M} m {found - sum(q['found'] for q in shoulder)}/"
                 f"{len(together) - len(shoulder)}; ")
    if apart:
        n = sum(r["false"] for r in apart)
        line += f"apart ({len(apart)}): false alerts {n} ({n / len(apart):.2f} per office-apel)"
    print(line)
    if reasons:
        print("   missed, by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
        sub: Counter = Counter()
        for q in pairs:
            if not q["found"] and q["reason"] == "distance":
                sub["masked" if q["masked"] else "unmasked"] += 1
                sub["across rows" if q["across"] else "same row"] += 1
                sub["a depth off > 10%"] += q.get("depth_err_median", 0) > 0.10
                sub[f"side by side < {SIDE_BY_SIDE_M} m"] += q["shoulder"]
        if sub:
            print("   distance misses: " + ", ".join(f"{k} {v}" for k, v in sub.items()))
    if verbose:
        for r in dense:
            for q in r["pairs"]:
                if not q["found"]:
                    print(f"     {r['seed']} {q}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--offices", default="6000-6003", help="dense offices' seeds, e.g. 6000-6003,6010")
    ap.add_argument("--rows", default="2.5,4.5", help="front and back rows, metres (bench_apel_days: 2.5,4.5 or 3,6)")
    ap.add_argument("--seconds", type=float, default=25.0, help="each clip's length; the first 8 s are the short apel")
    ap.add_argument("--short", type=float, default=8.0, help="the short apel's length (a prefix of each clip)")
    ap.add_argument("--apart", default="", help="bench_distance 'apart' offices' seeds for false alerts, e.g. 930-933")
    ap.add_argument("--apart-people", type=int, default=16)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--observe-only", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print every missed pair")
    ap.add_argument("--sweep", action="store_true", help="other settings of the rule too")
    ap.add_argument("--settings", action="store_true", help="also with the office's camera height and row lines set")
    ap.add_argument("--json", type=Path, default=None, help="append each rule's results here")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="apel-bench-alert-recall-"))
    rows_m = (float(a.rows.split(",")[0]), float(a.rows.split(",")[1]))
    if not a.observe_only and a.cache is None:
        ap.error("scoring reads the offices from --cache: observe them first (--observe-only, under the bench lock)")
    tag = f"{a.seconds:g}_rows{rows_m[0]:g}-{rows_m[1]:g}"
    dense = [load_or_observe_dense(a.cache, work, s, PEOPLE, a.seconds, rows_m) for s in seed_list(a.offices)
             if a.observe_only or (a.cache / f"dense_{PEOPLE}_{tag}_{s}.json").exists()] if a.offices else []
    apart = []
    for s in seed_list(a.apart) if a.apart else []:
        if not a.observe_only and not (a.cache / f"apel_apart_{a.apart_people}_{a.seconds:g}_{s}.json").exists():
            continue
        try:
            apart.append(load_or_observe_apel(a.cache, work, "apart", s, a.apart_people, a.seconds))
        except RuntimeError as exc:   # a seed whose rows cannot keep everybody apart (bench_distance skips it too)
            print(f"apart office {s}: {exc}, skipped")
    if a.observe_only:
        print(f"observed {len(dense)} dense and {len(apart)} apart offices")
        return
    print(f"dense offices {a.offices}: {PEOPLE} people, rows {rows_m[0]:g}-{rows_m[1]:g} m, 1080p, arriving within "
          f"{ARRIVE_S:g} s; apart offices {a.apart or '-'} ({a.apart_people} people); clips of {a.seconds:g} s")
    arms = [(name, make, settings, before) for settings in ((False, True) if a.settings else (False,))
            for before in (True, False) for name, make in (RULES | SWEEP if a.sweep and not before else RULES).items()]
    for name, make, settings, before in arms:
        for until in (a.short, a.seconds + 1):
            label = (f"{'fit before' if before else 'fit now'}, {name} rule"
                     f"{', camera height and row lines set' if settings else ''}, {min(until, a.seconds):g} s apels")
            rd, ra = ([diagnose(o, make(o["truth"]["min_distance_m"]), until, settings=settings, before=before)
                       for o in offices] for offices in (dense, apart))
            print_summary(label, rd, ra, a.verbose)
            if a.json:
                with a.json.open("a") as fh:
                    fh.write(json.dumps({"label": label, "dense": rd, "apart": ra}) + "\n")


if __name__ == "__main__":
    main()
