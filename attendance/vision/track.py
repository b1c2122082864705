"""Tracks: one per face seen over time, so a person is recognised from a few good views and
named by a vote over the track rather than frame by frame. Memory per track is bounded."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from attendance.vision.detect.boxes import Box, iou

MAX_VIEWS = 12


@dataclass
class Track:
    track_id: int
    box: Box
    first_t: float
    last_t: float
    template: np.ndarray | None = None      # small grey patch for frame-to-frame following
    embeddings: deque[NDArray[np.float32]] = field(default_factory=lambda: deque(maxlen=MAX_VIEWS))
    last_embed_t: float = -1e9
    person: int | None = None
    confidence: float = 0.0
    distance: float = float("inf")
    mask_p: float = 0.5
    mask_views: int = 0
    depth_m: float | None = None
    hits: int = 1
    # Set when the face no longer looks like the one the track's name came from (someone else
    # may stand there now): the next frame embeds it whatever the schedule or the load.
    suspect: bool = False

    def add_depth(self, z: float) -> None:
        self.depth_m = z if self.depth_m is None else 0.7 * self.depth_m + 0.3 * z

    def add_mask(self, p: float) -> None:
        self.mask_views += 1
        a = max(0.25, 1.0 / self.mask_views)
        self.mask_p = (1 - a) * self.mask_p + a * p


def associate(tracks: list[Track], boxes: list[Box], min_iou: float = 0.15) -> tuple[list[tuple[int, int]], list[int]]:
    """Match detections to tracks: Hungarian on 1 - IoU blended with centre distance (in face
    widths), gated. Returns (track index, box index) pairs and unmatched box indices."""
    if not tracks or not boxes:
        return [], list(range(len(boxes)))
    cost = np.ones((len(tracks), len(boxes)))
    for i, t in enumerate(tracks):
        tc = np.array([t.box[0] + t.box[2] / 2, t.box[1] + t.box[3] / 2])
        for j, b in enumerate(boxes):
            bc = np.array([b[0] + b[2] / 2, b[1] + b[3] / 2])
            centre = np.linalg.norm(tc - bc) / max(t.box[2], b[2])
            size = max(t.box[2], b[2]) / max(1, min(t.box[2], b[2]))
            ov = iou(t.box, b)
            if (ov >= min_iou or centre < 0.5) and size < 1.8:
                cost[i, j] = 1.0 - ov + 0.5 * centre
            else:
                cost[i, j] = 1e6
    rows, cols = linear_sum_assignment(cost)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e5]
    matched = {c for _, c in pairs}
    return pairs, [j for j in range(len(boxes)) if j not in matched]


def patch(grey: np.ndarray, box: Box) -> np.ndarray | None:
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    p = grey[y0:y + h, x0:x + w]
    return p.copy() if p.size and p.shape[0] >= 8 and p.shape[1] >= 8 else None


def likeness(grey: np.ndarray, track: Track, box: Box) -> float:
    """How much the face at `box` still looks like the track's template (the view its name
    came from): the best normalised cross-correlation of the template within half a face of
    `box`, so a detector's box a few pixels off the followed one does not count as a change.
    1 = the same pixels; two different people score well below REVERIFY_LIKENESS."""
    if track.template is None:
        return 0.0
    found = follow(grey, replace(track, box=box), min_score=-1.0)
    return found[1] if found is not None else 0.0


def follow(grey: np.ndarray, track: Track, min_score: float = 0.55) -> tuple[Box, float] | None:
    """Find the track's face near its last box by normalised cross-correlation, cheap next to a
    detection: people in an apel stand still, so this bridges full detections.
    Returns the box and the match score."""
    if track.template is None:
        return None
    x, y, w, h = track.box
    m = max(8, w // 2)
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(grey.shape[1], x + w + m), min(grey.shape[0], y + h + m)
    region = grey[y0:y1, x0:x1]
    th, tw = track.template.shape
    if region.shape[0] < th or region.shape[1] < tw:
        return None
    res = cv2.matchTemplate(region, track.template, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    if score < min_score:
        return None
    return (x0 + loc[0], y0 + loc[1], w, h), float(score)
