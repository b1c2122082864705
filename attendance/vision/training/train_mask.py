"""Train the mask classifier (attendance/vision/models/mask_lr_faceres.npz, and with
--without-faceres the fallback mask_lr.npz).

Data (read in place from ../shared/data, never copied): masks/real/{with_mask,without_mask}
and masks/synthetic_pairs/{with_mask,without_mask}. Faces are found by the pipeline's own
detector and aligned the same way as at run time, so the classifier sees what it will see
(masks/real's without_mask are tight crops and with_mask loose photos: training on whole
images would learn the framing). Split: masks/real by a hash of the file name, 70% train /
30% test; synthetic_pairs all train (pairs share a photo, so they never cross the split), each
weighted 0.1 against a real photo. L2 strength by 5-fold cross-validation on the training part
(judged on its real photos); the held-out 30% is only reported.
Features: mask.features (edges and colours) and, unless --without-faceres, FaceRes's features of
the same chip (faceres_onnx.FaceResEncoder.features; mask.py says why).
Prints balanced accuracy on the held-out 30% of masks/real. The detector is the pipeline's
whole-frame look as shipped (`DetectorConfig()` defaults, so with the CNN check on HOG's near
misses): refit after changing the detector, whose boxes (and so chips) the classifier learns.

Opt-in (`--augment K`, default 0: off): each real training photo (never a held-out one, nor a
synthetic pair) also K times lit (`relight`: dim with sensor noise, overexposed, backlit, a side
shadow, a colour cast, each with random strength; seeded by the file name), its face found again
on the lit photo (so the box and landmarks move as the light moves them) and the box jittered by a
few % (`--augment-jitter`) before the landmarks; each such chip weighs `--augment-weight` of a
photo and stays in its photo's cross-validation fold.

Run: .venv/bin/python -m attendance.vision.training.train_mask [--without-faceres]"""
from __future__ import annotations

import argparse
import functools
import hashlib
import multiprocessing
from pathlib import Path

import cv2
import numpy as np

from attendance.vision.detect.detector import DetectorConfig, detect_faces
from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.mask import WEIGHTS, WEIGHTS_FACERES, classifier_inputs
from attendance.vision.training.protocol import DATA


def is_test(path: Path) -> bool:
    return int(hashlib.sha256(path.name.encode()).hexdigest(), 16) % 10 < 3


Box = tuple[int, int, int, int]


def padded_photo(path: Path) -> tuple[np.ndarray, int] | None:
    """The photo (RGB, <= 800 px) padded with grey on every side, and the padding (None: unreadable)."""
    bgr = cv2.imread(str(path))
    if bgr is None:
        return None
    s = min(1.0, 800 / max(bgr.shape[:2]))
    small = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else bgr
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    pad = int(0.3 * max(rgb.shape[:2]))
    return cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128)), pad


def boxes_of(padded: np.ndarray, pad: int, cnn_check: bool = True) -> list[Box]:
    """The faces the pipeline's detector finds on the padded photo, else enrolment's on the photo
    itself (largest first, at most 3)."""
    cfg = DetectorConfig(min_face_px=60, max_work_pixels=2e6, use_cnn_check=cnn_check)
    boxes = [b for b, _ in detect_faces(padded, cfg)]
    if not boxes:
        inner = np.ascontiguousarray(padded[pad:padded.shape[0] - pad, pad:padded.shape[1] - pad])
        boxes = [(b[0] + pad, b[1] + pad, b[2], b[3]) for b, _ in detect_enrolment_faces(inner)]
    return sorted(boxes, key=lambda b: -b[2])[:3]


def chips_of(path: Path, cnn_check: bool = True) -> list[np.ndarray]:
    """Aligned chips of the faces the pipeline finds in a photo (largest first, at most 3)."""
    photo = padded_photo(path)
    if photo is None:
        return []
    padded, pad = photo
    return [face_chip(padded, landmarks5(padded, b)) for b in boxes_of(padded, pad, cnn_check)]


# -- opt-in augmentation of the training photos (--augment) -----------------------------------
def _linear(rgb: np.ndarray) -> np.ndarray:
    lin: np.ndarray = (rgb.astype(np.float32) / 255.0) ** 2.2
    return lin


def _srgb(lin: np.ndarray) -> np.ndarray:
    out: np.ndarray = (np.clip(lin, 0.0, 1.0) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)
    return out


