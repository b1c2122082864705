"""The tiled look for small faces (issue 18): an office's back rows, 35-45 px faces in 1080p,
found by BlazeFace on tiles where dlib's HOG misses them, without false faces on real photos."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision.config import PipelineConfig
from attendance.vision.detect import blazeface
from attendance.vision.detect.boxes import Box, iou
from attendance.vision.detect.detector import DetectorConfig, detect_faces_cues
from attendance.vision.pipeline import OfficePipeline

from .conftest import annotated_group_photos, read_rgb

BACK_PX, FRONT_PX = 40, 56


def _paste(frame: np.ndarray, photo: np.ndarray, width: int, x: int, y: int) -> Box | None:
    """The photo's face scaled to `width` px, its head cut out by a soft ellipse (as the synthetic
    office cuts its sprites), its box's corner at (x, y); the box, or None without a face."""
    found = blazeface.load().detect(photo)
    if not found:
        return None
    (bx, by, bw, bh), _ = found[0]
    s = width / bw
    small = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    bx, by, bw, bh = int(bx * s), int(by * s), int(bw * s), int(bh * s)
    alpha = np.zeros(small.shape[:2], np.float32)
    cv2.ellipse(alpha, (bx + bw // 2, by + bh // 2), (int(bw * 0.62), int(bh * 0.75)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (5, 5), 0)[..., None]
    x0, y0 = x - bx, y - by
    h, w = small.shape[:2]
    ys, xs = slice(max(0, y0), min(frame.shape[0], y0 + h)), slice(max(0, x0), min(frame.shape[1], x0 + w))
    a = alpha[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    part = small[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0].astype(np.float32)
    frame[ys, xs] = (frame[ys, xs].astype(np.float32) * (1 - a) + part * a).astype(np.uint8)
    return (x, y, bw, bh)


@pytest.fixture(scope="module")
def office(shared_data: Path) -> tuple[np.ndarray, list[Box], list[Box]]:
    """A 1080p frame of two rows of real East-Asian faces (faces/rmfd, each person's first two
    photos): a back row 40 px wide, a front row 56 px, on a wall, through JPEG (a stand-in for the
    video codec). Returns (RGB, back-row boxes, front-row boxes)."""
    frame = np.full((1080, 1920, 3), 188, np.uint8)
    frame = (frame + np.random.default_rng(0).normal(0, 3, frame.shape)).clip(0, 255).astype(np.uint8)
    back: list[Box] = []
    front: list[Box] = []
    x = 80
    for d in sorted(p for p in (shared_data / "faces" / "rmfd").iterdir() if p.is_dir()):
        if len(back) >= 12:
            break
        photos = sorted(d.glob("*.jpg"))
        if len(photos) < 2:
            continue
        b = _paste(frame, read_rgb(photos[0]), BACK_PX, x, 420)
        if b is None:
            continue
        back.append(b)
        f = _paste(frame, read_rgb(photos[1]), FRONT_PX, x + BACK_PX // 2, 470)
        if f is not None:
            front.append(f)
        x += 150
    ok, enc = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 60])
    decoded = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    assert ok and decoded is not None
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), back, front


def _found(faces: list[tuple[Box, float, str]], truth: list[Box]) -> int:
    return sum(any(iou(b, t) > 0.3 for b, _, _ in faces) for t in truth)


@pytest.fixture(scope="module")
def live() -> DetectorConfig:
    """The live pipeline's whole-frame look, as it configures it (no roster needed)."""
    return OfficePipeline([]).detector


def test_the_live_look_finds_back_row_faces_hog_misses(office: tuple[np.ndarray, list[Box], list[Box]],
                                                       live: DetectorConfig) -> None:
    """The whole-frame look as the pipeline runs it (min_face_px 32): with the tiled look every
    back-row face is found, without it HOG and the cascades miss several; every box is a face."""
    rgb, back, front = office
    assert len(back) == 12 and live.min_face_px == 32 and live.tiles_active
    new = detect_faces_cues(rgb, live)
    old = detect_faces_cues(rgb, replace(live, tile_faces=0.0))
    assert _found(new, back) >= 11, [k for _, _, k in new]
    assert _found(old, back) <= 9, [k for _, _, k in old]
    assert "tile" in {k for _, _, k in new} and "tile" not in {k for _, _, k in old}
    assert _found(new, front) >= _found(old, front)
    assert all(any(iou(b, t) > 0.3 for t in back + front) for b, _, _ in new), "a box that is no face"


def test_the_tiled_look_adds_no_false_face_to_real_group_photos(shared_data: Path, live: DetectorConfig) -> None:
    """groups/dlib_annotated (every face boxed; dogs.jpg has none): the tiled look adds no box
    off an annotated face, so no unknown face reaches the operator from it."""
    seen = 0
    for name, rgb, gt in annotated_group_photos(shared_data):
        for b, _, k in detect_faces_cues(rgb, live):
            if k == "tile":
                assert any(iou(b, g) > 0.3 for g in gt), (name, b)
        seen += 1
    assert seen >= 5


def test_the_tiled_look_is_off_for_stills_and_in_the_rows_look(office: tuple[np.ndarray, list[Box], list[Box]],
                                                               live: DetectorConfig) -> None:
    rgb, _, _ = office
    assert not DetectorConfig().tiles_active       # photo benches and callers of detect_faces: unchanged
    assert not OfficePipeline([], PipelineConfig().for_stills()).detector.tiles_active   # BlazeFace's own look there
    rows = replace(live, use_haar=False, use_eyes=False)    # the pipeline's cheap rows look
    assert not rows.tiles_active
    assert "tile" not in {k for _, _, k in detect_faces_cues(rgb, rows)}


def test_detect_tiles_boxes_are_in_frame_coordinates(office: tuple[np.ndarray, list[Box], list[Box]]) -> None:
    rgb, back, _ = office
    found = blazeface.load().detect_tiles(rgb, 256)
    assert _found([(b, s, "") for b, s in found], back) >= 10
    assert blazeface.load().detect_tiles(np.full((300, 400, 3), 127, np.uint8), 256) == []
    with pytest.raises(ValueError, match="empty"):
        blazeface.load().detect_tiles(np.zeros((0, 10, 3), np.uint8), 256)


def test_a_joining_office_first_answer_goes_without_the_tiles(office: tuple[np.ndarray, list[Box], list[Box]],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiled look is one of a whole look's dear parts: a joining office's first answer skips it (as
    it skips the cascades, the CNN check and the masked-face filter); a whole look that need not hurry makes it."""
    import cv2

    from attendance.vision import pipeline as pipeline_module

    rgb, _, _ = office
    looks: list[float] = []
    real = pipeline_module.detect_faces

    def spy(image: np.ndarray, cfg: DetectorConfig) -> list:
        looks.append(cfg.tile_faces)
        return real(image, cfg)

    monkeypatch.setattr(pipeline_module, "detect_faces", spy)
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    OfficePipeline([], PipelineConfig()).process(bgr, 0.0)                          # a joining office
    OfficePipeline([], PipelineConfig(quick_first_frame=False)).process(bgr, 0.0)   # a whole look at ease
    assert looks[0] == 0.0 and looks[1] > 0, looks
