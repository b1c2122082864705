"""Face exposure (attendance/vision/lighting.py) on real photos: a face exposed as usual is left as it
is, and a face the light left dark is brought back nearer to what the recogniser sees of the same
face well lit."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from attendance.vision.detect.detector import DetectorConfig, detect_faces
from attendance.vision.faces import embed_chips, face_chip, landmarks5
from attendance.vision.lighting import DARK_LUMA, expose_face, face_luma
from tests.attendance.vision.conftest import read_rgb


def darker(rgb: np.ndarray, exposure: float) -> np.ndarray:
    """The photo at `exposure` times the light (in linear light, sRGB's gamma about 2.2)."""
    lin = (rgb.astype(np.float32) / 255.0) ** 2.2 * exposure
    return (lin ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)


def chips(lfw: Path, n: int = 6) -> list[np.ndarray]:
    out = []
    for d in sorted(p for p in lfw.iterdir() if p.is_dir())[:n]:
        rgb = read_rgb(sorted(d.glob("*.jpg"))[0])
        (box, _), *_ = sorted(detect_faces(rgb, DetectorConfig(min_face_px=60)), key=lambda f: -f[0][2])
        out.append((rgb, box))
    return out


def test_a_face_exposed_as_usual_is_untouched(lfw: Path) -> None:
    for rgb, box in chips(lfw):
        chip = face_chip(rgb, landmarks5(rgb, box))
        assert face_luma(chip) >= DARK_LUMA
        assert expose_face(chip) is chip


def test_a_dark_face_is_brought_back_towards_its_well_lit_embedding(lfw: Path) -> None:
    closer = 0
    for rgb, box in chips(lfw):
        well = face_chip(rgb, landmarks5(rgb, box))
        dark = darker(rgb, 0.08)   # about 3.5 stops under
        dark_chip = face_chip(dark, landmarks5(dark, box))
        lifted = expose_face(dark_chip)
        assert face_luma(dark_chip) < DARK_LUMA
        assert abs(face_luma(lifted) - face_luma(well)) < abs(face_luma(dark_chip) - face_luma(well))
        e_well, e_dark, e_lift = embed_chips([well, dark_chip, lifted])
        closer += float(np.linalg.norm(e_lift - e_well)) < float(np.linalg.norm(e_dark - e_well))
    assert closer >= 5   # of 6 people