def _head(shape: tuple[int, ...], box: Box, grow: float = 1.3) -> np.ndarray:
    """0..1: a soft ellipse around a face box (the head)."""
    x, y, w, h = box
    m = np.zeros(shape[:2], np.float32)
    cv2.ellipse(m, (int(x + w / 2), int(y + h / 2)), (max(1, int(grow * w / 2)), max(1, int(grow * 0.65 * w))),
                0, 0, 360, 1.0, -1)
    k = max(3, int(0.15 * w) * 2 + 1)
    return cv2.GaussianBlur(m, (k, k), 0)


def relight(rgb: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The photo under a random light, in linear light, the face at `box`: dim (exposure 0.2-0.5,
    shot and read noise, JPEG), overexposed (x1.4-2.2, clipped), backlit (the head x0.3-0.6, the
    rest x1.4-2.2 and clipped, glare), a side shadow (a soft ramp across the face from 0.15-0.5 of
    the light to all of it, from a random side) or a colour cast (warm or cool)."""
    lin = _linear(rgb)
    kind = rng.choice(["dim", "overexposed", "backlit", "shadow", "cast"], p=[0.2, 0.1, 0.3, 0.3, 0.1])
    if kind == "dim":
        full_well = 1500.0
        e = rng.poisson(np.clip(lin * rng.uniform(0.2, 0.5), 0, 1) * full_well).astype(np.float32)
        e += rng.normal(0.0, 4.0, lin.shape).astype(np.float32)
        ok, buf = cv2.imencode(".jpg", _srgb(e / full_well), [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 85))])
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED))
    if kind == "overexposed":
        return _srgb(lin * rng.uniform(1.4, 2.2))
    if kind == "backlit":
        m = _head(rgb.shape, box)[:, :, None]
        gain = rng.uniform(0.3, 0.6) * m + rng.uniform(1.4, 2.2) * (1 - m)
        return _srgb(np.clip(lin * gain, 0, 1) + rng.uniform(0.0, 0.08))
    if kind == "shadow":
        x, y, w, h = box
        cx, side, low = x + w / 2, rng.choice([-1.0, 1.0]), rng.uniform(0.15, 0.5)
        xs = (np.arange(rgb.shape[1], dtype=np.float32) - cx) / max(w, 1)
        ramp = low + (1 - low) / (1 + np.exp(-side * xs * rng.uniform(6.0, 18.0)))
        m = _head(rgb.shape, box, 1.2)
        light = 1 - m * (1 - ramp[None, :])
        return _srgb(lin * light[:, :, None])
    gains = np.array([1.0, 0.7, 0.38] if rng.random() < 0.5 else [0.6, 0.85, 1.0], np.float32)
    gains = gains ** rng.uniform(0.3, 1.0)
    gains /= 0.2126 * gains[0] + 0.7152 * gains[1] + 0.0722 * gains[2]
    return _srgb(lin * gains)


def jitter(box: Box, rng: np.random.Generator, amount: float) -> Box:
    """The box shifted by up to `amount` of its width each way and scaled by up to 1.5 `amount`."""
    x, y, w, h = box
    s = 1 + rng.uniform(-1.5 * amount, 1.5 * amount)
    nw, nh = max(8, round(w * s)), max(8, round(h * s))
    dx, dy = rng.uniform(-amount, amount, 2) * w
    return (round(x + w / 2 + dx - nw / 2), round(y + h / 2 + dy - nh / 2), nw, nh)


def augmented_chips(path: Path, k: int, jitter_amount: float, cnn_check: bool = True) -> list[np.ndarray]:
    """K chips of a training photo's largest face, each under a random light (`relight`), found
    again on the lit photo, its box jittered (`jitter`); seeded by the file name (the same chips
    every run)."""
    photo = padded_photo(path)
    if photo is None:
        return []
    padded, pad = photo
    rng = np.random.default_rng(int(hashlib.sha256(path.name.encode()).hexdigest(), 16) % 2**32)
    boxes = boxes_of(padded, pad, cnn_check)
    if boxes:
        where = boxes[0]
    else:   # masks/real's photos are of one face: light the middle as a face
        h, w = padded.shape[0] - 2 * pad, padded.shape[1] - 2 * pad
        side = int(0.6 * min(h, w))
        where = (pad + (w - side) // 2, pad + (h - side) // 2, side, side)
    out = []
    for _ in range(k):
        lit = relight(padded, where, rng)
        found = boxes_of(lit, pad, cnn_check)
        if found:
            out.append(face_chip(lit, landmarks5(lit, jitter(found[0], rng, jitter_amount))))
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, iters: int = 30,
                 weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression with an L2 penalty (l2/2 |w|^2 on the mean loss),
    fitted by Newton's method to convergence (deterministic, no learning rate to tune).
    `weight`: per-sample weights (times the class balance)."""
    n, d = x.shape
    pos = y.mean()
    sw = np.where(y == 1, 0.5 / pos, 0.5 / (1 - pos))  # balance the classes
    if weight is not None:
        sw = sw * weight
        sw = sw / sw.mean()
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0                                      # no penalty on the bias
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ theta, -30, 30)))
        g = xb.T @ ((p - y) * sw) / n + reg * theta
        h = (xb * (sw * p * (1 - p))[:, None]).T @ xb / n + np.diag(reg) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(h, g)
        theta -= step
        if np.abs(step).max() < 1e-6:
            break
    return theta[:-1].astype(np.float32), float(theta[-1])


