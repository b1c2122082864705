"""Mask classification and masked-face detection on real photos, against dlib HOG in the same run.

1. masks/real: the held-out 30% (split by file-name hash, as in training/train_mask.py; the
   classifier never saw these), over the faces the pipeline's detector finds (the largest face
   of each photo carries the photo's label): balanced accuracy.
2. masks/scenes (all masked): share of images in which the pipeline finds at least one face it
   classifies as masked, with the detector's CNN check (as the pipeline runs it) and without it
   (the same run: the faces the check added are dropped); baseline: share in which
   face_recognition's HOG (upsample 1) finds any face at all. `--dump-added DIR` writes the
   faces the CNN check added (scenes and group photos) as contact sheets, to look at.
3. False faces: groups/dlib_annotated (PASCAL VOC photos with every face boxed, and dogs.jpg
   with none): faces found that overlap no true face (IoU < 0.3), with and without the check;
   and on groups/photos (no ground truth) the number of faces the check added.
4. Cost: detect_faces (the pipeline's whole-frame look: DetectorConfig(), min_face_px 32) on
   1280x720 frames, with and without the check, median of `--timing-runs` runs each, alternated.

Run: .venv/bin/python bench/bench_masks.py [--scenes-step 1] [--dump-added DIR]"""
from __future__ import annotations

import argparse
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.vision.detect import DetectorConfig, detect_faces, detect_faces_cues, iou  # noqa: E402
from attendance.vision.faces import face_chip, landmarks5  # noqa: E402
from attendance.vision.mask import default_classifier  # noqa: E402
from attendance.vision.training.protocol import DATA  # noqa: E402
from attendance.vision.training.train_mask import chips_of, is_test  # noqa: E402

SCENES_CFG = DetectorConfig(min_face_px=20, hog_threshold=-0.5)


def load_rgb(path: Path, longest: int) -> np.ndarray:
    bgr = cv2.imread(str(path))
    s = min(1.0, longest / max(bgr.shape[:2]))
    if s < 1:
        bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def sheet(crops: list[np.ndarray], path: Path, cols: int = 10, size: int = 96) -> None:
    tiles = [cv2.resize(c, (size, size)) for c in crops]
    while len(tiles) % cols:
        tiles.append(np.zeros((size, size, 3), np.uint8))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))


def crop_box(rgb: np.ndarray, b) -> np.ndarray:
    x, y, w, h = b
    m = w // 4
    return rgb[max(0, y - m):y + h + m, max(0, x - m):x + w + m]


def masks_real(clf) -> None:
    ys, ps, missed = [], [], 0
    for label, folder in ((1, "with_mask"), (0, "without_mask")):
        for p in sorted((DATA / "masks/real" / folder).glob("*")):
            if not is_test(p):
                continue
            cs = chips_of(p)
            if not cs:
                missed += 1
                continue
            ys.append(label)
            ps.append(float(clf.predict_proba(cs[:1])[0]))
    y, pr = np.array(ys), np.array(ps) >= 0.5
    bal = 0.5 * (pr[y == 1].mean() + (~pr[y == 0]).mean())
    print(f"masks/real held-out: {len(y)} faces detected ({missed} photos without a detected face)")
    print(f"  balanced accuracy {bal:.1%}  (mask recall {pr[y == 1].mean():.1%}, no-mask recall {(~pr[y == 0]).mean():.1%})")


def masks_scenes(clf, step: int, dump: Path | None) -> None:
    import face_recognition

    scenes = sorted((DATA / "masks/scenes").glob("*/*.jpg"))[::step]
    with_cnn = without = base = added = 0
    t_det = t_base = 0.0
    added_crops = []
    for p in scenes:
        rgb = load_rgb(p, 640)
        t = time.perf_counter()
        base += len(face_recognition.face_locations(rgb, 1)) > 0
        t_base += time.perf_counter() - t
        t = time.perf_counter()
        found = detect_faces_cues(rgb, SCENES_CFG)
        chips = [face_chip(rgb, landmarks5(rgb, b)) for b, _, _ in found]
        masked = clf.predict_proba(chips) >= 0.5 if chips else np.zeros(0, bool)
        t_det += time.perf_counter() - t
        kinds = [k for _, _, k in found]
        with_cnn += bool(masked.any())
        without += bool(any(m for m, k in zip(masked, kinds) if k != "cnn"))
        for (b, _, k) in found:
            if k == "cnn":
                added += 1
                added_crops.append(crop_box(rgb, b))
    n = len(scenes)
    print(f"masks/scenes: {n} images (longest side <= 640 px), DetectorConfig(min_face_px=20, hog_threshold=-0.5)")
    print(f"  pipeline (with CNN check) finds a masked face in {with_cnn / n:.1%}  ({t_det / n * 1000:.0f} ms/image)")
    print(f"  same run, CNN check's faces dropped: {without / n:.1%}   ({added} faces added by the check)")
    print(f"  baseline HOG (face_locations, upsample 1) finds any face in {base / n:.1%}  ({t_base / n * 1000:.0f} ms/image)")
    print(f"  ratio {with_cnn / max(1, base):.2f}x")
    if dump and added_crops:
        sheet(added_crops, dump / "scenes_added.png")
        print(f"  wrote {dump / 'scenes_added.jpg'} ({len(added_crops)} crops)")


