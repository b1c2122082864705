"""Masked faces compared on what the mask leaves as well as on what they look like: a masked
face is covered again by a plain mask before it is compared, so the mask a person wears matters
less.

Why: a mask covers nose, mouth and chin, and the networks see it: the same person in a blue
surgical mask and in a batik cloth mask lie far apart, and the masked variants enrolment paints on
its photos (plain fills in three colours, faces.MASK_COLOURS_RGB) cover only the looks they were
painted in; against a mask of another look, masked faces were given other people's names. A face
the mask classifier calls masked is therefore covered, from its own 68 landmarks, by a plain fill
of a slightly enlarged `faces.mask_polygon` (so the real mask's edge stays under it), and its
distance to a person is the mean of (as it is, to their photos) and (covered, to their masked
variants), judged by limits fitted for it (covered_thresholds). It gives far fewer wrong names
and names far fewer masked faces (BENCHMARKS.md, "Masked faces, unseen mask styles")."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import cv2
import dlib
import numpy as np
from numpy.typing import NDArray

from attendance.vision.faces import MASK_COLOURS_RGB, face_chip, landmarks68, mask_polygon
from attendance.vision.recognise.recognisers import MODELS_DIR, Gallery, MatchThresholds

# The cover is faces.mask_polygon scaled about its centre by this much: a worn mask reaches a
# little past the jaw the 68-point model finds under it and past the cheek points.
COVER_SCALE = 1.12
# The cover's colour: one (each colour is another embedding of every masked face in view); the
# first of enrolment's mask colours, surgical blue.
COVER_COLOUR: tuple[int, int, int] = MASK_COLOURS_RGB[0]


def cover_polygon(pts68: np.ndarray) -> NDArray[np.int32]:
    poly = mask_polygon(pts68).astype(np.float32)
    centre = poly.mean(axis=0)
    out: NDArray[np.int32] = np.round((poly - centre) * COVER_SCALE + centre).astype(np.int32)
    return out


def cover_mask(image_rgb: np.ndarray, pts68: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of the image with nose, mouth and chin covered by a plain fill of `colour`, lightly
    shaded top to bottom (as faces.paint_mask, over the enlarged outline)."""
    out = image_rgb.copy()
    layer = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(layer, [cover_polygon(pts68)], 255)
    shade = np.linspace(1.0, 0.85, out.shape[0], dtype=np.float32)[:, None, None]
    fill = (np.array(colour, np.float32)[None, None, :] * shade).clip(0, 255).astype(np.uint8)
    m = layer.astype(bool)
    out[m] = np.broadcast_to(fill, out.shape)[m]
    return out


def covered_chips(image_rgb: np.ndarray, box: tuple[int, int, int, int], shape5: dlib.full_object_detection,
                  chip: tuple[int, float], colours: Sequence[tuple[int, int, int]] = (COVER_COLOUR,)
                  ) -> list[np.ndarray]:
    """The face in `box` covered in each of `colours` (default: COVER_COLOUR), aligned by
    `shape5` (its 5 landmarks) into a chip of (size, padding) `chip`. The 68 landmarks come from
    this very face, mask and all: the cover must sit where its mask is."""
    pts = landmarks68(image_rgb, box)
    return [face_chip(cover_mask(image_rgb, pts, c), shape5, *chip) for c in colours]


def _fitted() -> dict[str, Any]:
    """The limits stored in models/thresholds.json, by key ({} when there is no file)."""
    p = MODELS_DIR / "thresholds.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def covered_thresholds(backend: str) -> MatchThresholds | None:
    """The accept and margin fitted for covered masked faces of `backend`'s embeddings
    (models/thresholds.json, key "<backend> covered", fitted by bench/bench_masked_styles.py --fit
    on mask styles and people apart from those it reports), or None: not fitted for this
    recogniser, whose masked faces are then compared as they are."""
    return MatchThresholds.load(f"{backend} covered") if f"{backend} covered" in _fitted() else None


def masked_thresholds(backend: str) -> MatchThresholds | None:
    """The accept and margin for a masked face compared as it is (no covered view), key "<backend>
    masked" in models/thresholds.json (fitted by bench/bench_masked_styles.py --fit-masked on mask
    styles and people apart from those it reports), or None: the recogniser's own limits. For a
    recogniser without covered limits whose masked faces still name a wrong person more often than
    its unmasked ones (ArcFace on East-Asian faces). Names by elimination keep the recogniser's own
    elimination limits where the masked ones have none."""
    fitted = _fitted()
    if f"{backend} masked" not in fitted:
        return None
    own = MatchThresholds.load(f"{backend} masked")
    if own.elimination_accept is None and backend in fitted:
        own = replace(own, elimination_accept=MatchThresholds.load(backend).elimination_accept)
    return own


def covered_distances(gallery: Gallery, views: np.ndarray, covered_views: np.ndarray) -> NDArray[np.float32]:
    """Per person, the distance of a masked track: the mean of (its views' mean embedding to the
    person's photos) and (its covered views' mean to the person's masked variants); inf for a
    person without one of them. Compare with `covered_thresholds`, not the recogniser's own."""
    plain = gallery.person_distances(np.asarray(views, np.float32).mean(axis=0, keepdims=True), photos_only=True)[0]
    cov = gallery.person_distances(np.asarray(covered_views, np.float32).mean(axis=0, keepdims=True),
                                   masked_only=True)[0]
    out: NDArray[np.float32] = ((plain + cov) / 2).astype(np.float32)
    return out
