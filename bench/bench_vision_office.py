"""Shared by bench_speed.py and bench_distance.py: build a 20-person roster from real photos,
render a synthetic office with `attendance.vision.training.synth_office`, run the pipeline, match its faces to
the ground truth, and score identity, timing, distance and violations.

Roster (../shared/data, read in place; symlinked into a temp folder): faces/lfw10 (10 people),
faces/fr_examples knn train (5) and faces/rmfd (the first people with 5+ photos) up to N. The
photo each person shows on camera is never one they are enrolled from.

Absentees and visitors (`make_clip(absent=K, visitors=V)`): K more people are enrolled but not
in the clip, and V of the people in the clip are not enrolled. A face named as an absentee is an
absent person marked present, the worst error (Scored.absent_*)."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from attendance.vision.config import DEFAULT_RECOGNISER, PipelineConfig
from attendance.vision.geometry.camera import focal_px
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.recognise.recognisers import MatchThresholds
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.protocol import DATA, identities
from attendance.vision.training.synth_office import make_office


def build_roster_dir(n: int, root: Path) -> Path:
    srcs = list(identities(DATA / "faces/lfw10").items())
    fr = DATA / "faces/fr_examples/knn_examples"
    srcs += [(d.name, sorted(d.iterdir())) for d in sorted((fr / "train").iterdir())]
    # alex_lacamoire has one training photo, and the office is drawn from each person's last
    # photo, which enrolment then leaves out: without his test photo he could never be named.
    srcs = [(k, v + [fr / "test" / "alex_lacamoire1.jpg"] if k == "alex_lacamoire" else v) for k, v in srcs]
    srcs += [(k, v) for k, v in identities(DATA / "faces/rmfd", 5).items()]
    out = root / "roster"
    out.mkdir(parents=True, exist_ok=True)
    for name, photos in srcs[:n]:
        d = out / name
        d.mkdir(exist_ok=True)
        for p in photos:
            link = d / p.name
            if not link.exists():
                link.symlink_to(p.resolve())
    return out


@dataclass
class Scored:
    frames: int = 0
    seconds: float = 0.0
    present: int = 0            # person-frames present in truth
    detected: int = 0           # ... with a face matched to them
    named_right: int = 0
    named_wrong: int = 0
    first_named: dict = field(default_factory=dict)   # id -> t
    depth_rel_err: list = field(default_factory=list)
    viol_tp: int = 0
    viol_fp: int = 0
    viol_fn: int = 0
    absent_ids: frozenset = frozenset()     # enrolled, not in the clip
    visitor_ids: frozenset = frozenset()    # in the clip, not enrolled
    absent_named_frames: int = 0            # faces given an absentee's name, over all frames
    absentees_marked: set = field(default_factory=set)   # absentees named at least once
    visitor_frames: int = 0
    visitor_named_frames: int = 0

    def absentees_line(self) -> str:
        """The "absentees marked present" column: people (the record HR gets) and faces."""
        if not self.absent_ids and not self.visitor_ids:
            return "absentees marked present: none away"
        return (f"absentees marked present {len(self.absentees_marked)} of {len(self.absent_ids)} "
                f"({self.absent_named_frames} face-frames named as one); visitors named in "
                f"{self.visitor_named_frames} of {self.visitor_frames} face-frames")


def project(truth: dict) -> tuple[float, dict[str, tuple[float, float]]]:
    f = focal_px(truth["width"], truth["hfov_deg"])
    pts = {}
    for p in truth["people"]:
        x, y, z = p["position_m"]
        pts[p["id"]] = (truth["width"] / 2 + f * x / z, truth["height"] / 2 + f * y / z)
    return f, pts


def match(faces_xywh: list, ids_present: list[str], pts: dict) -> dict[int, str]:
    """Face index -> truth id, by the eye midpoint lying inside the box (Hungarian)."""
    if not faces_xywh or not ids_present:
        return {}
    cost = np.full((len(faces_xywh), len(ids_present)), 1e6)
    for i, (x, y, w, h) in enumerate(faces_xywh):
        cx, cy = x + w / 2, y + h * 0.4
        for j, pid in enumerate(ids_present):
            u, v = pts[pid]
            d = math.hypot(u - cx, v - cy) / max(w, 1)
            if d < 0.6:
                cost[i, j] = d
    r, c = linear_sum_assignment(cost)
    return {int(i): ids_present[j] for i, j in zip(r, c, strict=True) if cost[i, j] < 1e5}


def score_frame(sc: Scored, t: float, faces: list, violations: list, truth: dict, pts: dict) -> None:
    """faces: [(box, person_id or None, position_m)], violations: [(i, j)]."""
    present = [p["id"] for p in truth["people"] if p["appear_s"] <= t]
    byid = {p["id"]: p for p in truth["people"]}
    m = match([f[0] for f in faces], present, pts)
    sc.present += len(present)
    sc.detected += len(m)
    for f in faces:   # matched to someone in view or not, a face named as an absentee is false
        sc.absent_named_frames += f[1] in sc.absent_ids
        if f[1] in sc.absent_ids:
            sc.absentees_marked.add(f[1])
    for i, pid in m.items():
        if pid in sc.visitor_ids:
            sc.visitor_frames += 1
            sc.visitor_named_frames += faces[i][1] is not None
    for i, pid in m.items():
        name = faces[i][1]
        if name == pid:
            sc.named_right += 1
            sc.first_named.setdefault(pid, t)
        elif name is not None:
            sc.named_wrong += 1
        if faces[i][2] is not None:
            true_z = float(np.linalg.norm(byid[pid]["position_m"]))
            est = float(np.linalg.norm(faces[i][2]))
            sc.depth_rel_err.append(abs(est - true_z) / true_z)
    truth_pairs = {frozenset((a, b)) for a, b, _ in truth["violations"] if a in present and b in present}
    pred_pairs = set()
    for i, j in violations:
        if i in m and j in m:
            pred_pairs.add(frozenset((m[i], m[j])))
        else:
            sc.viol_fp += 1  # a violation involving a face that is nobody
    # Only pairs where both people were detected can be judged by distance estimation.
    judged = {p for p in truth_pairs if all(x in m.values() for x in p)}
    sc.viol_tp += len(pred_pairs & judged)
    sc.viol_fp += len(pred_pairs - truth_pairs)
    sc.viol_fn += len(truth_pairs - pred_pairs)


def make_clip(work: Path, people: int, seconds: float, fps: float, seed: int, size=(1920, 1080),
              recogniser: str = DEFAULT_RECOGNISER, rows_m: tuple[float, float] = (3.0, 6.0),
              traits_seed: int | None = None, same_places: bool = False, absent: int = 0, visitors: int = 0):
    """Render the office and enrol its roster. With `absent`/`visitors`, `absent` more people
    (drawn by `seed`) are enrolled but not in the clip and `visitors` of those in it are not
    enrolled; truth["absent_ids"] / truth["visitor_ids"] name them."""
    roster = build_roster_dir(people + absent, work)
    tag = f"{people}_{seconds}_{seed}" + (f"_a{absent}v{visitors}" if absent or visitors else "")
    clip, truth_path = work / f"office_{tag}.mp4", work / f"office_{tag}.json"
    scene, away, strangers = roster, [], []
    if absent or visitors:
        pool = sorted(d.name for d in roster.iterdir())
        order = [pool[i] for i in np.random.default_rng([seed, 7]).permutation(len(pool))]
        away, strangers = sorted(order[people:]), sorted(order[:visitors])
        scene, enrolled_dir = work / f"scene_{tag}", work / f"enrolled_{tag}"
        for d, names in ((scene, order[:people]), (enrolled_dir, [n for n in pool if n not in strangers])):
            d.mkdir(exist_ok=True)
            for n in names:
                if not (d / n).exists():
                    (d / n).symlink_to((roster / n).resolve())
        roster = enrolled_dir
    t = time.time()
    truth = make_office(scene, people, seconds, clip, truth_path, fps=fps, size=size, seed=seed,
                        arrive_within_s=min(seconds * 0.3, 8.0), rows_m=rows_m, traits_seed=traits_seed,
                        same_places=same_places)
    truth["absent_ids"], truth["visitor_ids"] = away, strangers
    exclude = {Path(p["photo"]).resolve() for p in truth["people"]}
    t_render = time.time() - t
    t = time.time()
    enrolled = enrol_roster(roster, strict=False, exclude=exclude, limit_per_person=3, recogniser=recogniser)
    t_enrol = time.time() - t
    return clip, truth, enrolled, t_render, t_enrol


def read_frames(clip: Path, sample_fps: float, native_fps: float):
    cap = cv2.VideoCapture(str(clip))
    step = max(1, int(round(native_fps / sample_fps)))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % step == 0:
            yield i / native_fps, frame
        i += 1
    cap.release()


def run_pipeline(clip: Path, truth: dict, roster, sample_fps: float, config: PipelineConfig | None = None,
                 only: set[float] | None = None, recogniser: str = DEFAULT_RECOGNISER,
                 naming: Callable[[MatchThresholds], MatchThresholds] | None = None) -> tuple[Scored, Scored]:
    """Whole clip through the pipeline; returns (all frames, only the frames in `only`).
    `naming` changes the pipeline's fitted thresholds (a same-run baseline of a naming rule)."""
    config = config or PipelineConfig(hfov_deg=truth["hfov_deg"], min_distance_m=truth["min_distance_m"],
                                      recogniser=recogniser)
    pipe = OfficePipeline(roster, config)
    if naming is not None:
        pipe.thresholds = naming(pipe.thresholds)
    _, pts = project(truth)
    away, strangers = frozenset(truth.get("absent_ids", ())), frozenset(truth.get("visitor_ids", ()))
    sc, sub = Scored(absent_ids=away, visitor_ids=strangers), Scored(absent_ids=away, visitor_ids=strangers)
    for t, frame in read_frames(clip, sample_fps, truth["fps"]):
        t0 = time.perf_counter()
        res = pipe.process(frame, t)
        dt = time.perf_counter() - t0
        faces = [(f.box, f.person_id, f.position_m) for f in res.faces]
        viol = [(i, j) for i, j, _ in res.violations]
        for s in ([sc, sub] if only is not None and any(abs(t - o) < 1e-6 for o in only) else [sc]):
            s.frames += 1
            s.seconds += dt
            score_frame(s, t, faces, viol, truth, pts)
    return sc, sub
