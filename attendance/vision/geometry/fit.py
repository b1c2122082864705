"""One frame's fit: every face's depth refined by the heads' plane and the rows, and the pairs too close.

Depth from eye spacing uses the population's mean interpupillary distance, and each person's own
differs from it, enough to put people in neighbouring rows under the minimum distance. One frame
shows more: for a camera above the heads the eye rows lie on the heads' plane (plane.py), people
at an apel stand in rows, evenly spaced and maybe on measured floor lines (rows.py), and the
camera's measured height fixes the plane's scale. `fit_frame` weighs all of it in one least-squares
fit, whose covariance decides which pairs are reported (violations.likely_violations), and says
what the frame measured of each named person's own face (face_geometry.py)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from attendance.vision.geometry.camera import (
    EYE_PX_SD,
    EYE_SPACING_REL_SD,
    IPD_SD_M,
    MASKED_EYE_SPACING_REL_SD,
    MEAN_IPD_M,
    normalised_x,
    position_m,
)
from attendance.vision.geometry.plane import (
    OUTLIER_SD,
    PLANE_PRIOR_N,
    fit_head_plane,
    floor_distance,
    floor_slope,
    with_head_plane,
)
from attendance.vision.geometry.rows import (
    ROW_LINE_SD_M,
    ROW_SPACING_SD_M,
    evenly_spaced_ok,
    loose_rows_apart,
    match_row_lines,
    row_alternatives,
    segment_rows,
)
from attendance.vision.geometry.violations import VIOLATION_P_MIN, PairEstimate, pair_estimates
from attendance.vision.types import FaceGeometry

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int_]


# With the camera's height measured (an office setting), how far the heads' plane may sit from
# camera height minus the staff's average eye height: one office's mix of people (men and women,
# caps) moves its average by ~4 cm, a tape measure ~2 cm.
CAMERA_ABOVE_EYES_SD_M = 0.05


@dataclass(frozen=True)
class _OwnGeometry:
    """The learned IPD and eye height of the people a frame's faces were named as (NaN for the
    others), applied to the frame's cues before the fit."""
    ipd_m: FloatArray
    ipd_sd_m: FloatArray
    eye_offset_m: FloatArray
    eye_offset_sd_m: FloatArray
    read_with_ipd_m: float = MEAN_IPD_M     # the one IPD the depths were read with

    @classmethod
    def of(cls, geometry: Sequence[FaceGeometry | None], n: int,
           read_with_ipd_m: float = MEAN_IPD_M) -> _OwnGeometry | None:
        if len(geometry) != n:
            raise ValueError(f"{n} faces but {len(geometry)} geometries")
        if all(g is None for g in geometry):
            return None

        def col(name: str) -> FloatArray:
            return np.array([np.nan if g is None else getattr(g, name) for g in geometry], np.float64)

        return cls(col("ipd_m"), col("ipd_sd_m"), col("eye_offset_m"), col("eye_offset_sd_m"), read_with_ipd_m)

    def depths(self, z: FloatArray, rel_sd: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Depths from eye spacing read with each person's own IPD, and their relative errors:
        what is left of the landmarks' error once the population's IPD spread is taken out, and
        how well their own IPD is known."""
        known = np.isfinite(self.ipd_m)
        population = IPD_SD_M / MEAN_IPD_M
        landmarks2 = np.maximum(rel_sd ** 2 - population ** 2, 0.0)
        own = np.sqrt(landmarks2 + (self.ipd_sd_m / np.where(known, self.ipd_m, 1.0)) ** 2)
        return np.where(known, z * self.ipd_m / self.read_with_ipd_m, z), np.where(known, own, rel_sd)

    def eye_rows(self, yn: FloatArray, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Eye rows moved to where the person's eyes would be at the office's average height
        (their eyes `eye_offset_m` higher appear `eye_offset_m / z` higher in normalised
        picture units; the plane's tilt changes that by ~2% at these pitches, left out), and how
        well that height is known (NaN where it is not learned)."""
        known = np.isfinite(self.eye_offset_m)
        shift = np.where(known & np.isfinite(z) & (z > 0),
                         np.where(known, self.eye_offset_m, 0.0) / np.where(z > 0, z, 1.0), 0.0)
        return yn + shift, np.where(known, self.eye_offset_sd_m, np.nan)



def _refine(z: FloatArray, eye_y_px: FloatArray, f_px: float, height_px: int, eye_x_px: FloatArray | None,
            width_px: int | None, *, row_sd_m: float, rel_sd: float | FloatArray, head_sd_m: float,
            head_plane: bool = True, even_rows: bool = True,
            camera_above_m: float | None = None,
            row_lines_m: Sequence[float] | None = None,
            own: _OwnGeometry | None = None) -> tuple[FloatArray, FloatArray, IntArray, dict[str, Any] | None]:
    """refine_depths, also returning the covariance of the refined log depths (n x n; infinite
    variance where a depth is not positive and finite) and the row labels. `rel_sd` is one
    relative error for all or one per person; `camera_above_m`: the camera's height above the
    staff's eyes, when measured (see `_joint`); `row_lines_m`: the formation's row lines on the
    floor, metres from the camera, when measured: the rows found are matched to them in order
    (`rows.match_row_lines`) and each matched row's depth is held to its line. `own`: the learned
    IPD and eye height of the people it knows (`_OwnGeometry`): their eye spacing is read with
    their own IPD and their eye row against their own height, each with its own (smaller) error.
    The last element returned is the fit (`_joint`'s parameters, with the people it covers `k`,
    their row labels, `xn` and whether the eye rows were used), None when there was none."""
    z = np.asarray(z, np.float64).ravel()
    rel_sd = np.broadcast_to(np.asarray(rel_sd, np.float64), z.shape)
    v = np.asarray(eye_y_px, np.float64).ravel() - height_px / 2.0
    if v.shape != z.shape:
        raise ValueError(f"{len(z)} depths but {len(v)} eye rows")
    xn = normalised_x(eye_x_px, width_px, f_px, z)
    yn = v / f_px
    head_own = None
    if own is not None:
        z, rel_sd = own.depths(z, rel_sd)
        yn, head_own = own.eye_rows(yn, z)
    ok = np.isfinite(z) & (z > 0) & np.isfinite(v)
    zc, s2 = with_head_plane(z, xn, yn, rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=EYE_PX_SD / f_px,
                              use_plane=head_plane)
    labels = segment_rows(np.where(ok, zc, np.nan), s2, xn if eye_x_px is not None else None, row_sd_m=row_sd_m)
    labels = loose_rows_apart(labels, np.log(np.where(ok, zc, 1.0)), s2, np.where(ok, zc, 1.0), row_sd_m)
    out = z.copy()
    cov: FloatArray = np.full((len(z), len(z)), 0.0)
    np.fill_diagonal(cov, np.inf)
    k = np.flatnonzero(ok)
    if len(k) == 0:
        return out, cov, labels, None
    if len(k) < 2:
        cov[k, k] = rel_sd[k] ** 2
        return out, cov, labels, None
    # The eye rows carry depth only when the plane can be told from the camera's pitch: people
    # at more than one depth (the same test as `fit_head_plane`).
    eye = head_plane and fit_head_plane(xn[k], yn[k], z[k], rel_sd=rel_sd[k], head_sd_m=head_sd_m,
                                        px_sd=EYE_PX_SD / f_px) is not None
    kw: dict[str, Any] = dict(rel_sd=rel_sd[k], row_sd_m=row_sd_m, head_sd_m=head_sd_m, px_sd=EYE_PX_SD / f_px,
                              eye=eye, camera_above_m=camera_above_m)
    if head_own is not None:
        kw["head_sd_own"] = head_own[k]
    w_ipd, lab = 1.0 / z[k], labels[k]
    w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=False, **kw)
    lines = np.sort(np.asarray(row_lines_m, np.float64).ravel()) if row_lines_m is not None else np.zeros(0)
    if lines.size:
        # The lines fix each row's depth, and the formation's spacing with it.
        W, cov_W = info["W"], info["cov_W"]
        D = floor_distance(1.0 / np.maximum(W, 1e-6), info["a"], info["b"], info["c"], eye)
        slope = floor_slope(info["a"], info["b"], info["c"], eye)
        var_D = (slope / np.maximum(W, 1e-6) ** 2) ** 2 * np.maximum(np.diag(cov_W), 0.0)
        sizes = np.bincount(lab, minlength=len(W))
        matched = match_row_lines(D, var_D, sizes, lines)
        # Rows on no line (the operator measured only the front ones, people stand behind the
        # last mark) still keep the formation's even spacing when the rows pass for it.
        even = (even_rows and bool(np.any((sizes >= 2) & ~np.isfinite(matched)))
                and evenly_spaced_ok(W, cov_W, sizes))
        if np.isfinite(matched).any() or even:
            w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=even, row_lines=matched, **kw)
    elif even_rows and evenly_spaced_ok(info["W"], info["cov_W"], np.bincount(lab)):
        w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=True, **kw)
    out[k] = 1.0 / w
    cov[np.ix_(k, k)] = cw / np.outer(w, w)     # of log z = -log w
    # Which other rows each person may stand in (their own cues against the rows fitted), as the
    # depths they would stand at there: the row's depth, keeping their own step off it.
    W = np.maximum(info["W"], 1e-6)
    var_log_W = np.maximum(np.diag(info["cov_W"]), 0.0) / W ** 2
    alt_rows = row_alternatives(np.log(np.where(ok, zc, 1.0))[k], np.where(ok, s2, np.inf)[k], xn[k], lab, W,
                                var_log_W, row_sd_m)
    alternatives: list[list[tuple[float, float]]] = [[] for _ in range(len(z))]
    for q, i in enumerate(k):
        alternatives[i] = [(wt, float(out[i] * W[lab[q]] / W[r])) for r, wt in alt_rows[q]]
    _doubt_own_disagreement(alternatives, k, out, zc, np.broadcast_to(np.asarray(s2, np.float64), z.shape), row_sd_m)
    return out, cov, labels, dict(info, k=k, labels=lab, xn=xn, eye=eye, alternatives=alternatives)


