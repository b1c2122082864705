"""The pinhole camera: focal length from the field of view, depth from the eye spacing, position.

A pinhole camera with focal length f = (width / 2) / tan(hfov / 2) pixels sees a distance D
between the eyes as D * f / z pixels, so z = f * D / d_px. Adults' interpupillary distances
differ from the mean by a few millimetres, which bounds the error from anatomy; the rest is
landmark noise on small faces, which tracks smooth out. An operator who knows one person's
distance can calibrate `ipd_m` instead (docs/vision.md, "Calibrating distance"). The measured
pixel spacing goes through `unbiased_eye_px` first (dlib's landmarks measure small faces short)."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

MEAN_IPD_M, IPD_SD_M = 0.063, 0.003     # adults' interpupillary distance: mean, spread
# Relative error of one person's depth from eye spacing: their own IPD (63 +- 3 mm) and dlib's
# 5-point eye landmarks on that face (how it was measured, and the larger value that was tried
# and not adopted: docs/vision.md, "Depth from eye spacing").
EYE_SPACING_REL_SD = 0.057
# ... of a masked face: the mask hides the lower landmarks the aligner leans on.
MASKED_EYE_SPACING_REL_SD = 0.075
EYE_PX_SD = 2.0   # landmark/box jitter of the eye row, pixels

IPD_BIAS_PATH = Path(__file__).resolve().parents[1] / "models" / "ipd_bias.json"


def focal_px(width_px: int, hfov_deg: float) -> float:
    """The focal length in pixels of a picture `width_px` wide seen over `hfov_deg`."""
    return (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def eye_distance_px(shape5_pts: NDArray[np.floating]) -> float:
    """dlib's 5-point model: points 0-1 one eye's corners, 2-3 the other's, 4 the nose."""
    a = shape5_pts[0:2].mean(axis=0)
    b = shape5_pts[2:4].mean(axis=0)
    return float(np.linalg.norm(a - b))


@dataclass(frozen=True)
class IpdBias:
    """How much shorter dlib's landmarks measure the eye spacing of a small face than it is:
    measured / true = 1 - (d0_px / measured) ** p (fitted on real photos scaled down, see
    training/fit_ipd_bias.py). Below `min_px` the curve is not extrapolated (held at min_px)."""
    d0_px: float
    p: float
    min_px: float = 8.0

    def ratio(self, measured_px: float) -> float:
        d = max(float(measured_px), self.min_px)
        return 1.0 - float((self.d0_px / d) ** self.p)

    def unbiased(self, measured_px: float) -> float:
        return float(measured_px) / self.ratio(measured_px)


@functools.lru_cache(maxsize=1)
def ipd_bias() -> IpdBias:
    """The fitted correction (models/ipd_bias.json), read once."""
    data = json.loads(IPD_BIAS_PATH.read_text())
    return IpdBias(float(data["d0_px"]), float(data["p"]), float(data["valid_measured_px"][0]))


def unbiased_eye_px(measured_px: float) -> float:
    """Eye spacing in pixels as it is, from what `eye_distance_px` measures on a frame. Use it
    wherever a measured spacing becomes a depth: dlib's 5-point landmarks measure the eyes of a
    very small face a little short (the correction, fitted on real photos scaled down by
    training/fit_ipd_bias.py, is nil for all but the smallest faces; docs/vision.md)."""
    return ipd_bias().unbiased(measured_px)


def depth_m(eye_px: float, f_px: float, ipd_m: float = MEAN_IPD_M) -> float:
    """Distance along the camera's axis of a face whose eyes are `eye_px` apart."""
    return f_px * ipd_m / max(eye_px, 1e-3)


def position_m(cx_px: float, cy_px: float, z_m: float, f_px: float, width: int,
               height: int) -> tuple[float, float, float]:
    """Camera coordinates: x right, y down, z forward (metres)."""
    return ((cx_px - width / 2.0) * z_m / f_px, (cy_px - height / 2.0) * z_m / f_px, z_m)


def normalised_x(eye_x_px: ArrayLike | None, width_px: int | None, f_px: float,
                 z: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each picture column as (u - W/2) / f (zeros without columns: everybody straight ahead)."""
    if eye_x_px is None:
        return np.zeros_like(z)
    return (np.asarray(eye_x_px, np.float64).ravel() - (width_px if width_px is not None else 0) / 2.0) / f_px
