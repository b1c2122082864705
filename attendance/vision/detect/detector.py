"""Finding faces in office frames, small (35 px in 1080p) and masked ones too: dlib's HOG alone
needs faces of ~80 px and misses masked ones (it learned the mouth), so several cues are merged.

The cues (docs/vision.md, "How it works"): HOG on the frame scaled so the smallest wanted face
fills its 80 px window, dlib's five frontal filters and our masked-face filter on one fHOG pyramid
(`use_mask_hog`); OpenCV's Haar cascade and pairs of eyes (eyes stay visible above a mask), kept
only when a second cue agrees or HOG confirms them on an upsampled crop (`verify`); for stills,
BlazeFace (`use_blazeface`) and the photo pass for tilted heads (`photo_angles`); and dlib's CNN
as a second opinion on HOG's best near miss (`cnn_verify`), which is costly without BLAS, so it
runs once per whole-frame look and never in the pipeline's cheap "rows" look (`cnn_active`); and,
in the live pipeline's whole-frame looks, BlazeFace on tiles for the back rows' small faces HOG
scores too low (`tile_faces`), confirmed by HOG on a crop."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from attendance.vision.detect import blazeface
from attendance.vision.detect.boxes import Box, iou, nms, overlap_of_smaller
from attendance.vision.recognise import dlib_models
from attendance.vision.runtime import model_files


@dataclass(frozen=True)
class DetectorConfig:
    min_face_px: int = 32         # smallest face (box width) to find
    max_work_pixels: float = 9e6  # cap on the HOG work image (pixels) for speed
    hog_threshold: float = -0.3
    use_haar: bool = True
    use_eyes: bool = True
    nms_iou: float = 0.3
    use_cnn_check: bool = True    # CNN second opinion on HOG's near misses (only with a cascade on)
    cnn_candidate_threshold: float = -1.0  # HOG scores in [this, hog_threshold) are checked
    cnn_max_checks: int = 1       # crops per call, best HOG scores first (each costly: docs/vision.md)
    cnn_min_confidence: float = 0.0        # MMOD confidence a confirmed face needs
    use_mask_hog: bool = True     # our masked-face fHOG filter beside dlib's frontal ones, same pass
    mask_hog_offset: float = 0.0  # its threshold is hog_threshold + this (0: the operating point chosen in training)
    # The photo pass (`photo_faces`): large faces the main pass cannot see, because the frame's edge
    # cuts them or the head is tilted. Off in live looks (no angles); photo looks use PHOTO_ANGLES.
    use_blazeface: bool = False   # stills: BlazeFace on the whole image, large turned/tilted/masked faces
    blazeface_zoom_out: bool = True   # ... and again at half size (blazeface.ZOOM_OUT), its surer faces only
    photo_angles: tuple[float, ...] = ()  # in-plane rotations (degrees, 0 = upright) searched on the padded frame
    photo_pad: float = 0.25       # grey border each side, a fraction of the frame's shorter side
    photo_min_face: float = 0.25  # smallest face it looks for, a fraction of the shorter side
    photo_max_face: float = 0.8   # largest face a turned copy may give, the same fraction
    photo_inside: float = 0.6     # share of a face box that must lie inside the frame
    # The tiled look for small faces (`tile_faces`, cue "tile"): BlazeFace on tiles of
    # `tile_faces` x min_face_px pixels (0 = off; the live pipeline sets VIDEO_TILE_FACES), in
    # whole-frame looks only, like the CNN check, and not for stills (`use_blazeface` has its own
    # look there). BlazeFace alone takes patterns
    # of real scenes for small faces, so each of its faces (score >= `tile_min_score`) needs HOG,
    # either filter, on an upsampled crop (`verify`): at least `tile_confirm_hog`, or
    # `tile_sure_hog` when BlazeFace scores it `tile_sure_score` or more; and none is wider than a
    # third of a tile (larger faces are HOG's; BlazeFace's large boxes in tiles were bodies).
    tile_faces: float = 0.0
    tile_min_score: float = 0.5
    tile_confirm_hog: float = -0.5
    tile_sure_score: float = 0.8
    tile_sure_hog: float = -0.7

    @property
    def tiles_active(self) -> bool:
        """The tiled look runs in whole-frame looks (cascades on) of video, where BlazeFace is installed."""
        return (self.tile_faces > 0 and (self.use_haar or self.use_eyes) and not self.use_blazeface
                and model_files.installed())

    @property
    def photo_active(self) -> bool:
        """The photo pass runs in whole-frame looks only, like the CNN check."""
        return bool(self.photo_angles) and (self.use_haar or self.use_eyes)

    @property
    def cnn_active(self) -> bool:
        """The CNN check runs in whole-frame looks only: off when both cascades are off."""
        return self.use_cnn_check and self.cnn_max_checks > 0 and (self.use_haar or self.use_eyes)


@functools.cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    c = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]   # not in cv2's stubs
    if c.empty():
        raise RuntimeError(f"OpenCV cascade {name} not found (opencv-python-headless 4.x ships it)")
    return c


def hog_faces(rgb: np.ndarray, scale: float, threshold: float, upsample: int = 0) -> list[tuple[Box, float]]:
    """dlib's frontal HOG detector alone (its 5 filters)."""
    return [(b, sc) for b, sc, _ in hog_faces_cues(rgb, scale, threshold, upsample, masked=False)]


