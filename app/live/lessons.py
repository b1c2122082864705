"""What a running apel measures of each named person's face geometry, kept in memory until the apel
closes or the service stops: then it is stored as that apel's one lesson (learned_geometry.learn_from_apel)."""
from __future__ import annotations

from collections import deque

from attendance.vision.types import FrameResult

# Per person and apel, the last this many frames' measurements of their face geometry are kept
# (memory stays bounded however long the apel runs).
GEOMETRY_FRAMES_PER_APEL = 60

Sample = tuple[float | None, float | None]   # (IPD, eye offset) measured in one frame


class GeometryLessons:
    def __init__(self) -> None:
        self._frames: dict[tuple[int, int], deque[Sample]] = {}   # (apel, employee id) -> samples

    def keep(self, assembly_id: int, result: FrameResult) -> None:
        for face in result.faces:
            if face.person_id is None or (face.ipd_sample_m is None and face.eye_offset_sample_m is None):
                continue
            key = (assembly_id, int(face.person_id))
            frames = self._frames.get(key)
            if frames is None:
                frames = self._frames[key] = deque(maxlen=GEOMETRY_FRAMES_PER_APEL)
            frames.append((face.ipd_sample_m, face.eye_offset_sample_m))

    def apels(self) -> list[int]:
        return sorted({aid for aid, _ in self._frames})

    def take(self, assembly_id: int) -> dict[int, list[Sample]]:
        """The apel's samples per employee, forgotten here: a lesson is taken once."""
        keys = [k for k in self._frames if k[0] == assembly_id]
        return {emp: list(self._frames.pop((aid, emp))) for aid, emp in keys}
