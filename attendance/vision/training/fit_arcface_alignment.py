"""Where the ArcFace template's five points fall in dlib's face-chip frame (recognisers.ARCFACE_IN_DLIB_CHIP).

Why: ArcFace/SFace-class models are trained on faces warped so the eye centres, nose tip and
mouth corners land on one fixed 112x112 template (InsightFace's). Our faces are aligned by dlib's
5-point model (eye corners and the base of the nose) into dlib's chip frame, which places the
face differently (eyes at 31% of the chip's height, not 46%). The two are related by one
similarity transform, measured here: dlib's 68 landmarks found on dlib chips of real photos give
the mean position of the template's five points in the chip's normalised frame (u, v), where a
chip of padding p and size s maps u to (u + p) / (1 + 2 p) * s. A central crop of the chip puts
the eyes well above the template's, and a real embedding model then matches far fewer faces
(BENCHMARKS.md, "The ONNX backend's alignment"; bench/bench_onnx_alignment.py).

Data (read in place): ../shared/data/faces/lfw10 (100 photos).
Run: .venv/bin/python -m attendance.vision.training.fit_arcface_alignment  (prints the constant)"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import CHIP_PADDING, CHIP_SIZE, face_chip, landmarks5, landmarks68
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training.protocol import DATA, identities


def template_points_in_chip(paths: list[Path]) -> np.ndarray:
    """(n, 5, 2): per photo, eye centres, nose tip and mouth corners in dlib's chip frame (pixels)."""
    out = []
    for p in paths:
        img = read_image_rgb(p)
        faces = detect_enrolment_faces(img)
        if not faces:
            continue
        chip = face_chip(img, landmarks5(img, faces[0][0]))
        in_chip = detect_enrolment_faces(chip)
        if not in_chip:
            continue
        a = landmarks68(chip, in_chip[0][0])
        out.append([a[36:42].mean(0), a[42:48].mean(0), a[30], a[48], a[54]])
    return np.asarray(out, np.float64)


def main() -> None:
    paths = [p for ps in identities(DATA / "faces/lfw10").values() for p in ps]
    pts = template_points_in_chip(paths)
    mean = pts.mean(axis=0)
    uv = mean / CHIP_SIZE * (1 + 2 * CHIP_PADDING) - CHIP_PADDING
    spread = pts.std(axis=0).mean()
    print(f"{len(pts)} photos; landmark spread {spread:.1f} px on a {CHIP_SIZE} px chip")
    print("ARCFACE_IN_DLIB_CHIP = np.array([" + ", ".join(f"({u:.4f}, {v:.4f})" for u, v in uv) + "])")


if __name__ == "__main__":
    main()