def hog_faces_cues(rgb: np.ndarray, scale: float, threshold: float, upsample: int = 0,
                   masked: bool = True) -> list[tuple[Box, float, str]]:
    """HOG faces as (box, score, "hog" | "hog_mask"): dlib's frontal filters and, when `masked`,
    our masked-face filter on the same fHOG pyramid (`run_multiple` builds it once: the pyramid
    is most of the pass, so the extra filter costs a fraction of it; docs/vision.md). dlib
    suppresses overlaps across all filters by score (the masked filter's scores are calibrated to
    the frontal ones, see dlib_models.masked_hog_detector)."""
    work = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    if masked:
        dets = [dlib_models.hog_detector(), dlib_models.masked_hog_detector()]
        rects, scores, idx = dlib.fhog_object_detector.run_multiple(dets, work, upsample, threshold)
        kinds = ["hog_mask" if i == 1 else "hog" for i in idx]
    else:
        rects, scores, _ = dlib_models.hog_detector().run(work, upsample, threshold)
        kinds = ["hog"] * len(rects)
    s = scale  # dlib maps boxes back through its own upsampling: they are in `work` coordinates
    return [((int(r.left() / s), int(r.top() / s), int(r.width() / s), int(r.height() / s)), float(sc), k)
            for r, sc, k in zip(rects, scores, kinds, strict=True)]


# DetectorConfig.tile_faces in the live pipeline's whole-frame looks: tiles of 8 smallest-face widths
# (256 px at 32 px), where BlazeFace finds 35-45 px faces well (BENCHMARKS.md, "Back rows never detected").
VIDEO_TILE_FACES = 8.0

# DetectorConfig.photo_angles for photos (selfies, product shots). Upright (0: faces the frame's edge
# cuts) is left out: it found no masked face the turned copies missed (docs/vision.md).
PHOTO_ANGLES = (-20.0, 20.0)


