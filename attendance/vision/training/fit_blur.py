"""Fit enrol.MIN_SHARPNESS: sharpness of aligned chips of real photos vs. the same photos blurred.

Data: ../shared/data/faces/lfw10 and faces/rmfd (read in place, never copied).
Run: .venv/bin/python -m attendance.vision.training.fit_blur"""
from __future__ import annotations

import sys

import cv2
import numpy as np

from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import face_chip, landmarks5, sharpness
from attendance.vision.training.protocol import DATA


def chip_sharpness(img: np.ndarray) -> float | None:
    faces = detect_enrolment_faces(img)
    if not faces:
        return None
    box = faces[0][0]
    pad = 200
    work = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    shape = landmarks5(work, (box[0] + pad, box[1] + pad, box[2], box[3]))
    return sharpness(face_chip(work, shape))


def main() -> None:
    paths = sorted((DATA / "faces/lfw10").glob("*/*.jpg"))[::3] + sorted((DATA / "faces/rmfd").glob("*/*.jpg"))[::4]
    sharp: list[float] = []
    blurred: dict[float, list[float]] = {1.5: [], 2.5: [], 4.0: []}
    for p in paths:
        bgr = cv2.imread(str(p))
        if bgr is None:
            raise FileNotFoundError(f"{p}: not a readable image")
        img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        s = chip_sharpness(img)
        if s is None:
            continue
        sharp.append(s)
        for sigma in blurred:
            # Blur relative to the face: sigma in pixels of a 150-px face.
            k = sigma * img.shape[1] / 150
            b = chip_sharpness(cv2.GaussianBlur(img, (0, 0), k))
            if b is not None:
                blurred[sigma].append(b)
    print(f"real photos: n={len(sharp)} min={min(sharp):.1f} p1={np.percentile(sharp, 1):.1f} "
          f"median={np.median(sharp):.1f}")
    for sigma, v in blurred.items():
        print(f"blur sigma {sigma}: n={len(v)} max={max(v):.1f} p99={np.percentile(v, 99):.1f} "
              f"median={np.median(v):.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
