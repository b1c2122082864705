"""Data crossing the vision boundary (contract 2): plain dataclasses of numbers and strings,
picklable so worker processes can send them back."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from attendance.vision.config import check_row_lines

from attendance.vision.geometry.face_geometry import FaceGeometry


BACK_ROW_RANGE_M = (1.0, 30.0)   # plausible distances of an apel's back row from the camera
CAMERA_HEIGHT_RANGE_M = (0.5, 20.0)   # plausible camera heights above the floor
EYE_HEIGHT_RANGE_M = (0.8, 2.2)       # plausible average eye heights of standing staff
# Average eye height of standing Indonesian adults, men and women together (stature ~1.65 m and
# ~1.53 m, eyes ~0.11 m below the top of the head); an office of one sex or with many in caps
# may set its own.
DEFAULT_EYE_HEIGHT_M = 1.48


# The recogniser the product uses unless told otherwise (recognise.FusedRecogniser's name).
DEFAULT_RECOGNISER = "dlib+faceres"


@dataclass(frozen=True)
class RosterPerson:
    person_id: str
    embeddings: np.ndarray          # (k, D) float32
    kinds: tuple[str, ...] = ()     # per row: "photo" | "masked" | "sighting"


@dataclass
class PipelineConfig:
    """Per-office settings. Defaults are what the benchmarks in BENCHMARKS.md ran with."""
    hfov_deg: float = 70.0              # camera's horizontal field of view (20-170)
    min_distance_m: float = 1.0         # distancing rule of the office
    ipd_m: float = 0.063                # mean interpupillary distance used for depth (calibratable)
    people_in_rows: bool = True         # an apel formation: refine depths by rows (distance.positions_and_violations)
    min_face_px: int = 32               # smallest face to detect (box width, pixels) ...
    back_row_m: float | None = None     # ... unless the back row's distance (m) is known: then from it
    camera_height_m: float | None = None  # the camera's height above the floor (m), if measured: fixes the heads' plane
    eye_height_m: float = DEFAULT_EYE_HEIGHT_M  # the staff's average eye height (m), with camera_height_m
    row_lines_m: tuple[float, ...] | None = None  # the rows' floor lines (m from the camera), if measured
    # What earlier roll-calls learned of each person's IPD and eye height (person id -> geometry,
    # face_geometry.py): a face named as one of them is placed by their own face, not the average.
    face_geometry: dict[str, FaceGeometry] | None = None
    max_detect_pixels: float = 9e6      # cap on the HOG work image
    detect_interval_s: float = 2.0      # full-frame detection this often while the scene changes
    detect_max_interval_s: float = 8.0  # ... backing off to this while it does not (tracking between)
    full_scale_every: int = 4           # every n-th detection looks for faces down to min_face_px
    min_frames_between_detections: int = 2  # even when frames come further apart than the interval
    embed_interval_s: float = 0.4       # an unnamed track gets at most one embedding per this many s
    confirm_interval_s: float = 2.0     # a named track gets its further views this slowly
    views_per_track: int = 4            # embeddings a track collects before it stops (while named)
    max_embeds_per_frame: int = 8       # budget: embeddings computed per processed frame
    max_confirms_per_frame: int = 2     # ... of which for tracks already named
    max_embeds_first_frame: int = 4     # ... on a stream's first frame (answer a joining office fast)
    quick_first_frame: bool = True      # a live feed's first frame: max_embeds_first_frame, no CNN check or masked-face filter
    busy_gap_s: float = 1.5             # frames further apart than this: the worker is behind
    retry_unknown_s: float = 2.0        # an unnamed track that has all its views tries again this often
    track_max_age_s: float = 2.0        # a track unseen this long is dropped
    # A view this far from its track's mean starts a new track; None: 15/16 of the recogniser's
    # fitted accept distance (dlib 0.6, dlib+faceres 1.03: about the 99th percentile of distances
    # between two photos of one Western person under each; each recogniser has its own scale).
    switch_distance: float | None = None
    accept: float | None = None         # recognition thresholds; None = fitted (models/thresholds.json)
    margin: float | None = None
    mask_threshold: float = 0.5
    recogniser: str = DEFAULT_RECOGNISER  # recognise.make_recogniser: "dlib+faceres", "dlib" or an ONNX model path
    detector_use_haar: bool = True
    detector_use_eyes: bool = True
    detector_use_blazeface: bool = False  # stills: BlazeFace too (large turned/masked faces; detect.py)

    def for_stills(self) -> PipelineConfig:
        """This config for still images, maybe each of another scene (`apel analyze` on images):
        every image gets a whole look and the full embedding budget at once, faces down to 20 px
        (nobody waits on a still), and BlazeFace for large turned or masked faces. masks/scenes:
        a masked face found in 90.8% of images (90.0% by eye: a few of the faces are not faces),
        against 65.2% with the video look (BENCHMARKS.md, Masks); one false face added on
        groups/dlib_annotated (a loose copy of a face, by BlazeFace's look at half size)."""
        return replace(self, detect_interval_s=1e-6, detect_max_interval_s=1e-6, min_frames_between_detections=1,
                       quick_first_frame=False, busy_gap_s=float("inf"), full_scale_every=1,
                       min_face_px=min(self.min_face_px, 20), detector_use_blazeface=True)

    def validate(self) -> None:
        if not 20.0 <= self.hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg must be between 20 and 170 degrees, got {self.hfov_deg}")
        if not 0.0 < self.min_distance_m <= 20.0:
            raise ValueError(f"min_distance_m must be in (0, 20], got {self.min_distance_m}")
        if not 0.0 < self.detect_interval_s <= self.detect_max_interval_s:
            raise ValueError(f"need 0 < detect_interval_s <= detect_max_interval_s, got {self.detect_interval_s}, "
                             f"{self.detect_max_interval_s}")
        if self.full_scale_every < 1:
            raise ValueError(f"full_scale_every must be at least 1, got {self.full_scale_every}")
        lo, hi = BACK_ROW_RANGE_M
        if self.back_row_m is not None and not lo <= self.back_row_m <= hi:
            raise ValueError(f"back_row_m must be between {lo:g} and {hi:g} metres, got {self.back_row_m}")
        lo, hi = CAMERA_HEIGHT_RANGE_M
        if self.camera_height_m is not None and not lo <= self.camera_height_m <= hi:
            raise ValueError(f"camera_height_m must be between {lo:g} and {hi:g} metres, got {self.camera_height_m}")
        lo, hi = EYE_HEIGHT_RANGE_M
        if not lo <= self.eye_height_m <= hi:
            raise ValueError(f"eye_height_m must be between {lo:g} and {hi:g} metres, got {self.eye_height_m}")
        if self.row_lines_m is not None:
            try:
                check_row_lines(self.row_lines_m)
            except ValueError as e:
                raise ValueError(f"row_lines_m: {e}") from None
        if self.min_face_px < 16:
            raise ValueError(f"min_face_px must be at least 16, got {self.min_face_px}")


@dataclass
class FaceResult:
    box: tuple[int, int, int, int]
    track_id: int
    person_id: str | None
    confidence: float
    distance: float
    mask: bool
    mask_p: float
    position_m: tuple[float, float, float]
    # The track's views averaged, in the frames where it was just embedded (a few per track),
    # else None: what HR enrols when they confirm who an unknown face was (review -> "sighting"
    # template), so templates grow from the office's own camera.
    embedding: np.ndarray | None = None
    # What this frame's fit measured of the named person's own IPD and eye height against their
    # row (distance.FrameFit), None where it could not: what the service learns from
    # (face_geometry.session_sample). Not part of `apel analyze`'s JSON.
    ipd_sample_m: float | None = None
    eye_offset_sample_m: float | None = None


@dataclass
class FrameResult:
    t_s: float
    faces: list[FaceResult] = field(default_factory=list)
    violations: list[tuple[int, int, float]] = field(default_factory=list)