def annotated_boxes() -> dict[str, list[tuple[int, int, int, int]]]:
    out: dict[str, list] = {}
    for xml in ("training.xml", "testing.xml"):
        for im in ET.parse(DATA / "groups/dlib_annotated" / xml).getroot().iter("image"):
            out.setdefault(im.get("file"), []).extend(
                (int(b.get("left")), int(b.get("top")), int(b.get("width")), int(b.get("height"))) for b in im.iter("box"))
    out["dogs.jpg"] = []
    return out


def false_faces(dump: Path | None) -> None:
    cfg = DetectorConfig(min_face_px=20)   # the pipeline's whole-frame look, down to 20 px faces
    truth = annotated_boxes()
    n_true = sum(len(v) for v in truth.values())
    counts = {"without": [0, 0, 0], "with": [0, 0, 0]}   # found, false, true faces found
    for name, gt in truth.items():
        rgb = load_rgb(DATA / "groups/dlib_annotated" / name, 10_000)
        found = detect_faces_cues(rgb, cfg)
        for key, faces in (("with", found), ("without", [f for f in found if f[2] != "cnn"])):
            c = counts[key]
            c[0] += len(faces)
            c[1] += sum(all(iou(b, g) < 0.3 for g in gt) for b, _, _ in faces)
            c[2] += sum(any(iou(b, g) >= 0.3 for b, _, _ in faces) for g in gt)
    print(f"groups/dlib_annotated: {len(truth)} photos, {n_true} true faces, DetectorConfig(min_face_px=20)")
    for key in ("without", "with"):
        f, fa, tr = counts[key]
        print(f"  {key:7s} CNN check: {f} faces found, {fa} false ({fa / max(1, f):.1%}), true faces found {tr}/{n_true}")
    added, crops = 0, []
    photos = sorted(p for p in (DATA / "groups/photos").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    for p in photos:
        rgb = load_rgb(p, 1280)
        for b, _, k in detect_faces_cues(rgb, cfg):
            if k == "cnn":
                added += 1
                crops.append(crop_box(rgb, b))
    print(f"groups/photos: {len(photos)} photos (longest side <= 1280 px): the CNN check added {added} faces")
    if dump and crops:
        sheet(crops, dump / "groups_added.png")
        print(f"  wrote {dump / 'groups_added.jpg'}")


def timing(runs: int) -> None:
    frames = []
    cap = cv2.VideoCapture(str(DATA / "video/facenet_pytorch_video.mp4"))
    ok, f = cap.read()
    cap.release()
    if ok:
        frames.append(("facenet_pytorch_video frame 0", cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA)))
    g = cv2.imread(str(DATA / "groups/photos/insightface_t1.jpg"))
    if g is not None:
        frames.append(("insightface_t1 (group)", cv2.resize(g, (1280, 720), interpolation=cv2.INTER_AREA)))
    on, off = DetectorConfig(), replace(DetectorConfig(), use_cnn_check=False)
    print(f"detect_faces on 1280x720 frames, DetectorConfig() (min_face_px 32), median of {runs} runs each:")
    for name, bgr in frames:
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        detect_faces(rgb, on)  # load models
        t_on, t_off = [], []
        for _ in range(runs):
            for cfg, ts in ((off, t_off), (on, t_on)):
                t = time.perf_counter()
                detect_faces(rgb, cfg)
                ts.append(time.perf_counter() - t)
        a, b = float(np.median(t_off)), float(np.median(t_on))
        n_cnn = sum(k == "cnn" for _, _, k in detect_faces_cues(rgb, on))
        print(f"  {name}: without check {a * 1000:.0f} ms, with {b * 1000:.0f} ms ({(b / a - 1) * 100:+.1f}%; "
              f"{n_cnn} faces added)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes-step", type=int, default=1, help="use every Nth scene image")
    ap.add_argument("--timing-runs", type=int, default=7)
    ap.add_argument("--dump-added", type=Path, help="folder for contact sheets of the faces the CNN check added")
    ap.add_argument("--only", choices=("real", "scenes", "false", "timing"), action="append")
    a = ap.parse_args()
    if a.dump_added:
        a.dump_added.mkdir(parents=True, exist_ok=True)
    clf = default_classifier()
    t0 = time.time()
    parts = a.only or ["real", "scenes", "false", "timing"]
    if "real" in parts:
        masks_real(clf)
    if "scenes" in parts:
        masks_scenes(clf, a.scenes_step, a.dump_added)
    if "false" in parts:
        false_faces(a.dump_added)
    if "timing" in parts:
        timing(a.timing_runs)
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
