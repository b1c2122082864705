"""Mask classification and masked-face detection on real photos, against dlib HOG in the same run.

1. masks/real: the held-out 30% (split by file-name hash, as in training/train_mask.py; the
   classifier never saw these), over the faces the pipeline's detector finds (the largest face
   of each photo carries the photo's label): balanced accuracy.
2. masks/scenes (all masked): share of images in which the pipeline finds at least one face it
   classifies as masked; baseline: share in which face_recognition's HOG (upsample 1) finds any
   face at all.

Run: .venv/bin/python bench/bench_masks.py [--scenes-step 1]"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attendance.vision.detect import DetectorConfig, detect_faces  # noqa: E402
from attendance.vision.faces import face_chip, landmarks5  # noqa: E402
from attendance.vision.mask import default_classifier  # noqa: E402
from attendance.vision.training.protocol import DATA  # noqa: E402
from attendance.vision.training.train_mask import chips_of, is_test  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes-step", type=int, default=1, help="use every Nth scene image")
    a = ap.parse_args()
    clf = default_classifier()
    t0 = time.time()
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

    import face_recognition

    scenes = sorted((DATA / "masks/scenes").glob("*/*.jpg"))[:: a.scenes_step]
    ours = base = 0
    t_ours = t_base = 0.0
    for p in scenes:
        bgr = cv2.imread(str(p))
        s = min(1.0, 640 / max(bgr.shape[:2]))
        if s < 1:
            bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        t = time.perf_counter()
        base += len(face_recognition.face_locations(rgb, 1)) > 0
        t_base += time.perf_counter() - t
        t = time.perf_counter()
        boxes = [b for b, _ in detect_faces(rgb, DetectorConfig(min_face_px=20, hog_threshold=-0.5))]
        chips = [face_chip(rgb, landmarks5(rgb, b)) for b in boxes]
        found = bool(chips) and bool((clf.predict_proba(chips) >= 0.5).any())
        t_ours += time.perf_counter() - t
        ours += found
    n = len(scenes)
    print(f"masks/scenes: {n} images (longest side <= 640 px)")
    print(f"  pipeline finds a masked face in {ours / n:.1%}  ({t_ours / n * 1000:.0f} ms/image)")
    print(f"  baseline HOG (face_locations, upsample 1) finds any face in {base / n:.1%}  ({t_base / n * 1000:.0f} ms/image)")
    print(f"  ratio {ours / max(1, base):.2f}x   ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
