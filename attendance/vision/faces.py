"""Shared face primitives: aligned chips, embeddings, sharpness and synthetic masks.

Used by enrolment (one photo, one face) and by the office pipeline (many small faces)."""
from __future__ import annotations

import logging
import os

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from attendance.vision.recognise import dlib_models
from attendance.vision.runtime import dlib_onnx

log = logging.getLogger(__name__)

CHIP_SIZE = 150      # what dlib's ResNet expects
CHIP_PADDING = 0.25  # dlib's default for the recognition model
DLIB_CHIP = (CHIP_SIZE, CHIP_PADDING)

# Colours (RGB) of the synthetic masks painted on enrolment photos: surgical blue, white,
# black and a mid grey cover what staff actually wear at an apel.
MASK_COLOURS_RGB: tuple[tuple[int, int, int], ...] = ((120, 170, 215), (235, 235, 235), (35, 35, 40))


def to_rect(box: tuple[int, int, int, int]) -> dlib.rectangle:
    x, y, w, h = (int(round(v)) for v in box)
    return dlib.rectangle(x, y, x + w, y + h)


def landmarks5(image_rgb: np.ndarray, box: tuple[int, int, int, int]) -> dlib.full_object_detection:
    return dlib_models.shape5()(image_rgb, to_rect(box))


def landmarks68(image_rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    shape = dlib_models.shape68()(image_rgb, to_rect(box))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)


def face_chip(image_rgb: np.ndarray, shape: dlib.full_object_detection, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING) -> np.ndarray:
    """The face aligned by its 5 landmarks into dlib's chip frame (dlib's recogniser and the mask
    classifier take the default; another recogniser may ask for more margin, `Recogniser.chip`)."""
    chip: NDArray[np.uint8] = dlib.get_face_chip(image_rgb, shape, size=size, padding=padding)
    return chip


def recogniser_chip(image_rgb: np.ndarray, shape: dlib.full_object_detection, spec: tuple[int, float],
                    dlib_chip: np.ndarray) -> np.ndarray:
    """The chip a recogniser asking for `spec` (size, padding) takes: the dlib chip already made
    for the mask classifier when that is the same, else one of its own."""
    return dlib_chip if tuple(spec) == DLIB_CHIP else face_chip(image_rgb, shape, *spec)


_fast_warned = False
encoder_path = dlib_models.encoder_path   # the .dat file both encoders read (tests point it elsewhere)


def fast_encoder() -> dlib_onnx.DlibOnnxEncoder | None:
    """dlib's ResNet converted to ONNX Runtime (same descriptors, several times faster; see
    dlib_onnx.py), or None: when APEL_DLIB_ONNX=0, or when the conversion or its check against
    dlib failed (logged once; dlib itself is used then)."""
    global _fast_warned
    if os.environ.get("APEL_DLIB_ONNX", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        return dlib_onnx.load(encoder_path())
    except Exception as exc:  # any failure means: use dlib
        if not _fast_warned:
            _fast_warned = True
            log.warning("face embeddings: ONNX Runtime version of dlib's ResNet unavailable (%s); using dlib", exc)
        return None


def embed_chips(chips: list[np.ndarray], jitters: int = 0) -> np.ndarray:
    """(n, 128) float32 dlib embeddings of aligned 150x150 RGB chips. Without jitter they come
    from `fast_encoder()` when it is available (the same network and descriptors as dlib's)."""
    if not chips:
        return np.zeros((0, 128), np.float32)
    if jitters <= 0:
        fast = fast_encoder()
        if fast is not None and all(isinstance(c, np.ndarray) and c.shape == (CHIP_SIZE, CHIP_SIZE, 3)
                                    and c.dtype == np.uint8 for c in chips):
            return fast.embed(chips)
    enc = dlib_models.encoder()
    if jitters > 0:
        return np.array([np.array(enc.compute_face_descriptor(c, jitters)) for c in chips], np.float32)
    return np.array([np.array(d) for d in enc.compute_face_descriptor(chips)], np.float32)


def sharpness(chip_rgb: np.ndarray) -> float:
    """Variance of the Laplacian on the aligned chip: comparable across photo sizes because the
    chip is always 150x150."""
    grey = cv2.cvtColor(chip_rgb, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def mask_polygon(pts68: np.ndarray) -> np.ndarray:
    """Outline of a worn mask from 68 landmarks: along the jaw from ear to ear (points 1-15),
    up over the nose bridge (point 28 lies between the eyes and the nose tip)."""
    jaw = pts68[1:16]
    cheek_l = (pts68[1] + pts68[29]) / 2
    cheek_r = (pts68[15] + pts68[29]) / 2
    poly = np.vstack([jaw, cheek_r[None], pts68[28][None], cheek_l[None]])
    return poly.astype(np.int32)


def paint_mask(image_rgb: np.ndarray, pts68: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of the image with a plain mask painted over nose, mouth and chin, lightly shaded
    so the embedding sees cloth rather than a flat sticker."""
    out = image_rgb.copy()
    poly = mask_polygon(pts68)
    layer = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(layer, [poly], 255)
    shade = np.linspace(1.0, 0.85, out.shape[0], dtype=np.float32)[:, None, None]
    fill = (np.array(colour, np.float32)[None, None, :] * shade).clip(0, 255).astype(np.uint8)
    m = layer.astype(bool)
    out[m] = np.broadcast_to(fill, out.shape)[m]
    return out
