"""BlazeFace, the stills detector: real photos in, boxes out, and what it adds to the detector."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision.detect import blazeface
from attendance.vision.detect.boxes import iou
from attendance.vision.detect.detector import DetectorConfig, detect_faces_cues, hog_faces
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.mask import default_classifier

from .conftest import annotated_group_photos, read_rgb


def test_blazeface_boxes_agree_with_dlibs_on_portraits(lfw: Path) -> None:
    """On lfw10 portraits its box is dlib's HOG box, give or take (the two sizes agree to 1%
    in median over 111 faces, so landmarks fitted from either box land alike)."""
    det = blazeface.load()
    overlaps = []
    for p in sorted(lfw.glob("*/*.jpg"))[::10]:
        rgb = read_rgb(p)
        ref = hog_faces(rgb, 1.0, 0.0)
        found = det.detect(rgb)
        if ref:
            assert found, p.name
            overlaps.append(max(iou(ref[0][0], b) for b, _ in found))
    assert len(overlaps) >= 8 and np.median(overlaps) > 0.6, overlaps


def test_blazeface_finds_nothing_in_an_image_without_faces() -> None:
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    pattern = np.stack([128 + 100 * np.sin(x / 23.0), 128 + 100 * np.cos(y / 17.0), (x + y) / 4.5], -1)
    for img in (np.full((480, 640, 3), 127, np.uint8), pattern.clip(0, 255).astype(np.uint8)):
        assert blazeface.load().detect(img) == []
        assert blazeface.load().detect(img, zoom_out=blazeface.ZOOM_OUT) == []
    with pytest.raises(ValueError, match="zoom_out"):
        blazeface.load().detect(pattern.clip(0, 255).astype(np.uint8), zoom_out=0.5)


def test_blazeface_only_fills_in_where_no_other_cue_found_a_face(lfw: Path) -> None:
    """On portraits HOG already finds the face: neither BlazeFace look adds a copy of it (the
    half-size look's boxes are looser, so it is held off any face that overlaps it at all)."""
    seen = 0
    for p in sorted(lfw.glob("*/*.jpg"))[::10]:
        rgb = read_rgb(p)
        plain = detect_faces_cues(rgb, DetectorConfig())
        if [k for _, _, k in plain] != ["hog"]:
            continue
        seen += 1
        with_blaze = detect_faces_cues(rgb, DetectorConfig(use_blazeface=True))
        assert [k for _, _, k in with_blaze] == ["hog"], p.name
    assert seen >= 8


def test_stills_find_more_masked_faces_with_blazeface(shared_data: Path) -> None:
    """On masks/scenes (every 12th image: 40 photos of masked people), the look `apel analyze`
    uses for images finds a face it classifies as masked in more of them with BlazeFace than
    without (bench/bench_masks.py measures all 480)."""
    clf = default_classifier()
    scenes = sorted((shared_data / "masks" / "scenes").glob("*/*.jpg"))[::12]
    assert len(scenes) == 40
    cfg = DetectorConfig(use_blazeface=True)

    def masked_in(rgb, look) -> bool:
        faces = detect_faces_cues(rgb, look)
        chips = [face_chip(rgb, landmarks5(rgb, b)) for b, _, _ in faces]
        return bool(chips) and bool((clf.predict_proba(chips) >= 0.5).any())

    with_blaze = without = 0
    for p in scenes:
        rgb = read_rgb(p)
        scale = min(1.0, 640 / max(rgb.shape[:2]))   # as bench_masks reads them
        rgb = np.ascontiguousarray(cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        with_blaze += masked_in(rgb, cfg)
        without += masked_in(rgb, replace(cfg, use_blazeface=False))
    assert with_blaze >= without + 4, (with_blaze, without)


def test_blazeface_at_half_size_finds_masked_faces_the_first_look_misses(shared_data: Path) -> None:
    """masks/scenes, all 480 images (the gain is ~2%: a subset is too small to show it): the stills
    look with BlazeFace's second look at half size finds a face it classifies as masked in more
    images than without it (10 more when measured; by eye 9 of them real masked faces), and on
    groups/dlib_annotated it adds no more than one face that is not annotated (bench_masks.py
    measures all 480 scenes and the false faces)."""
    clf = default_classifier()
    cfg = DetectorConfig(min_face_px=20, use_blazeface=True)
    far = near = 0
    for p in sorted((shared_data / "masks" / "scenes").glob("*/*.jpg")):
        rgb = read_rgb(p)
        faces = detect_faces_cues(rgb, cfg)
        chips = [face_chip(rgb, landmarks5(rgb, b)) for b, _, _ in faces]
        masked = clf.predict_proba(chips) >= 0.5 if chips else np.zeros(0, bool)
        far += bool(masked.any())
        near += bool(any(m for m, (_, _, k) in zip(masked, faces, strict=True) if k != "blaze_far"))
    assert far >= near + 6, (far, near)
    false = 0
    for _, rgb, truth in annotated_group_photos(shared_data):
        false += sum(k == "blaze_far" and all(iou(b, g) < 0.3 for g in truth)
                     for b, _, k in detect_faces_cues(rgb, cfg))
    assert false <= 1, false


@pytest.mark.parametrize("bad", [np.zeros((0, 0, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)])
def test_degenerate_images_give_no_faces(bad: np.ndarray) -> None:
    if bad.size == 0:
        with pytest.raises(ValueError):
            blazeface.load().detect(bad)
    else:
        assert blazeface.load().detect(bad) == []
