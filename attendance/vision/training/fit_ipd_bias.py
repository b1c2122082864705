"""Fit the size bias of eye spacing measured on small faces (models/ipd_bias.json).

Why: depth from eye spacing is z = f * IPD / d_px, so a bias of the measured pixel spacing d_px
is a bias of depth, and on a face whose eyes are 10-15 px apart (people 5-7 m from a 1080p
camera) one pixel is 7-10%. dlib's 5-point landmarks were suspected of measuring small faces
short (each eye's two corner points pulled toward the blurred eye's middle, a coarse detector
box to start from). Measured here, they do so only on the smallest faces (models/ipd_bias.json,
"table"; docs/vision.md), so the fitted correction is nil for most. Kept because it is what a
smaller face or another landmark model would need, and the check is cheap to rerun.

How: real face photos (read in place from ../shared/data, never copied) are measured at full
resolution with the pipeline's own landmark code (`landmarks5`, `eye_distance_px`): that is the
reference spacing. Each photo is then scaled down with INTER_AREA (what a camera's optics and
sensor do: average the light over a pixel) so the reference spacing becomes 8-45 px, optionally
JPEG-compressed like a video frame, and the face is found in it with the pipeline's detector
(`detect_faces`, its smallest face set as the pipeline sets it) and measured again. The ratio
measured / true (true = reference x scale) is fitted as a function of the *measured* spacing,
the only thing known at run time:

    ratio(d) = 1 - (d0 / d) ** p

(two parameters: d0 is the spacing at which the bias would be total, p how fast it fades; the
bias goes to 0 for large faces). The pipeline divides each measured spacing by ratio(d)
(`camera.unbiased_eye_px`).

Data: ../shared/data faces/lfw10, faces/rmfd (tight crops, padded), faces/fr_examples,
faces/openface, masks/synthetic_pairs (unmasked and masked). Photos whose reference spacing is
under MIN_REF_PX are left out: the reference must be well above the sizes it judges.

Run: .venv/bin/python -m attendance.vision.training.fit_ipd_bias [--every 6] [--out PATH]
(the committed file was made with --every 6; docs/vision.md)."""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import least_squares

from attendance.vision.detect.boxes import iou
from attendance.vision.detect.detector import DetectorConfig, detect_faces
from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import landmarks5
from attendance.vision.geometry.camera import eye_distance_px
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import DATA

OUT = Path(__file__).resolve().parents[1] / "models" / "ipd_bias.json"
MIN_REF_PX = 38.0                       # reference spacing at full resolution, at least
TARGETS_PX = (8, 9, 10, 11, 12, 13, 14, 16, 18, 21, 25, 30, 36, 45)
JPEG_QUALITY = 80                       # a compressed video frame (about what WebRTC/mp4 leave)
PIPELINE_MIN_FACE_PX = 32               # PipelineConfig.min_face_px


@dataclass(frozen=True)
class Sample:
    source: str
    photo: str
    ref_px: float          # reference spacing at full resolution
    true_px: float         # reference x scale: the spacing the small face really has
    measured_px: float     # what the pipeline's landmarks measure on the small face
    box_w: float           # the detector's box width on the small face
    jpeg: bool


def photos(every: int) -> list[tuple[str, Path]]:
    """(source, path) of the real photos used, every `every`-th of each source."""
    out: list[tuple[str, Path]] = []
    srcs = {
        "lfw10": sorted((DATA / "faces/lfw10").glob("*/*.jpg")),
        "rmfd": sorted((DATA / "faces/rmfd").glob("*/*.jpg")),
        "fr_examples": sorted(p for p in (DATA / "faces/fr_examples/knn_examples/train").glob("*/*")
                              if p.suffix.lower() in (".jpg", ".png"))
        + [DATA / "faces/fr_examples" / n for n in ("alex-lacamoire.png", "lin-manuel-miranda.png", "obama-1080p.jpg")],
        "openface": sorted((DATA / "faces/openface").glob("*.jpg")),
    }
    pairs = DATA / "masks/synthetic_pairs"
    with open(pairs / "synthetic_pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    srcs["synthetic_pairs_unmasked"] = [pairs / r["unmasked"] for r in rows]
    srcs["synthetic_pairs_masked"] = [pairs / r["synthetic_masked"] for r in rows]
    for name, paths in srcs.items():
        out += [(name, p) for p in paths[::every] if p.exists()]
    return out


def reference(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], float] | None:
    """The largest face's box and eye spacing at full resolution (padded like synth._head_sprite,
    so tight crops get context), in the photo's own coordinates."""
    faces = detect_enrolment_faces(rgb)
    if not faces:
        return None
    pad = int(0.6 * max(rgb.shape[:2]))
    work = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    x, y, w, h = faces[0][0]
    pts = np.array([(p.x, p.y) for p in landmarks5(work, (x + pad, y + pad, w, h)).parts()], np.float32)
    return (x, y, w, h), eye_distance_px(pts)


