"""OfficePipeline: one office feed's frames in, faces with names, masks and positions out."""
from __future__ import annotations

import itertools
from typing import Sequence

import cv2
import numpy as np

from .detect import DetectorConfig, detect_faces
from .distance import depth_m, eye_distance_px, focal_px, position_m, violations
from .faces import face_chip, landmarks5
from .mask import default_classifier
from .recognise import Gallery, MatchThresholds, Recogniser, aggregate, assign, make_recogniser
from .results import FaceResult, FrameResult, PipelineConfig, RosterPerson
from .track import Track, associate, follow, patch




class OfficePipeline:
    """Detect (full frame now and then, follow faces between), track, recognise a few views
    per track, vote, assign one person per face, classify masks, place people in metres.
    Not thread-safe; state is bounded by the number of people in view."""

    def __init__(self, roster: Sequence[RosterPerson], config: PipelineConfig | None = None,
                 recogniser: Recogniser | None = None):
        self.config = config or PipelineConfig()
        self.config.validate()
        self.recogniser = recogniser or make_recogniser(self.config.recogniser)
        fitted = MatchThresholds.load(self.recogniser.name)
        self.thresholds = MatchThresholds(
            accept=self.config.accept if self.config.accept is not None else fitted.accept,
            margin=self.config.margin if self.config.margin is not None else fitted.margin,
            min_views=fitted.min_views)
        self.detector = DetectorConfig(min_face_px=self.config.min_face_px, max_work_pixels=self.config.max_detect_pixels,
                                       use_haar=self.config.detector_use_haar, use_eyes=self.config.detector_use_eyes)
        self.masks = default_classifier()
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self._last_full = -1e9
        self.set_roster(roster)

    def set_roster(self, roster: Sequence[RosterPerson]) -> None:
        self.gallery = Gallery.build(roster)
        for t in self.tracks:  # re-vote on the next frame with the new roster
            t.person, t.confidence = None, 0.0

    # -- one frame -------------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray, t_s: float) -> FrameResult:
        cfg = self.config
        rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        self.tracks = [t for t in self.tracks if t_s - t.last_t <= cfg.track_max_age_s]
        seen: list[Track] = []
        if t_s - self._last_full >= cfg.detect_interval_s or not self.tracks:
            self._last_full = t_s
            boxes = [b for b, _ in detect_faces(rgb, self.detector)]
            pairs, new = associate(self.tracks, boxes)
            for ti, bi in pairs:
                tr = self.tracks[ti]
                tr.box, tr.last_t, tr.hits = boxes[bi], t_s, tr.hits + 1
                tr.template = patch(grey, tr.box)
                seen.append(tr)
            for bi in new:
                tr = Track(next(self._ids), boxes[bi], t_s, t_s, template=patch(grey, boxes[bi]))
                self.tracks.append(tr)
                seen.append(tr)
        else:
            for tr in self.tracks:
                b = follow(grey, tr)
                if b is not None:
                    tr.box, tr.last_t = b, t_s
                    seen.append(tr)
        self._observe(rgb, seen, t_s)
        self._decide()
        return self._result(seen, t_s, frame_bgr.shape[1], frame_bgr.shape[0])

    def _due(self, tr: Track, t_s: float) -> bool:
        cfg = self.config
        if t_s - tr.last_embed_t < cfg.embed_interval_s:
            return False
        if len(tr.embeddings) < cfg.views_per_track:
            return True
        return tr.person is None and t_s - tr.last_embed_t >= cfg.retry_unknown_s

    def _observe(self, rgb: np.ndarray, seen: list[Track], t_s: float) -> None:
        """Landmarks, chip, mask and depth for the faces due a look; embeddings within budget
        (fewest views first, so a newcomer is named quickly even in a full office)."""
        cfg = self.config
        due = sorted((t for t in seen if self._due(t, t_s)), key=lambda t: (len(t.embeddings), t.first_t))
        due = due[: cfg.max_embeds_per_frame]
        if not due:
            return
        f = focal_px(rgb.shape[1], cfg.hfov_deg)
        chips = []
        for tr in due:
            shape = landmarks5(rgb, tr.box)
            pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            tr.add_depth(depth_m(eye_distance_px(pts), f, cfg.ipd_m))
            chips.append(face_chip(rgb, shape))
        for tr, p in zip(due, self.masks.predict_proba(chips)):
            tr.add_mask(float(p))
        embs = self.recogniser.embed(chips)
        for tr, e in zip(due, embs):
            if tr.embeddings and float(np.linalg.norm(e - np.mean(tr.embeddings, axis=0))) > cfg.switch_distance:
                # Someone else now stands where the track was (or a new photo in a folder of
                # images): start a new track rather than mixing two people's views.
                tr.track_id = next(self._ids)
                tr.embeddings.clear()
                tr.person, tr.confidence, tr.distance = None, 0.0, float("inf")
                tr.first_t = t_s
            tr.embeddings.append(e)
            tr.last_embed_t = t_s

    def _decide(self) -> None:
        """Vote each track over its views, then assign people to the tracks alive now."""
        named = [t for t in self.tracks if t.embeddings]
        if not named or not self.gallery.ids:
            for t in named:
                t.person = None
            return
        cost = np.stack([aggregate(self.gallery, np.stack(list(t.embeddings))) for t in named])
        for t, d in zip(named, assign(cost, self.thresholds, [len(t.embeddings) for t in named])):
            t.person, t.distance, t.confidence = d.person, d.distance, d.confidence

    def _result(self, seen: list[Track], t_s: float, width: int, height: int) -> FrameResult:
        cfg = self.config
        f = focal_px(width, cfg.hfov_deg)
        faces = []
        for tr in seen:
            x, y, w, h = tr.box
            z = tr.depth_m if tr.depth_m is not None else depth_m(w * 0.40, f, cfg.ipd_m)
            pos = tuple(round(v, 3) for v in position_m(x + w / 2, y + h / 2, z, f, width, height))
            faces.append(FaceResult(
                box=(int(x), int(y), int(w), int(h)), track_id=tr.track_id,
                person_id=self.gallery.ids[tr.person] if tr.person is not None else None,
                confidence=round(tr.confidence, 3), distance=round(float(tr.distance), 4) if np.isfinite(tr.distance) else -1.0,
                mask=tr.mask_p >= cfg.mask_threshold, mask_p=round(tr.mask_p, 3), position_m=pos))  # type: ignore[arg-type]
        return FrameResult(t_s=t_s, faces=faces, violations=violations([fc.position_m for fc in faces], cfg.min_distance_m))