# A person whose own cues (eye spacing with the heads' plane) put them further than this (chi-square,
# one degree of freedom: 3 sd) from where the fit put them may stand where their own cues say: see
# `_doubt_own_disagreement`. Infinite: never (the fit before it).
OWN_DISAGREE_CHI2 = 9.0
# The weight then given to their own cues' depth (the fit's placement keeps the rest): a 3-sd
# disagreement says one of the two is wrong, not which.
OWN_DISAGREE_WEIGHT = 0.5


def _doubt_own_disagreement(alternatives: list[list[tuple[float, float]]], k: IntArray, out: FloatArray,
                            zc: FloatArray, s2: FloatArray, row_sd_m: float) -> None:
    """Add, for each person the fit placed far from their own cues, their own depth as a place
    they may stand (`alternatives`, in place).

    Why: `row_alternatives` offers only rows the person could join, and a row where they would
    stand side by side with one of its members is out. In a dense formation that member may itself
    be in the wrong row (between rows, masked): the person is then held in a row half a row gap
    from where their face says, with the row's few centimetres of claimed error, and every pair
    with that row's people is "surely" too close for as long as the apel lasts."""
    for i in k:
        if not (np.isfinite(zc[i]) and zc[i] > 0 and np.isfinite(s2[i]) and out[i] > 0):
            continue
        chi2 = (math.log(zc[i]) - math.log(out[i])) ** 2 / (s2[i] + (row_sd_m / out[i]) ** 2)
        if chi2 > OWN_DISAGREE_CHI2:
            keep = 1.0 - OWN_DISAGREE_WEIGHT
            alternatives[i] = [(w * keep, zz) for w, zz in alternatives[i]] + [(OWN_DISAGREE_WEIGHT, float(zc[i]))]



