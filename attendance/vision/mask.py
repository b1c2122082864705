"""Mask / no mask per face: the project's own small classifier.

Features: a HOG descriptor of the aligned face chip's lower two thirds (where a mask is), colour
statistics of the mouth region and of the forehead (a mask is a uniform patch whose colour
differs from the skin above it), a coarser HOG descriptor of the whole face (the outline a mask
draws across the cheeks and nose), and, where FaceRes is installed (the default recogniser's
second network, attendance/vision/runtime/model_files.py), FaceRes's features of the same chip: a network
trained on faces describes a mask better than edges and colours do (masks/real held-out and
masks/scenes, BENCHMARKS.md "Masks"), and the default recogniser computes them for the same
faces anyway, so the pipeline passes them in and they cost nothing there. Model: logistic
regression, weights in models/mask_lr_faceres.npz (with FaceRes) and models/mask_lr.npz
(without: the fallback when FaceRes is not installed), fitted by
attendance/vision/training/train_mask.py on ../shared/data masks/real and masks/synthetic_pairs
(see that script for the split)."""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from attendance.vision.recognise import faceres as faceres_encoder
from attendance.vision.runtime.model_files import installed

WEIGHTS = Path(__file__).parent / "models" / "mask_lr.npz"
WEIGHTS_FACERES = Path(__file__).parent / "models" / "mask_lr_faceres.npz"

_HOG = cv2.HOGDescriptor((48, 32), (16, 16), (8, 8), (8, 8), 9)
_HOG_FACE = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9)


def features(chip_rgb: np.ndarray) -> np.ndarray:
    """Feature vector of a 150x150 aligned chip (dlib padding 0.25)."""
    grey = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY)
    lower = cv2.resize(grey[60:140, 25:125], (48, 32), interpolation=cv2.INTER_AREA)
    hog = np.asarray(_HOG.compute(cv2.equalizeHist(lower))).ravel()
    hsv = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2HSV).astype(np.float32) / 255.0
    lab = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0
    mouth = (slice(95, 130), slice(50, 100))
    brow = (slice(35, 55), slice(50, 100))
    stats = []
    for img in (hsv, lab):
        m, f = img[mouth].reshape(-1, 3), img[brow].reshape(-1, 3)
        stats += list(m.mean(0)) + list(m.std(0)) + list(m.mean(0) - f.mean(0))
    face = cv2.resize(grey[15:145, 15:135], (64, 64), interpolation=cv2.INTER_AREA)
    hog_face = np.asarray(_HOG_FACE.compute(cv2.equalizeHist(face))).ravel()
    return np.concatenate([hog, np.asarray(stats, np.float32) * 4.0, hog_face]).astype(np.float32)


def classifier_inputs(chips_rgb: list[np.ndarray], with_faceres: bool, faceres: np.ndarray | None = None) -> np.ndarray:
    """One row per chip: `features`, then FaceRes's features when `with_faceres` (given, or
    computed here). What the classifier reads and what training/train_mask.py fits on."""
    x = np.stack([features(c) for c in chips_rgb])
    if not with_faceres:
        return x
    if faceres is None:
        faceres = faceres_encoder.load().features(list(chips_rgb))
    if len(faceres) != len(chips_rgb):
        raise ValueError(f"{len(faceres)} FaceRes feature rows for {len(chips_rgb)} chips")
    return np.concatenate([x, np.asarray(faceres, np.float32)], axis=1)


class MaskClassifier:
    def __init__(self, path: Path = WEIGHTS):
        d = np.load(path)
        self.mu, self.sd, self.w, self.b = d["mu"], d["sd"], d["w"], float(d["b"])
        self.uses_faceres = bool(d["faceres"]) if "faceres" in d.files else False

    def predict_proba(self, chips_rgb: list[np.ndarray], faceres: np.ndarray | None = None) -> np.ndarray:
        """P(mask) per chip (dlib's 150 px chip). `faceres`: FaceRes's features of the same chips
        when the caller has them (the fused recogniser's embeddings,
        recognisers.FusedRecogniser.faceres_of); a classifier that uses them and is not given them
        runs FaceRes itself."""
        if not chips_rgb:
            return np.zeros(0, np.float32)
        x = (classifier_inputs(chips_rgb, self.uses_faceres, faceres) - self.mu) / self.sd
        z = np.clip(x @ self.w + self.b, -30, 30)
        p: NDArray[np.float32] = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
        return p


@functools.cache
def default_classifier() -> MaskClassifier:
    """With FaceRes's features where FaceRes is installed (`apel models fetch`, which
    `./dev install` runs), else the classifier of edges and colours alone."""
    return MaskClassifier(WEIGHTS_FACERES if installed() else WEIGHTS)
