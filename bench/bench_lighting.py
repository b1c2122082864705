"""What lighting does to the product's vision: the same photos and offices lit as a real apel is
(the 07:30 sun, a dim hall), against the unaltered condition in the same run.

Every figure in BENCHMARKS.md before this bench was measured on evenly lit photos and offices
rendered from them. The conditions (`CONDITIONS`), applied to the whole camera frame in linear
light (sRGB decoded with gamma 2.2, changed, encoded again), seeded:
- dim: exposure x0.35 (a hall the camera's auto-exposure cannot make up for), then a cheap
  sensor at its highest gain (shot noise of SENSOR_FULL_WELL electrons at white, read noise of
  SENSOR_READ_E electrons) and a JPEG re-encode at DIM_JPEG;
- very dim: the same at exposure x0.2;
- overexposed: exposure x1.8, clipped at white (the camera metering a dark corner);
- backlit: the camera exposes for a bright sky or window behind the rows: each face (a soft
  ellipse around its box) at exposure x0.4, the rest of the frame x1.8 and clipped, and veiling
  glare of BACKLIT_GLARE of white over everything (contrast lost to the lens);
- side shadow: a low sun from one side (the same side for every face and frame): across each face
  box a soft ramp from SHADOW_FACTOR of the light on one side to all of it on the other (a
  logistic over the box's middle third);
- warm: tungsten (about 2850 K) under daylight white balance: linear gains WARM_GAINS, scaled so
  the luminance is unchanged.
Faces' places are known: on photos the probe's face box in the mosaic, in offices the truth's
eye points and depths (a box FACE_BOX_M wide).

(a) Photos, as bench_face_width.py measures them (its offices, mosaic, camera frame and scoring,
reused): each office's probe photos (a present roster person's other photo, or a stranger's) in
one grey frame, at full size (the same-size baseline of bench_face_width) and at `--widths` px,
through the live pipeline (detector, landmarks, recogniser, votes, assignment, fitted thresholds);
the condition is applied to the frame before bench_face_width's camera noise and JPEG round trip.
Enrolment is from the unaltered photos (their cached embeddings), only the probes are lit.
Sets: Western (faces/lfw10 + fr_examples + openface, 1 enrolment photo) and East-Asian
(faces/rmfd, 20-person rosters, 3 photos), 4 away and 4 strangers an office.

(b) Offices, as bench_apel_days.py runs day 1 (its enrolment through the roster, SQLite database,
rendering, live pipeline, sightings, records and operator, reused): the condition is applied to
every rendered frame before the pipeline sees it. Each condition starts from a copy of the same
enrolled database (so no condition learns from another's confirmations) and the same rendered
clip. Seeds 7600-7699 only (rmfd offices seed-base + k, west offices seed-base + 50 + k).

(c) Mask classification on masks/real's held-out photos (bench_masks.masks_real's protocol: the
pipeline's detector on the photo at <= 800 px, enrolment's detector where it finds none, the largest
face's chip), the photo lit: faces found, balanced accuracy, verdicts changed against the unaltered
photo, the classifier alone (the lit pixels through the unaltered photo's landmarks: what the light
does to the classifier without detection) and the fix; `--scenes-step N` also masks/scenes
(bench_masks.masks_scenes's score in `apel analyze`'s look: an image counts when a face found is
called masked), every Nth image.

`--fix off,on`: each row with PipelineConfig.even_light off and on in the same run (the fix for
dark faces, attendance/vision/lighting.py: a face chip whose middle is darker than DARK_LUMA is
brightened before it is embedded); `--fix off` for the product as it is; offices'
`--fix-conditions` limits the fix-on runs to some conditions (the fix leaves a chip that is not
dark exactly as it was, so elsewhere it changes nothing).

Run (each part under the shared lock, batches of a few minutes):
  .venv/bin/python bench/bench_lighting.py photos --sets western,east --trials 6 [--widths full,64] [--fix off,on]
  .venv/bin/python bench/bench_lighting.py offices --seeds 7600,7650 [--fix off,on --fix-conditions very_dim]
      [--json OUT]   (appends: one office a batch)
  .venv/bin/python bench/bench_lighting.py masks [--scenes-step 2] [--json OUT]
  .venv/bin/python bench/bench_lighting.py report OUT1 OUT2 ...   (offices' --json batches together)"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_apel_days as bad
import bench_face_width as bfw
from apel_days_report import NEVER, OTHER, UNKNOWN, upper95

from attendance.vision.config import FUSED_BACKEND, PipelineConfig
from attendance.vision.geometry.camera import focal_px

# -- the conditions ---------------------------------------------------------------------------
GAMMA = 2.2
SENSOR_FULL_WELL = 1500.0      # electrons at white: a small-pixel surveillance sensor at high gain
SENSOR_READ_E = 4.0            # read noise, electrons
DIM_JPEG = 70                  # a cheap camera's encoder
BACKLIT_FACE, BACKLIT_REST, BACKLIT_GLARE = 0.4, 1.8, 0.05
SHADOW_FACTOR = 0.25           # the shaded half's share of the light (two stops down)
WARM_GAINS = (1.0, 0.70, 0.38)  # R, G, B of 2850 K light under a 5500 K white balance
FACE_BOX_M = 0.155             # HOG's box of an adult face (pipeline.FACE_BOX_M's measurement)

Faces = list[tuple[float, float, float]]   # face box centre x, y and width, pixels


def to_linear(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 255.0) ** GAMMA


def to_srgb(lin: np.ndarray) -> np.ndarray:
    return (np.clip(lin, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def sensor(lin: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shot noise and read noise of a sensor at its highest gain, in linear light."""
    e = rng.poisson(np.clip(lin, 0, 1) * SENSOR_FULL_WELL).astype(np.float32)
    e += rng.normal(0.0, SENSOR_READ_E, lin.shape).astype(np.float32)
    return e / SENSOR_FULL_WELL


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


