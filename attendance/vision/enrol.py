"""Turning one enrolment photo into face templates, strictly: a bad template fails every roll-call after.

Enrolment photos are taken once, under HR's eye, so this is strict: exactly one clear face, big
enough and sharp enough to be a good template; anything else is rejected with a code the HTTP
layer translates. Decoding and size limits are the caller's."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from attendance.vision.config import DEFAULT_RECOGNISER, DLIB_BACKEND
from attendance.vision.faces import (
    MASK_COLOURS_RGB,
    face_chip,
    landmarks5,
    landmarks68,
    paint_mask,
    recogniser_chip,
    sharpness,
)
from attendance.vision.recognise import dlib_models
from attendance.vision.recognise.recognisers import Recogniser, make_recogniser

BACKEND = DLIB_BACKEND
# Sharpness (variance of the Laplacian on the 150x150 aligned chip) below which a photo is too
# blurry. Fitted by attendance/vision/training/fit_blur.py on faces/lfw10 + faces/rmfd: real photos
# min 10.6 (median 52); the same photos blurred by a 2.5 px Gaussian (per 150 px of face) max 9.6.
MIN_SHARPNESS = 10.0
# A second face smaller than this fraction of the largest is a bystander in the background
# (LFW has many); a comparable one means the photo shows several people.
BYSTANDER_RATIO = 0.6


class FaceRejected(ValueError):
    """An enrolment photo that cannot become a template; `code` is stable, `message` English."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class EnrolledFace:
    embedding: np.ndarray
    quality: float
    box: tuple[int, int, int, int]
    masked_embeddings: list[np.ndarray] = field(default_factory=list)
    backend: str = BACKEND


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise FaceRejected("bad_image", "not an image (empty or not an array)")
    if image.dtype != np.uint8:
        raise FaceRejected("bad_image", f"expected 8-bit pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    raise FaceRejected("bad_image", f"unsupported image shape {image.shape}")


def _hog_on_padded(image_rgb: NDArray[np.uint8], pad_frac: float, longest: tuple[int, int],
                   threshold: float) -> list[tuple[tuple[int, int, int, int], float]]:
    h, w = image_rgb.shape[:2]
    pad = int(pad_frac * max(h, w))
    padded = cv2.copyMakeBorder(image_rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    side = max(padded.shape[:2])
    scale = min(1.0, longest[1] / side) if side > longest[1] else max(1.0, longest[0] / side)
    work = padded if scale == 1.0 else cv2.resize(
        padded, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rects, scores, _ = dlib_models.hog_detector().run(work, 1, threshold)
    found = []
    for r, s in zip(rects, scores, strict=True):
        x, y = r.left() / scale - pad, r.top() / scale - pad
        bw, bh = r.width() / scale, r.height() / scale
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
        if x1 - x0 < 0.6 * bw or y1 - y0 < 0.6 * bh:
            continue  # mostly outside the photo: a detection in the padding
        found.append(((int(round(x)), int(round(y)), int(round(bw)), int(round(bh))), float(s)))
    return found


def detect_enrolment_faces(image_rgb: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """Faces as ((x, y, w, h), score) in image coordinates, largest first.

    The photo is padded with grey (tight crops leave HOG no context) and scaled so the face lands
    in HOG's comfortable range. If nothing is found at the usual threshold, a second, lenient
    pass at a small scale takes the single best candidate: that recovers most tight crops
    (docs/vision.md) without inventing second faces."""
    found = _hog_on_padded(image_rgb, 0.3, (400, 1000), -0.2)
    if not found:
        lenient = _hog_on_padded(image_rgb, 0.5, (250, 1000), -1.0)
        found = sorted(lenient, key=lambda f: -f[1])[:1]
    found.sort(key=lambda f: -f[0][2])
    return found


def enrol_face(image_rgb: np.ndarray, *, min_face_px: int = 80, masked_variants: bool = True,
               recogniser: str | Recogniser = DEFAULT_RECOGNISER) -> EnrolledFace:
    """One photo -> one template (plus masked variants). Raises FaceRejected. `recogniser` is a
    make_recogniser spec ("dlib+faceres", "dlib", an ONNX model path) or a Recogniser; the live
    pipeline must use the same one, or the templates never match."""
    img = _as_rgb(image_rgb)
    faces = detect_enrolment_faces(img)
    if not faces:
        raise FaceRejected("no_face", "no face found in the photo")
    (box, _score) = faces[0]
    if len(faces) > 1 and faces[1][0][2] >= BYSTANDER_RATIO * box[2]:
        raise FaceRejected("several_faces", f"{len(faces)} faces in the photo; enrol one person per photo")
    if box[2] < min_face_px:
        raise FaceRejected("face_too_small", f"the face is {box[2]} px wide; at least {min_face_px} px is needed")
    # Landmarks work on the padded image so a box past the edge (tight crops) still aligns.
    pad = max(0, -box[0], -box[1], box[0] + box[2] - img.shape[1], box[1] + box[3] - img.shape[0])
    work = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else img
    wbox = (box[0] + pad, box[1] + pad, box[2], box[3])
    shape = landmarks5(work, wbox)
    chip = face_chip(work, shape)
    sharp = sharpness(chip)
    if sharp < MIN_SHARPNESS:
        raise FaceRejected("too_blurry", f"the photo is too blurry (sharpness {sharp:.0f}, need {MIN_SHARPNESS:.0f})")
    rec = make_recogniser(recogniser) if isinstance(recogniser, str) else recogniser
    chips = [recogniser_chip(work, shape, rec.chip, chip)]
    if masked_variants:
        pts = landmarks68(work, wbox)
        chips += [face_chip(paint_mask(work, pts, c), shape, *rec.chip) for c in MASK_COLOURS_RGB]
    embs = rec.embed(chips)
    quality = float(np.clip(0.5 * min(1.0, box[2] / 160) + 0.5 * min(1.0, sharp / (5 * MIN_SHARPNESS)), 0.0, 1.0))
    x, y, bw, bh = box
    x0, y0 = max(0, x), max(0, y)
    clipped = (x0, y0, min(img.shape[1], x + bw) - x0, min(img.shape[0], y + bh) - y0)
    return EnrolledFace(embedding=embs[0], quality=quality, box=clipped,
                        masked_embeddings=list(embs[1:]), backend=rec.name)
