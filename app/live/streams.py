"""One office's video stream in a live apel, as the join set it up: who it is, and what became of its frames."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class StreamInfo:
    """Created at the office's join; the bridge counts its frames, translation names its tracks."""

    stream_key: str                       # "<apel id>/<office code>", media's opaque key
    assembly_id: int
    office_id: int
    assembly_office_id: int
    office_code: str
    track_prefix: str                     # unique per join: the apel's tracks of this join start with it
    names: dict[str, str]                 # person id -> name, for the overlays
    joined_at: float                      # monotonic, at the HTTP join
    backend: str = "dlib+faceres"         # the live recogniser's: the backend of the embeddings its sightings carry
    joined_wall: float = 0.0              # epoch seconds, at the HTTP join
    first_result_at: float | None = None  # monotonic, first analysed frame back from vision
    results: int = 0
    submitted: int = 0
    not_submitted: int = 0                # sampled frames replaced by a newer one before a worker was free
    camera: dict[str, Any] | None = None  # the latest camera check (attendance.vision.camera_check)