def _joint(w_ipd: FloatArray, xn: FloatArray, yn: FloatArray, labels: IntArray, *, rel_sd: float | FloatArray,
           row_sd_m: float, head_sd_m: float, px_sd: float, eye: bool, even: bool,
           camera_above_m: float | None = None,
           row_lines: FloatArray | None = None,
           head_sd_own: FloatArray | None = None) -> tuple[FloatArray, FloatArray, dict[str, Any]]:
    """One weighted least-squares fit of everything the frame says about depth, in inverse
    depth w = 1 / z. Unknowns: each person's w_i, each row's W_r, the heads' plane (a, b, c) and,
    with `even`, the formation's first row z0 and row step. Equations (each divided by its sd):
      eye spacing   w_ipd_i = w_i                          sd rel_sd * w_i
      eye row       yn_i = a * w_i + b + c * xn_i          sd sqrt((head_sd * w_i)**2 + px_sd**2)   (with `eye`)
      row           w_i = W_r                              sd row_sd_m * w_i**2  (a step off the row line)
      even rows     1 / W_r = z0 + k_r * step              sd ROW_SPACING_SD_M  (rows of 2 or more, k_r their rank)
      weak priors   a ~ 0 +- 5 m, b ~ 0 +- 2, c ~ 0 +- 0.2 (keep the fit posed for one row or a level camera).
      camera height a = h * sqrt(1 + b**2 + c**2)           sd CAMERA_ABOVE_EYES_SD_M   (with `camera_above_m` = h:
                    the plane's distance below the camera, measured; it replaces a's weak prior)
      row line      D(W_r; a, b, c) = L_r                  sd ROW_LINE_SD_M   (with `row_lines`: row r's line on the
                    floor, L_r metres from the camera, NaN for a row on no line; D is the row's horizontal
                    distance, see `plane.floor_distance`)
    The eye rows alone fix the depths only up to an affine map of w (any camera height and
    pitch); the eye spacing fixes the scale; together with the rows they measure each row's depth
    better than either. Gauss-Newton (the eye row is bilinear in a and w). Returns w, the
    covariance of w, and the fitted parameters.

    Learned geometry (`_OwnGeometry`): `head_sd_own` is, for people whose eye height is learned
    (their eye rows already moved to the office's average), how well it is known; NaN for the
    others, whose spread `head_sd` is fitted from their residuals."""
    n = len(w_ipd)
    R = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=R)
    ranked = np.flatnonzero(sizes >= 2)
    even = even and len(ranked) >= 3
    iW = n
    iA, iB, iC = n + R, n + R + 1, n + R + 2
    iz, iD = n + R + 3, n + R + 4
    P = n + R + 3 + (2 if even else 0)
    th = np.zeros(P)
    th[:n] = w_ipd
    for row in range(R):
        th[iW + row] = np.mean(w_ipd[labels == row])
    eq_eye = np.ones(n, bool) if eye else np.zeros(n, bool)
    h = head_sd_m
    own_h = np.full(n, np.nan) if head_sd_own is None else np.asarray(head_sd_own, np.float64)
    learned = np.isfinite(own_h)
    if eye:
        X = np.stack([w_ipd, np.ones(n), xn], 1)
        sol, *_ = np.linalg.lstsq(X, yn, rcond=None)
        th[iA:iC + 1] = sol
    if even:
        Zr = 1.0 / th[iW + ranked]
        sol, *_ = np.linalg.lstsq(np.stack([np.ones(len(ranked)), np.arange(len(ranked))], 1), Zr, rcond=None)
        th[iz:iD + 1] = sol
    tau = ROW_SPACING_SD_M
    line_of = row_lines if row_lines is not None else np.zeros(R)
    lined = np.flatnonzero(np.isfinite(line_of)) if row_lines is not None else np.zeros(0, int)

    def system(th: FloatArray) -> tuple[FloatArray, FloatArray]:
        w, W = th[:n], th[iW:iW + R]
        A, B, C = th[iA], th[iB], th[iC]
        rows_r, rows_J = [], []
        # eye spacing
        s1 = rel_sd * np.maximum(w, 1e-6)
        J1 = np.zeros((n, P))
        J1[np.arange(n), np.arange(n)] = 1.0 / s1
        rows_r.append((w - w_ipd) / s1)
        rows_J.append(J1)
        # eye rows
        if eq_eye.any():
            k = np.flatnonzero(eq_eye)
            s2 = np.sqrt((np.where(learned[k], own_h[k], h) * w[k]) ** 2 + px_sd ** 2)
            J2 = np.zeros((len(k), P))
            J2[np.arange(len(k)), k] = A / s2
            J2[:, iA] = w[k] / s2
            J2[:, iB] = 1.0 / s2
            J2[:, iC] = xn[k] / s2
            rows_r.append((A * w[k] + B + C * xn[k] - yn[k]) / s2)
            rows_J.append(J2)
        # rows
        s3 = row_sd_m * np.maximum(w, 1e-6) ** 2
        J3 = np.zeros((n, P))
        J3[np.arange(n), np.arange(n)] = 1.0 / s3
        J3[np.arange(n), iW + labels] = -1.0 / s3
        rows_r.append((w - W[labels]) / s3)
        rows_J.append(J3)
        if even:
            m = len(ranked)
            J4 = np.zeros((m, P))
            Wr = np.maximum(W[ranked], 1e-6)
            J4[np.arange(m), iW + ranked] = -1.0 / Wr ** 2 / tau
            J4[:, iz] = -1.0 / tau
            J4[:, iD] = -np.arange(m) / tau
            rows_r.append((1.0 / Wr - th[iz] - np.arange(m) * th[iD]) / tau)
            rows_J.append(J4)
        J5 = np.zeros((3, P))
        J5[0, iA], J5[1, iB], J5[2, iC] = 1 / 5.0, 1 / 2.0, 1 / 0.2
        r5 = np.array([A / 5.0, B / 2.0, C / 0.2])
        if camera_above_m is not None:
            # a = h / g_y with g the plane's unit normal, b = -g_z / g_y, c = -g_x / g_y.
            tau_h = CAMERA_ABOVE_EYES_SD_M
            root = math.sqrt(1.0 + B * B + C * C)
            r5[0] = (A - camera_above_m * root) / tau_h
            J5[0, iA] = 1.0 / tau_h
            J5[0, iB] = -camera_above_m * B / root / tau_h
            J5[0, iC] = -camera_above_m * C / root / tau_h
        rows_r.append(r5)
        rows_J.append(J5)
        if lined.size:
            Wl = np.maximum(W[lined], 1e-6)
            D = floor_distance(1.0 / Wl, A, B, C, eye)
            J6 = np.zeros((len(lined), P))
            J6[np.arange(len(lined)), iW + lined] = -floor_slope(A, B, C, eye) / Wl ** 2 / ROW_LINE_SD_M
            for q, col in ((0, iA), (1, iB), (2, iC)):   # a, b, c only tilt the floor: numerically
                d = np.zeros(3)
                d[q] = 1e-6
                J6[:, col] = (floor_distance(1.0 / Wl, A + d[0], B + d[1], C + d[2], eye) - D) / 1e-6 / ROW_LINE_SD_M
            rows_r.append((D - line_of[lined]) / ROW_LINE_SD_M)
            rows_J.append(J6)
        return np.concatenate(rows_r), np.concatenate(rows_J)

    for outer in range(3):
        for _ in range(20):
            r, J = system(th)
            step = np.linalg.lstsq(J, -r, rcond=None)[0]
            cost = float(r @ r)
            lam = 1.0
            while lam > 1e-3:
                r2, _ = system(th + lam * step)
                if float(r2 @ r2) <= cost:
                    break
                lam /= 2
            th = th + lam * step
            th[:n] = np.maximum(th[:n], 1e-3)
            if np.max(np.abs(lam * step[:n] / th[:n])) < 1e-6:
                break
        if not eye:
            break
        # Head spread from the eye-row residuals (shrunk toward the prior), and people far off
        # the plane (sitting, bending, a bad box) leave the eye-row equations.
        w = th[:n]
        res = yn - (th[iA] * w + th[iB] + th[iC] * xn)
        k = np.flatnonzero(eq_eye & ~learned)
        dof = max(1, len(k) - 3)
        s2_h = float(np.sum((res[k] ** 2 - px_sd ** 2) / w[k] ** 2)) / dof if len(k) else 0.0
        h = math.sqrt((dof * max(s2_h, 0.0) + PLANE_PRIOR_N * head_sd_m ** 2) / (dof + PLANE_PRIOR_N))
        new_eq = eq_eye & (np.abs(res) <= OUTLIER_SD * np.sqrt((np.where(learned, own_h, h) * w) ** 2 + px_sd ** 2))
        if np.array_equal(new_eq, eq_eye) and outer > 0:
            break
        eq_eye = new_eq
    r, J = system(th)
    cov = np.asarray(np.linalg.pinv(J.T @ J), np.float64)
    info = {"a": th[iA], "b": th[iB], "c": th[iC], "head_sd_m": h, "W": th[iW:iW + R],
            "cov_W": cov[iW:iW + R, iW:iW + R],
            "even": even, "z0": th[iz] if even else None, "step": th[iD] if even else None, "eye_used": eq_eye}
    return th[:n], cov[:n, :n], info