def group_of(path: Path) -> str:
    """Photos that must stay on one side of a cross-validation split (a synthetic pair)."""
    return path.stem.replace("-with-mask", "") + ("/synth" if "synthetic_pairs" in str(path) else "")


def choose_l2(x: np.ndarray, y: np.ndarray, groups: list[str], is_real: np.ndarray, weight: np.ndarray,
              grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)) -> float:
    """L2 strength by 5-fold cross-validation on the training photos only (folds by group),
    judged on the real photos of each fold (the synthetic ones are easy); the grid in increasing
    order."""
    fold = np.array([int(hashlib.sha256(g.encode()).hexdigest(), 16) % 5 for g in groups])
    best = (-1.0, grid[0])
    for l2 in grid:
        accs = []
        for k in range(5):
            tr, te = fold != k, (fold == k) & is_real
            mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
            w, b = fit_logistic((x[tr] - mu) / sd, y[tr], l2, weight=weight[tr])
            accs.append(balanced_accuracy(1 / (1 + np.exp(-(((x[te] - mu) / sd) @ w + b))), y[te]))
        acc = float(np.mean(accs))
        print(f"  l2 {l2:g}: cross-validated balanced accuracy on real training photos {acc:.3f}")
        if acc >= best[0] - 1e-9:   # a tie goes to the stronger penalty (simpler model)
            best = (acc, l2)
    return best[1]


def balanced_accuracy(p: np.ndarray, y: np.ndarray) -> float:
    pred = p >= 0.5
    return 0.5 * float(pred[y == 1].mean() + (~pred[y == 0]).mean())


def first_chip(path: Path, cnn_check: bool = True) -> np.ndarray | None:
    """The largest face the pipeline finds in a labelled photo (None: no face). A labelled
    photo's largest face carries the label (others may be bystanders)."""
    cs = chips_of(path, cnn_check)
    return cs[0] if cs else None


