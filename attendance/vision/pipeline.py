"""OfficePipeline: one office feed's frames in, faces with names, masks and positions out."""
from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import replace

import cv2
import dlib
import numpy as np

from attendance.vision import camera_check, crops
from attendance.vision.config import PipelineConfig
from attendance.vision.detect.detector import VIDEO_TILE_FACES, DetectorConfig, detect_faces
from attendance.vision.faces import face_chip, landmarks5, recogniser_chip
from attendance.vision.geometry.alerts import DistancingAlerts
from attendance.vision.geometry.camera import depth_m, eye_distance_px, focal_px, position_m, unbiased_eye_px
from attendance.vision.geometry.fit import fit_frame
from attendance.vision.geometry.violations import violations
from attendance.vision.lighting import expose_face
from attendance.vision.mask import default_classifier
from attendance.vision.recognise.occluded import (
    covered_chips,
    covered_distances,
    covered_thresholds,
    masked_thresholds,
)
from attendance.vision.recognise.recognisers import (
    FusedRecogniser,
    Gallery,
    MatchThresholds,
    Recogniser,
    aggregate,
    assign,
    make_recogniser,
)
from attendance.vision.track import MAX_VIEWS, Track, associate, follow, likeness, patch
from attendance.vision.types import FaceResult, FrameResult, RosterPerson

