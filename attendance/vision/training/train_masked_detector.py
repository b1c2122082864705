"""Train the masked-face HOG filter (attendance/vision/models/masked_face_hog.svm).

dlib's frontal HOG detector learned the mouth and misses many masked faces. This script fits one
more fHOG filter (dlib.train_simple_object_detector: 80x80 window, left-right flips, the same
pyramid as dlib's frontal detector) on masked faces only, so that `detect.hog_faces_cues` can run it
beside the frontal filters on the same feature pyramid (`fhog_object_detector.run_multiple`).

Data (read in place from ../shared/data, never copied; derived images are written to
/tmp/apel-masked-hog only). NOT masks/scenes (the evaluation set), NOT groups/* (the false-face
checks), NOT the held-out 30% of masks/real (`train_mask.is_test`, used by bench_masks.py):
- masks/synthetic_pairs: the pairs in synthetic_pairs.csv. Boxes: dlib's frontal HOG on the
  unmasked photo (score >= 0), carried over to the masked twin when the twin differs from the
  photo in the box's lower half (the mask was pasted there); other boxes are ignored.
- masks/real/with_mask, training part (70%; mostly tight crops of one face, so each is scaled to
  130 px, or 100, and padded): boxes from dlib's CNN (MMOD) detector, offline, where it finds one,
  mapped to the HOG box convention (MMOD's boxes are ~0.91x as wide and sit ~0.1 w higher:
  measured on faces/lfw10, see MMOD_TO_HOG).
- faces/lfw10, faces/rmfd, faces/openface, faces/fr_examples: each face HOG finds is given a
  painted mask (faces.paint_mask over 68 landmarks; colour drawn from PALETTE with a fixed seed).
Every image is scaled so its faces are >= MIN_FACE px (smaller faces become ignore boxes), and
each also goes in a second time degraded as a small face in an enlarged frame (`degraded`).
Negatives: face-free frames of video/opencv_vtest_PETS09-S2L1.avi, as they are and enlarged 3x,
and synthetic images of blurred blobs (`blobs`).

Validation: 20% of the groups (a photo with its masked twin, a person) by a hash of the group
name, with their degraded copies, the unmasked twins of those pairs (faces ignored) and half of
the face-free images. Threshold: the masked filter should make false detections (boxes on no
face) at the rate dlib's frontal filters make them at DetectorConfig().hog_threshold (-0.3): both
are counted on the validation images over a range of lower thresholds, and the masked filter's
score shift that best matches the two counts is taken. The fitted filter's bias is then shifted
by that much (`shift_threshold`, checked by `check_shift`), so that in detect/detector.py both filters share
one threshold and one non-maximum suppression (`DetectorConfig.mask_hog_offset` = 0). C: the best
validation recall at that threshold among --c (the shipped model: C 4; in an earlier round,
without the degraded copies and the blobs, C 1, 4 and 16 reached 0.972, 0.979 and 0.979, and 16
fitted 3x slower); then the filter is refitted on all the data with that C.
Printed: validation recall and precision of the masked faces, and the false-detection counts.
The seeds (SEED) fix the mask colours, the degradation and the synthetic images; dlib's trainer is
deterministic, so a rerun rewrites the same model (up to the thread count's summation order).

Run: .venv/bin/python -m attendance.vision.training.train_masked_detector [--c 4] [--dry-run]
(about 10 minutes on 2 cores; --dry-run validates without writing the model)"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import dlib
import numpy as np

from attendance.vision.detect.boxes import Box, iou
from attendance.vision.detect.detector import DetectorConfig
from attendance.vision.faces import landmarks68, paint_mask
from attendance.vision.recognise import dlib_models
from attendance.vision.runtime.dlib_onnx import pack_float, unpack_int
from attendance.vision.training.protocol import DATA
from attendance.vision.training.train_mask import is_test

WORK = Path("/tmp/apel-masked-hog")
OUT = Path(__file__).resolve().parents[1] / "models" / "masked_face_hog.svm"
SEED = 20261129
MIN_FACE = 84          # smallest positive box (px) after scaling; the window is 80x80
MAX_FACE = 200         # images are scaled down so their largest face is at most this
MMOD_TO_HOG = (0.033, 0.10, 0.914)   # HOG box = MMOD box shifted left/down by these x HOG width, / 0.914
PALETTE = ((120, 170, 215), (235, 235, 235), (35, 35, 40), (160, 200, 225), (90, 95, 120),
           (210, 160, 175), (70, 150, 160), (200, 205, 200), (60, 80, 140))


@dataclass
class Sample:
    file: Path                      # an image under WORK (already scaled / painted)
    boxes: list[Box]
    ignore: list[Box] = field(default_factory=list)
    group: str = ""
    source: str = ""


def val_group(group: str) -> bool:
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % 5 == 0


def read_rgb(p: Path) -> np.ndarray | None:
    bgr = cv2.imread(str(p))
    return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])


def hog_boxes(rgb: np.ndarray, threshold: float = 0.0) -> list[Box]:
    """dlib frontal HOG boxes (upsampled once when the image is small)."""
    up = 1 if max(rgb.shape[:2]) < 700 else 0
    rects, _, _ = dlib_models.hog_detector().run(rgb, up, threshold)
    return [(r.left(), r.top(), r.width(), r.height()) for r in rects]


def scale_for(boxes: list[Box]) -> float:
    if not boxes:
        return 1.0
    big = max(b[2] for b in boxes)
    small = min(b[2] for b in boxes)
    s = MAX_FACE / big if big > MAX_FACE else 1.0
    if small * s < MIN_FACE:
        s = min(MIN_FACE / small, 3.0)
        if big * s > 2 * MAX_FACE:
            s = max(1.0, 2 * MAX_FACE / big)
    return s


def save(rgb: np.ndarray, boxes: list[Box], ignore: list[Box], name: str, group: str, source: str) -> Sample | None:
    s = scale_for(boxes)
    if s != 1.0:
        rgb = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    sc: list[Box] = [(round(b[0] * s), round(b[1] * s), round(b[2] * s), round(b[3] * s)) for b in boxes]
    ig: list[Box] = [(round(b[0] * s), round(b[1] * s), round(b[2] * s), round(b[3] * s)) for b in ignore]
    H, W = rgb.shape[:2]
    keep: list[Box] = []
    drop: list[Box] = []
    for b in sc:
        inside = (b[0] >= -0.1 * b[2] and b[1] >= -0.1 * b[3]
                  and b[0] + b[2] <= W + 0.1 * b[2] and b[1] + b[3] <= H + 0.1 * b[3])
        (keep if b[2] >= MIN_FACE and inside else drop).append(b)
    if not keep:
        return None
    ig = [b for b in ig + drop if all(iou(b, k) < 0.5 for k in keep)]   # the same face found twice: keep the positive
    f = WORK / "img" / f"{name}.png"
    f.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(f), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return Sample(f, keep, ig, group, source)


def synthetic_pairs() -> tuple[list[Sample], list[Sample]]:
    """Masked twins with boxes carried over; and the unmasked twins (faces ignored) as negatives."""
    root = DATA / "masks" / "synthetic_pairs"
    pos, neg = [], []
    with open(root / "synthetic_pairs.csv") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        plain, masked = read_rgb(root / row["unmasked"]), read_rgb(root / row["synthetic_masked"])
        if plain is None or masked is None or plain.shape != masked.shape:
            continue
        s = min(1.0, 900 / max(plain.shape[:2]))
        if s < 1:
            plain = cv2.resize(plain, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            masked = cv2.resize(masked, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        boxes = hog_boxes(plain)
        good: list[Box] = []
        other: list[Box] = []
        for b in boxes:
            x, y, w, h = b
            lo = (slice(max(0, y + h // 2), max(0, y + h)), slice(max(0, x), max(0, x + w)))
            diff = np.abs(plain[lo].astype(np.int16) - masked[lo].astype(np.int16)).mean() if plain[lo].size else 0
            (good if diff > 12 else other).append(b)
        stem = Path(row["unmasked"]).stem
        group = "pair/" + stem
        smp = save(masked, good, other + hog_boxes(masked, -0.5), "pair_" + stem, group, "synthetic_pairs")
        if smp:
            pos.append(smp)
            if val_group(group):
                negp = save(plain, boxes, boxes, "plain_" + stem, group, "unmasked")
                if negp:
                    negp.ignore, negp.boxes = negp.ignore + negp.boxes, []
                    neg.append(negp)
    return pos, neg


def real_with_mask() -> list[Sample]:
    cnn = dlib_models.cnn_detector()
    out = []
    for p in sorted((DATA / "masks" / "real" / "with_mask").glob("*")):
        if is_test(p):
            continue   # bench_masks.py's held-out part: never trained on
        rgb = read_rgb(p)
        if rgb is None:
            continue
        # mostly tight crops of one face: MMOD finds the face once the crop is padded with grey
        # (it needs to see the head's outline) and small enough; the filter is trained on the
        # same geometry padded by replicating the border (no artificial grey frame to learn).
        for side in (130, 100):
            s = side / max(rgb.shape[:2])
            small = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            pad = side // 2
            dets = cnn(cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128)), 0)
            if dets:
                break
        boxes: list[Box] = []
        ignore: list[Box] = []
        for d in dets:
            r = d.rect
            w = r.width() / MMOD_TO_HOG[2]
            left, top = int(round(r.left() + MMOD_TO_HOG[0] * w)), int(round(r.top() + MMOD_TO_HOG[1] * w))
            b = (left, top, int(round(w)), int(round(w)))
            (boxes if d.confidence >= 0.3 else ignore).append(b)
        img = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        smp = save(img, boxes, ignore, "real_" + p.stem, "real/" + p.stem, "real/with_mask")
        if smp:
            out.append(smp)
    return out


def painted(rng: np.random.Generator) -> list[Sample]:
    out = []
    faces = DATA / "faces"
    paths = (sorted(faces.glob("lfw10/*/*.jpg")) + sorted(faces.glob("rmfd/*/*.jpg"))
             + sorted(faces.glob("openface/*.jpg"))
             + sorted(p for p in faces.glob("fr_examples/*") if p.suffix in (".jpg", ".png")))
    for p in paths:
        rgb = read_rgb(p)
        if rgb is None:
            continue
        if "rmfd" in p.parts:   # tight crops: pad so that HOG sees a whole face
            pad = int(0.4 * max(rgb.shape[:2]))
            rgb = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        s = min(1.0, 900 / max(rgb.shape[:2]))
        if s < 1:
            rgb = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        boxes = hog_boxes(rgb)
        if not boxes:
            continue
        work = rgb.copy()
        for b in boxes:
            colour = PALETTE[int(rng.integers(len(PALETTE)))]
            work = paint_mask(work, landmarks68(work, b), colour)
        person = p.parent.name if p.parent.name not in ("openface", "fr_examples") else p.stem.split("-")[0]
        group = "person/" + person
        collection = p.parts[-3 if "rmfd" in p.parts or "lfw10" in p.parts else -2]
        smp = save(work, boxes, hog_boxes(rgb, -0.5), f"paint_{p.parent.name}_{p.stem}", group, "painted/" + collection)
        if smp:
            out.append(smp)
    return out


def background() -> tuple[list[Sample], list[Sample]]:
    """Face-free frames of video/opencv_vtest_PETS09-S2L1.avi (a square of pedestrians seen from
    above: bodies, clothes, paving; the heads are far below the 80 px window) as negatives:
    every 40th frame, alternately to training and validation."""
    cap = cv2.VideoCapture(str(DATA / "video" / "opencv_vtest_PETS09-S2L1.avi"))
    tr: list[Sample] = []
    va: list[Sample] = []
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        if i % 40 == 0:
            part = va if (i // 40) % 2 else tr
            f = WORK / "img" / f"pets_{i:04d}.png"
            f.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(f), bgr)
            part.append(Sample(f, [], [], f"pets/{i}", "pets"))
            # and a quarter of it enlarged 3x (INTER_LINEAR, as detect/detector.py enlarges frames)
            y0, x0 = (i // 40) % 2 * 288, (i // 80) % 2 * 384
            big = cv2.resize(bgr[y0:y0 + 288, x0:x0 + 384], None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
            f = WORK / "img" / f"pets_{i:04d}_x3.png"
            cv2.imwrite(str(f), big)
            part.append(Sample(f, [], [], f"pets/{i}", "pets/x3"))
        i += 1
    cap.release()
    return tr, va


def blobs(rng: np.random.Generator, n: int = 40) -> tuple[list[Sample], list[Sample]]:
    """Synthetic face-free images: smooth backgrounds with blurred ellipses (out-of-focus heads,
    lamps, balls, bokeh) and a few hard edges; half of them enlarged 3x as detect/detector.py enlarges
    frames. A masked face seen small is a blob with two eyes: these teach the filter that the
    blob alone is not a face. Alternately to training and validation."""
    tr: list[Sample] = []
    va: list[Sample] = []
    for i in range(n):
        h, w = 480, 640
        bg = rng.normal(0, 1, (h // 16, w // 16, 3))
        img = cv2.GaussianBlur(cv2.resize(bg, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 6)
        img = (img - img.min()) / (np.ptp(img) + 1e-6) * rng.uniform(60, 220) + rng.uniform(0, 35)
        img = img.astype(np.float32)
        for _ in range(int(rng.integers(8, 30))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            ax = (int(rng.integers(6, 60)), int(rng.integers(6, 60)))
            colour = np.array(rng.uniform(0, 255, 3), np.float32)
            spot = np.zeros((h, w), np.float32)
            cv2.ellipse(spot, c, ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
            m = cv2.GaussianBlur(spot, (0, 0), float(rng.uniform(0.5, 8)))[:, :, None]
            img = img * (1 - m) + colour[None, None, :] * m
        for _ in range(int(rng.integers(0, 4))):
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p1, p2, tuple(float(v) for v in rng.uniform(0, 255, 3)), int(rng.integers(1, 12)))
        img = np.clip(img, 0, 255).astype(np.uint8)
        if i % 2:
            y0, x0 = int(rng.integers(0, h - 160)), int(rng.integers(0, w - 213))
            img = cv2.resize(img[y0:y0 + 160, x0:x0 + 213], None, fx=3, fy=3, interpolation=cv2.INTER_LINEAR)
        f = WORK / "img" / f"blobs_{i:03d}.png"
        cv2.imwrite(str(f), img)
        (va if i % 4 == 3 else tr).append(Sample(f, [], [], f"blobs/{i}", "blobs"))
    return tr, va


def degraded(samples: list[Sample], rng: np.random.Generator) -> list[Sample]:
    """A copy of each image as the pipeline sees a small face: shrunk by k (2-4.5; INTER_AREA, as
    a camera frame scaled down), JPEG-compressed, then enlarged back by k with INTER_LINEAR (as
    detect/detector.py enlarges a frame so 20-32 px faces reach the 80 px window). Same boxes. Without
    these the filter never sees enlarged blur and fires on flat patches and soft edges there."""
    out = []
    for s in samples:
        img = cv2.imread(str(s.file))
        if img is None:
            raise FileNotFoundError(f"{s.file}: not a readable image")
        k = float(rng.choice([2.0, 2.5, 3.0, 3.5, 4.0, 4.5]))
        h, w = img.shape[:2]
        small = cv2.resize(img, (max(1, round(w / k)), max(1, round(h / k))), interpolation=cv2.INTER_AREA)
        _, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 91))])
        decoded = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
        if decoded is None:
            raise ValueError(f"{s.file}: the JPEG copy does not decode")
        big = cv2.resize(decoded, (w, h), interpolation=cv2.INTER_LINEAR)
        f = s.file.with_name(s.file.stem + "_deg.png")
        cv2.imwrite(str(f), big)
        out.append(Sample(f, list(s.boxes), list(s.ignore), s.group, s.source + "/degraded"))
    return out


def write_xml(samples: list[Sample], path: Path) -> None:
    lines = ["<?xml version='1.0' encoding='ISO-8859-1'?>", "<dataset>", "<images>"]
    for s in samples:
        lines.append(f"  <image file='{s.file}'>")
        for b, ig in [(b, False) for b in s.boxes] + [(b, True) for b in s.ignore]:
            end = " ignore='1'/>" if ig else "/>"
            lines.append(f"    <box top='{b[1]}' left='{b[0]}' width='{b[2]}' height='{b[3]}'" + end)
        lines.append("  </image>")
    lines += ["</images>", "</dataset>"]
    path.write_text("\n".join(lines))


def prepare() -> tuple[list[Sample], list[Sample]]:
    cache = WORK / "samples.json"
    if cache.exists():
        d = json.loads(cache.read_text())
        return _from_json(d["pos"]), _from_json(d["neg"])
    rng = np.random.default_rng(SEED)
    t = time.time()
    pos, neg = synthetic_pairs()
    print(f"synthetic_pairs: {len(pos)} masked images ({time.time() - t:.0f} s)")
    t = time.time()
    real = real_with_mask()
    print(f"masks/real/with_mask (training part): {len(real)} images ({time.time() - t:.0f} s)")
    t = time.time()
    paint = painted(rng)
    print(f"painted masks on faces/*: {len(paint)} images ({time.time() - t:.0f} s)")
    pos = pos + real + paint
    cache.write_text(json.dumps(dict(pos=_to_json(pos), neg=_to_json(neg))))
    return pos, neg


def _to_json(samples: list[Sample]) -> list[dict[str, Any]]:
    return [dict(file=str(s.file), boxes=s.boxes, ignore=s.ignore, group=s.group, source=s.source) for s in samples]


def _from_json(rows: list[dict[str, Any]]) -> list[Sample]:
    return [Sample(Path(s["file"]), [tuple(b) for b in s["boxes"]], [tuple(b) for b in s["ignore"]], s["group"],
                   s["source"]) for s in rows]


def options(c: float) -> dlib.simple_object_detector_training_options:
    o = dlib.simple_object_detector_training_options()
    o.add_left_right_image_flips = True
    o.detection_window_size = 80 * 80
    o.C = c
    o.epsilon = 0.01
    o.upsample_limit = 0     # images are pre-scaled so faces are >= MIN_FACE px
    o.num_threads = 2
    o.be_verbose = False
    return o


Detections = list[tuple[int, list[tuple[float, int]]]]


def detections(det: dlib.fhog_object_detector | list[dlib.fhog_object_detector], samples: list[Sample],
               low: float) -> Detections:
    """Per image: (number of masked faces, [(score, i)]) with i the face a detection matches
    (IoU >= 0.5), -1 a false detection, -2 a detection on an ignored face (neither)."""
    out = []
    for s in samples:
        img = read_rgb(s.file)
        if isinstance(det, list):
            rects, scores, _ = dlib.fhog_object_detector.run_multiple(det, img, 0, low)
        else:
            rects, scores, _ = det.run(img, 0, low)
        ds = []
        for r, sc in zip(rects, scores, strict=True):
            b = (r.left(), r.top(), r.width(), r.height())
            m = [i for i, g in enumerate(s.boxes) if iou(b, g) >= 0.5]
            ds.append((float(sc), m[0] if m else (-2 if any(iou(b, g) >= 0.3 for g in s.ignore + s.boxes) else -1)))
        out.append((len(s.boxes), ds))
    return out


def at(dets: Detections, t: float) -> tuple[float, float, int]:
    """(recall, precision, false detections) at threshold t."""
    tp = fp = n = 0
    for nb, ds in dets:
        n += nb
        tp += len({i for sc, i in ds if sc >= t and i >= 0})
        fp += sum(1 for sc, i in ds if sc >= t and i == -1)
    return tp / max(1, n), tp / max(1, tp + fp), fp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, nargs="+", default=[4.0], help="C values to validate (the best is refitted)")
    ap.add_argument("--dry-run", action="store_true", help="validate only, do not write the model")
    a = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    pos, neg = prepare()
    pos = pos + degraded(pos, np.random.default_rng(SEED + 1))
    neg = neg + degraded(neg, np.random.default_rng(SEED + 2))
    bg_tr, bg_va = background()
    bl_tr, bl_va = blobs(np.random.default_rng(SEED + 3))
    bg_tr, bg_va = bg_tr + bl_tr, bg_va + bl_va
    by_source: dict[str, int] = {}
    for s in pos:
        by_source[s.source] = by_source.get(s.source, 0) + len(s.boxes)
    print(f"{len(pos)} training images, {sum(len(s.boxes) for s in pos)} masked faces: {by_source}; "
          f"{len(bg_tr) + len(bg_va)} face-free PETS frames and synthetic blob images")
    tr = [s for s in pos if not val_group(s.group)] + bg_tr
    va = [s for s in pos if val_group(s.group)]
    va_neg = neg + bg_va
    print(f"validation: {len(va)} masked images ({sum(len(s.boxes) for s in va)} faces), "
          f"{len(neg)} unmasked twins, {len(bg_va)} PETS frames")
    write_xml(tr, WORK / "train.xml")
    write_xml(pos + bg_tr + bg_va, WORK / "all.xml")
    # The masked filter's threshold is set so that it makes false detections at the rate dlib's
    # frontal filter makes them at its default threshold: both filters' false detections (boxes on
    # no face, masked or not) on the validation images are counted over a range of thresholds
    # low enough to have some, and the masked filter's scores are shifted to match the frontal's
    # counts (least squares on log counts). The shift carries over to the pipeline's threshold.
    ref = DetectorConfig().hog_threshold
    every = va + va_neg
    fr = detections(dlib_models.hog_detector(), every, -1.6)
    r, p, _ = at(fr[:len(va)], ref)
    print(f"dlib frontal at {ref:+.2f}: recall {r:.3f} precision {p:.3f} on the masked validation faces; "
          "false detections: " + ", ".join(f"{at(fr, t)[2]} at {t:+.1f}" for t in (-1.5, -1.2, -0.9, -0.6, -0.3)))
    tail = [t for t in np.arange(-1.6, ref + 1e-9, 0.05) if 3 <= at(fr, t)[2] <= 300]
    assert len(tail) >= 3, "too few false detections to calibrate on"
    best: tuple[float, float, float] | None = None
    for c in a.c:
        t0 = time.time()
        f = WORK / f"val_C{c:g}.svm"
        dlib.train_simple_object_detector(str(WORK / "train.xml"), str(f), options(c))
        det = dlib.fhog_object_detector(str(f))
        dm = detections(det, every, -2.0)
        err: dict[float, float] = {}
        for d in np.arange(-1.5, 2.0, 0.01):
            err[round(float(d), 2)] = sum((np.log1p(at(dm, t + d)[2]) - np.log1p(at(fr, t)[2])) ** 2 for t in tail)
        shift = min(err, key=err.__getitem__)
        t_m = ref + shift
        r, p, fp = at(dm[:len(va)], t_m)
        print(f"C {c:g} (fit {time.time() - t0:.0f} s): threshold {t_m:+.2f} "
              f"(false detections matched to the frontal's from {tail[0]:+.2f} to {tail[-1]:+.2f}): "
              f"recall {r:.3f} precision {p:.3f}, false detections {at(dm, t_m)[2]}; "
              + ", ".join(f"{at(dm, t)[2]} at {t:+.1f}" for t in (t_m - 1.2, t_m - 0.9, t_m - 0.6, t_m - 0.3)))
        if best is None or r > best[0]:
            best = (r, c, t_m)
    assert best is not None, "--c takes at least one value"
    r, c, t = best
    print(f"chosen C {c:g}, threshold {t:+.2f} "
          f"(validation recall {r:.3f} at the frontal filter's false-detection rate)")
    if a.dry_run:
        return
    raw = WORK / "final_raw.svm"
    dlib.train_simple_object_detector(str(WORK / "all.xml"), str(raw), options(c))
    shift_threshold(raw, OUT, ref - t)
    check_shift(raw, OUT, ref - t, va[:20])
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB): C {c:g}, fitted on all {len(pos)} masked images and "
          f"{len(bg_tr) + len(bg_va)} face-free images, scores shifted by {ref - t:+.2f} "
          f"so that {t:+.2f} becomes {ref:+.2f}")


# dlib's serialisation of the detector ends with its last weight (the bias, "thresh": score = w.x - thresh)
# as two packed integers (mantissa, exponent: value = mantissa * 2**exponent), then the
# simple_object_detector's version (1) and upsampling amount (0).
_TAIL = bytes([1, 1, 1, 0])


def shift_threshold(src: Path, dst: Path, delta: float) -> None:
    """Write the detector with every score raised by `delta` (its bias lowered by delta)."""
    data = src.read_bytes()
    assert data.endswith(_TAIL), "unexpected detector file layout"
    body = data[:-len(_TAIL)]
    found = []
    for k in (1, 2):                       # exponent: int16, 1-2 bytes
        if body[-1 - k] & 0x7F != k:
            continue
        for j in range(1, 9):              # mantissa: int64, 1-8 bytes
            start = len(body) - 1 - k - 1 - j
            if body[start] & 0x7F != j:
                continue
            mant, exp = unpack_int(body[start:start + 1 + j]), unpack_int(body[-1 - k:])
            value = mant * 2.0 ** exp
            if pack_float(value) == body[start:] and abs(value) < 100:
                found.append((start, value))
    assert len(found) == 1, f"cannot locate the bias: {found}"
    start, bias = found[0]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(body[:start] + pack_float(bias - delta) + _TAIL)


def check_shift(raw: Path, shifted: Path, delta: float, samples: list[Sample]) -> None:
    """The shifted detector finds the same boxes, each scored exactly `delta` higher."""
    a, b = dlib.fhog_object_detector(str(raw)), dlib.fhog_object_detector(str(shifted))
    n = 0
    for s in samples:
        img = read_rgb(s.file)
        ra, sa, _ = a.run(img, 0, -0.5)
        rb, sb, _ = b.run(img, 0, -0.5 + delta)
        assert [str(r) for r in ra] == [str(r) for r in rb], "the shifted detector finds other boxes"
        assert np.allclose(np.array(sb) - np.array(sa), delta, atol=1e-6), (sa, sb)
        n += len(sa)
    assert n > 0
    print(f"checked: the shifted detector's scores are the raw ones {delta:+.3f} ({n} detections)")


if __name__ == "__main__":
    main()
