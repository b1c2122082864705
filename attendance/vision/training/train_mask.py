"""Train the mask classifier (attendance/vision/models/mask_lr.npz).

Data (read in place from ../shared/data, never copied): masks/real/{with_mask,without_mask}
and masks/synthetic_pairs/{with_mask,without_mask}. Faces are found by the pipeline's own
detector and aligned the same way as at run time, so the classifier sees what it will see
(masks/real's without_mask are tight crops and with_mask loose photos: training on whole
images would learn the framing). Split: masks/real by a hash of the file name, 70% train /
30% test; synthetic_pairs all train (pairs share a photo, so they never cross the split).
Prints balanced accuracy on the held-out 30% of masks/real.

Run: .venv/bin/python -m attendance.vision.training.train_mask"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from attendance.vision.detect import DetectorConfig, detect_faces
from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.mask import WEIGHTS, features

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def is_test(path: Path) -> bool:
    return int(hashlib.sha256(path.name.encode()).hexdigest(), 16) % 10 < 3


def chips_of(path: Path) -> list[np.ndarray]:
    """Aligned chips of the faces the pipeline finds in a photo (largest first, at most 3)."""
    bgr = cv2.imread(str(path))
    if bgr is None:
        return []
    s = min(1.0, 800 / max(bgr.shape[:2]))
    rgb = cv2.cvtColor(cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else bgr, cv2.COLOR_BGR2RGB)
    pad = int(0.3 * max(rgb.shape[:2]))
    padded = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    boxes = [b for b, _ in detect_faces(padded, DetectorConfig(min_face_px=60, max_work_pixels=2e6))]
    if not boxes:
        boxes = [(b[0] + pad, b[1] + pad, b[2], b[3]) for b, _ in detect_enrolment_faces(rgb)]
    boxes = sorted(boxes, key=lambda b: -b[2])[:3]
    return [face_chip(padded, landmarks5(padded, b)) for b in boxes]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, iters: int = 600, lr: float = 0.5):
    w = np.zeros(x.shape[1], np.float64)
    b = 0.0
    pos = y.mean()
    sw = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))  # balance the classes
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30)))
        g = (p - y) * sw
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * g.mean()
    return w.astype(np.float32), float(b)


def balanced_accuracy(p: np.ndarray, y: np.ndarray) -> float:
    pred = p >= 0.5
    return 0.5 * (pred[y == 1].mean() + (~pred[y == 0]).mean())


def main() -> None:
    train_x, train_y, test_x, test_y = [], [], [], []
    real = DATA / "masks" / "real"
    for label, folder in ((1, "with_mask"), (0, "without_mask")):
        for p in sorted((real / folder).glob("*")):
            cs = chips_of(p)
            # A labelled photo: its largest face carries the label (others may be bystanders).
            if not cs:
                continue
            (test_x if is_test(p) else train_x).append(features(cs[0]))
            (test_y if is_test(p) else train_y).append(label)
    synth = DATA / "masks" / "synthetic_pairs"
    for label, folder in ((1, "with_mask"), (0, "without_mask")):
        for p in sorted((synth / folder).glob("*")):
            cs = chips_of(p)
            if cs:
                train_x.append(features(cs[0]))
                train_y.append(label)
    x, y = np.stack(train_x), np.asarray(train_y, np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w, b = fit_logistic((x - mu) / sd, y)
    tx, ty = (np.stack(test_x) - mu) / sd, np.asarray(test_y)
    p_test = 1 / (1 + np.exp(-(tx @ w + b)))
    p_train = 1 / (1 + np.exp(-(((x - mu) / sd) @ w + b)))
    print(f"train n={len(y)} balanced accuracy {balanced_accuracy(p_train, y):.3f}")
    print(f"masks/real held-out n={len(ty)} (mask {int(ty.sum())}) balanced accuracy {balanced_accuracy(p_test, ty):.3f}")
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(WEIGHTS, mu=mu.astype(np.float32), sd=sd.astype(np.float32), w=w, b=np.float32(b))
    print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
