"""The camera check: can this office's camera, as it is set up now, name its people?

Computed beside the pipeline on every office stream, from what it already has (the grey frame and
the faces it found), so an office learns within seconds of joining, and all through the apel,
whether its faces are large, lit and sharp enough, and what to change if not. Nothing is refused
on it: the apel runs whatever the answer, and the answer explains.

Cheap by construction: a frame is sampled at most every SAMPLE_EVERY_S (grey statistics on a tiny
grid of pixels, a small resize of at most MAX_FACES_SHARPNESS face boxes), and a report is made at the first
sample and then every REPORT_EVERY_S from the samples of the last WINDOW_S, so one odd frame (a
person walking past, a missed detection) does not flip the state.

The report is plain data (a dict) so it crosses the worker's pipe and reaches the consoles as JSON:
  state           "ok" | "warn" | "bad"
  advice          codes, most important first; their words are "camera.advice.<code>" in
                  attendance/locales/camera.json (id, en)
  width, height   the resolution actually received
  faces           faces in view (the most any recent frame held)
  median_face_px, smallest_face_px   face box widths (None without faces)
  under_floor     faces narrower than their floor; floor_px, masked_floor_px the floors
  brightness      mean grey level of the frame (0-255); face_brightness the faces' median
  sharpness       the faces' median sharpness (None without faces large enough to judge)
  t_s             the frame time the report was made at
"""
from __future__ import annotations

import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from attendance.vision.types import FrameResult

# The floors: faces narrower than this (detector box width, px) are seldom named by the default
# recogniser (dlib+faceres). Fitted by bench/bench_face_width.py (fit_floor: the smallest width
# from which on every wider face is identified at least 90% as often as at full size, without more
# wrong names) on ../shared/data faces/lfw10, fr_examples, openface and rmfd; below it faces are
# named less often and, from 40 px down, given wrong names and absent colleagues' names. Masked
# faces (masks/synthetic_pairs, rmfd with a painted tan mask) keep the same floor for now: at it
# they are identified as often as at full size with no wrong name; the same rule on the masked
# curve gives a wider floor only through two wrong names at one wider width in a small sample
# (docs/vision.md), too few to set a floor that would call most masked offices bad.
FLOOR_PX = 48
MASKED_FLOOR_PX = 48
FULL_HD_HEIGHT = 1080         # "send 1080p": a smaller frame could give its faces more pixels
NEAR_FLOOR = 1.5              # faces under this many floors are worth a larger frame too

SAMPLE_EVERY_S = 0.5
REPORT_EVERY_S = 2.0
WINDOW_S = 6.0
GAP_S = 3.0                   # frames further apart than this: the feed stopped and came back
STATS_POINTS = 64             # the frame's brightness is read on a grid this many points across

# Light, in grey levels (0-255) of the frame and of the faces: below DARK the picture is dark
# enough to cost landmarks and names; below VERY_DARK nobody can be named. Faces darker than
# BACKLIT_RATIO of a bright frame (BRIGHT_FRAME) are lit from behind (a window, the sky).
DARK = 55.0
VERY_DARK = 25.0
BACKLIT_RATIO = 0.6
BRIGHT_FRAME = 110.0

# Sharpness of a face: variance of the Laplacian of its box scaled to SHARP_SIDE px, over its own
# contrast. Chosen on ../shared/data faces/lfw10 + rmfd crops (this module's tests check it): real
# photos' 5th percentile 0.47, the same faces blurred by 2.5 px per 150 px of face median 0.34.
SHARP_SIDE = 32
BLURRY_BELOW = 0.4
MAX_FACES_SHARPNESS = 4       # the largest faces of a sample are judged, no more

STATES = ("ok", "warn", "bad")
ADVICE = ("more_light", "zoom_in", "closer", "send_1080p", "back_row", "backlit", "blurry", "no_faces")


@dataclass
class _Sample:
    t_s: float
    width: int
    height: int
    face_px: list[int]
    under: int
    brightness: float
    face_brightness: float | None
    sharpness: float | None