def augment_features(a: argparse.Namespace, items: list[tuple[Path, int, str]],
                     with_faceres: bool) -> tuple[list[np.ndarray], list[int], list[str]]:
    """Features, labels and cross-validation groups of the augmented chips of the real training
    photos (`augmented_chips`; the held-out ones and the synthetic pairs are never augmented)."""
    real = [(p, label) for p, label, part in items if part == "train" and "synthetic_pairs" not in str(p)]
    if a.augment_features and a.augment_features.exists():
        d = np.load(a.augment_features)
        assert int(d["k"]) == a.augment and float(d["jitter"]) == a.augment_jitter, "cache of another augmentation"
        owner = [int(i) for i in d["owner"]]
        x_all = list(d["x"])
    else:
        with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
            per = pool.map(functools.partial(augmented_chips, k=a.augment, jitter_amount=a.augment_jitter,
                                             cnn_check=not a.no_cnn_check), [p for p, _ in real], chunksize=4)
        owner = [i for i, cs in enumerate(per) for _ in cs]
        chips = [c for cs in per for c in cs]
        x_all = list(classifier_inputs(chips, with_faceres)) if chips else []
        if a.augment_features:
            np.savez_compressed(a.augment_features, x=np.stack(x_all), owner=np.array(owner),
                                k=a.augment, jitter=a.augment_jitter)
    return x_all, [real[i][1] for i in owner], [group_of(real[i][0]) for i in owner]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="processes that find the faces")
    ap.add_argument("--l2", type=float, help="L2 strength (default: chosen by cross-validation on the training photos)")
    ap.add_argument("--features", type=Path,
                    help="cache: load the features from this .npz if it exists, else save them there")
    ap.add_argument("--synthetic-weight", type=float, default=0.1,
                    help="weight of a synthetic pair photo relative to a real one (pasted masks are easy and many)")
    ap.add_argument("--no-cnn-check", action="store_true",
                    help="find faces without the detector's CNN check (for comparison)")
    ap.add_argument("--dry-run", action="store_true", help="print the figures, do not write the weights")
    ap.add_argument("--without-faceres", action="store_true",
                    help="edges and colours only: the fallback for installations without FaceRes (mask_lr.npz)")
    ap.add_argument("--augment", type=int, default=0,
                    help="chips per real training photo under a random light with a jittered box (0: none)")
    ap.add_argument("--augment-weight", type=float, default=0.25,
                    help="weight of an augmented chip relative to a real photo")
    ap.add_argument("--augment-jitter", type=float, default=0.04,
                    help="box shift, as a share of its width (the scale changes by up to 1.5 times it)")
    ap.add_argument("--augment-features", type=Path,
                    help="cache of the augmented chips' features (as --features)")
    ap.add_argument("--out", type=Path, help="write the weights here (default: the model file in models/)")
    a = ap.parse_args()
    with_faceres = not a.without_faceres
    out = a.out or (WEIGHTS_FACERES if with_faceres else WEIGHTS)
    real = DATA / "masks" / "real"
    synth = DATA / "masks" / "synthetic_pairs"
    items = [(p, label, "test" if is_test(p) else "train")
             for label, folder in ((1, "with_mask"), (0, "without_mask")) for p in sorted((real / folder).glob("*"))]
    items += [(p, label, "train")   # synthetic pairs: all train (pairs share a photo)
              for label, folder in ((1, "with_mask"), (0, "without_mask")) for p in sorted((synth / folder).glob("*"))]
    if a.features and a.features.exists():
        d = np.load(a.features)
        feats = [f if ok else None for f, ok in zip(d["x"], d["ok"], strict=True)]
        assert len(feats) == len(items), "feature cache is for another data set"
    else:
        with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
            chips = pool.map(functools.partial(first_chip, cnn_check=not a.no_cnn_check),
                             [p for p, _, _ in items], chunksize=8)
        found = [c for c in chips if c is not None]
        x_found = iter(classifier_inputs(found, with_faceres))
        feats = [next(x_found) if c is not None else None for c in chips]
        if a.features:
            dim = next(f for f in feats if f is not None).shape[0]
            cache_x = np.stack([f if f is not None else np.zeros(dim, np.float32) for f in feats])
            np.savez_compressed(a.features, x=cache_x, ok=np.array([f is not None for f in feats]))
    train_x: list[np.ndarray] = []
    test_x: list[np.ndarray] = []
    train_y: list[int] = []
    test_y: list[int] = []
    groups: list[str] = []
    real_train: list[bool] = []
    for (p, label, part), f in zip(items, feats, strict=True):
        if f is None:
            continue
        (test_x if part == "test" else train_x).append(f)
        (test_y if part == "test" else train_y).append(label)
        if part != "test":
            groups.append(group_of(p))
            real_train.append(real in p.parents)
    n_photos = len(train_y)
    if a.augment:
        aug_x, aug_y, aug_groups = augment_features(a, items, with_faceres)
        train_x += aug_x
        train_y += aug_y
        groups += aug_groups
        real_train += [False] * len(aug_y)   # judged (cross-validation) on the photos themselves only
        n_real = sum(1 for p, _, part in items if part == "train" and real in p.parents)
        print(f"augmented: {len(aug_y)} chips of the {n_real} real training photos, weight {a.augment_weight:g} each")
    x, y = np.stack(train_x), np.asarray(train_y, np.float64)
    is_real = np.asarray(real_train)
    weight = np.where(is_real, 1.0, a.synthetic_weight)
    weight[n_photos:] = a.augment_weight
    l2 = a.l2 if a.l2 is not None else choose_l2(x, y, groups, is_real, weight)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w, b = fit_logistic((x - mu) / sd, y, l2=l2, weight=weight)
    print(f"l2 {l2:g}")
    tx, ty = (np.stack(test_x) - mu) / sd, np.asarray(test_y)
    p_test = 1 / (1 + np.exp(-(tx @ w + b)))
    p_train = 1 / (1 + np.exp(-(((x - mu) / sd) @ w + b)))
    print(f"train n={n_photos} balanced accuracy {balanced_accuracy(p_train[:n_photos], y[:n_photos]):.3f}")
    print(f"masks/real held-out n={len(ty)} (mask {int(ty.sum())}) "
          f"balanced accuracy {balanced_accuracy(p_test, ty):.3f}")
    if a.dry_run:
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, mu=mu.astype(np.float32), sd=sd.astype(np.float32), w=w, b=np.float32(b),
                        faceres=np.bool_(with_faceres))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
