"""Where people stand, in metres, from face geometry and the camera's field of view.

A pinhole camera with focal length f = (width / 2) / tan(hfov / 2) pixels sees a distance D
between the eyes as D * f / z pixels, so z = f * D / d_px. Adult interpupillary distance is
63 mm on average (about +-4 mm between people), which bounds the error from anatomy at ~7%;
the rest is landmark noise on small faces, which tracks smooth out. An operator who knows one
person's distance can calibrate `ipd_m` instead (see docs/vision.md).

The measured pixel spacing goes through `unbiased_eye_px` first (dlib's landmarks on small faces,
fitted on real photos scaled down; on them the bias turned out to be under 0.5% above 10 px).

Calibration fixes the mean, not each person's own IPD (~5% each). `positions_with_rows` and
`positions_and_violations` use more of what one frame shows: heads are at about one height, so
for a camera above them the eye row in the picture is a second, independent measure of depth
(the heads' plane); people at an apel stand in drilled rows, evenly spaced; and the depth's
uncertainty, which decides whether a pair is reported (`likely_violations`)."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy.stats import chi2
from scipy.special import ndtr

if TYPE_CHECKING:
    from attendance.vision.geometry.face_geometry import FaceGeometry

MEAN_IPD_M, IPD_SD_M = 0.063, 0.003     # adults' interpupillary distance: mean, spread
# Relative error of one person's depth from eye spacing: their own IPD (63 +- 3 mm, 4.8%) and
# dlib's 5-point eye landmarks on that face (~3%, measured on bench_distance's offices: depth from
# eye spacing against the depth the person's own IPD gives, 2.8% at 3 m to 3.4% at 6 m).
# Measured again on offices 100-107 and 200-207 (2026-11-29, 304 people): sd of the log error 6.2%
# (robust 5.8%; landmarks alone 4.3%, robust 2.5%: heavy tails; masked faces 7.5%, unmasked 4.9%,
# robust). 6.2% did better there (P/R 90.5% / 89.4% against 84.5% / 83.5%) but far worse on
# bench_speed's clip (its depth error 3.8% -> 5.0%, precision 43% -> 29%): not adopted.
EYE_SPACING_REL_SD = 0.057
# ... of a masked face: the mask hides the lower landmarks the aligner leans on (measured on the
# same offices: robust sd 7.5% masked against 4.9% unmasked).
MASKED_EYE_SPACING_REL_SD = 0.075
# A pair is reported when it is closer than the minimum with at least this probability.
VIOLATION_P_MIN = 0.55
# With the camera's height measured (an office setting), how far the heads' plane may sit from
# camera height minus the staff's average eye height: one office's mix of people (men and women,
# caps) moves its average by ~4 cm, a tape measure ~2 cm.
CAMERA_ABOVE_EYES_SD_M = 0.05
# With the formation's row lines measured (an office setting: the floor marks' distances from the
# camera), how far a row's people stand off their line on average. A drilled row dresses on its
# line within a few centimetres; people who only roughly keep to marks, ~10 cm.
ROW_LINE_SD_M = 0.10
# A row further than this (standard scores) from every line stands on none of them.
_ROW_LINE_MAX_SD = 3.0


def focal_px(width_px: int, hfov_deg: float) -> float:
    return (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)


def eye_distance_px(shape5_pts: np.ndarray) -> float:
    """dlib's 5-point model: points 0-1 one eye's corners, 2-3 the other's, 4 the nose."""
    a = shape5_pts[0:2].mean(axis=0)
    b = shape5_pts[2:4].mean(axis=0)
    return float(np.linalg.norm(a - b))


IPD_BIAS_PATH = Path(__file__).resolve().parents[1] / "models" / "ipd_bias.json"


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
        return 1.0 - (self.d0_px / d) ** self.p

    def unbiased(self, measured_px: float) -> float:
        return float(measured_px) / self.ratio(measured_px)


@functools.lru_cache(maxsize=1)
def ipd_bias() -> IpdBias:
    """The fitted correction (models/ipd_bias.json), read once."""
    data = json.loads(IPD_BIAS_PATH.read_text())
    return IpdBias(float(data["d0_px"]), float(data["p"]), float(data["valid_measured_px"][0]))


def unbiased_eye_px(measured_px: float) -> float:
    """Eye spacing in pixels as it is, from what `eye_distance_px` measures on a frame. Use it
    wherever a measured spacing becomes a depth. Measured on real photos scaled down
    (training/fit_ipd_bias.py), dlib's 5-point landmarks measure faces with eyes 9-50 px apart
    within 0.5%, and about 2% short only below 9 px: the correction is nil from ~12 px and 3% at
    8 px. (A 10-15% shortfall suspected at 10-15 px turned out to be a measuring mistake.)"""
    return ipd_bias().unbiased(measured_px)


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


