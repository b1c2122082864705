"""Face exposure: a face the camera left dark is brightened before it is embedded.

An office camera exposes for the whole picture: in a dim hall its auto-exposure runs out of gain,
and at a morning apel against a bright sky or window it exposes for the background, so the faces
come out dark, where dlib and FaceRes (trained on well exposed faces) give embeddings further
from the person's enrolment photos. A camera's face auto-exposure would have exposed the face
itself; this does the same afterwards on the aligned chip: a uniform gain (an exposure change, so
the face's own contrasts keep their ratios) that brings the middle of the face to a normal
brightness, only when it is dark, so a face exposed as usual is left exactly as it was
(PipelineConfig.even_light)."""
from __future__ import annotations

import numpy as np

# A chip whose face (its middle, where the aligned chip holds cheeks, eyes, nose and mouth) has a
# median grey level under DARK_LUMA is brightened so the median reaches TARGET_LUMA, by at most
# MAX_GAIN (a face that dark is mostly noise; more gain brings up nothing but the noise).
DARK_LUMA = 70.0
TARGET_LUMA = 120.0
MAX_GAIN = 3.0
_MIDDLE = (slice(45, 120), slice(40, 110))   # rows, columns of dlib's 150 px chip (padding 0.25)


def face_luma(chip_rgb: np.ndarray) -> float:
    """Median grey level (Rec. 601 weights, as OpenCV's grey) of the chip's middle."""
    h, w = chip_rgb.shape[:2]
    rows = slice(h * _MIDDLE[0].start // 150, h * _MIDDLE[0].stop // 150)
    cols = slice(w * _MIDDLE[1].start // 150, w * _MIDDLE[1].stop // 150)
    mid = chip_rgb[rows, cols].astype(np.float32)
    return float(np.median(mid @ np.array([0.299, 0.587, 0.114], np.float32)))


def expose_face(chip_rgb: np.ndarray) -> np.ndarray:
    """The chip as a face-exposed camera would have taken it: unchanged unless its face is dark."""
    m = face_luma(chip_rgb)
    if m >= DARK_LUMA:
        return chip_rgb
    gain = min(MAX_GAIN, TARGET_LUMA / max(m, 1.0))
    lut = np.clip(np.arange(256, dtype=np.float32) * gain + 0.5, 0, 255).astype(np.uint8)
    out: np.ndarray = lut[chip_rgb]
    return out
