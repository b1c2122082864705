"""The faces of a running apel that need a person's answer, held in memory for that apel only: the
small crop vision cut (attendance.vision.crops), which office and track it is, the best embedding
seen (so a confirmation can enrol it even before the review queue has one), and the answer given.

Bounded per apel (the oldest answered faces go first, then the oldest), and dropped when the apel
closes; what reaches the disk is decided at the close (review.keep_crops, only with
APEL_KEEP_EVIDENCE on). A face vision later names confidently by itself leaves the list: nobody
needs to answer it.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.live.streams import StreamInfo
from attendance.vision.crops import needs_person
from attendance.vision.types import FrameResult

MAX_FACES_PER_APEL = 400
# Two tracks in view together for longer than this are two people (one frame's jitter is less).
TOGETHER_S = 1.0


def in_view_together(face: LiveFace, spans: Iterable[tuple[float, float]]) -> bool:
    """The face was in view for more than TOGETHER_S at the same time as one of these (first, last)
    spans of another track: the rule for the web node's own faces and for the nodes' alike."""
    return any(min(face.last_seen, b) - max(face.first_seen, a) > TOGETHER_S for a, b in spans)


@dataclass
class LiveFace:
    face_id: str
    assembly_id: int
    office_id: int
    office_code: str
    track_key: str
    jpeg: bytes
    first_seen: float                      # wall clock
    last_seen: float
    suggested: str | None = None           # the person vision leaned to, if unsure
    confidence: float = 0.0
    embedding: np.ndarray | None = None
    backend: str | None = None
    status: str = "open"                   # open | confirmed | visitor | named (vision named it itself)
    employee_id: int | None = None
    by: str | None = None

    def view(self) -> dict[str, Any]:
        return {"face_id": self.face_id, "assembly_id": self.assembly_id, "office_id": self.office_id,
                "office": self.office_code, "status": self.status, "employee_id": self.employee_id,
                "by": self.by, "suggested_employee_id": int(self.suggested) if self.suggested else None,
                "confidence": round(self.confidence, 3), "first_seen": self.first_seen, "last_seen": self.last_seen}


class CropStore:
    """Per apel, the faces by their track key. The loop writes (results arrive there); the web
    routes read from their threads, hence the lock."""

    def __init__(self, max_per_apel: int = MAX_FACES_PER_APEL) -> None:
        self.max_per_apel = max_per_apel
        self._apels: dict[int, OrderedDict[str, LiveFace]] = {}
        self._by_id: dict[str, LiveFace] = {}
        self._lock = threading.Lock()

    def keep(self, info: StreamInfo, result: FrameResult, *, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            faces = self._apels.setdefault(info.assembly_id, OrderedDict())
            for face in result.faces:
                key = f"{info.track_prefix}-{face.track_id}"
                entry = faces.get(key)
                if entry is None:
                    if face.crop_jpeg is None:
                        continue
                    entry = LiveFace(secrets.token_urlsafe(12), info.assembly_id, info.office_id, info.office_code, key,
                                     face.crop_jpeg, now, now)
                    faces[key] = entry
                    self._by_id[entry.face_id] = entry
                    self._bound(faces)
                elif face.crop_jpeg is not None:
                    entry.jpeg = face.crop_jpeg
                entry.last_seen = now
                entry.confidence = max(entry.confidence, float(face.confidence))
                entry.suggested = face.person_id
                entry.backend = info.backend
                if face.embedding is not None:
                    entry.embedding = np.asarray(face.embedding, np.float32)
                if entry.status == "open" and not needs_person(face):
                    entry.status = "named"

    def _bound(self, faces: OrderedDict[str, LiveFace]) -> None:
        while len(faces) > self.max_per_apel:
            victim = next((k for k, f in faces.items() if f.status != "open"), next(iter(faces)))
            self._by_id.pop(faces.pop(victim).face_id, None)

    def get(self, face_id: str) -> LiveFace | None:
        with self._lock:
            return self._by_id.get(face_id)

    def faces(self, assembly_id: int, office_id: int | None = None) -> list[LiveFace]:
        with self._lock:
            return [f for f in self._apels.get(assembly_id, {}).values()
                    if f.status != "named" and (office_id is None or f.office_id == office_id)]

    def needing_answer(self, assembly_id: int, office_id: int | None, unseen: set[int]) -> list[LiveFace]:
        """What the operator is shown: answered faces (to undo), faces with no suggestion, faces whose
        suggested person is not yet present, and faces suggested as someone already present who was in
        view at the same time (a person is not in two places: this face is somebody else, perhaps a
        colleague not yet seen). An unsure face of a present person seen at another time (a broken track
        of them) needs nobody's answer and stays hidden."""
        with self._lock:
            faces = [f for f in self._apels.get(assembly_id, {}).values()
                     if office_id is None or f.office_id == office_id]
        spans: dict[tuple[int, int], list[tuple[float, float]]] = {}
        for f in faces:
            person = f.employee_id if f.status == "confirmed" else (
                int(f.suggested) if f.status == "named" and f.suggested else None)
            if person is not None:
                spans.setdefault((f.office_id, person), []).append((f.first_seen, f.last_seen))

        return [f for f in faces if f.status != "named" and (
            f.status != "open" or f.suggested is None or int(f.suggested) in unseen
            or in_view_together(f, spans.get((f.office_id, int(f.suggested)), [])))]

    def answered(self, face_id: str, status: str, employee_id: int | None, by: str | None) -> None:
        with self._lock:
            entry = self._by_id.get(face_id)
            if entry is not None and (entry.status, entry.employee_id) != (status, employee_id):
                entry.status, entry.employee_id, entry.by = status, employee_id, by   # the first to answer

    def follow(self, face_id: str, seen: tuple[str, int | None], status: str, employee_id: int | None,
               by: str | None) -> bool:
        """The answer the review queue holds (HR answered or took an answer back there while the apel
        runs), unless the face was answered here since `seen` (its status and person) was read: that
        newer answer wins, and the next read follows the queue again."""
        with self._lock:
            entry = self._by_id.get(face_id)
            if entry is None or (entry.status, entry.employee_id) != seen:
                return False
            entry.status, entry.employee_id, entry.by = status, employee_id, by
            return True

    def apels(self) -> list[int]:
        with self._lock:
            return list(self._apels)

    def drop(self, assembly_id: int) -> list[LiveFace]:
        """The apel closed: its faces leave memory; returned once so the unanswered can be kept."""
        with self._lock:
            faces = list(self._apels.pop(assembly_id, {}).values())
            for f in faces:
                self._by_id.pop(f.face_id, None)
            return faces