# Grouping people into rows. Sorted by depth, people of one row form a run; the rows are the
# split of that order into runs that explains the depths best (least squares, each person
# weighted by their depth's variance plus the row's own spread) for a price per row: a split
# must reduce the chi-square by more than _ROW_SPLIT_COST (two true rows 1 m apart reduce it by
# tens; splitting one row at its most favourable point reduces it by ~2 ln n, 6-8). Exact by
# dynamic programming. Two people side by side closer than _SIDE_BY_SIDE_M (head centres) cannot
# be in one row: heads and shoulders take more room; that keeps staggered neighbouring rows from
# being merged. Rows whose centres come closer than _ROW_MIN_GAP_M are not two rows.
_ROW_SPLIT_COST = 12.0
_ROW_MIN_GAP_M = 0.5
_SIDE_BY_SIDE_M = 0.3
_MAX_ROWS = 12
_EYE_PX_SD = 2.0   # landmark/box jitter of the eye row, pixels


def segment_rows(z: np.ndarray, var_log: np.ndarray | float, xn: np.ndarray | None = None, *, row_sd_m: float = 0.08,
                 split_cost: float = _ROW_SPLIT_COST, min_gap_m: float = _ROW_MIN_GAP_M,
                 side_by_side_m: float = _SIDE_BY_SIDE_M) -> np.ndarray:
    """Row label per person (0..k-1, front row first; -1 for a depth that is not positive and
    finite), from depths `z` whose logs have variance `var_log`, and (optional) each person's
    normalised picture column xn = (u - W/2) / f, which tells who stands side by side."""
    z = np.asarray(z, np.float64).ravel()
    var = np.broadcast_to(np.asarray(var_log, np.float64), z.shape)
    labels = np.full(len(z), -1, int)
    ok = np.flatnonzero(np.isfinite(z) & (z > 0) & np.isfinite(var))
    if len(ok) <= 1:
        labels[ok] = 0
        return labels
    idx = ok[np.argsort(z[ok], kind="stable")]
    n = len(idx)
    lz = np.log(z[idx])
    wt = 1.0 / (var[idx] + (row_sd_m / z[idx]) ** 2)
    S0 = np.concatenate([[0.0], np.cumsum(wt)])
    S1 = np.concatenate([[0.0], np.cumsum(wt * lz)])
    S2 = np.concatenate([[0.0], np.cumsum(wt * lz ** 2)])
    # lim[j]: a run idx[i:j] holds no side-by-side pair iff i > lim[j].
    lim = np.full(n + 1, -1)
    if xn is not None:
        x = np.asarray(xn, np.float64).ravel()[idx]
        zz = z[idx]
        close = np.abs(x[:, None] - x[None, :]) * np.sqrt(zz[:, None] * zz[None, :]) < side_by_side_m
        for q in range(n):
            ps = np.flatnonzero(close[:q, q])
            lim[q + 1] = max(lim[q], int(ps.max()) if len(ps) else -1)
        for j in range(1, n + 1):
            lim[j] = max(lim[j], lim[j - 1])

    def cost(i: int, j: int) -> float:
        sw = S0[j] - S0[i]
        return float(S2[j] - S2[i] - (S1[j] - S1[i]) ** 2 / sw)

    kmax = min(n, _MAX_ROWS)
    best = np.full((kmax + 1, n + 1), np.inf)
    back = np.zeros((kmax + 1, n + 1), int)
    best[0, 0] = 0.0
    for k in range(1, kmax + 1):
        for j in range(k, n + 1):
            for i in range(max(k - 1, lim[j] + 1), j):
                c = best[k - 1, i] + cost(i, j)
                if c < best[k, j]:
                    best[k, j], back[k, j] = c, i
    choices = []
    for k in range(1, kmax + 1):
        if not np.isfinite(best[k, n]):
            continue
        cuts, j = [], n
        for kk in range(k, 0, -1):
            i = back[kk, j]
            cuts.append((i, j))
            j = i
        cuts.reverse()
        centres = np.array([math.exp((S1[j] - S1[i]) / (S0[j] - S0[i])) for i, j in cuts])
        apart = bool(np.all(np.diff(centres) >= min_gap_m))
        choices.append((not apart, best[k, n] + split_cost * k, cuts))
    _, _, cuts = min(choices, key=lambda c: (c[0], c[1]))
    for r, (i, j) in enumerate(cuts):
        labels[idx[i:j]] = r
    return labels


def row_groups(z: np.ndarray, eye_y_px: np.ndarray, f_px: float, *, row_sd_m: float = 0.08,
               rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08, eye_x_px: np.ndarray | None = None,
               width_px: int | None = None) -> np.ndarray:
    """Row label per person (0..k-1, front row first; -1 for a depth that is not positive and
    finite). `eye_y_px` are the eye rows measured from the picture's middle row. Each depth from
    eye spacing (relative error `rel_sd`) is first combined with the one its eye row gives on the
    heads' plane (`head_plane_depths`: a camera above the heads sees rows further back higher in
    the picture; a level camera sees every eye at about the same height, and the grouping then
    rests on the eye spacing alone), then the rows are found by `segment_rows`; with `eye_x_px`
    (and `width_px`) people side by side are kept out of one row."""
    z = np.asarray(z, np.float64).ravel()
    v = np.asarray(eye_y_px, np.float64).ravel()
    if v.shape != z.shape:
        raise ValueError(f"{len(z)} depths but {len(v)} eye rows")
    xn = _xn(eye_x_px, width_px, f_px, z)
    zc, s2 = _with_head_plane(z, xn, v / f_px, rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=_EYE_PX_SD / f_px)
    return segment_rows(zc, s2, xn if eye_x_px is not None else None, row_sd_m=row_sd_m)


