"""Mask / no mask per face: the project's own small classifier.

Features: a HOG descriptor of the aligned face chip's lower two thirds (where a mask is), colour
statistics of the mouth region and of the forehead (a mask is a uniform patch whose colour
differs from the skin above it), and a coarser HOG descriptor of the whole face (the outline a
mask draws across the cheeks and nose). Model: logistic regression, weights in
models/mask_lr.npz, fitted by attendance/vision/training/train_mask.py on ../shared/data
masks/real and masks/synthetic_pairs (see that script for the split)."""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

WEIGHTS = Path(__file__).parent / "models" / "mask_lr.npz"

_HOG = cv2.HOGDescriptor((48, 32), (16, 16), (8, 8), (8, 8), 9)
_HOG_FACE = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9)


def features(chip_rgb: np.ndarray) -> np.ndarray:
    """Feature vector of a 150x150 aligned chip (dlib padding 0.25)."""
    grey = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY)
    lower = cv2.resize(grey[60:140, 25:125], (48, 32), interpolation=cv2.INTER_AREA)
    hog = _HOG.compute(cv2.equalizeHist(lower)).ravel()
    hsv = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2HSV).astype(np.float32) / 255.0
    lab = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2LAB).astype(np.float32) / 255.0
    mouth = (slice(95, 130), slice(50, 100))
    brow = (slice(35, 55), slice(50, 100))
    stats = []
    for img in (hsv, lab):
        m, f = img[mouth].reshape(-1, 3), img[brow].reshape(-1, 3)
        stats += list(m.mean(0)) + list(m.std(0)) + list(m.mean(0) - f.mean(0))
    face = cv2.resize(grey[15:145, 15:135], (64, 64), interpolation=cv2.INTER_AREA)
    hog_face = _HOG_FACE.compute(cv2.equalizeHist(face)).ravel()
    return np.concatenate([hog, np.asarray(stats, np.float32) * 4.0, hog_face]).astype(np.float32)


class MaskClassifier:
    def __init__(self, path: Path = WEIGHTS):
        d = np.load(path)
        self.mu, self.sd, self.w, self.b = d["mu"], d["sd"], d["w"], float(d["b"])

    def predict_proba(self, chips_rgb: list[np.ndarray]) -> np.ndarray:
        """P(mask) per chip."""
        if not chips_rgb:
            return np.zeros(0, np.float32)
        x = (np.stack([features(c) for c in chips_rgb]) - self.mu) / self.sd
        z = np.clip(x @ self.w + self.b, -30, 30)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


@functools.cache
def default_classifier() -> MaskClassifier:
    return MaskClassifier()
