"""Data crossing the vision boundary: plain dataclasses of numbers and strings, picklable so worker
processes can send them back, and light enough for the roster and the live service to import."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class RosterPerson:
    """One enrolled person as the pipeline matches against them: their templates' embeddings."""
    person_id: str
    embeddings: NDArray[np.float32]   # (k, D)
    kinds: tuple[str, ...] = ()       # per row: "photo" | "masked" | "sighting"


@dataclass(frozen=True)
class FaceGeometry:
    """One person's learned face geometry and how sure it is (standard deviations), as the roster
    stores it and the distance fit uses it. A part no roll-call has measured yet (a face always
    masked has no IPD sample; one never seen on the heads' plane no eye height) is NaN, and the
    distance fit treats it as unknown."""
    ipd_m: float
    ipd_sd_m: float
    eye_offset_m: float
    eye_offset_sd_m: float
    sessions: int


@dataclass
class FaceResult:
    """One face in one frame: where it is, who it was named as, masked or not, where it stands."""
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
    embedding: NDArray[np.float32] | None = None
    # What this frame's fit measured of the named person's own IPD and eye height against their
    # row (geometry.fit.FrameFit), None where it could not: what the service learns from
    # (face_geometry.session_sample). Not part of `apel analyze`'s JSON.
    ipd_sample_m: float | None = None
    eye_offset_sample_m: float | None = None
    # A small JPEG of the face when it needs a person's answer (unknown or unsure), once per track
    # and once more for a clearly better view (vision.crops): what the operator and HR look at.
    crop_jpeg: bytes | None = None


@dataclass(frozen=True)
class DistancingAlert:
    """Two faces of a frame (indices into its faces, a < b) that have stood too close long enough,
    and surely enough, to alert (geometry.alerts): their estimated distance and its standard
    deviation (0 when unknown). `new`: this frame began the episode, the one frame that counts it."""
    a: int
    b: int
    distance_m: float
    sd_m: float
    new: bool = False


@dataclass
class FrameResult:
    """Everything the pipeline says about one frame: its faces, the pairs this frame alone places
    too close (`violations`), and the distancing alerts standing (`alerts`: what people are shown
    and what is counted)."""
    t_s: float
    faces: list[FaceResult] = field(default_factory=list)
    violations: list[tuple[int, int, float]] = field(default_factory=list)
    alerts: list[DistancingAlert] = field(default_factory=list)
    # The camera check (vision.camera_check): can this camera name its people, and what to change
    # if not; plain data for the consoles, None until the stream's first report.
    camera: dict[str, Any] | None = None
