"""Vision's answer for one frame (a FrameResult) in the two shapes the rest of the apel takes: sightings
for the attendance records and an overlay for the leader's mosaic. Pure functions: no database, no I/O."""
from __future__ import annotations

from datetime import UTC, datetime

from app.live.streams import StreamInfo
from attendance.assemblies.counts import alert_marks
from attendance.assemblies.sightings import Sighting
from attendance.i18n import t
from attendance.vision.types import FrameResult
from media.interfaces import MediaTexts, Overlay, OverlayBox

Colour = tuple[int, int, int]
GREEN: Colour = (60, 200, 60)
RED: Colour = (40, 40, 230)
ORANGE: Colour = (0, 165, 255)
GREY: Colour = (170, 170, 170)


def _in_alert(result: FrameResult) -> set[int]:
    """Faces in a standing distancing alert (FrameResult.alerts: sustained and sure), not the
    pairs one frame alone places too close, which flicker at the limit."""
    return {al.a for al in result.alerts} | {al.b for al in result.alerts}


def distance_label(distance_m: float, sd_m: float) -> str:
    """The estimated distance with its uncertainty, in the overlay's ASCII font."""
    return f"{distance_m:.2f}+-{sd_m:.2f}m" if sd_m > 0 else f"{distance_m:.2f}m"


def sightings_from_result(info: StreamInfo, result: FrameResult) -> list[Sighting]:
    """One sighting per face, unknown faces included (they become review items)."""
    in_violation = _in_alert(result)
    new = alert_marks(result)   # the episodes counted (assemblies.counts)
    at = datetime.fromtimestamp(result.t_s, UTC)
    return [Sighting(
        employee_id=int(face.person_id) if face.person_id is not None else None,
        track_key=f"{info.track_prefix}-{face.track_id}",
        at=at,
        confidence=float(min(1.0, max(0.0, face.confidence))),
        mask=bool(face.mask),
        distancing_violation=i in in_violation,
        new_alerts=new.get(i, 0),
        embedding=face.embedding,
        embedding_backend=info.backend,
    ) for i, face in enumerate(result.faces)]


def media_texts(lang: str) -> MediaTexts:
    """What media/ draws itself (the idle slate, the mosaic's tile labels), in the service's language
    (APEL_LANGUAGE): the video has no page language of its own, and media/ cannot translate."""
    return MediaTexts(waiting_for_leader=t("live.overlay.waiting_leader", lang),
                      waiting_for_offices=t("live.overlay.waiting_offices", lang),
                      no_video=t("live.overlay.no_video", lang), frozen=t("live.overlay.frozen", lang))


def overlay_from_result(info: StreamInfo, result: FrameResult, frame_size: tuple[int, int] | None,
                        lang: str = "id") -> Overlay:
    """Boxes (green: named, orange: named but unmasked, red: in a distancing alert, grey: unknown),
    lines between the people of each alert, each red face labelled with the estimated distance to
    its nearest alert partner and that estimate's uncertainty, and a count. `frame_size` (w, h):
    the frame the boxes were found in."""
    in_violation = _in_alert(result)
    nearest: dict[int, tuple[float, float]] = {}
    for al in result.alerts:
        for k in (al.a, al.b):
            if k not in nearest or al.distance_m < nearest[k][0]:
                nearest[k] = (al.distance_m, al.sd_m)
    boxes = []
    mask = t("live.overlay.mask", lang)
    for i, face in enumerate(result.faces):
        name = info.names.get(face.person_id, face.person_id) if face.person_id else "?"
        label = f"{name} {mask}" if face.mask else f"{name}"
        if i in nearest:
            label += f" {distance_label(*nearest[i])}"
        color = RED if i in in_violation else (GREEN if face.person_id else GREY)
        if face.person_id and not face.mask:
            color = ORANGE if i not in in_violation else RED
        x, y, w, h = (int(v) for v in face.box)
        boxes.append(OverlayBox((x, y, w, h), label, color))
    lines: list[tuple[tuple[int, int], tuple[int, int], Colour]] = []
    for i, j in ((al.a, al.b) for al in result.alerts):
        if i < len(result.faces) and j < len(result.faces):
            a, b = result.faces[i].box, result.faces[j].box
            lines.append(((a[0] + a[2] // 2, a[1] + a[3] // 2), (b[0] + b[2] // 2, b[1] + b[3] // 2), RED))
    known = sum(1 for f in result.faces if f.person_id)
    caption = t("live.overlay.recognised", lang, known=known, total=len(result.faces))
    if result.alerts:
        caption += t("live.overlay.too_close", lang, n=len(result.alerts))
    return Overlay(boxes=boxes, lines=lines, caption=caption,
                   frame_size=frame_size)