def _xn(eye_x_px, width_px, f_px, z):
    if eye_x_px is None:
        return np.zeros_like(z)
    return (np.asarray(eye_x_px, np.float64).ravel() - (width_px if width_px is not None else 0) / 2.0) / f_px


def _with_head_plane(z: np.ndarray, xn: np.ndarray, yn: np.ndarray, *, rel_sd: float | np.ndarray, head_sd_m: float,
                     px_sd: float = 0.0015, use_plane: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each depth combined with its head-plane depth: (depths, variances of their logs). Two
    measurements with independent errors (the person's own eye spacing, their own head height),
    averaged with inverse-variance weights in log units. A plane depth that disagrees with the
    eye spacing by more than 3 sd is not used (a head turned aside shrinks the eye spacing;
    somebody bending or sitting): the person keeps their own."""
    ok = np.isfinite(z) & (z > 0) & np.isfinite(yn)
    lz = np.log(np.where(ok, z, 1.0))
    s2 = np.broadcast_to(np.asarray(rel_sd, np.float64) ** 2, z.shape).copy()
    if use_plane:
        zh, vh = head_plane_depths(xn, yn, np.where(ok, z, np.nan), rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=px_sd)
        use = ok & np.isfinite(zh) & np.isfinite(vh)
        lzh = np.log(np.where(use, zh, 1.0))
        use &= (lzh - lz) ** 2 <= _OUTLIER_SD ** 2 * (s2 + np.where(use, vh, 0.0))
        wgt = np.where(use, 1.0 / np.where(use, vh, 1.0), 0.0)
        lz = (lz / s2 + wgt * lzh) / (1.0 / s2 + wgt)
        s2 = 1.0 / (1.0 / s2 + wgt)
    return np.where(ok, np.exp(lz), z), np.where(ok, s2, np.inf)


@dataclass(frozen=True)
class HeadPlane:
    """The plane the reference points of the heads (eye rows, or face-box centres) lie near, as
    seen by the camera: in normalised picture coordinates (xn, yn) = ((u - W/2) / f, (v - H/2) / f),
    a point of that plane at depth z appears at yn = a / z + b + c * xn.

    Why that form: a plane g . P = h (g its unit normal, the world's "down" in camera
    coordinates; h how far the camera is above it) holds the points P = z (xn, yn, 1) with
    z (g_x xn + g_y yn + g_z) = h, so yn = (h / g_y) / z - g_z / g_y - (g_x / g_y) xn: `a` is
    about the camera's height above the heads (h / g_y), `b` minus the tangent of its pitch,
    `c` minus that of its roll. A camera above the heads (a > 0) sees rows further back higher in
    the picture; a level camera (a ~ 0) sees every eye on about the same row, and the plane then
    says nothing about depth (`depth` returns an infinite variance)."""
    coef: np.ndarray            # (a, b, c)
    cov: np.ndarray             # their covariance (3 x 3)
    head_sd_m: float            # spread of the heads about the plane, metres (fitted)
    used: np.ndarray            # bool per person given to the fit: kept (not an outlier)

    def depth(self, xn: np.ndarray, yn: np.ndarray, coef: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Depth where each picture point's ray meets the plane, and the variance of its log:
        the person's own head height (head_sd_m / a) plus the plane's own uncertainty. NaN and
        an infinite variance where the ray does not meet the plane in front of the camera."""
        a, b, c = self.coef if coef is None else coef
        den = np.asarray(yn, np.float64) - b - c * np.asarray(xn, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = a / den
            grad = np.stack([np.full_like(den, 1.0 / a), 1.0 / den, np.asarray(xn, np.float64) / den], axis=-1)
            var = (self.head_sd_m / a) ** 2 + np.einsum("ni,ij,nj->n", grad, self.cov, grad)
        bad = ~(np.isfinite(z) & (z > 0) & np.isfinite(var))
        z = np.where(bad, np.nan, z)
        var = np.where(bad, np.inf, var)
        return z, var


_PLANE_MIN_PEOPLE = 6       # fewer faces: no head plane
_PLANE_PRIOR_N = 6          # the prior head spread counts as this many people's residuals
_OUTLIER_SD = 3.0
_ROLL_PRIOR = 1.0 / 0.2 ** 2   # roll: 0 +- tan(11 deg) a priori (keeps the fit posed without x)


def fit_head_plane(xn: np.ndarray, yn: np.ndarray, z: np.ndarray, *, rel_sd: float | np.ndarray = EYE_SPACING_REL_SD,
                   head_sd_m: float = 0.08, px_sd: float = 0.0015) -> HeadPlane | None:
    """Fit the heads' plane (`HeadPlane`) to picture points (normalised) and their depths from eye
    spacing, by weighted least squares of yn on (1 / z, 1, xn).

    Each person's yn departs from the plane by their own head height over their depth
    (head_sd_m / z) plus picture noise `px_sd` (normalised; 2 px at f = 1371); their 1 / z carries
    the relative error `rel_sd` of eye spacing, which would flatten the fitted slope (regression
    dilution), so the normal equations are corrected for it (errors-in-variables, method of
    moments). People more than 3 sd off the plane (sitting, a face on a poster, a bad landmark)
    are left out and the fit redone. The head spread is estimated from the residuals, shrunk
    toward `head_sd_m`. None when there are too few people or too little depth range among them
    to tell the camera's height from its pitch (one row): then the eye rows carry no depth."""
    xn, yn, z = (np.asarray(t, np.float64).ravel() for t in (xn, yn, z))
    rel = np.broadcast_to(np.asarray(rel_sd, np.float64), z.shape)
    ok = np.isfinite(xn) & np.isfinite(yn) & np.isfinite(z) & (z > 0)
    if ok.sum() < _PLANE_MIN_PEOPLE:
        return None
    w = np.where(ok, 1.0 / np.where(ok, z, 1.0), 0.0)
    X = np.stack([w, np.ones_like(w), np.where(ok, xn, 0.0)], axis=1)
    y = np.where(ok, yn, 0.0)
    keep = ok.copy()
    a, h2 = 0.0, head_sd_m ** 2
    coef = cov = None
    for _ in range(8):
        for _ in range(3):   # the weights depend on a and the spread: settle them
            var = w ** 2 * (h2 + a ** 2 * rel ** 2) + px_sd ** 2
            v = np.where(keep, 1.0 / var, 0.0)
            M = (X * v[:, None]).T @ X
            noise_ww = float(np.sum(v * (w * rel) ** 2))
            # Too little spread of 1 / z beyond its noise: the slope is not measured.
            mw = float(np.sum(v * w) / np.sum(v))
            spread_ww = float(np.sum(v * (w - mw) ** 2))
            if spread_ww < 3.0 * noise_ww:
                return None
            M[0, 0] -= noise_ww
            M[2, 2] += _ROLL_PRIOR
            try:
                coef = np.linalg.solve(M, X.T @ (v * y))
                cov = np.linalg.inv(M)
            except np.linalg.LinAlgError:
                return None
            a = float(coef[0])
            r = y - X @ coef
            n = int(keep.sum())
            dof = max(1, n - 3)
            per = (r ** 2 - px_sd ** 2) / np.maximum(w, 1e-9) ** 2 - a ** 2 * rel ** 2
            s2 = float(np.sum(np.where(keep, per, 0.0))) / dof
            h2 = (dof * max(s2, 0.0) + _PLANE_PRIOR_N * head_sd_m ** 2) / (dof + _PLANE_PRIOR_N)
        var = w ** 2 * (h2 + a ** 2 * rel ** 2) + px_sd ** 2
        new_keep = ok & (np.abs(y - X @ coef) <= _OUTLIER_SD * np.sqrt(var))
        if np.array_equal(new_keep, keep) or new_keep.sum() < _PLANE_MIN_PEOPLE:
            break
        keep = new_keep
    return HeadPlane(np.asarray(coef), np.asarray(cov), math.sqrt(h2), keep)


def head_plane_depths(xn: np.ndarray, yn: np.ndarray, z: np.ndarray, *, rel_sd: float | np.ndarray = EYE_SPACING_REL_SD,
                      head_sd_m: float = 0.08, px_sd: float = 0.0015) -> tuple[np.ndarray, np.ndarray]:
    """Each person's depth from where their eyes are in the picture (the heads' plane fitted to
    everybody else: leave-one-out, so it is independent of their own eye spacing), and the
    variance of its log. NaN / infinite variance where there is no plane (level camera, too few
    people, one row) or for somebody the fit left out as too far off it."""
    xn, yn, z = (np.asarray(t, np.float64).ravel() for t in (xn, yn, z))
    zh = np.full(len(z), np.nan)
    vh = np.full(len(z), np.inf)
    plane = fit_head_plane(xn, yn, z, rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=px_sd)
    if plane is None:
        return zh, vh
    rel = np.broadcast_to(np.asarray(rel_sd, np.float64), z.shape)
    a, h2 = float(plane.coef[0]), plane.head_sd_m ** 2
    keep = plane.used
    w = np.where(keep, 1.0 / np.where(keep, z, 1.0), 0.0)
    X = np.stack([w, np.ones_like(w), np.where(keep, xn, 0.0)], axis=1)
    v = np.where(keep, 1.0 / (w ** 2 * (h2 + a ** 2 * rel ** 2) + px_sd ** 2), 0.0)
    M = (X * v[:, None]).T @ X
    M[0, 0] -= float(np.sum(v * (w * rel) ** 2))
    M[2, 2] += _ROLL_PRIOR
    bvec = X.T @ (v * np.where(keep, yn, 0.0))
    for i in np.flatnonzero(keep):
        Mi = M - v[i] * np.outer(X[i], X[i])
        Mi[0, 0] += v[i] * (w[i] * rel[i]) ** 2
        try:
            ci = np.linalg.solve(Mi, bvec - v[i] * X[i] * yn[i])
            covi = np.linalg.inv(Mi)
        except np.linalg.LinAlgError:
            continue
        if not np.all(np.isfinite(ci)) or np.any(np.diag(covi) <= 0):
            continue
        zi, vi = HeadPlane(ci, covi, plane.head_sd_m, keep).depth(xn[i:i + 1], yn[i:i + 1])
        zh[i], vh[i] = zi[0], vi[0]
    return zh, vh


def _refine(z: np.ndarray, eye_y_px: np.ndarray, f_px: float, height_px: int, eye_x_px: np.ndarray | None,
            width_px: int | None, *, row_sd_m: float, rel_sd: float | np.ndarray, head_sd_m: float,
            head_plane: bool = True, even_rows: bool = True,
            camera_above_m: float | None = None,
            row_lines_m: Sequence[float] | None = None,
            own: "_OwnGeometry | None" = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict | None]:
    """refine_depths, also returning the covariance of the refined log depths (n x n; infinite
    variance where a depth is not positive and finite) and the row labels. `rel_sd` is one
    relative error for all or one per person; `camera_above_m`: the camera's height above the
    staff's eyes, when measured (see `_joint`); `row_lines_m`: the formation's row lines on the
    floor, metres from the camera, when measured: the rows found are matched to them in order
    (`_match_row_lines`) and each matched row's depth is held to its line. `own`: the learned
    IPD and eye height of the people it knows (`_OwnGeometry`): their eye spacing is read with
    their own IPD and their eye row against their own height, each with its own (smaller) error.
    The last element returned is the fit (`_joint`'s parameters, with the people it covers `k`,
    their row labels, `xn` and whether the eye rows were used), None when there was none."""
    z = np.asarray(z, np.float64).ravel()
    rel_sd = np.broadcast_to(np.asarray(rel_sd, np.float64), z.shape)
    v = np.asarray(eye_y_px, np.float64).ravel() - height_px / 2.0
    if v.shape != z.shape:
        raise ValueError(f"{len(z)} depths but {len(v)} eye rows")
    xn = _xn(eye_x_px, width_px, f_px, z)
    yn = v / f_px
    head_own = None
    if own is not None:
        z, rel_sd = own.depths(z, rel_sd)
        yn, head_own = own.eye_rows(yn, z)
    ok = np.isfinite(z) & (z > 0) & np.isfinite(v)
    zc, s2 = _with_head_plane(z, xn, yn, rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=_EYE_PX_SD / f_px,
                              use_plane=head_plane)
    labels = segment_rows(np.where(ok, zc, np.nan), s2, xn if eye_x_px is not None else None, row_sd_m=row_sd_m)
    labels = _loose_rows_apart(labels, np.log(np.where(ok, zc, 1.0)), s2, np.where(ok, zc, 1.0), row_sd_m)
    out = z.copy()
    cov = np.full((len(z), len(z)), 0.0)
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
                                        px_sd=_EYE_PX_SD / f_px) is not None
    kw = dict(rel_sd=rel_sd[k], row_sd_m=row_sd_m, head_sd_m=head_sd_m, px_sd=_EYE_PX_SD / f_px, eye=eye,
              camera_above_m=camera_above_m)
    if head_own is not None:
        kw["head_sd_own"] = head_own[k]
    w_ipd, lab = 1.0 / z[k], labels[k]
    w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=False, **kw)
    lines = np.sort(np.asarray(row_lines_m, np.float64).ravel()) if row_lines_m is not None else np.zeros(0)
    if lines.size:
        # The lines fix each row's depth, and the formation's spacing with it.
        W, cov_W = info["W"], info["cov_W"]
        D = _floor_distance(1.0 / np.maximum(W, 1e-6), info["a"], info["b"], info["c"], eye)
        slope = _floor_distance(1.0, info["a"], info["b"], info["c"], eye, slope=True)
        var_D = (slope / np.maximum(W, 1e-6) ** 2) ** 2 * np.maximum(np.diag(cov_W), 0.0)
        sizes = np.bincount(lab, minlength=len(W))
        matched = _match_row_lines(D, var_D, sizes, lines)
        # Rows on no line (the operator measured only the front ones, people stand behind the
        # last mark) still keep the formation's even spacing when the rows pass for it.
        even = (even_rows and bool(np.any((sizes >= 2) & ~np.isfinite(matched)))
                and _evenly_spaced_ok(W, cov_W, sizes))
        if np.isfinite(matched).any() or even:
            w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=even, row_lines=matched, **kw)
    elif even_rows and _evenly_spaced_ok(info["W"], info["cov_W"], np.bincount(lab)):
        w, cw, info = _joint(w_ipd, xn[k], yn[k], lab, even=True, **kw)
    out[k] = 1.0 / w
    cov[np.ix_(k, k)] = cw / np.outer(w, w)     # of log z = -log w
    return out, cov, labels, dict(info, k=k, labels=lab, xn=xn, eye=eye)


