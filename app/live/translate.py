"""Vision's answer for one frame (a FrameResult) in the two shapes the rest of the apel takes: sightings
for the attendance records and an overlay for the leader's mosaic. Pure functions: no database, no I/O."""
from __future__ import annotations

from datetime import UTC, datetime

from app.live.streams import StreamInfo
from attendance.assemblies.sightings import Sighting
from attendance.vision.types import FrameResult
from media.interfaces import Overlay, OverlayBox

Colour = tuple[int, int, int]
GREEN: Colour = (60, 200, 60)
RED: Colour = (40, 40, 230)
ORANGE: Colour = (0, 165, 255)
GREY: Colour = (170, 170, 170)


def _in_violation(result: FrameResult) -> set[int]:
    return {i for i, _, _ in result.violations} | {j for _, j, _ in result.violations}


def sightings_from_result(info: StreamInfo, result: FrameResult) -> list[Sighting]:
    """One sighting per face, unknown faces included (they become review items)."""
    in_violation = _in_violation(result)
    at = datetime.fromtimestamp(result.t_s, UTC)
    return [Sighting(
        employee_id=int(face.person_id) if face.person_id is not None else None,
        track_key=f"{info.track_prefix}-{face.track_id}",
        at=at,
        confidence=float(min(1.0, max(0.0, face.confidence))),
        mask=bool(face.mask),
        distancing_violation=i in in_violation,
        embedding=face.embedding,
        embedding_backend=info.backend,
    ) for i, face in enumerate(result.faces)]


def overlay_from_result(info: StreamInfo, result: FrameResult, frame_size: tuple[int, int] | None) -> Overlay:
    """Boxes (green: named, orange: named but unmasked, red: too close, grey: unknown), lines between
    the people too close, and a count. `frame_size` (w, h): the frame the boxes were found in."""
    in_violation = _in_violation(result)
    boxes = []
    for i, face in enumerate(result.faces):
        name = info.names.get(face.person_id, face.person_id) if face.person_id else "?"
        label = f"{name}{' [mask]' if face.mask else ''}"
        color = RED if i in in_violation else (GREEN if face.person_id else GREY)
        if face.person_id and not face.mask:
            color = ORANGE if i not in in_violation else RED
        x, y, w, h = (int(v) for v in face.box)
        boxes.append(OverlayBox((x, y, w, h), label, color))
    lines: list[tuple[tuple[int, int], tuple[int, int], Colour]] = []
    for i, j, _ in result.violations:
        if i < len(result.faces) and j < len(result.faces):
            a, b = result.faces[i].box, result.faces[j].box
            lines.append(((a[0] + a[2] // 2, a[1] + a[3] // 2), (b[0] + b[2] // 2, b[1] + b[3] // 2), RED))
    known = sum(1 for f in result.faces if f.person_id)
    return Overlay(boxes=boxes, lines=lines, caption=f"{known}/{len(result.faces)} recognised",
                   frame_size=frame_size)