def face_mask(shape: tuple[int, ...], faces: Faces, grow: float = 1.3) -> np.ndarray:
    """0..1: soft ellipses around the face boxes (a head, `grow` times the box)."""
    m = np.zeros(shape[:2], np.float32)
    for cx, cy, w in faces:
        cv2.ellipse(m, (int(cx), int(cy)), (max(1, int(grow * w / 2)), max(1, int(grow * 0.65 * w))),
                    0, 0, 360, 1.0, -1)
    biggest = max((w for _, _, w in faces), default=8.0)
    k = max(3, int(0.15 * biggest) * 2 + 1)
    return cv2.GaussianBlur(m, (k, k), 0)


def shadow_light(shape: tuple[int, ...], faces: Faces) -> np.ndarray:
    """Light factor per pixel: across each face box a logistic ramp from SHADOW_FACTOR to 1, the
    sun on the right of the picture for everyone (the rows face the camera, one sun; the same in
    every frame, as the sun does not move in an apel's seconds)."""
    light = np.ones(shape[:2], np.float32)
    h, w = shape[:2]
    side = 1.0
    for cx, cy, bw in faces:
        x0, x1 = int(max(0, cx - 0.7 * bw)), int(min(w, cx + 0.7 * bw))
        y0, y1 = int(max(0, cy - 0.9 * bw)), int(min(h, cy + 0.9 * bw))
        if x1 <= x0 or y1 <= y0:
            continue
        xs = (np.arange(x0, x1, dtype=np.float32) - cx) / max(bw, 1.0)
        ramp = SHADOW_FACTOR + (1 - SHADOW_FACTOR) / (1 + np.exp(-side * xs / (1 / 3 / 4)))
        light[y0:y1, x0:x1] = np.minimum(light[y0:y1, x0:x1], ramp[None, :])
    # Only the heads are in the sun's side light (a soft edge, as shadows on a face are).
    m = face_mask(shape, faces, 1.2)
    return 1 - m * (1 - light)