_ROW_SPACING_SD_M = 0.10     # how far a drilled row may stand off an evenly spaced formation
_EVEN_ROWS_CHI2_P = 0.01     # below this p-value the rows are not evenly spaced: leave them be


_ROW_CHI2_P = 0.001          # a "row" whose members spread more than this allows is not a row


def _loose_rows_apart(labels: np.ndarray, lz: np.ndarray, s2: np.ndarray, z: np.ndarray, row_sd_m: float) -> np.ndarray:
    """People not standing in rows (a crowd, passers-by) still fall into runs of depth; such a
    run spreads far more than a row's `row_sd_m` plus the measurement noise allows. Test each
    run (chi-square of its members about their weighted mean, p < _ROW_CHI2_P), after leaving
    out its most distant member: if the rest pass, only that member stands alone; if not, the
    run is not a row and every member stands alone (no pull toward anybody). Rows renumbered
    front to back, one label per person who stands alone."""
    out = labels.copy()
    nxt = int(labels.max()) + 1 if len(labels) else 0

    def spread(idx):
        w = 1.0 / (s2[idx] + (row_sd_m / z[idx]) ** 2)
        m = float(np.sum(w * lz[idx]) / np.sum(w))
        return w * (lz[idx] - m) ** 2

    for r in sorted(set(labels.tolist()) - {-1}):
        idx = np.flatnonzero(labels == r)
        if len(idx) < 2:
            continue
        c = spread(idx)
        if chi2.sf(float(c.sum()), len(idx) - 1) >= _ROW_CHI2_P:
            continue
        worst = int(np.argmax(c))
        rest = np.delete(idx, worst)
        if len(rest) >= 2 and chi2.sf(float(spread(rest).sum()), len(rest) - 1) >= _ROW_CHI2_P:
            alone = idx[worst:worst + 1]
        else:
            alone = idx
        for i in alone[1:] if len(alone) == len(idx) else alone:
            out[i] = nxt
            nxt += 1
    ok = out >= 0
    if ok.any():
        keys = sorted(set(out[ok].tolist()), key=lambda r: float(np.median(lz[out == r])))
        remap = {r: q for q, r in enumerate(keys)}
        out[ok] = [remap[r] for r in out[ok]]
    return out