def refine_depths(z: FloatArray, eye_y_px: FloatArray, f_px: float, height_px: int, *, row_sd_m: float = 0.08,
                  rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08, eye_x_px: FloatArray | None = None,
                  width_px: int | None = None, head_plane: bool = True, even_rows: bool = True) -> FloatArray:
    """Depths refined by the heads' plane and by rows, in metres (same order as `z`).

    Why: depth from eye spacing uses the population mean interpupillary distance, and each
    person's own differs by about 5%, so each depth carries its own ~5% error (0.25-0.3 m at
    5-6 m). That is enough to put people in neighbouring rows, 1 m apart, under a 1 m minimum.

    1. Rows are found (`row_groups`): each depth is first averaged with the one its eye row gives
       on the heads' plane (`head_plane_depths`), then the depth order is cut into rows
       (`segment_rows`); a "row" that spreads far more than `row_sd_m` is not one, and its
       people stand alone.
    2. One weighted least-squares fit (`_joint`) of each person's depth, each row's depth, the
       heads' plane (camera height above the heads, pitch, roll) and, when the rows pass for an
       evenly spaced formation, its first row and row step: the eye spacing measures each depth
       (rel_sd); the eye row on the plane measures it again with an independent error (the
       person's own head height, head_sd_m, fitted); people stand within `row_sd_m` of their
       row's line; rows are dressed at one interval. The eye rows alone fix depth only up to the
       camera's unknown height and pitch, the eye spacing fixes the scale; together with the
       rows they measure each row's depth better than either. A level camera sees every eye on
       about the same picture row: the plane then carries no depth and the fit rests on the eye
       spacing and the rows. `eye_x_px` (with `width_px`) lets the fit see a rolled camera and
       lets the grouping see who stands side by side.
    What is left is mostly the error of each row's depth: it moves a whole row as a block, so it
    hardly changes distances within a row, but it does between rows.

    `height_px` is the picture height: eye rows are measured from its middle. `head_plane` and
    `even_rows` switch those parts off (for comparison)."""
    return _refine(z, eye_y_px, f_px, height_px, eye_x_px, width_px, row_sd_m=row_sd_m, rel_sd=rel_sd,
                   head_sd_m=head_sd_m, head_plane=head_plane, even_rows=even_rows)[0]