def photo_faces(rgb: np.ndarray, cfg: DetectorConfig, threshold: float,
                known: Sequence[Box] = ()) -> list[tuple[Box, float, str]]:
    """HOG faces of at least `cfg.photo_min_face` of the frame's shorter side that the main pass
    cannot find: on a copy of the frame with a grey border (`cfg.photo_pad` of that side) and
    rotated by each of `cfg.photo_angles`. Upright, only faces the frame's edge cuts are kept; rotated,
    any face (boxes in frame coordinates: the same size, centred where the face is). Every box must
    lie at least `cfg.photo_inside` within the frame, and none may hold a smaller face of `known`
    (the main pass's): a face does not contain a face, while a body with its head does look
    like a tilted face to the coarse pyramid levels this pass searches (at the coarsest, where one
    window is most of the turned, padded frame, it fires on a body or a wall: hence the largest
    size, for turned copies; a face the edge cuts may be larger than the frame). Cues "photo"
    (dlib's frontal filters) and "photo_mask" (our masked filter), each under its filter's
    threshold in `detect_faces_cues`.

    Why: a HOG window must lie inside the image, so a selfie whose forehead or chin the frame cuts
    is never scored, however large the face; and dlib's filters (ours too) were trained on faces
    within ~15 degrees of upright, while a selfie's head is often tilted more. The border is grey,
    not replicated: replicated edge pixels make streaks the masked filter takes for a mask.
    The pass looks for large faces only, on a small copy (the shorter side becomes ~(1 + 2 pad) x
    80 / min_face = 480 px whatever the frame's size), a cost a live look does not pay (off by
    default) and a photo does (docs/vision.md)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    pad = int(round(cfg.photo_pad * side))
    smallest = max(float(cfg.min_face_px), cfg.photo_min_face * side)
    big = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    s = min(80.0 / smallest, (cfg.max_work_pixels / (big.shape[0] * big.shape[1])) ** 0.5)
    big = cv2.resize(big, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    H, W = big.shape[:2]
    out: list[tuple[Box, float, str]] = []
    for angle in cfg.photo_angles:
        img = big
        if angle:
            rot = cv2.getRotationMatrix2D((W / 2, H / 2), angle, 1.0)
            img = cv2.warpAffine(big, rot, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=(128, 128, 128))
            back = cv2.invertAffineTransform(rot)
        for (x, y, bw, bh), sc, k in hog_faces_cues(img, 1.0, threshold, masked=cfg.use_mask_hog):
            cx, cy = x + bw / 2, y + bh / 2
            if angle:
                cx, cy = back @ np.array([cx, cy, 1.0])
            fw, fh = bw / s, bh / s
            b = (int(round(cx / s - pad - fw / 2)), int(round(cy / s - pad - fh / 2)), int(round(fw)), int(round(fh)))
            inside = max(0, min(w, b[0] + b[2]) - max(0, b[0])) * max(0, min(h, b[1] + b[3]) - max(0, b[1]))
            cut = b[0] < 0 or b[1] < 0 or b[0] + b[2] > w or b[1] + b[3] > h
            holds = any(o[2] < 0.6 * b[2] and b[0] <= o[0] + o[2] / 2 <= b[0] + b[2]
                        and b[1] <= o[1] + o[3] / 2 <= b[1] + b[3] for o in known)
            if (b[2] > cfg.photo_max_face * side if angle else not cut) or holds:
                continue
            if inside >= cfg.photo_inside * b[2] * b[3]:
                out.append((b, sc, "photo_mask" if k == "hog_mask" else "photo"))
    return out


def haar_faces(grey: np.ndarray, min_px: int) -> list[Box]:
    f = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(max(20, min_px), max(20, min_px)))
    return [tuple(int(v) for v in r) for r in f]  # type: ignore[misc]


def eye_pair_faces(grey: np.ndarray, min_px: int) -> list[Box]:
    """Face boxes inferred from two eyes: similar size, nearly level, 1.5-3.5 eye widths apart.
    The box matches dlib's HOG box (eye line at ~38% of its height, width ~2.3x eye spacing)."""
    eye_min = max(8, int(min_px * 0.22))
    eyes = _cascade("haarcascade_eye.xml").detectMultiScale(grey, 1.1, 3, minSize=(eye_min, eye_min))
    eyes = sorted((tuple(int(v) for v in e) for e in eyes), key=lambda e: e[0])
    out: list[Box] = []
    used: set[int] = set()
    for i, a in enumerate(eyes):
        for j in range(i + 1, len(eyes)):
            b = eyes[j]
            if i in used or j in used:
                continue
            wa, wb = a[2], b[2]
            if max(wa, wb) > 1.5 * min(wa, wb):
                continue
            ca = (a[0] + wa / 2, a[1] + a[3] / 2)
            cb = (b[0] + wb / 2, b[1] + b[3] / 2)
            dx, dy = cb[0] - ca[0], cb[1] - ca[1]
            ew = (wa + wb) / 2
            if not (1.4 * ew <= dx <= 3.2 * ew) or abs(dy) > 0.35 * dx:
                continue
            w = 2.3 * dx
            cx, cy = (ca[0] + cb[0]) / 2, (ca[1] + cb[1]) / 2
            out.append((int(cx - w / 2), int(cy - 0.38 * w), int(w), int(w)))
            used.update((i, j))
            break
    return out