def _evenly_spaced_ok(W: np.ndarray, cov_W: np.ndarray, sizes: np.ndarray) -> bool:
    """Do the rows (inverse depths W, front to back, their covariance) pass for an evenly spaced
    formation? Rows of two or more people, at least three of them, their depths on a line in
    their rank within _ROW_SPACING_SD_M (chi-square test at _EVEN_ROWS_CHI2_P). A missing row, or
    rows that are not evenly spaced, fail it and are left alone."""
    big = np.flatnonzero(sizes >= 2)
    if len(big) < 3:
        return False
    Z = 1.0 / W[big]
    C = np.diag(np.diag(cov_W)[big] / W[big] ** 4) + _ROW_SPACING_SD_M ** 2 * np.eye(len(big))
    X = np.stack([np.ones(len(big)), np.arange(len(big))], 1)
    Ci = np.linalg.inv(C)
    beta = np.linalg.solve(X.T @ Ci @ X, X.T @ Ci @ Z)
    r = Z - X @ beta
    return bool(chi2.sf(float(r @ Ci @ r), len(big) - 2) >= _EVEN_ROWS_CHI2_P)


def _floor_distance(z, a: float, b: float, c: float, plane: bool, slope: bool = False):
    """Horizontal distance from the camera of a head at camera depth `z` (or, with `slope`, its
    derivative in z). The heads' plane yn = a w + b + c xn has the unit normal g (pointing down)
    with g_y = 1 / sqrt(1 + b^2 + c^2), g_z = -b g_y, and lies a g_y below the camera; a head P on
    it is g.P = a g_y, so its distance along the floor, straight ahead, is
    (z - g_z a g_y) / sqrt(1 - g_z^2). Without a plane the camera is taken as level: D = z."""
    if not plane:
        return 1.0 if slope else z
    gy = 1.0 / math.sqrt(1.0 + b * b + c * c)
    gz = -b * gy
    k = 1.0 / math.sqrt(max(1e-9, 1.0 - gz * gz))
    return k if slope else (z - gz * a * gy) * k