# Motion outside the followed faces, on a small blurred copy of the frame: a pixel has changed
# when it differs by more than MOTION_PIXEL_DELTA grey levels; the scene has changed when more
# pixels have than half the smallest face in view covers (and at least MOTION_MIN_PIXELS).
MOTION_SIZE = (192, 108)
MOTION_PIXEL_DELTA = 20
MOTION_MIN_PIXELS = 6
# A followed face whose likeness to the view it was last recognised from falls below this may be
# someone else: it is embedded again at once (see Track.suspect).
REVERIFY_LIKENESS = 0.7
# Width of a small adult face's detector box, and the share of it the detector searches down to,
# for the smallest face a known back-row distance implies (HOG boxes measured 0.155 m wide on
# the synthetic office; real adult faces vary about +-10%).
FACE_BOX_M = 0.14
FACE_SIZE_MARGIN = 0.8
# A new view farther than this share of the recogniser's fitted accept distance from its track's
# mean is someone else (PipelineConfig.switch_distance). 0.6 for dlib since the pipeline's first
# version; as a share it carries over to recognisers of another scale, where it sits near the 99th
# percentile of distances between two photos of one person as well (docs/vision.md).
SWITCH_SHARE_OF_ACCEPT = 0.6 / 0.64


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
        # Every fitted limit reaches the pipeline (elimination_accept and name_accept as well as
        # accept and margin): the benchmarks measure assign with all of them.
        self.thresholds = replace(
            fitted,
            accept=self.config.accept if self.config.accept is not None else fitted.accept,
            margin=self.config.margin if self.config.margin is not None else fitted.margin)
        self.switch_distance = (self.config.switch_distance if self.config.switch_distance is not None
                                else SWITCH_SHARE_OF_ACCEPT * fitted.accept)
        self.detector = DetectorConfig(min_face_px=self.config.min_face_px,
                                       max_work_pixels=self.config.max_detect_pixels,
                                       use_haar=self.config.detector_use_haar, use_eyes=self.config.detector_use_eyes,
                                       use_blazeface=self.config.detector_use_blazeface,
                                       # video: the back rows' small faces HOG misses (off for stills)
                                       tile_faces=0.0 if self.config.detector_use_blazeface else VIDEO_TILE_FACES)
        self.masks = default_classifier()
        # Masked faces are compared covered (recognise/occluded.py) where this recogniser has
        # thresholds for it: per track, the embeddings of its covered views.
        self.covered_thresholds = covered_thresholds(self.recogniser.name)
        # ... and a masked face compared as it is, with limits of its own where they were fitted.
        self.masked_thresholds = masked_thresholds(self.recogniser.name)
        self._covered: dict[int, deque[np.ndarray]] = {}
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self._last_full = -1e9
        self._detect_every = self.config.detect_interval_s
        self._since_whole = 0
        self._frames_since_full = 0
        self._last_t = float("inf")   # time of the previous frame (none yet)
        self._busy = False
        self._frames_seen = 0
        self._hurry = False   # this frame's first look, if it is one, is the hurried one (process)
        self._hurried = False   # the last look was a hurried first look: the next frame looks again
        self._motion_ref: np.ndarray | None = None
        self._frame_width = 0
        self.alerts = DistancingAlerts(self.config.min_distance_m)   # pairs too close over time
        self.set_roster(roster)

    def set_roster(self, roster: Sequence[RosterPerson]) -> None:
        self.gallery = Gallery.build(roster)
        for t in self.tracks:  # re-vote on the next frame with the new roster
            t.person, t.confidence = None, 0.0

    def new_scene(self) -> None:
        """Forget what was in view: the next frame is a scene of its own (another photo of a
        folder that is not a sequence), so no face is followed into it and no track's views mix
        with another photo's. The roster, the loaded networks and the thresholds stay; track
        ids keep counting, so a face is never given an id another scene used."""
        self.tracks = []
        self._covered = {}
        self._last_full = -1e9
        self._detect_every = self.config.detect_interval_s
        self._since_whole = 0
        self._frames_since_full = 0
        self._last_t = float("inf")
        self._busy = False
        self._frames_seen = 0
        self._motion_ref = None
        self.alerts = DistancingAlerts(self.config.min_distance_m)

    # -- one frame -------------------------------------------------------------------------
    def process(self, frame_bgr: np.ndarray, t_s: float, *, hurry: bool = False) -> FrameResult:
        """`hurry`: other streams' first frames wait for this one (offices joining together at one
        worker): a stream's first look, if this frame is one, uses the smaller work image of
        PipelineConfig.hurried_first_look_work_pixels, and the stream's next frame makes the usual
        quick first look for the faces it left out. Any other frame ignores it."""
        cfg = self.config
        self._hurry = hurry
        rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
        grey = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if frame_bgr.shape[1] != self._frame_width:
            # Another resolution (a camera rejoining with another one): the tracks' boxes are in the
            # old pixels, so start the scene over rather than follow faces where they are not.
            if self._frame_width:
                self.new_scene()
            self._frame_width = frame_bgr.shape[1]
            self.detector = replace(self.detector, min_face_px=self.smallest_face_px(self._frame_width))
        seen: list[Track] = []
        self._busy = t_s - self._last_t > cfg.busy_gap_s
        self._frames_seen += 1
        self._last_t = t_s
        due = self._detection_due(grey, t_s)
        if due:
            seen = self._detect(rgb, grey, t_s, due)
        else:
            for tr in self.tracks:
                if self._follow(grey, tr, t_s):
                    seen.append(tr)
                else:   # a face we were following is gone or turned: look again soon
                    self._detect_every = cfg.detect_interval_s
        # A track ends when this frame did not see it and it has been gone for track_max_age_s:
        # judged on frames actually looked at, so an office whose frames reach a busy worker
        # seconds apart keeps its tracks (and their names) instead of starting over each frame.
        self.tracks = [t for t in self.tracks if t.last_t == t_s or t_s - t.last_t <= cfg.track_max_age_s]
        self._observe(rgb, grey, seen, t_s)
        self._decide(t_s)
        result = crops.attach(self._result(seen, t_s, frame_bgr.shape[1], frame_bgr.shape[0]), frame_bgr, self)
        return camera_check.attach(result, grey, self)   # what this camera can do (the camera check)

    @property
    def _quick_first(self) -> bool:
        """This is a live stream's first frame, which answers fast (see PipelineConfig.quick_first_frame)."""
        return self.config.quick_first_frame and self._frames_seen == 1

    def smallest_face_px(self, frame_width: int) -> int:
        """The smallest face (box width) a whole-frame look searches for. With the office's back-row
        distance known, the size a small face has there (HOG's cost grows with the square of the
        upscaling that face needs, so a larger smallest face is a cheaper look); otherwise
        `min_face_px`."""
        cfg = self.config
        if cfg.back_row_m is None:
            return cfg.min_face_px
        px = FACE_SIZE_MARGIN * FACE_BOX_M * focal_px(frame_width, cfg.hfov_deg) / cfg.back_row_m
        return int(min(max(16.0, px), 240.0))

    @staticmethod
    def _follow(grey: np.ndarray, tr: Track, t_s: float) -> bool:
        """Move the track to where its face is now; flag it when the face no longer looks like
        the view it was named from. False: not found near its last place."""
        found = follow(grey, tr)
        if found is None:
            return False
        tr.box, tr.last_t = found[0], t_s
        tr.suspect = tr.suspect or found[1] < REVERIFY_LIKENESS
        return True

    # -- full detection, and when it is worth its cost ---------------------------------------
    def _detection_due(self, grey: np.ndarray, t_s: float) -> str | None:
        """Full detection is the costliest step (HOG over the whole frame). An apel is a still
        scene: once a detection finds nobody new, the next one waits twice as long (up to
        detect_max_interval_s) while faces are followed between, unless something moves in the
        picture outside the faces we follow (someone arriving), which brings it back at once."""
        since = t_s - self._last_full
        self._frames_since_full += 1
        hurried, self._hurried = self._hurried, False
        if not self.tracks:   # an empty room: look now and then, or when something moves
            if since >= self.config.detect_interval_s or self._moved_outside_tracks(grey):
                return "empty"
            if self.config.quick_first_frame and self._frames_seen == 2:
                # The quick first look found nobody: the faces may all be smaller than it looks for
                # (a far camera), so the whole look with every cue comes now, not an interval later.
                return "empty"
            return None
        if hurried:
            # The first look was a hurried one (other offices' first frames waited behind it), which leaves
            # out the smaller faces: this frame makes the quick first look it stood in for.
            return "hurried"
        if self._frames_since_full < self.config.min_frames_between_detections:
            # A worker that falls behind gets frames further apart than the detection interval;
            # without this every frame of a busy office would be a full detection.
            return None
        if since >= self._detect_every:
            return "moved" if self._moved_outside_tracks(grey) else "timer"
        if since >= self.config.detect_interval_s and self._moved_outside_tracks(grey):
            return "moved"
        return None

    def _motion_image(self, grey: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(cv2.resize(grey, MOTION_SIZE, interpolation=cv2.INTER_AREA), (5, 5), 0)

    def _moved_outside_tracks(self, grey: np.ndarray) -> bool:
        if self._motion_ref is None:
            return True
        small = self._motion_image(grey)
        changed = cv2.absdiff(small, self._motion_ref) > MOTION_PIXEL_DELTA
        sx, sy = MOTION_SIZE[0] / grey.shape[1], MOTION_SIZE[1] / grey.shape[0]
        for tr in self.tracks:   # faces we follow (and the body below them) may sway
            x, y, w, h = tr.box
            x0, x1 = int((x - w) * sx), int((x + 2 * w) * sx) + 1
            y0, y1 = int((y - h) * sy), int((y + 4 * h) * sy) + 1
            changed[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = False
        # A newcomer is at least half a face of changed pixels (a real one brings a body too).
        smallest = min((t.box[2] * t.box[3] for t in self.tracks), default=self.config.min_face_px ** 2) * sx * sy
        return bool(int(changed.sum()) > max(MOTION_MIN_PIXELS, 0.5 * smallest))

    def _detect(self, rgb: np.ndarray, grey: np.ndarray, t_s: float, reason: str) -> list[Track]:
        """Full detection, in one of two sizes (HOG's cost grows with the area searched and the
        square of the upscaling the smallest wanted face needs):
        - whole (nothing tracked, something moved outside the faces we follow, every
          full_scale_every-th look, and the look after a stream's first): the whole frame down to
          min_face_px, with the cascades (and the CNN check, the masked-face HOG filter and the tiled
          look, except while the worker is behind); a stream's first frame gets a quick whole look,
          HOG alone on a smaller work image (PipelineConfig.first_look_work_pixels);
        - rows (the periodic check of a still scene): a band around the faces in view, for faces
          no smaller than 70% of the smallest one, without the cascades and the masked-face
          filter (they are there for faces HOG misses, masked ones: a tracked face HOG misses is
          followed instead, and a newcomer moves, which calls a whole look)."""
        cfg = self.config
        self._last_full = t_s
        self._frames_since_full = 0
        self._since_whole += 1
        detector, y0, y1 = self.detector, 0, rgb.shape[0]
        if reason in ("empty", "moved", "hurried") or self._since_whole >= cfg.full_scale_every:
            self._since_whole = 0
            if self._quick_first or reason == "hurried":
                # A joining office's first answer: HOG's frontal filters alone (no cascades, hence no
                # CNN check, masked-face filter or tiled look) on a work image of at most
                # first_look_work_pixels, which leaves out the smallest faces of a large frame. A whole
                # look costs ~1 s of CPU, and offices joining together queue for the workers one whole
                # look after another (BENCHMARKS.md, "Offices joining at the same instant"); this look
                # costs a fifth of it. The next frames name the faces found here, and the next look, at
                # the usual interval (by when the other offices joining too have had their first
                # answers), is a whole look with every cue.
                # Offices joining together wait at a worker for each other's first looks: then it is smaller
                # still (hurried_first_look_work_pixels), and the stream's next frame (reason "hurried")
                # makes the quick first look for the faces it left out.
                self._hurried = self._quick_first and self._hurry
                pixels = min(cfg.first_look_work_pixels, cfg.hurried_first_look_work_pixels if self._hurried
                             else float("inf"))
                detector = replace(detector, use_haar=False, use_eyes=False, use_cnn_check=False,
                                   use_mask_hog=False, tile_faces=0.0,
                                   max_work_pixels=min(detector.max_work_pixels, pixels))
                self._since_whole = cfg.full_scale_every
            elif self._busy:
                # The CNN check of HOG's best near miss (a masked face, often), the masked-face HOG
                # filter and the tiled look for the back rows' small faces are the dear parts of a
                # whole look: a worker that is behind goes without them (the cascades still look for
                # masked faces); the next whole look, when the worker has caught up, makes them.
                detector = replace(detector, use_cnn_check=False, use_mask_hog=False, tile_faces=0.0)
        else:
            smallest = min(t.box[2] for t in self.tracks)
            tallest = max(t.box[3] for t in self.tracks)
            detector = replace(detector, min_face_px=max(detector.min_face_px, int(0.7 * smallest)),
                               use_haar=False, use_eyes=False, use_mask_hog=False)
            y0 = max(0, int(min(t.box[1] for t in self.tracks) - 1.5 * tallest))
            y1 = min(rgb.shape[0], int(max(t.box[1] + t.box[3] for t in self.tracks) + 1.5 * tallest))
        boxes = [(x, y + y0, w, h) for (x, y, w, h), _ in detect_faces(rgb[y0:y1], detector)]
        pairs, new = associate(self.tracks, boxes)
        seen: list[Track] = []
        for ti, bi in pairs:
            tr = self.tracks[ti]
            tr.box, tr.last_t, tr.hits = boxes[bi], t_s, tr.hits + 1
            tr.suspect = tr.suspect or likeness(grey, tr, tr.box) < REVERIFY_LIKENESS
            seen.append(tr)
        matched = {ti for ti, _ in pairs}
        lost = 0
        for ti, tr in enumerate(self.tracks):   # the detector missed it: still there?
            if ti in matched:
                continue
            if self._follow(grey, tr, t_s):
                seen.append(tr)
            else:
                lost += 1
        for bi in new:
            tr = Track(next(self._ids), boxes[bi], t_s, t_s, template=patch(grey, boxes[bi]))
            self.tracks.append(tr)
            seen.append(tr)
        if new or lost:
            self._detect_every = cfg.detect_interval_s
        else:
            self._detect_every = min(cfg.detect_max_interval_s, 2 * self._detect_every)
        self._motion_ref = self._motion_image(grey)
        return seen

    def _due(self, tr: Track, t_s: float) -> bool:
        """A track still unnamed gets views quickly (it is what the roll-call waits for); a named
        one collects its remaining confirmation views slowly, so a full office does not spend
        the embedding budget re-confirming people already marked."""
        cfg = self.config
        if tr.suspect:
            return True
        interval = cfg.embed_interval_s if tr.person is None else cfg.confirm_interval_s
        if t_s - tr.last_embed_t < interval:
            return False
        if len(tr.embeddings) < cfg.views_per_track:
            return True
        return tr.person is None and t_s - tr.last_embed_t >= cfg.retry_unknown_s

    def _observe(self, rgb: np.ndarray, grey: np.ndarray, seen: list[Track], t_s: float) -> None:
        """Landmarks, chip, mask and depth for the faces due a look; embeddings within budget
        (unnamed first, then fewest views, so a newcomer is named quickly even in a full office)."""
        cfg = self.config
        due = sorted((t for t in seen if self._due(t, t_s)), key=lambda t: (len(t.embeddings), t.first_t))
        unnamed = [t for t in due if t.person is None or t.suspect]
        confirm = [t for t in due if t.person is not None and not t.suspect][: cfg.max_confirms_per_frame]
        if self._busy:
            # Frames reach us seconds apart: the worker is shared by more offices than it can
            # keep up with. Spend it on naming newcomers; confirmation views and retries of
            # faces already looked at from every side wait until it catches up.
            confirm = []
            fresh = [t for t in unnamed if len(t.embeddings) < cfg.views_per_track]
            unnamed = fresh + [t for t in unnamed if len(t.embeddings) >= cfg.views_per_track][:1]
        # A stream's first frame answers quickly (its faces, and the first names) and the next
        # frames, a fraction of a second later, name the rest.
        budget = cfg.max_embeds_first_frame if self._quick_first else cfg.max_embeds_per_frame
        due = (unnamed + confirm)[:budget]
        if not due:
            return
        f = focal_px(rgb.shape[1], cfg.hfov_deg)
        chips, rec_chips, shapes = [], [], []
        for tr in due:
            shape = landmarks5(rgb, tr.box)
            shapes.append(shape)
            pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            tr.add_depth(depth_m(unbiased_eye_px(eye_distance_px(pts)), f, cfg.ipd_m))
            chip = face_chip(rgb, shape)
            rec_chip = recogniser_chip(rgb, shape, self.recogniser.chip, chip)
            if cfg.even_light:   # a face left dark by the light, exposed as the face (lighting.py)
                same = rec_chip is chip
                chip = expose_face(chip)
                rec_chip = chip if same else expose_face(rec_chip)
            chips.append(chip)
            rec_chips.append(rec_chip)
        embs = self.recogniser.embed(rec_chips)
        # The mask classifier reads FaceRes's features in the fused embeddings rather than run the
        # network again: every fused recogniser's FaceRes half is of dlib's chip, the one it reads.
        faceres = FusedRecogniser.faceres_of(embs) if isinstance(self.recogniser, FusedRecogniser) else None
        for tr, p in zip(due, self.masks.predict_proba(chips, faceres=faceres), strict=True):
            tr.add_mask(float(p))
        for tr, e in zip(due, embs, strict=True):
            if tr.embeddings and float(np.linalg.norm(e - np.mean(tr.embeddings, axis=0))) > self.switch_distance:
                # Someone else now stands where the track was (or a new photo in a folder of
                # images): start a new track rather than mixing two people's views.
                tr.track_id = next(self._ids)
                tr.embeddings.clear()
                tr.person, tr.confidence, tr.distance = None, 0.0, float("inf")
                tr.first_t = t_s
            tr.embeddings.append(e)
            tr.last_embed_t = t_s
            tr.suspect = False
            tr.template = patch(grey, tr.box)   # what the face looked like when last recognised
        self._observe_covered(rgb, due, shapes)

    def _observe_covered(self, rgb: np.ndarray, due: list[Track], shapes: list[dlib.full_object_detection]) -> None:
        """The covered view (recognise/occluded.py) of each face due a look that is masked."""
        if self.covered_thresholds is None or self.gallery.masked is None or not self.gallery.masked.any():
            return
        masked = [(tr, s) for tr, s in zip(due, shapes, strict=True) if tr.mask_p >= self.config.mask_threshold]
        if not masked:
            return
        embs = self.recogniser.embed([covered_chips(rgb, tr.box, s, self.recogniser.chip)[0] for tr, s in masked])
        for (tr, _), e in zip(masked, embs, strict=True):
            self._covered.setdefault(tr.track_id, deque(maxlen=MAX_VIEWS)).append(e)

    def _decide(self, t_s: float) -> None:
        """Vote each track over its views, then assign people to the tracks alive now (only
        tracks seen in this frame rule their person out for the others: see assign)."""
        named = [t for t in self.tracks if t.embeddings]
        if not named or not self.gallery.ids:
            for t in named:
                t.person = None
            return
        alive = {t.track_id for t in self.tracks}
        self._covered = {k: v for k, v in self._covered.items() if k in alive}
        rows, face_th = [], []
        for t in named:   # a masked face: compared covered where it has covered views, each with its own limits
            masked = t.mask_p >= self.config.mask_threshold
            cov = self._covered.get(t.track_id) if masked else None
            if cov:
                rows.append(covered_distances(self.gallery, np.stack(list(t.embeddings)), np.stack(list(cov))))
            else:
                rows.append(aggregate(self.gallery, np.stack(list(t.embeddings))))
            face_th.append(self.covered_thresholds if cov else self.masked_thresholds if masked else None)
        decisions = assign(np.stack(rows), self.thresholds, [len(t.embeddings) for t in named],
                           [t.last_t == t_s for t in named], photos=self.gallery.photos, face_thresholds=face_th)
        for t, d in zip(named, decisions, strict=True):
            t.person, t.distance, t.confidence = d.person, d.distance, d.confidence

    def _result(self, seen: list[Track], t_s: float, width: int, height: int) -> FrameResult:
        cfg = self.config
        f = focal_px(width, cfg.hfov_deg)
        faces = []
        centres = [(x + w / 2, y + h / 2) for x, y, w, h in (tr.box for tr in seen)]
        zs = [tr.depth_m if tr.depth_m is not None else depth_m(tr.box[2] * 0.40, f, cfg.ipd_m) for tr in seen]
        masked = [tr.mask_p >= cfg.mask_threshold for tr in seen]
        close = None
        pairs = None
        ids = [self.gallery.ids[tr.person] if tr.person is not None else None for tr in seen]
        ipd_samples: list[float | None] = [None] * len(seen)
        eye_samples: list[float | None] = [None] * len(seen)
        if cfg.people_in_rows:
            above = cfg.camera_height_m - cfg.eye_height_m if cfg.camera_height_m is not None else None
            known = cfg.face_geometry or {}
            fit = fit_frame(centres, None, zs, f, width, height, cfg.min_distance_m, masked=masked,
                            camera_above_m=above, row_lines_m=cfg.row_lines_m, ipd_m=cfg.ipd_m,
                            geometry=[known.get(pid) if pid is not None else None for pid in ids] if known else None)
            places, close, pairs = fit.positions, fit.violations, fit.pairs
            # Only a face measured by its own eye spacing says anything of the person (a track
            # without a depth got the box-width fallback).
            ipd_samples = [s if tr.depth_m is not None else None for s, tr in zip(fit.ipd_samples_m, seen, strict=True)]
            eye_samples = fit.eye_offset_samples_m
        else:
            places = [position_m(cx, cy, z, f, width, height) for (cx, cy), z in zip(centres, zs, strict=True)]
        for tr, pid, place, mask, ipd_s, eye_s in zip(seen, ids, places, masked, ipd_samples, eye_samples, strict=True):
            x, y, w, h = tr.box
            pos = (round(place[0], 3), round(place[1], 3), round(place[2], 3))
            faces.append(FaceResult(
                box=(int(x), int(y), int(w), int(h)), track_id=tr.track_id, person_id=pid,
                confidence=round(tr.confidence, 3),
                distance=round(float(tr.distance), 4) if np.isfinite(tr.distance) else -1.0,
                mask=mask, mask_p=round(tr.mask_p, 3), position_m=pos,
                embedding=np.mean(tr.embeddings, axis=0).astype(np.float32)
                if tr.embeddings and tr.last_embed_t == t_s else None,
                ipd_sample_m=ipd_s if pid is not None else None,
                eye_offset_sample_m=eye_s if pid is not None else None))
        if close is None:
            close = violations([fc.position_m for fc in faces], cfg.min_distance_m)
        alerts = self.alerts.update(t_s, [fc.track_id for fc in faces], [fc.position_m for fc in faces], pairs)
        return FrameResult(t_s=t_s, faces=faces, violations=close, alerts=alerts)