def verify(rgb: np.ndarray, box: Box, threshold: float = -0.9, masked: bool = False) -> float | None:
    """HOG score of the best face on an upsampled crop around `box` (None = no face there).
    Cheap (a ~200x200 image) and it turns noisy cascade hits into faces or nothing. With
    `masked`, our masked-face filter scores too (the same pass)."""
    x, y, w, h = box
    m = int(0.6 * w)
    x0, y0 = max(0, x - m), max(0, y - m)
    x1, y1 = min(rgb.shape[1], x + w + m), min(rgb.shape[0], y + h + m)
    crop = rgb[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    s = 100.0 / max(1, w)
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
    best = None
    for b, sc, _ in hog_faces_cues(crop, 1.0, threshold, masked=masked):
        b = (int(b[0] / s) + x0, int(b[1] / s) + y0, int(b[2] / s), int(b[3] / s))
        if iou(b, box) > 0.2 and (best is None or sc > best):
            best = float(sc)
    return best


def tile_faces(rgb: np.ndarray, cfg: DetectorConfig, taken: Sequence[Box]) -> list[tuple[Box, float, str]]:
    """Small faces the other cues missed, from BlazeFace on tiles (cue "tile").

    Why: people of an office's back rows were never detected in whole apels although their faces
    were above the smallest face searched: dlib's filters score many 35-47 px faces (East-Asian
    ones most, and faces partly hidden by the row in front) under their threshold even on a crop
    upsampled to their liking, while BlazeFace on tiles of ~8 face widths finds most of the
    uncovered ones (BENCHMARKS.md, "Back rows never detected"). BlazeFace alone also takes
    patterns of real scenes (letters, turned heads) for small faces, so each of its faces needs
    HOG's agreement on an upsampled crop, and it adds no face another cue already has."""
    side = int(round(cfg.tile_faces * cfg.min_face_px))
    out: list[tuple[Box, float, str]] = []
    for b, sc in blazeface.load().detect_tiles(rgb, side, cfg.tile_min_score):
        if b[2] < 0.75 * cfg.min_face_px or b[2] > side / 3 or any(overlap_of_smaller(b, o) > 0.3 for o in taken):
            continue
        need = cfg.tile_sure_hog if sc >= cfg.tile_sure_score else cfg.tile_confirm_hog
        v = verify(rgb, b, threshold=min(cfg.tile_sure_hog, cfg.tile_confirm_hog), masked=True)
        if v is not None and v >= need:
            out.append((b, sc, "tile"))
    return out


CNN_FACE_PX = 80     # face width in the CNN's crop (MMOD finds faces from ~80 px; smaller crops cost less)
CNN_MARGIN = 0.25    # crop margin around the candidate, in box widths, each side (a 120 px crop)


def _cnn_crop(rgb: np.ndarray, box: Box, face_px: int = CNN_FACE_PX) -> tuple[np.ndarray, float, float, float]:
    """A fixed-size square crop centred on `box` (the box `face_px` wide), grey outside the
    frame; with the crop's origin and scale in frame coordinates."""
    x, y, w, _ = box
    m = CNN_MARGIN * w
    x0, y0 = int(round(x - m)), int(round(y - m))
    side = max(1, int(round(w + 2 * m)))
    x1, y1 = x0 + side, y0 + side
    H, W = rgb.shape[:2]
    reg = rgb[max(0, y0):max(0, min(H, y1)), max(0, x0):max(0, min(W, x1))]
    reg = cv2.copyMakeBorder(reg, max(0, -y0), max(0, y1 - max(H, y0)), max(0, -x0), max(0, x1 - max(W, x0)),
                             cv2.BORDER_CONSTANT, value=(128, 128, 128))
    size = int(round(face_px * (1 + 2 * CNN_MARGIN)))
    s = size / side
    crop = cv2.resize(reg, (size, size), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return np.ascontiguousarray(crop), float(x0), float(y0), s


def cnn_verify(rgb: np.ndarray, boxes: list[Box], min_confidence: float = 0.0) -> list[tuple[float, Box] | None]:
    """The CNN's face at each box as (MMOD confidence, its box in frame coordinates), None = no
    face there; one batch of small crops. A face counts when the CNN's box overlaps the
    candidate (IoU > 0.3). MMOD's boxes follow the same convention as HOG's (both trained on
    dlib's face boxes), so the landmark models take either; the CNN's is the better placed."""
    if not boxes:
        return []
    crops = [_cnn_crop(rgb, b) for b in boxes]
    dets = dlib_models.cnn_detector()([c[0] for c in crops], 0, len(crops))
    out: list[tuple[float, Box] | None] = []
    for b, (_, x0, y0, s), ds in zip(boxes, crops, dets, strict=True):
        best = None
        for d in ds:
            r = d.rect
            cb = (int(r.left() / s + x0), int(r.top() / s + y0), int(r.width() / s), int(r.height() / s))
            if iou(cb, b) > 0.3 and d.confidence >= min_confidence and (best is None or d.confidence > best[0]):
                best = (float(d.confidence), cb)
        out.append(best)
    return out


def detect_faces(rgb: np.ndarray, cfg: DetectorConfig = DetectorConfig()) -> list[tuple[Box, float]]:
    """All faces in an RGB frame as ((x, y, w, h), score), score roughly comparable to HOG's."""
    return [(b, s) for b, s, _ in detect_faces_cues(rgb, cfg)]


def detect_faces_cues(rgb: np.ndarray, cfg: DetectorConfig = DetectorConfig()) -> list[tuple[Box, float, str]]:
    """`detect_faces` with the cue that found each face: "hog" (dlib's frontal filters),
    "hog_mask" (our masked-face filter), "verified" (a cascade hit HOG confirmed on a crop),
    "cascades" (two cascades agree), "photo" / "photo_mask" (the photo pass, when on: see
    `photo_faces`), "blaze" (BlazeFace, when on, where no other cue found a face), "blaze_far"
    (its second look at half size, where no other face overlaps) or "cnn" (a
    HOG near miss the CNN confirmed). Dropping the
    "cnn" faces gives exactly what the detector finds without the check."""
    h, w = rgb.shape[:2]
    scale = 80.0 / cfg.min_face_px
    scale = min(scale, (cfg.max_work_pixels / (h * w)) ** 0.5)
    thr = {"hog": cfg.hog_threshold, "hog_mask": cfg.hog_threshold + cfg.mask_hog_offset}
    thr.update(photo=thr["hog"], photo_mask=thr["hog_mask"])
    low = min(thr.values()) if cfg.use_mask_hog else cfg.hog_threshold
    low = min(low, cfg.cnn_candidate_threshold) if cfg.cnn_active else low
    # One HOG pass: its threshold only filters what it reports.
    hog = hog_faces_cues(rgb, scale, low, masked=cfg.use_mask_hog)
    if cfg.photo_active:
        hog += photo_faces(rgb, cfg, low, [b for b, s, k in hog if s >= thr[k]])
    cands: list[tuple[Box, float, str]] = [(b, s + 1.0, k) for b, s, k in hog if s >= thr[k]]
    near = [(b, s) for b, s, k in hog if s < thr[k]]
    grey = None
    if cfg.use_haar or cfg.use_eyes:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    weak: list[Box] = []
    if cfg.use_haar and grey is not None:
        weak += haar_faces(grey, cfg.min_face_px)
    if cfg.use_eyes and grey is not None:
        weak += eye_pair_faces(grey, cfg.min_face_px)
    strong = [c[0] for c in cands]
    for b in weak:
        if any(iou(b, s) > 0.3 for s in strong):
            continue
        agree = sum(iou(b, o) > 0.3 for o in weak) - 1
        v = verify(rgb, b)
        if v is not None:
            cands.append((b, v + 1.0, "verified"))
        elif agree >= 1:
            cands.append((b, 0.3, "cascades"))
    if cfg.tiles_active:
        cands += tile_faces(rgb, cfg, [c[0] for c in cands])
    if cfg.use_blazeface:
        bf = blazeface.load()
        taken = [c[0] for c in cands]
        cands += [(b, s, "blaze") for b, s in bf.detect(rgb)
                  if b[2] >= cfg.min_face_px and all(iou(b, o) <= 0.3 for o in taken)]
        if cfg.blazeface_zoom_out:
            taken = [c[0] for c in cands]
            far = bf.detect(rgb, blazeface.ZOOM_OUT_MIN_SCORE, zoom_out=blazeface.ZOOM_OUT)
            cands += [(b, s, "blaze_far") for b, s in far
                      if b[2] >= cfg.min_face_px and all(overlap_of_smaller(b, o) <= 0.3 for o in taken)]
    if cfg.cnn_active and near:
        taken = [c[0] for c in cands]
        todo: list[tuple[Box, float]] = []
        for b, s in sorted(near, key=lambda c: -c[1]):
            if len(todo) >= cfg.cnn_max_checks:
                break
            if all(iou(b, o) <= 0.3 for o in taken) and all(iou(b, o) <= 0.3 for o, _ in todo):
                todo.append((b, s))
        for (_, s), c in zip(todo, cnn_verify(rgb, [b for b, _ in todo], cfg.cnn_min_confidence), strict=True):
            if c is not None and all(iou(c[1], o) <= 0.3 for o in taken):
                cands.append((c[1], s + 1.0, "cnn"))
    return nms(cands, cfg.nms_iou)
