"""Where people stand, in metres, from face geometry and the camera's field of view.

A pinhole camera with focal length f = (width / 2) / tan(hfov / 2) pixels sees a distance D
between the eyes as D * f / z pixels, so z = f * D / d_px. Adult interpupillary distance is
63 mm on average (about +-4 mm between people), which bounds the error from anatomy at ~7%;
the rest is landmark noise on small faces, which tracks smooth out. An operator who knows one
person's distance can calibrate `ipd_m` instead (see docs/vision.md)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

MEAN_IPD_M = 0.063


def focal_px(width_px: int, hfov_deg: float) -> float:
    return (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def eye_distance_px(shape5_pts: np.ndarray) -> float:
    """dlib's 5-point model: points 0-1 one eye's corners, 2-3 the other's, 4 the nose."""
    a = shape5_pts[0:2].mean(axis=0)
    b = shape5_pts[2:4].mean(axis=0)
    return float(np.linalg.norm(a - b))


def depth_m(eye_px: float, f_px: float, ipd_m: float = MEAN_IPD_M) -> float:
    return f_px * ipd_m / max(eye_px, 1e-3)


def position_m(cx_px: float, cy_px: float, z_m: float, f_px: float, width: int, height: int) -> tuple[float, float, float]:
    """Camera coordinates: x right, y down, z forward (metres)."""
    return ((cx_px - width / 2.0) * z_m / f_px, (cy_px - height / 2.0) * z_m / f_px, z_m)


def violations(positions: Sequence[tuple[float, float, float]], min_distance_m: float) -> list[tuple[int, int, float]]:
    """Pairs of heads closer than the minimum. Straight-line distance in camera coordinates: it
    does not depend on how the camera is tilted, and heads of people standing in rows are at
    about the same height, so it is their distance on the floor give or take a few cm."""
    out = []
    p = np.asarray(positions, np.float64).reshape(-1, 3)
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            d = float(np.linalg.norm(p[i] - p[j]))
            if d < min_distance_m:
                out.append((i, j, round(d, 3)))
    return out
