"""The detector's CNN check (dlib MMOD on crops around HOG's near misses), on real photos from
../shared/data: masked faces HOG misses are found, non-faces are turned away, and the check stays
off in the pipeline's cheap "rows" look."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision.detect import detector as detect
from attendance.vision.detect.boxes import iou
from attendance.vision.detect.detector import DetectorConfig, cnn_verify, detect_faces, detect_faces_cues, hog_faces
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.mask import default_classifier

from .conftest import annotated_group_photos, read_rgb

# as bench/bench_masks.py, without the masked-face HOG filter (these tests are about the CNN check
# on what dlib's frontal filters and the cascades miss; see test_detect_masked.py for the filter)
SCENES_CFG = DetectorConfig(min_face_px=20, hog_threshold=-0.5, use_mask_hog=False)
# masks/scenes photos in which HOG and the cascades find no masked face and the CNN check does
# (picked from a bench run; each is a plainly visible masked face).
SCENES_HOG_MISSES = ["0001/0085.jpg", "0001/0150.jpg"]


def scene(shared_data: Path, rel: str) -> np.ndarray:
    rgb = read_rgb(shared_data / "masks" / "scenes" / rel)
    s = min(1.0, 640 / max(rgb.shape[:2]))
    return np.ascontiguousarray(cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else rgb)


def masked_faces(rgb: np.ndarray, faces) -> list:
    if not faces:
        return []
    chips = [face_chip(rgb, landmarks5(rgb, f[0])) for f in faces]
    p = default_classifier().predict_proba(chips)
    return [f for f, q in zip(faces, p, strict=True) if q >= 0.5]


@pytest.mark.parametrize("rel", SCENES_HOG_MISSES)
def test_cnn_check_finds_masked_face_hog_misses(shared_data, rel):
    rgb = scene(shared_data, rel)
    without = detect_faces_cues(rgb, replace(SCENES_CFG, use_cnn_check=False))
    found = detect_faces_cues(rgb, SCENES_CFG)
    assert not masked_faces(rgb, without)
    added = [f for f in found if f[2] == "cnn"]
    assert masked_faces(rgb, added), found
    # exactly the faces found without the check, plus the check's own
    assert sorted(f for f in found if f[2] != "cnn") == sorted(without)


def test_cnn_verify_rejects_hog_near_misses_on_dogs(shared_data):
    """dogs.jpg has no human face: HOG's near misses there are all turned away."""
    rgb = read_rgb(shared_data / "groups" / "dlib_annotated" / "dogs.jpg")
    near = [b for b, s in hog_faces(rgb, 80 / 20, -1.2) if s < -0.3]
    assert len(near) >= 2, near
    assert cnn_verify(rgb, near) == [None] * len(near)
    assert [f for f in detect_faces_cues(rgb, DetectorConfig(min_face_px=20)) if f[2] == "cnn"] == []


def test_cnn_verify_rejects_clothes_and_background(shared_data):
    """On PASCAL VOC photos with every face boxed, HOG's near misses away from any face
    (clothes, hands, background) are all turned away by the CNN."""
    checked = 0
    for name, rgb, gt in annotated_group_photos(shared_data, dogs=False):
        near = [b for b, s in hog_faces(rgb, 80 / 20, -1.0) if s < -0.3 and all(iou(b, g) < 0.1 for g in gt)]
        near = near[:6]
        checked += len(near)
        confirmed = [b for b, c in zip(near, cnn_verify(rgb, near), strict=True) if c is not None]
        assert confirmed == [], (name, confirmed)
    assert checked >= 10, checked


def test_cnn_check_adds_only_true_faces_on_annotated_group_photos(shared_data):
    """PASCAL VOC photos with every face boxed (dlib's examples): each face the check adds
    overlaps a true face."""
    for name, rgb, gt in annotated_group_photos(shared_data, dogs=False):
        for b, _, k in detect_faces_cues(rgb, DetectorConfig(min_face_px=20)):
            if k == "cnn":
                assert any(iou(b, g) >= 0.3 for g in gt), (name, b)


def test_cnn_verify_confirms_an_unmasked_face(lfw):
    rgb = read_rgb(next(iter(sorted(lfw.glob("*/*.jpg")))))
    box = max((b for b, _ in detect_faces(rgb, replace(DetectorConfig(), use_cnn_check=False))), key=lambda b: b[2])
    (c,) = cnn_verify(rgb, [box])
    assert c is not None and c[0] > 0.5 and iou(c[1], box) > 0.5


def test_cnn_check_is_off_in_the_rows_look(shared_data, monkeypatch):
    """The pipeline's periodic "rows" look turns both cascades off: the CNN check is off too."""
    assert DetectorConfig().cnn_active
    assert not DetectorConfig(use_haar=False, use_eyes=False).cnn_active
    assert not DetectorConfig(use_cnn_check=False).cnn_active
    calls = []
    real = detect.cnn_verify

    def spy(rgb, boxes, min_confidence=0.0):
        calls.append(len(boxes))
        return real(rgb, boxes, min_confidence)

    monkeypatch.setattr(detect, "cnn_verify", spy)
    rgb = scene(shared_data, SCENES_HOG_MISSES[0])
    detect_faces(rgb, replace(SCENES_CFG, use_haar=False, use_eyes=False))
    assert calls == []
    detect_faces(rgb, SCENES_CFG)
    assert calls and 1 <= calls[0] <= SCENES_CFG.cnn_max_checks