def _centres_and_rows(centres_px: ArrayLike, eye_y_px: ArrayLike | None,
                      z_m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    c = np.asarray(centres_px, np.float64).reshape(-1, 2)
    ey = c[:, 1] if eye_y_px is None else np.asarray(eye_y_px, np.float64).ravel()
    if len(np.ravel(z_m)) != len(c):
        raise ValueError(f"{len(c)} centres but {len(np.ravel(z_m))} depths")
    return c, ey


def positions_with_rows(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
                        z_m: Sequence[float], f_px: float, width: int, height: int, *,
                        row_sd_m: float = 0.08, rel_sd: float = EYE_SPACING_REL_SD,
                        head_sd_m: float = 0.08) -> list[tuple[float, float, float]]:
    """Camera-coordinate positions (x, y, z) of everybody in one frame, depths refined by the
    heads' plane and rows (`refine_depths`). `centres_px` are the points to place (face-box centres), `z_m` each
    face's depth from eye spacing, `eye_y_px` the eye rows in the picture (None: the centres'
    rows, which differ from the eyes' by a fraction of a face and group the same). x and y are
    recomputed from the refined depth: x = (cx - W/2) * z / f scales with z, so its error
    shrinks with z's."""
    c, ey = _centres_and_rows(centres_px, eye_y_px, z_m)
    zr = refine_depths(np.asarray(z_m, np.float64), ey, f_px, height, row_sd_m=row_sd_m, rel_sd=rel_sd,
                       head_sd_m=head_sd_m, eye_x_px=c[:, 0], width_px=width)
    return [position_m(float(cx), float(cy), float(zz), f_px, width, height)
            for (cx, cy), zz in zip(c, zr, strict=True)]



@dataclass(frozen=True)
class FrameFit:
    """One frame's positions, its likely violations, and for each face what the fit measured of
    the person's own geometry (`face_geometry`): the IPD that would put their eye spacing at their
    row's depth, and how far their eyes sit above the heads' plane at that depth; None where the
    frame cannot say (a row of fewer than three, a masked face's eye spacing, no heads' plane).
    `pairs`: the pairs near the minimum with their distance's uncertainty, from which distancing
    alerts are decided over frames (alerts.py)."""
    positions: list[tuple[float, float, float]]
    violations: list[tuple[int, int, float]]
    ipd_samples_m: list[float | None]
    eye_offset_samples_m: list[float | None]
    pairs: list[PairEstimate] = field(default_factory=list)


_SAMPLE_MIN_ROW = 3     # a smaller row's depth is mostly the person's own: it says little of them


def fit_frame(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
              z_m: Sequence[float], f_px: float, width: int, height: int, min_distance_m: float, *,
              p_min: float = VIOLATION_P_MIN, row_sd_m: float = 0.08,
              rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08,
              masked: Sequence[bool] | None = None, camera_above_m: float | None = None,
              row_lines_m: Sequence[float] | None = None,
              geometry: Sequence[FaceGeometry | None] | None = None, ipd_m: float = MEAN_IPD_M) -> FrameFit:
    """`positions_with_rows`, and the pairs closer than `min_distance_m` with probability above
    `p_min` (`likely_violations`, from the same fit's uncertainty). A face flagged in `masked`
    measures its depth less well (MASKED_EYE_SPACING_REL_SD), so the fit leans on its row and
    the heads' plane more. `camera_above_m`: the camera's measured height above the staff's
    average eye height (an office setting): it fixes the heads' plane's scale, which the eye
    spacing alone sets only to ~10% (so rows misjudge each other's depth less). `row_lines_m`:
    the formation's row lines on the floor, metres from the camera (an office setting): each
    row found is held to its line (within ROW_LINE_SD_M), a row on no line is left to the other
    cues. `geometry`: per face, the learned IPD and eye height of the person it was named as
    (`face_geometry.geometry`), None for an unknown face or a person not yet learned. `z_m` are
    the depths read with one IPD for everybody, `ipd_m` (the office's setting, by default the
    population's mean): the learned IPDs replace it, and the samples are measured against it."""
    c, ey = _centres_and_rows(centres_px, eye_y_px, z_m)
    z = np.asarray(z_m, np.float64).ravel()
    mask = np.zeros(len(z), bool) if masked is None else np.asarray(masked, bool).ravel()
    rel: float | FloatArray = rel_sd
    if masked is not None:
        rel = np.where(mask, max(rel_sd, MASKED_EYE_SPACING_REL_SD), rel_sd)
    own = _OwnGeometry.of(geometry, len(z), ipd_m) if geometry is not None else None
    zr, cov, _, fit = _refine(z, ey, f_px, height, c[:, 0], width, row_sd_m=row_sd_m, rel_sd=rel,
                              head_sd_m=head_sd_m, camera_above_m=camera_above_m, row_lines_m=row_lines_m, own=own)
    pos = [position_m(float(cx), float(cy), float(zz), f_px, width, height)
           for (cx, cy), zz in zip(c, zr, strict=True)]
    ipd: list[float | None] = [None] * len(z)
    eye: list[float | None] = [None] * len(z)
    if fit is not None:
        k, lab, W = fit["k"], fit["labels"], np.maximum(fit["W"], 1e-6)
        sizes = np.bincount(lab, minlength=len(W))
        root = math.sqrt(1.0 + fit["b"] ** 2 + fit["c"] ** 2)
        yn = (ey - height / 2.0) / f_px
        for q, i in enumerate(k):
            r = lab[q]
            if sizes[r] < _SAMPLE_MIN_ROW:
                continue
            if not mask[i]:
                ipd[i] = float(ipd_m / W[r] / z[i])
            if fit["eye"] and fit["eye_used"][q]:
                eye[i] = float((fit["a"] * W[r] + fit["b"] + fit["c"] * fit["xn"][i] - yn[i]) / (root * W[r]))
    pairs = pair_estimates(pos, cov, min_distance_m, alternatives=fit["alternatives"] if fit is not None else None)
    close = [(e.i, e.j, e.distance_m) for e in pairs if e.p_close > p_min]
    return FrameFit(pos, close, ipd, eye, pairs)


def positions_and_violations(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
                             z_m: Sequence[float], f_px: float, width: int, height: int, min_distance_m: float,
                             **options: Any) -> tuple[list[tuple[float, float, float]], list[tuple[int, int, float]]]:
    """`fit_frame`'s (positions, [(i, j, distance_m)]), for callers that do not learn geometry."""
    fit = fit_frame(centres_px, eye_y_px, z_m, f_px, width, height, min_distance_m, **options)
    return fit.positions, fit.violations