def measure(rgb: np.ndarray, box: tuple[int, int, int, int], ref_px: float, target_px: float,
            jpeg: bool) -> tuple[float, float, float] | None:
    """Scale the photo so its eye spacing is about `target_px`, find the face as the pipeline
    does and measure it: (true spacing, measured spacing, box width), or None when the detector
    does not find that face."""
    x, y, w, h = box
    m = int(1.5 * max(w, h))   # context around the face, as in a frame (replicated at the photo's edge)
    P = m + max(0, -x, -y)   # a detector box may reach past the photo's edge
    work = cv2.copyMakeBorder(rgb, P, P, P, P, cv2.BORDER_REPLICATE)
    crop = work[y + P - m:y + P + h + m, x + P - m:x + P + w + m]
    s = target_px / ref_px
    size = (max(8, int(round(crop.shape[1] * s))), max(8, int(round(crop.shape[0] * s))))
    small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    sx, sy = size[0] / crop.shape[1], size[1] / crop.shape[0]
    if jpeg:
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError("the JPEG copy does not decode")
        small = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    expect = (m * sx, m * sy, w * sx, h * sy)
    # The pipeline searches a 1080p frame down to 32 px faces (or smaller, with a back row set).
    cfg = DetectorConfig(min_face_px=int(min(PIPELINE_MIN_FACE_PX, max(16, 0.8 * expect[2]))))
    found = [b for b, _ in detect_faces(np.ascontiguousarray(small), cfg) if iou(b, expect) > 0.3]
    if not found:
        return None
    fb = max(found, key=lambda b: iou(b, expect))
    pts = np.array([(p.x, p.y) for p in landmarks5(small, fb).parts()], np.float32)
    true_px = ref_px * float(np.sqrt(sx * sy))
    return true_px, eye_distance_px(pts), float(fb[2])


def ratio_model(d: np.ndarray, d0: float, p: float) -> np.ndarray:
    return 1.0 - (d0 / np.asarray(d, np.float64)) ** p


def fit(samples: list[Sample]) -> tuple[float, float]:
    """Least squares (soft L1: a few bad landmarks should not pull the curve) of the ratio
    measured / true on the measured spacing."""
    d = np.array([s.measured_px for s in samples])
    r = np.array([s.measured_px / s.true_px for s in samples])
    sol = least_squares(lambda t: ratio_model(d, t[0], t[1]) - r, x0=[4.0, 2.0], bounds=([0.01, 0.3], [10.0, 8.0]),
                        loss="soft_l1", f_scale=0.05)
    return float(sol.x[0]), float(sol.x[1])


def table(samples: list[Sample], d0: float, p: float) -> list[dict[str, object]]:
    """Median ratio per measured-spacing bin, and what is left after the correction."""
    d = np.array([s.measured_px for s in samples])
    r = np.array([s.measured_px / s.true_px for s in samples])
    rows = []
    edges = [7, 9, 11, 13, 15, 18, 21, 25, 30, 36, 42, 50]
    for lo, hi in pairwise(edges):
        k = (d >= lo) & (d < hi)
        if k.sum() < 5:
            continue
        left = r[k] / ratio_model(d[k], d0, p)
        rows.append({"measured_px": [lo, hi], "n": int(k.sum()), "median_ratio": round(float(np.median(r[k])), 4),
                     "iqr": [round(float(np.percentile(r[k], 25)), 4), round(float(np.percentile(r[k], 75)), 4)],
                     "after_correction_median": round(float(np.median(left)), 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=1, help="use every n-th photo of each source")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--samples", type=Path, default=None, help="also write every sample here (JSON lines)")
    a = ap.parse_args()
    t0 = time.time()
    samples: list[Sample] = []
    used, missed = 0, 0
    for source, path in photos(a.every):
        try:
            rgb = read_image_rgb(path)
        except ValueError:
            continue
        ref = reference(rgb)
        if ref is None or ref[1] < MIN_REF_PX:
            continue
        used += 1
        box, ref_px = ref
        for k, target in enumerate(t for t in TARGETS_PX if t < 0.9 * ref_px):
            jpeg = (k + used) % 2 == 0   # half the sizes compressed, alternating per photo
            got = measure(rgb, box, ref_px, float(target), jpeg)
            if got is None:
                missed += 1
                continue
            samples.append(Sample(source, str(path.relative_to(DATA)), ref_px, got[0], got[1], got[2], jpeg))
    d0, p = fit(samples)

    def fitted(sub: list[Sample]) -> dict[str, float]:
        sub_d0, sub_p = fit(sub)
        return {"d0_px": round(sub_d0, 4), "p": round(sub_p, 4), "n": len(sub)}

    by_source = {}
    for src in sorted({s.source for s in samples}):
        sub = [s for s in samples if s.source == src]
        if len(sub) >= 30:
            by_source[src] = fitted(sub)
    jp = {}
    for flag in (False, True):
        jp["jpeg" if flag else "plain"] = fitted([s for s in samples if s.jpeg == flag])
    box_ratio = float(np.median([s.box_w / s.true_px for s in samples]))
    out = {
        "model": "measured / true eye spacing = 1 - (d0_px / measured_px) ** p; true = measured / that",
        "d0_px": round(d0, 4), "p": round(p, 4),
        "valid_measured_px": [8.0, 60.0],
        "fitted_on": ("real photos in ../shared/data: faces/lfw10, faces/rmfd, faces/fr_examples, faces/openface, "
                      "masks/synthetic_pairs (unmasked and masked); each downscaled (INTER_AREA, half of them "
                      "JPEG q80) so the eye spacing is 8-45 px, found by detect_faces and measured by landmarks5 "
                      "against the same photo at full resolution; by attendance/vision/training/fit_ipd_bias.py"),
        "selection": f"every {a.every}th photo of each source, reference spacing >= {MIN_REF_PX:g} px",
        "photos": used, "samples": len(samples), "not_found": missed,
        "by_source": by_source, "by_compression": jp,
        "detector_box_width_over_true_spacing": round(box_ratio, 4),
        "table": table(samples, d0, p),
    }
    a.out.write_text(json.dumps(out, indent=1) + "\n")
    if a.samples:
        a.samples.write_text("".join(json.dumps(s.__dict__) + "\n" for s in samples))
    print(json.dumps(out, indent=1))
    print(f"{used} photos, {len(samples)} samples, {missed} not found, {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
