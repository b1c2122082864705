"""Which pairs of people stand closer than the office's minimum distance.

Three answers: `violations`, every pair closer than the minimum as placed; `pair_estimates`, the
pairs near the minimum with their distance's uncertainty and the probability they are too close;
and `likely_violations`, the pairs closer with a probability above a bar, so a pair at the limit is
reported only when the evidence is strong. Whether a pair becomes an alert a leader sees is
decided over time, in alerts.py."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
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


@dataclass(frozen=True)
class PairEstimate:
    """Two faces of one frame (indices into its faces), their estimated distance, its standard
    deviation from the fit's uncertainty (0 when unknown), and the probability that they stand
    closer than the minimum: what a distancing alert is decided from and what the overlay shows."""
    i: int
    j: int
    distance_m: float
    sd_m: float
    p_close: float
    # When a row assignment is in doubt (`pair_estimates`' `alternatives`): each assignment of the
    # two as (weight, distance_m, sd_m), the fit's first; `distance_m` is then the fit's, `sd_m` the
    # whole mixture's spread about it and `p_close` its probability. Empty: one assignment.
    modes: tuple[tuple[float, float, float], ...] = ()

    def components(self) -> tuple[tuple[float, float, float], ...]:
        """(weight, distance_m, sd_m) of each row assignment of the pair (one when it is sure)."""
        return self.modes or ((1.0, self.distance_m, self.sd_m),)


Alternatives = Sequence[Sequence[tuple[float, float]]]


def pair_estimates(positions: Sequence[tuple[float, float, float]] | ArrayLike, cov_log_z: ArrayLike,
                   min_distance_m: float, *, within: float = 1.5,
                   alternatives: Alternatives | None = None) -> list[PairEstimate]:
    """Every pair estimated closer than `within` times the minimum, with the distance's standard
    deviation and P(closer than the minimum), given the covariance of the log depths (`cov_log_z`,
    n x n). Each person's error moves them along their own ray, so the pair's distance d varies by
    (P_i . u) dlog z_i - (P_j . u) dlog z_j (u the unit vector from j to i), with the covariance of
    the two: small for two people side by side in one row (their common row error moves both alike
    and the distance between them is mostly across the picture, which is measured well), larger
    for people in different rows, whose row errors do not cancel. A pair with an unknown depth has
    sd 0 and P 1 or 0 by d < min_distance_m.

    `alternatives`: per person, the other depths they may stand at when their row is in doubt and
    each one's weight, [(weight, z_m)] (`rows.row_alternatives`), the fit's depth keeping the rest.
    A pair of which one is in doubt is judged over every assignment of the two (each moved along
    their own ray), each with the fit's sd: P(too close) is the mixture's, so a pair too close only
    if somebody stands in the row the fit guessed is not reported as surely too close."""
    p = np.asarray(positions, np.float64).reshape(-1, 3)
    cov = np.asarray(cov_log_z, np.float64)
    n = len(p)
    if n < 2:
        return []
    i, j = np.triu_indices(n, 1)   # every pair at once: this runs on every analysed frame
    diff = p[i] - p[j]
    d = np.linalg.norm(diff, axis=1)
    near = d < within * min_distance_m
    i, j, diff, d = i[near], j[near], diff[near], d[near]
    u = diff / np.maximum(d, 1e-9)[:, None]
    gi, gj = np.einsum("kd,kd->k", p[i], u), -np.einsum("kd,kd->k", p[j], u)
    cii, cjj, cij = cov[i, i], cov[j, j], cov[i, j]
    finite = np.isfinite(cii) & np.isfinite(cjj) & np.isfinite(cij)
    var = np.where(finite, gi * gi * np.where(finite, cii, 0) + 2 * gi * gj * np.where(finite, cij, 0)
                   + gj * gj * np.where(finite, cjj, 0), 0.0)
    sd = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        prob = np.where(sd > 0, ndtr((min_distance_m - d) / np.where(sd > 0, sd, 1.0)), (d < min_distance_m) * 1.0)
    out = [PairEstimate(int(a), int(b), round(float(dd), 3), round(float(s), 3), float(pr))
           for a, b, dd, s, pr in zip(i, j, d, sd, prob, strict=True)]
    if alternatives is not None and any(alternatives):
        out = [_with_alternatives(e, p, alternatives, min_distance_m) if alternatives[e.i] or alternatives[e.j] else e
               for e in out]
    return out


def _with_alternatives(e: PairEstimate, p: NDArray[np.float64], alternatives: Alternatives,
                       min_distance_m: float) -> PairEstimate:
    """`e` judged over every row assignment of its two people (see `pair_estimates`)."""
    def options(k: int) -> list[tuple[float, NDArray[np.float64]]]:
        alt = alternatives[k]
        return [(1.0 - sum(w for w, _ in alt), p[k])] + [(w, p[k] * (z / p[k][2])) for w, z in alt]

    modes = [(wi * wj, float(np.linalg.norm(pi - pj)), e.sd_m) for wi, pi in options(e.i) for wj, pj in options(e.j)]
    w = np.array([m[0] for m in modes])
    d = np.array([m[1] for m in modes])
    if e.sd_m > 0:
        p_close = float(w @ ndtr((min_distance_m - d) / e.sd_m))
    else:
        p_close = float(w @ (d < min_distance_m))
    spread = math.sqrt(float(w @ ((d - e.distance_m) ** 2)) + e.sd_m ** 2)
    return PairEstimate(e.i, e.j, e.distance_m, round(spread, 3), p_close,
                        tuple((round(float(a), 4), round(float(b), 3), c) for a, b, c in modes))


def likely_violations(positions: Sequence[tuple[float, float, float]] | ArrayLike, cov_log_z: ArrayLike,
                      min_distance_m: float, p_min: float = VIOLATION_P_MIN) -> list[tuple[int, int, float]]:
    """Pairs closer than the minimum with probability above `p_min` (`pair_estimates`). With
    p_min = 0.5 this is d < min_distance_m; above it, a pair is reported only when the evidence is
    strong, which drops mostly the between-row pairs at the limit."""
    return [(e.i, e.j, e.distance_m) for e in pair_estimates(positions, cov_log_z, min_distance_m, within=1.0)
            if e.p_close > p_min]
