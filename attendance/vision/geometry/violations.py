"""Which pairs of people stand closer than the office's minimum distance.

Two answers: `violations`, every pair closer than the minimum as placed, and `likely_violations`,
the pairs closer with a probability above a bar given how well the fit knows each depth, so a pair
at the limit is reported only when the evidence is strong."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

# A pair is reported when it is closer than the minimum with at least this probability.
VIOLATION_P_MIN = 0.55


def violations(positions: Sequence[tuple[float, float, float]] | ArrayLike,
               min_distance_m: float) -> list[tuple[int, int, float]]:
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


def likely_violations(positions: Sequence[tuple[float, float, float]] | ArrayLike, cov_log_z: ArrayLike,
                      min_distance_m: float, p_min: float = VIOLATION_P_MIN) -> list[tuple[int, int, float]]:
    """Pairs closer than the minimum with probability above `p_min`, given the covariance of the
    log depths (`cov_log_z`, n x n). Each person's error moves them along their own ray, so the
    pair's distance d varies by (P_i . u) dlog z_i - (P_j . u) dlog z_j (u the unit vector from j
    to i), with the covariance of the two: small for two people side by side in one row (their
    common row error moves both alike and the distance between them is mostly across the
    picture, which is measured well), larger for people in different rows, whose row errors do
    not cancel. With p_min = 0.5 this is d < min_distance_m; above it, a pair is reported only
    when the evidence is strong, which drops mostly the between-row pairs at the limit.
    A pair with an unknown depth falls back to d < min_distance_m."""
    p = np.asarray(positions, np.float64).reshape(-1, 3)
    cov = np.asarray(cov_log_z, np.float64)
    n = len(p)
    if n < 2:
        return []
    i, j = np.triu_indices(n, 1)   # every pair at once: this runs on every analysed frame
    diff = p[i] - p[j]
    d = np.linalg.norm(diff, axis=1)
    u = diff / np.maximum(d, 1e-9)[:, None]
    gi, gj = np.einsum("kd,kd->k", p[i], u), -np.einsum("kd,kd->k", p[j], u)
    cii, cjj, cij = cov[i, i], cov[j, j], cov[i, j]
    finite = np.isfinite(cii) & np.isfinite(cjj) & np.isfinite(cij)
    var = np.where(finite, gi * gi * np.where(finite, cii, 0) + 2 * gi * gj * np.where(finite, cij, 0)
                   + gj * gj * np.where(finite, cjj, 0), 0.0)
    sd = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(sd > 0, ndtr((min_distance_m - d) / np.where(sd > 0, sd, 1.0)), (d < min_distance_m) * 1.0)
    return [(int(a), int(b), round(float(dd), 3)) for a, b, dd, pr in zip(i, j, d, prob, strict=True) if pr > p_min]
