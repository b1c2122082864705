"""Small face crops of the faces the pipeline could not name with confidence, so a person in the room
(the office operator, the leader) or HR after the apel can say who it was.

A crop is cut once per unknown track, and at most once more when the face is later seen clearly
larger (the person stepped closer, the first look was a small face): a picture good enough to
recognise a colleague by, at a bounded cost per track (a JPEG encode and a few kilobytes across the
worker's pipe) rather than one per frame. Faces already named confidently get none: they need no
person's answer, and cutting their pictures would keep biometric data no feature uses.
"""
from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from attendance.vision.types import FaceResult, FrameResult

MAX_SIDE_PX = 160          # the crop's longer side at most (the picker's thumbnails are smaller)
MARGIN = 0.35              # context around the face box: hair and chin help a person recognise someone
JPEG_QUALITY = 80
BETTER_RATIO = 1.4         # a second crop only for a face at least this much wider than the first
UNCERTAIN_BELOW = 0.6      # a named face below this confidence is worth a person's look too
MAX_TRACKS = 512           # per pipeline: tracks remembered (oldest forgotten first)


@dataclass
class _Cut:
    width: int        # face box width of the crop sent
    again: bool       # a better crop was sent already


_STATE: weakref.WeakKeyDictionary[object, OrderedDict[int, _Cut]] = weakref.WeakKeyDictionary()


def needs_person(face: FaceResult, uncertain_below: float = UNCERTAIN_BELOW) -> bool:
    """An unknown face, or one named with too little confidence for the roll-call to trust alone."""
    return face.person_id is None or face.confidence < uncertain_below


def cut(frame_bgr: np.ndarray, box: tuple[int, int, int, int], max_side: int = MAX_SIDE_PX) -> bytes | None:
    """The face box with a margin, scaled down to `max_side`, as JPEG; None when the box is outside."""
    height, width = frame_bgr.shape[:2]
    x, y, w, h = box
    m = int(round(MARGIN * max(w, h)))
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(width, x + w + m), min(height, y + h + m)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    region = frame_bgr[y0:y1, x0:x1]
    scale = min(1.0, max_side / max(region.shape[:2]))
    if scale < 1.0:
        size = (max(1, int(region.shape[1] * scale)), max(1, int(region.shape[0] * scale)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(region), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return bytes(buf) if ok else None


def attach(result: FrameResult, frame_bgr: np.ndarray, owner: object) -> FrameResult:
    """Set `crop_jpeg` on the faces of this frame that need a person's answer and have no crop yet
    (or a clearly better view now). `owner` is the pipeline: its tracks' ids are its own."""
    seen = _STATE.get(owner)
    if seen is None:
        seen = OrderedDict()
        _STATE[owner] = seen
    for face in result.faces:
        if not needs_person(face):
            continue
        prev = seen.get(face.track_id)
        width = int(face.box[2])
        if prev is not None and (prev.again or width < prev.width * BETTER_RATIO):
            continue
        jpeg = cut(frame_bgr, face.box)
        if jpeg is None:
            continue
        face.crop_jpeg = jpeg
        seen[face.track_id] = _Cut(width, again=prev is not None)
        seen.move_to_end(face.track_id)
        while len(seen) > MAX_TRACKS:
            seen.popitem(last=False)
    return result