def _dim(exposure: float) -> Callable[[np.ndarray, Faces, np.random.Generator], np.ndarray]:
    def f(rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
        return jpeg(to_srgb(sensor(to_linear(rgb) * exposure, rng)), DIM_JPEG)
    return f


def _overexposed(rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
    return to_srgb(to_linear(rgb) * 1.8)


def _backlit(rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
    m = face_mask(rgb.shape, faces)[:, :, None]
    gain = BACKLIT_FACE * m + BACKLIT_REST * (1 - m)
    return to_srgb(np.clip(to_linear(rgb) * gain, 0, 1) + BACKLIT_GLARE)


def _side_shadow(rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
    return to_srgb(to_linear(rgb) * shadow_light(rgb.shape, faces)[:, :, None])


def _warm(rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
    g = np.array(WARM_GAINS, np.float32)
    g /= 0.2126 * g[0] + 0.7152 * g[1] + 0.0722 * g[2]
    return to_srgb(to_linear(rgb) * g)


CONDITIONS: dict[str, Callable[[np.ndarray, Faces, np.random.Generator], np.ndarray] | None] = {
    "unaltered": None, "dim": _dim(0.35), "very_dim": _dim(0.2), "overexposed": _overexposed,
    "backlit": _backlit, "side_shadow": _side_shadow, "warm": _warm}


def light(cond: str, rgb: np.ndarray, faces: Faces, rng: np.random.Generator) -> np.ndarray:
    fn = CONDITIONS[cond]
    return rgb if fn is None else fn(rgb, faces, rng)


# -- the fix, on and off ----------------------------------------------------------------------
FIX_FIELD = "even_light"


def fix_kwargs(fix: str) -> dict[str, Any]:
    """PipelineConfig's keyword for the fix ("off"/"on"); {} where the tree has no such field
    and the run is "off" (the product as it is)."""
    has = FIX_FIELD in {f.name for f in fields(PipelineConfig)}
    if fix == "on" and not has:
        raise SystemExit(f"PipelineConfig has no field {FIX_FIELD}: nothing to turn on")
    return {FIX_FIELD: fix == "on"} if has else {}


# -- (a) photos through the live path (bench_face_width) --------------------------------------
def photo_offices(name: str, trials: int) -> list[bfw.Office]:
    """bench_face_width's offices of the set, with its seeds and sizes."""
    if name == "western":
        pairs = bfw.synthetic_pairs(120)
        return bfw.offices_from_people(bfw.western_people(), 1, len(bfw.western_people()), 3, 4, trials, 11,
                                       strangers_pool=[m for m, _ in pairs[:40]])
    if name == "east":
        return bfw.offices_from_people(bfw.identities(bfw.DATA / "faces/rmfd", 4), 3, 20, 4, 4, trials, 12)
    raise SystemExit(f"unknown set {name}")


def lit_photo_run(office: bfw.Office, width: int, rec: Any, cond: str, fix: str, seed: int) -> bfw.Tally:
    """bench_face_width.run with the condition applied to its mosaic frame (each probe's face box
    known from the mosaic) before its camera noise and JPEG, and the fix's config field."""
    where: dict[str, Faces] = {}
    mosaic, camera_frame = bfw.mosaic, bfw.camera_frame

    def lit_mosaic(probes: list[bfw.Probe], w: int, cols: int = 6) -> tuple[np.ndarray, int, int, list[float]]:
        frame, cell, n_cols, boxes = mosaic(probes, w, cols)
        where["faces"] = [((i % n_cols + 0.5) * cell, (i // n_cols + 0.5) * cell, b) for i, b in enumerate(boxes)]
        return frame, cell, n_cols, boxes

    def lit_frame(base_rgb: np.ndarray, rng: np.random.Generator, q: int) -> np.ndarray:
        return camera_frame(light(cond, base_rgb, where["faces"], rng), rng, q)

    with ExitStack() as st:
        st.enter_context(mock.patch.object(bfw, "mosaic", lit_mosaic))
        st.enter_context(mock.patch.object(bfw, "camera_frame", lit_frame))
        st.enter_context(mock.patch.object(bfw, "PipelineConfig", partial(PipelineConfig, **fix_kwargs(fix))))
        return bfw.run(office, width, rec, 80, seed)


def photo_row(label: str, t: bfw.Tally) -> str:
    r = t.rates()
    abst = 1 - r["identified"] - r["wrong"]
    return (f"| {label} | {r['present']} | {r['detected']:.1%} | {r['identified']:.1%} | {r['wrong']:.1%} | "
            f"{abst:.1%} | {t.strangers_named}/{t.strangers} | {t.absent_named}/{t.absent} |")


def photos(a: argparse.Namespace) -> None:
    from attendance.vision.recognise.recognisers import make_recogniser

    rec = make_recogniser(FUSED_BACKEND)
    widths = [bfw.FULL if w == "full" else int(w) for w in a.widths.split(",")]
    t0 = time.time()
    for name in a.sets.split(","):
        offices = photo_offices(name, a.trials)
        print(f"\n{name}: {a.trials} offices, {sum(len(o.probes) for o in offices)} probe faces "
              f"({time.time() - t0:.0f} s)", flush=True)
        for w in widths:
            print(f"\n{name}, faces {'full size (<= 200 px)' if w == bfw.FULL else f'{w} px'}:")
            print("| condition | present | detected | identified | wrong | abstained (incl. not detected) | "
                  "strangers named | absentees named |")
            print("|---|---|---|---|---|---|---|---|")
            for cond in a.conditions.split(","):
                for fix in a.fix.split(","):
                    tot, c0 = bfw.Tally(), time.process_time()
                    for i, o in enumerate(offices):
                        tot.add(lit_photo_run(o, w, rec, cond, fix, seed=100 + i))
                    print(photo_row(cond + ("" if a.fix == "off" else f", fix {fix}"), tot)
                          + f"  ({time.process_time() - c0:.0f} s CPU)", flush=True)
    print(f"\n({time.time() - t0:.0f} s)")


# -- (b) offices through the product (bench_apel_days, day 1) --------------------------------
def office_faces(truth: dict[str, Any], t: float) -> Faces:
    """The face boxes of the people in view at `t`: eye points projected, a FACE_BOX_M box whose
    centre lies a tenth of its width under the eyes (bench_vision_office.match's 0.4 of the height)."""
    f = focal_px(truth["width"], truth["hfov_deg"])
    _, pts = bad.project(truth)
    out = []
    for p in truth["people"]:
        if p["appear_s"] <= t:
            u, v = pts[p["id"]]
            w = f * FACE_BOX_M / p["position_m"][2]
            out.append((u, v + 0.1 * w, w))
    return out


def lit_frames(cond: str, seed: int) -> Callable[..., Iterator[tuple[float, np.ndarray]]]:
    """bench_vision_office.read_frames with the condition applied to each frame (BGR)."""
    read = bad.read_frames

    def frames(clip: Path, sample_fps: float, native_fps: float) -> Iterator[tuple[float, np.ndarray]]:
        truth = json.loads(clip.with_suffix(".json").read_text())
        rng = np.random.default_rng([seed, 77])
        for t, bgr in read(clip, sample_fps, native_fps):
            rgb = light(cond, np.ascontiguousarray(bgr[:, :, ::-1]), office_faces(truth, t), rng)
            yield t, np.ascontiguousarray(rgb[:, :, ::-1])
    return frames


def cached_make_office(cache: Path) -> Callable[..., dict[str, Any]]:
    """make_office, rendered once per clip name and copied for every condition."""
    make = bad.make_office

    def render(scene: Path, people: int, seconds: float, clip: Path, truth_path: Path, **kw: Any) -> dict[str, Any]:
        c, j = cache / clip.name, cache / truth_path.name
        if not (c.exists() and j.exists() and len(json.loads(j.read_text())["people"]) == people):
            # Rendered again (not from the cache) when the people differ: make_office's ValueError for a
            # person it cannot render is how run_day learns to leave them out, every time.
            make(scene, people, seconds, c, j, **kw)
        shutil.copy(c, clip)
        shutil.copy(j, truth_path)
        return dict(json.loads(j.read_text()))
    return render


@dataclass
class OfficeRun:
    cond: str
    fix: str
    kind: str
    seed: int
    present: int
    auto: int
    absent: int
    absent_marked: int
    never: int
    unnamed: int
    other: int
    shown: int
    after_hand: int


def offices(a: argparse.Namespace) -> None:
    seeds = [int(s) for s in a.seeds.split(",")]
    if any(not 7600 <= s <= 7699 for s in seeds):
        raise SystemExit("this bench's offices use seeds 7600-7699 only")
    work = Path(tempfile.mkdtemp(prefix="apel-lighting-"))
    cache = work / "clips"
    cache.mkdir()
    t0 = time.time()
    args = SimpleNamespace(absent=a.absent, size=1080, seconds=a.seconds, rows_m=(3.0, 6.0),
                           recogniser=FUSED_BACKEND, people=a.people)
    engine, factory = bad.make_db(work / "enrolled.db")
    limits = bad.PhotoLimits(recogniser=FUSED_BACKEND)
    offs = []
    with factory() as s:
        leader = bad.User(username="leader", password_hash="x", role="leader")
        s.add(leader)
        s.commit()
        leader_id = leader.id
        for k, seed in enumerate(seeds):
            kind = "west" if seed >= 7650 else "rmfd"
            offs.append(bad.setup_office(s, kind, seed, a.people, limits, k))
    engine.dispose()
    print(f"{len(offs)} offices enrolled ({time.time() - t0:.0f} s)", flush=True)
    out: list[dict[str, Any]] = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    for o in offs:
        for cond in a.conditions.split(","):
            for fix in a.fix.split(","):
                if fix == "on" and a.fix_conditions and cond not in a.fix_conditions.split(","):
                    continue
                db = work / f"{o.seed}_{cond}_{fix}.db"
                shutil.copy(work / "enrolled.db", db)
                eng, fac = bad.make_db(db)
                with ExitStack() as st:
                    st.enter_context(mock.patch.object(bad, "read_frames", lit_frames(cond, o.seed)))
                    st.enter_context(mock.patch.object(bad, "make_office", cached_make_office(cache)))
                    st.enter_context(mock.patch.object(bad, "PipelineConfig",
                                                       partial(PipelineConfig, **fix_kwargs(fix))))
                    r = bad.run_day(fac, o, 1, args, work, leader_id)
                eng.dispose()
                db.unlink()
                why = [p.reason for p in r.people if not p.auto]
                run = OfficeRun(cond, fix, o.kind, o.seed, r.present, r.auto, r.absent, r.absent_marked,
                                why.count(NEVER), why.count(UNKNOWN), why.count(OTHER), r.shown, r.after_hand)
                out.append(vars(run))
                if a.json:
                    a.json.write_text(json.dumps(out, indent=1))
                print(f"  {o.kind} {o.seed} {cond} fix {fix}: auto {r.auto}/{r.present}, absentees marked "
                      f"{r.absent_marked}/{r.absent}, never detected {run.never}, detected never named {run.unnamed}, "
                      f"named as someone else {run.other}, shown {r.shown} ({time.time() - t0:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    office_table(out)


def office_table(rows: list[dict[str, Any]]) -> None:
    print(f"\nOffices, day 1 ({len({r['seed'] for r in rows})} offices: seeds {sorted({r['seed'] for r in rows})})")
    print("| condition | fix | offices | present marked automatically | absentees marked present | never detected | "
          "detected, never named | named as someone else | unknown faces for the operator |")
    print("|---|---|---|---|---|---|---|---|---|")
    keys = list(dict.fromkeys((r["cond"], r["fix"]) for r in rows))
    for cond, fix in keys:
        rs = [r for r in rows if r["cond"] == cond and r["fix"] == fix]
        tot = {k: sum(r[k] for r in rs) for k in ("present", "auto", "absent", "absent_marked", "never", "unnamed",
                                                  "other", "shown")}
        p = max(1, tot["present"])
        bound = upper95(tot["absent_marked"], tot["absent"])
        print(f"| {cond} | {fix} | {','.join(str(r['seed']) for r in rs)} | {tot['auto']}/{tot['present']} "
              f"({tot['auto'] / p:.1%}) | "
              f"{tot['absent_marked']}/{tot['absent']} (95% upper {bound:.1%}) | "
              f"{tot['never']} ({tot['never'] / p:.1%}) | {tot['unnamed']} | {tot['other']} | {tot['shown']} |")


# -- (c) mask classification ------------------------------------------------------------------
@dataclass
class MaskPhoto:
    """One held-out photo of masks/real, prepared as train_mask.chips_of prepares it."""
    name: str
    label: int                        # 1 with a mask, 0 without
    padded: np.ndarray                # RGB, <= 800 px, padded with grey (chips_of's look)
    pad: int
    faces: Faces                      # where the light falls: the unaltered photo's faces
    found: str                        # how the unaltered photo's face was found: detector, fallback, none
    shape: Any = None                 # the unaltered photo's 5 landmarks of its largest face


def mask_face(rgb: np.ndarray, pad: int, cfg: Any) -> tuple[tuple[int, int, int, int] | None, str, list[Any]]:
    """train_mask.chips_of's largest face: the pipeline's detector on the padded photo, else
    enrolment's detector on the photo itself. (box, how it was found, the detector's boxes)."""
    from attendance.vision.detect.detector import detect_faces
    from attendance.vision.enrol import detect_enrolment_faces

    found = sorted((b for b, _ in detect_faces(rgb, cfg)), key=lambda b: -b[2])
    if found:
        return found[0], "detector", found
    inner = rgb[pad:rgb.shape[0] - pad, pad:rgb.shape[1] - pad]
    fb = sorted(((b[0] + pad, b[1] + pad, b[2], b[3]) for b, _ in detect_enrolment_faces(inner)), key=lambda b: -b[2])
    return (fb[0], "fallback", fb) if fb else (None, "none", [])


@dataclass
class MaskVerdict:
    """One photo under one condition: how its face was found, and P(mask) of the lit chip, of the
    same with the fix, and of the classifier alone (None: no face)."""
    how: str
    p: float | None
    fix: float | None
    alone: float | None


def balanced(ys: list[int], ps: list[float]) -> tuple[float, float, float]:
    """Balanced accuracy, mask recall and no-mask recall at the pipeline's mask_threshold (0.5)."""
    y, pr = np.array(ys), np.array(ps) >= 0.5
    mr = float(pr[y == 1].mean()) if (y == 1).any() else float("nan")
    nr = float((~pr[y == 0]).mean()) if (y == 0).any() else float("nan")
    return 0.5 * (mr + nr), mr, nr


def masks(a: argparse.Namespace) -> None:
    """bench_masks.masks_real's held-out faces (train_mask.chips_of's look: the pipeline's detector,
    enrolment's as a fallback, the largest face's chip) with the photo lit. The light falls on the
    unaltered photo's faces (a photo with none found: a face-sized box in its middle); the face and
    its chip come from the lit photo. Per condition: the faces found, the classifier's balanced
    accuracy on them, the photos whose verdict differs from the unaltered photo's (both found), the
    classifier alone (the lit pixels through the unaltered photo's landmarks: no detection or
    landmark change), and the same with the fix (lighting.expose_face on the chip, as
    PipelineConfig.even_light does before the classifier)."""
    from attendance.vision.detect.detector import DetectorConfig
    from attendance.vision.faces import face_chip, landmarks5
    from attendance.vision.lighting import expose_face
    from attendance.vision.mask import default_classifier
    from attendance.vision.training.train_mask import is_test

    t0 = time.time()
    clf = default_classifier()
    cfg = DetectorConfig(min_face_px=60, max_work_pixels=2e6)
    paths = [(label, p) for label, folder in ((1, "with_mask"), (0, "without_mask"))
             for p in sorted((bfw.DATA / "masks/real" / folder).glob("*")) if is_test(p)]
    prepared: list[MaskPhoto] = []
    for label, p in paths:
        bgr = cv2.imread(str(p))
        if bgr is None:
            continue
        s = min(1.0, 800 / max(bgr.shape[:2]))
        small = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else bgr
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        pad = int(0.3 * max(rgb.shape[:2]))
        padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        box, how, boxes = mask_face(padded, pad, cfg)
        faces = [(x + w / 2, y + h / 2, float(w)) for x, y, w, h in boxes[:3]]
        if not faces:   # masks/real's photos are of one face: light the middle as a face
            h, w = rgb.shape[:2]
            faces = [(pad + w / 2, pad + h / 2, 0.6 * min(h, w))]
        prepared.append(MaskPhoto(p.name, label, padded, pad, faces, how,
                                  landmarks5(padded, box) if box is not None else None))
    n1 = sum(m.label for m in prepared)
    print(f"masks/real held-out: {len(prepared)} photos ({n1} with a mask, {len(prepared) - n1} without); "
          f"unaltered, a face found in {sum(m.found != 'none' for m in prepared)} "
          f"({sum(m.found == 'fallback' for m in prepared)} by enrolment's detector) ({time.time() - t0:.0f} s)",
          flush=True)
    conds = a.conditions.split(",")
    if "unaltered" not in conds:
        conds = ["unaltered", *conds]
    res: dict[str, list[MaskVerdict]] = {}
    for cond in conds:
        c0 = time.process_time()
        rng = np.random.default_rng(5)
        rows: list[MaskVerdict] = []
        for m in prepared:
            lit = light(cond, m.padded, m.faces, rng)
            box, how, _ = mask_face(lit, m.pad, cfg)
            alone = None
            if m.shape is not None:
                alone = float(clf.predict_proba([face_chip(lit, m.shape)])[0])
            if box is None:
                rows.append(MaskVerdict(how, None, None, alone))
                continue
            chip = face_chip(lit, landmarks5(lit, box))
            p_lit, p_fix = (float(v) for v in clf.predict_proba([chip, expose_face(chip)]))
            rows.append(MaskVerdict(how, p_lit, p_fix, alone))
        res[cond] = rows
        print(f"  {cond}: {time.process_time() - c0:.0f} s CPU ({time.time() - t0:.0f} s)", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"photos": [[m.name, m.label, m.found] for m in prepared],
                                      "conditions": {c: [vars(r) for r in rs] for c, rs in res.items()}},
                                     indent=1))
    mask_table(prepared, res)


def mask_table(prepared: list[MaskPhoto], res: dict[str, list[MaskVerdict]]) -> None:
    labels = [m.label for m in prepared]
    base = res["unaltered"]

    def changed(rows: list[MaskVerdict], k: str) -> str:
        """Photos whose verdict (field k) differs from the unaltered photo's, both found:
        all (masked -> not masked, not masked -> masked)."""
        off = on = 0
        for r0, r in zip(base, rows, strict=True):
            p0, p1 = getattr(r0, k), getattr(r, k)
            if p0 is not None and p1 is not None and (p0 >= 0.5) != (p1 >= 0.5):
                off += p0 >= 0.5
                on += p0 < 0.5
        return f"{off + on} ({off} / {on})"

    def acc(rows: list[MaskVerdict], k: str) -> str:
        got = [(y, getattr(r, k)) for y, r in zip(labels, rows, strict=True) if getattr(r, k) is not None]
        b, mr, nr = balanced([y for y, _ in got], [p for _, p in got])
        return f"{b:.1%} ({mr:.1%} / {nr:.1%})"

    n1 = sum(labels)
    print(f"\nmasks/real held-out, {len(prepared)} photos ({n1} with a mask, {len(prepared) - n1} without); "
          "threshold 0.5; verdicts changed against the unaltered photo (both found): all (masked -> not / "
          "not -> masked)")
    print("| condition | faces found (by enrolment's detector) | lost / gained against unaltered | "
          "balanced accuracy (mask / no-mask recall) | verdicts changed | classifier alone: balanced accuracy | "
          "changed | with the fix (expose_face on the chip): balanced accuracy | changed |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cond, rows in res.items():
        found = sum(r.p is not None for r in rows)
        fb = sum(r.how == "fallback" for r in rows)
        lost = sum(r0.p is not None and r.p is None for r0, r in zip(base, rows, strict=True))
        gained = sum(r0.p is None and r.p is not None for r0, r in zip(base, rows, strict=True))
        print(f"| {cond} | {found}/{len(rows)} ({fb}) | {lost} / {gained} | {acc(rows, 'p')} | {changed(rows, 'p')} | "
              f"{acc(rows, 'alone')} | {changed(rows, 'alone')} | {acc(rows, 'fix')} | {changed(rows, 'fix')} |",
              flush=True)


def mask_scenes(a: argparse.Namespace) -> None:
    """bench_masks.masks_scenes's score in `apel analyze`'s look for images (STILLS_CFG, the
    summary's masks/scenes figure) with the image lit: an image counts when a face found in it is
    called masked (every image of masks/scenes shows masked people; none is trained on). The light
    falls on the faces found in the unaltered image (an image with none found is lit without faces:
    backlight only brightens it, a side shadow leaves it as it is). Per condition: images with a
    masked face found, with any face found, hits lost / gained against the unaltered image, and the
    classifier alone (the faces found unaltered, their landmarks, the lit pixels)."""
    from bench_masks import STILLS_CFG, load_rgb

    from attendance.vision.detect.detector import detect_faces
    from attendance.vision.faces import face_chip, landmarks5
    from attendance.vision.mask import default_classifier

    t0 = time.time()
    clf = default_classifier()
    scenes = sorted((bfw.DATA / "masks/scenes").glob("*/*.jpg"))[::a.scenes_step]
    prepared = []
    for p in scenes:
        rgb = load_rgb(p, 640)
        found = [b for b, _ in detect_faces(rgb, STILLS_CFG)]
        prepared.append((rgb, [(x + w / 2, y + h / 2, float(w)) for x, y, w, h in found],
                         [landmarks5(rgb, b) for b in found]))
    print(f"\nmasks/scenes, every {a.scenes_step}th image: {len(prepared)} images, a face found unaltered in "
          f"{sum(bool(f) for _, f, _ in prepared)} ({time.time() - t0:.0f} s)", flush=True)
    conds = a.conditions.split(",")
    if "unaltered" not in conds:
        conds = ["unaltered", *conds]
    res: dict[str, list[tuple[int, bool, bool]]] = {}   # per image: faces found, a masked one, classifier alone
    for cond in conds:
        c0 = time.process_time()
        rng = np.random.default_rng(6)
        rows = []
        for rgb, faces, shapes in prepared:
            lit = light(cond, rgb, faces, rng)
            found = [b for b, _ in detect_faces(lit, STILLS_CFG)]
            chips = [face_chip(lit, landmarks5(lit, b)) for b in found]
            hit = bool(chips) and bool((clf.predict_proba(chips) >= 0.5).any())
            alone = bool(shapes) and bool((clf.predict_proba([face_chip(lit, s) for s in shapes]) >= 0.5).any())
            rows.append((len(found), hit, alone))
        res[cond] = rows
        print(f"  {cond}: {time.process_time() - c0:.0f} s CPU ({time.time() - t0:.0f} s)", flush=True)
    if a.json:
        out = json.loads(a.json.read_text()) if a.json.exists() else {}
        out["scenes"] = {"images": [str(p.relative_to(bfw.DATA / "masks/scenes")) for p in scenes], "conditions": res}
        a.json.write_text(json.dumps(out, indent=1))
    base = res["unaltered"]
    n = len(prepared)
    print(f"\nmasks/scenes ({n} images, all masked), apel analyze's look: images with a face found and called masked")
    print("| condition | a masked face found | any face found (faces) | hits lost / gained against unaltered | "
          "classifier alone (the unaltered image's faces) | lost / gained |")
    print("|---|---|---|---|---|---|")
    for cond, rows in res.items():
        hits, n_alone = sum(r[1] for r in rows), sum(r[2] for r in rows)
        lost = sum(r0[1] and not r[1] for r0, r in zip(base, rows, strict=True))
        gained = sum(r[1] and not r0[1] for r0, r in zip(base, rows, strict=True))
        a_lost = sum(r0[2] and not r[2] for r0, r in zip(base, rows, strict=True))
        a_gained = sum(r[2] and not r0[2] for r0, r in zip(base, rows, strict=True))
        print(f"| {cond} | {hits}/{n} ({hits / n:.1%}) | {sum(r[0] > 0 for r in rows)} ({sum(r[0] for r in rows)}) | "
              f"{lost} / {gained} | {n_alone}/{n} ({n_alone / n:.1%}) | {a_lost} / {a_gained} |", flush=True)


def samples(a: argparse.Namespace) -> None:
    """A contact sheet of one photo mosaic's faces and one office frame under each condition (to see
    that the conditions look like what they are called)."""
    o = photo_offices("east", 1)[0]
    frame, cell, cols, boxes = bfw.mosaic(o.probes[:6], bfw.FULL, 6)
    faces = [((i % cols + 0.5) * cell, (i // cols + 0.5) * cell, b) for i, b in enumerate(boxes)]
    rows = []
    for cond in CONDITIONS:
        lit = light(cond, frame, faces, np.random.default_rng(1))
        rows.append(cv2.resize(lit, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(a.out), np.vstack(rows)[:, :, ::-1])
    print(f"wrote {a.out} (rows: {', '.join(CONDITIONS)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="part", required=True)
    conds = ",".join(CONDITIONS)
    p = sub.add_parser("photos")
    p.add_argument("--sets", default="western,east")
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--widths", default="full,64", help="face widths: full (the photo's, <= 200 px) and px")
    p.add_argument("--conditions", default=conds)
    p.add_argument("--fix", default="off")
    o = sub.add_parser("offices")
    o.add_argument("--seeds", default="7600,7650")
    o.add_argument("--people", type=int, default=20)
    o.add_argument("--absent", type=int, default=2)
    o.add_argument("--seconds", type=float, default=8.0)
    o.add_argument("--conditions", default=conds)
    o.add_argument("--fix", default="off")
    o.add_argument("--fix-conditions", default="", help="the conditions with a fix-on run too (default: all)")
    o.add_argument("--json", type=Path, default=None, help="append the rows here (a batch of a longer run)")
    m = sub.add_parser("masks")
    m.add_argument("--conditions", default=conds, help="unaltered is always run (the same-run baseline)")
    m.add_argument("--json", type=Path, default=None, help="write each photo's P(mask) per condition here")
    m.add_argument("--real", type=int, default=1, help="0: leave out masks/real's held-out photos")
    m.add_argument("--scenes-step", type=int, default=0,
                   help="also masks/scenes in apel analyze's look, every Nth image (1: all 480; 0: not run)")
    r = sub.add_parser("report")
    r.add_argument("files", type=Path, nargs="+")
    s = sub.add_parser("samples")
    s.add_argument("--out", type=Path, default=Path("/tmp/lighting_samples.jpg"))
    a = ap.parse_args()
    if a.part == "report":
        office_table([row for f in a.files for row in json.loads(f.read_text())])
        return
    if a.part == "masks":
        if a.real:
            masks(a)
        if a.scenes_step:
            mask_scenes(a)
        return
    {"photos": photos, "offices": offices, "samples": samples}[a.part](a)


if __name__ == "__main__":
    main()