def _match_row_lines(D: np.ndarray, var_D: np.ndarray, sizes: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Which line each row stands on (NaN: none), front to back, each line at most once: the
    order-keeping assignment (dynamic programming) of rows of two or more people to lines that
    minimises the squared standard scores, a row left off every line costing _ROW_LINE_MAX_SD^2.
    Lines with no row are simply empty (not everybody came, the back rows are short)."""
    R, L = len(D), len(lines)
    out = np.full(R, np.nan)
    rows = [r for r in np.argsort(D) if sizes[r] >= 2]
    if not rows or not L:
        return out
    sd = np.sqrt(var_D + ROW_LINE_SD_M ** 2)
    miss = _ROW_LINE_MAX_SD ** 2
    m = len(rows)
    best = np.full((m + 1, L + 1), np.inf)
    best[0, :] = 0.0
    how = np.zeros((m + 1, L + 1), int)    # 0: row off every line, 1: row on line j-1, 2: line j-1 empty
    for i in range(1, m + 1):
        r = rows[i - 1]
        for j in range(0, L + 1):
            cands = [(best[i - 1, j] + miss, 0)]
            if j:
                z2 = ((D[r] - lines[j - 1]) / sd[r]) ** 2
                if z2 <= miss:
                    cands.append((best[i - 1, j - 1] + z2, 1))
                cands.append((best[i, j - 1], 2))
            best[i, j], how[i, j] = min(cands)
    i, j = m, L
    while i > 0:
        step = how[i, j]
        if step == 1:
            out[rows[i - 1]] = lines[j - 1]
            i, j = i - 1, j - 1
        elif step == 2:
            j -= 1
        else:
            i -= 1
    return out


def _joint(w_ipd: np.ndarray, xn: np.ndarray, yn: np.ndarray, labels: np.ndarray, *, rel_sd: float | np.ndarray, row_sd_m: float,
           head_sd_m: float, px_sd: float, eye: bool, even: bool,
           camera_above_m: float | None = None,
           row_lines: np.ndarray | None = None,
           head_sd_own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """One weighted least-squares fit of everything the frame says about depth, in inverse
    depth w = 1 / z. Unknowns: each person's w_i, each row's W_r, the heads' plane (a, b, c) and,
    with `even`, the formation's first row z0 and row step. Equations (each divided by its sd):
      eye spacing   w_ipd_i = w_i                          sd rel_sd * w_i
      eye row       yn_i = a * w_i + b + c * xn_i          sd sqrt((head_sd * w_i)**2 + px_sd**2)   (with `eye`)
      row           w_i = W_r                              sd row_sd_m * w_i**2  (a step off the row line)
      even rows     1 / W_r = z0 + k_r * step              sd _ROW_SPACING_SD_M  (rows of 2 or more, k_r their rank)
      weak priors   a ~ 0 +- 5 m, b ~ 0 +- 2, c ~ 0 +- 0.2 (keep the fit posed for one row or a level camera).
      camera height a = h * sqrt(1 + b**2 + c**2)           sd CAMERA_ABOVE_EYES_SD_M   (with `camera_above_m` = h:
                    the plane's distance below the camera, measured; it replaces a's weak prior)
      row line      D(W_r; a, b, c) = L_r                  sd ROW_LINE_SD_M   (with `row_lines`: row r's line on the
                    floor, L_r metres from the camera, NaN for a row on no line; D is the row's horizontal
                    distance, see `_floor_distance`)
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
    for r in range(R):
        th[iW + r] = np.mean(w_ipd[labels == r])
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
    tau = _ROW_SPACING_SD_M
    lined = np.flatnonzero(np.isfinite(row_lines)) if row_lines is not None else np.zeros(0, int)

    def system(th):
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
            D = _floor_distance(1.0 / Wl, A, B, C, eye)
            J6 = np.zeros((len(lined), P))
            J6[np.arange(len(lined)), iW + lined] = -_floor_distance(1.0, A, B, C, eye, slope=True) / Wl ** 2 / ROW_LINE_SD_M
            for q, col in ((0, iA), (1, iB), (2, iC)):   # a, b, c only tilt the floor: numerically
                d = np.zeros(3)
                d[q] = 1e-6
                J6[:, col] = (_floor_distance(1.0 / Wl, A + d[0], B + d[1], C + d[2], eye) - D) / 1e-6 / ROW_LINE_SD_M
            rows_r.append((D - row_lines[lined]) / ROW_LINE_SD_M)
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
        h = math.sqrt((dof * max(s2_h, 0.0) + _PLANE_PRIOR_N * head_sd_m ** 2) / (dof + _PLANE_PRIOR_N))
        new_eq = eq_eye & (np.abs(res) <= _OUTLIER_SD * np.sqrt((np.where(learned, own_h, h) * w) ** 2 + px_sd ** 2))
        if np.array_equal(new_eq, eq_eye) and outer > 0:
            break
        eq_eye = new_eq
    r, J = system(th)
    cov = np.linalg.pinv(J.T @ J)
    info = {"a": th[iA], "b": th[iB], "c": th[iC], "head_sd_m": h, "W": th[iW:iW + R],
            "cov_W": cov[iW:iW + R, iW:iW + R],
            "even": even, "z0": th[iz] if even else None, "step": th[iD] if even else None, "eye_used": eq_eye}
    return th[:n], cov[:n, :n], info


def refine_depths(z: np.ndarray, eye_y_px: np.ndarray, f_px: float, height_px: int, *, row_sd_m: float = 0.08,
                  rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08, eye_x_px: np.ndarray | None = None,
                  width_px: int | None = None, head_plane: bool = True, even_rows: bool = True) -> np.ndarray:
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


def _centres_and_rows(centres_px, eye_y_px, z_m) -> tuple[np.ndarray, np.ndarray]:
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
    return [position_m(float(cx), float(cy), float(zz), f_px, width, height) for (cx, cy), zz in zip(c, zr)]


def likely_violations(positions: Sequence[tuple[float, float, float]], cov_log_z: np.ndarray, min_distance_m: float,
                      p_min: float = VIOLATION_P_MIN) -> list[tuple[int, int, float]]:
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
    return [(int(a), int(b), round(float(dd), 3)) for a, b, dd, pr in zip(i, j, d, prob) if pr > p_min]


@dataclass(frozen=True)
class _OwnGeometry:
    """The learned IPD and eye height of the people a frame's faces were named as (NaN for the
    others), applied to the frame's cues before the fit."""
    ipd_m: np.ndarray
    ipd_sd_m: np.ndarray
    eye_offset_m: np.ndarray
    eye_offset_sd_m: np.ndarray
    read_with_ipd_m: float = MEAN_IPD_M     # the one IPD the depths were read with

    @classmethod
    def of(cls, geometry: Sequence["FaceGeometry | None"], n: int, read_with_ipd_m: float = MEAN_IPD_M) -> "_OwnGeometry | None":
        if len(geometry) != n:
            raise ValueError(f"{n} faces but {len(geometry)} geometries")
        if all(g is None for g in geometry):
            return None
        col = lambda name: np.array([np.nan if g is None else getattr(g, name) for g in geometry], np.float64)
        return cls(col("ipd_m"), col("ipd_sd_m"), col("eye_offset_m"), col("eye_offset_sd_m"), read_with_ipd_m)

    def depths(self, z: np.ndarray, rel_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Depths from eye spacing read with each person's own IPD, and their relative errors:
        what is left of the landmarks' error once the population's IPD spread is taken out, and
        how well their own IPD is known."""
        known = np.isfinite(self.ipd_m)
        population = IPD_SD_M / MEAN_IPD_M
        landmarks2 = np.maximum(rel_sd ** 2 - population ** 2, 0.0)
        own = np.sqrt(landmarks2 + (self.ipd_sd_m / np.where(known, self.ipd_m, 1.0)) ** 2)
        return np.where(known, z * self.ipd_m / self.read_with_ipd_m, z), np.where(known, own, rel_sd)

    def eye_rows(self, yn: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eye rows moved to where the person's eyes would be at the office's average height
        (their eyes `eye_offset_m` higher appear `eye_offset_m / z` higher in normalised
        picture units; the plane's tilt changes that by ~2% at these pitches, left out), and how
        well that height is known (NaN where it is not learned)."""
        known = np.isfinite(self.eye_offset_m)
        shift = np.where(known & np.isfinite(z) & (z > 0), np.where(known, self.eye_offset_m, 0.0) / np.where(z > 0, z, 1.0), 0.0)
        return yn + shift, np.where(known, self.eye_offset_sd_m, np.nan)


@dataclass(frozen=True)
class FrameFit:
    """One frame's positions, its likely violations, and for each face what the fit measured of
    the person's own geometry (`face_geometry`): the IPD that would put their eye spacing at their
    row's depth, and how far their eyes sit above the heads' plane at that depth; None where the
    frame cannot say (a row of fewer than three, a masked face's eye spacing, no heads' plane)."""
    positions: list[tuple[float, float, float]]
    violations: list[tuple[int, int, float]]
    ipd_samples_m: list[float | None]
    eye_offset_samples_m: list[float | None]


_SAMPLE_MIN_ROW = 3     # a smaller row's depth is mostly the person's own: it says little of them


def fit_frame(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
              z_m: Sequence[float], f_px: float, width: int, height: int, min_distance_m: float, *,
              p_min: float = VIOLATION_P_MIN, row_sd_m: float = 0.08,
              rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08,
              masked: Sequence[bool] | None = None, camera_above_m: float | None = None,
              row_lines_m: Sequence[float] | None = None,
              geometry: Sequence["FaceGeometry | None"] | None = None, ipd_m: float = MEAN_IPD_M) -> FrameFit:
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
    if masked is not None:
        rel_sd = np.where(mask, max(rel_sd, MASKED_EYE_SPACING_REL_SD), rel_sd)
    own = _OwnGeometry.of(geometry, len(z), ipd_m) if geometry is not None else None
    zr, cov, _, fit = _refine(z, ey, f_px, height, c[:, 0], width, row_sd_m=row_sd_m, rel_sd=rel_sd,
                              head_sd_m=head_sd_m, camera_above_m=camera_above_m, row_lines_m=row_lines_m, own=own)
    pos = [position_m(float(cx), float(cy), float(zz), f_px, width, height) for (cx, cy), zz in zip(c, zr)]
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
    return FrameFit(pos, likely_violations(pos, cov, min_distance_m, p_min), ipd, eye)


def positions_and_violations(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
                             z_m: Sequence[float], f_px: float, width: int, height: int, min_distance_m: float,
                             **options) -> tuple[list[tuple[float, float, float]], list[tuple[int, int, float]]]:
    """`fit_frame`'s (positions, [(i, j, distance_m)]), for callers that do not learn geometry."""
    fit = fit_frame(centres_px, eye_y_px, z_m, f_px, width, height, min_distance_m, **options)
    return fit.positions, fit.violations