def face_sharpness(grey: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    """How sharp a face is, comparable across face sizes (see SHARP_SIDE); None when the box is
    outside the frame."""
    x, y, w, h = box
    crop = grey[max(0, y):max(0, y + h), max(0, x):max(0, x + w)]
    if crop.shape[0] < 4 or crop.shape[1] < 4:
        return None
    small = cv2.resize(crop, (SHARP_SIDE, SHARP_SIDE),
                       interpolation=cv2.INTER_AREA if crop.shape[1] >= SHARP_SIDE else cv2.INTER_LINEAR)
    small = small.astype(np.float32)
    return float(cv2.Laplacian(small, cv2.CV_32F).var() / (small.var() + 25.0))


def _sample(grey: np.ndarray, result: FrameResult) -> _Sample:
    height, width = grey.shape[:2]
    step = max(1, width // STATS_POINTS)
    brightness = float(grey[step // 2::step, step // 2::step].mean())
    faces = sorted(result.faces, key=lambda f: -f.box[2])
    widths = [int(f.box[2]) for f in faces]
    under = sum(f.box[2] < (MASKED_FLOOR_PX if f.mask else FLOOR_PX) for f in faces)
    lights, sharp = [], []
    for k, f in enumerate(faces):
        x, y, w, h = f.box
        every = max(1, w // 16)
        patch = grey[max(0, y):max(0, y + h):every, max(0, x):max(0, x + w):every]
        if patch.size:
            lights.append(float(patch.mean()))
        # A small face is soft anyway (the floor says so); the largest few speak for the picture.
        if k < MAX_FACES_SHARPNESS and w >= (MASKED_FLOOR_PX if f.mask else FLOOR_PX):
            s = face_sharpness(grey, f.box)
            if s is not None:
                sharp.append(s)
    return _Sample(result.t_s, width, height, widths, under, brightness,
                   float(np.median(lights)) if lights else None, float(np.median(sharp)) if sharp else None)


def judge(samples: list[_Sample]) -> dict[str, Any]:
    """The report of a window of samples (the latest last); see the module's docstring."""
    last = samples[-1]
    faces = max(len(s.face_px) for s in samples)
    # The frames that held the most faces speak for the room (a frame that missed some says less).
    full = [s for s in samples if len(s.face_px) == faces]
    pooled = [w for s in full for w in s.face_px]
    median = int(np.median(pooled)) if pooled else None
    smallest = int(np.median([min(s.face_px) for s in full])) if faces else None
    under = int(round(float(np.median([s.under for s in full])))) if faces else 0
    brightness = float(np.median([s.brightness for s in samples]))
    lit = [s.face_brightness for s in samples if s.face_brightness is not None]
    face_light = float(np.median(lit)) if lit else None
    sharp_all = [s.sharpness for s in samples if s.sharpness is not None]
    sharpness = float(np.median(sharp_all)) if sharp_all else None

    advice: list[str] = []
    bad = False
    if brightness < DARK or (face_light is not None and face_light < DARK):
        advice.append("more_light")
        bad = bad or brightness < VERY_DARK
    if faces == 0:
        # An empty room, or faces smaller than the detector looks for: a larger frame helps the latter.
        advice += ["no_faces", "send_1080p"] if last.height < FULL_HD_HEIGHT else ["no_faces"]
    else:
        most_small = under * 2 > faces
        near = median is not None and median < NEAR_FLOOR * FLOOR_PX
        if most_small:
            advice += ["zoom_in", "closer"]
            bad = True
        if (under or near) and last.height < FULL_HD_HEIGHT:
            advice.append("send_1080p")
        if under and not most_small:
            advice.append("back_row")
        if face_light is not None and brightness >= BRIGHT_FRAME and face_light < BACKLIT_RATIO * brightness:
            advice.append("backlit")
        if sharpness is not None and sharpness < BLURRY_BELOW:
            advice.append("blurry")
    state = "bad" if bad else ("warn" if advice else "ok")
    return {"state": state, "advice": advice, "width": last.width, "height": last.height, "faces": faces,
            "median_face_px": median, "smallest_face_px": smallest, "under_floor": under,
            "floor_px": FLOOR_PX, "masked_floor_px": MASKED_FLOOR_PX, "brightness": round(brightness, 1),
            "face_brightness": None if face_light is None else round(face_light, 1),
            "sharpness": None if sharpness is None else round(sharpness, 3), "t_s": round(last.t_s, 3)}


class CameraCheck:
    """One stream's check: samples its frames now and then, reports every REPORT_EVERY_S."""

    def __init__(self) -> None:
        self.samples: deque[_Sample] = deque()
        self.report: dict[str, Any] | None = None
        self._last_sample = -float("inf")
        self._last_report = -float("inf")

    def update(self, grey: np.ndarray, result: FrameResult) -> dict[str, Any] | None:
        """The report to send with this frame: a new one when due, else the last one (None before the
        first). A stream that starts over (time going backwards, a gap: the office rejoined) or changes
        its resolution (the camera was set up anew) starts the window over, and reports at once."""
        t = result.t_s
        last = self.samples[-1] if self.samples else None
        if last is not None and (t < last.t_s or t - last.t_s > GAP_S
                                 or (last.width, last.height) != (grey.shape[1], grey.shape[0])):
            self.samples.clear()
            self._last_sample = self._last_report = -float("inf")
        report_due = t - self._last_report >= REPORT_EVERY_S
        if report_due or t - self._last_sample >= SAMPLE_EVERY_S:
            self._last_sample = t
            self.samples.append(_sample(grey, result))
            while self.samples and t - self.samples[0].t_s > WINDOW_S:
                self.samples.popleft()
        if report_due:
            self._last_report = t
            self.report = judge(list(self.samples))
        return self.report


_CHECKS: weakref.WeakKeyDictionary[object, CameraCheck] = weakref.WeakKeyDictionary()


def attach(result: FrameResult, grey: np.ndarray, owner: object) -> FrameResult:
    """Set `result.camera` from `owner`'s (the pipeline's) check; the pipeline calls this last."""
    check = _CHECKS.get(owner)
    if check is None:
        check = _CHECKS[owner] = CameraCheck()
    result.camera = check.update(grey, result)
    return result
