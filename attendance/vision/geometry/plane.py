"""The heads' plane: where the eyes of people standing on one floor appear in the picture.

Heads are at about one height, so for a camera above them the eye row in the picture is a second
measure of depth, independent of each person's own interpupillary distance: `fit_head_plane` fits
the camera's height above the heads, its pitch and roll to everybody's eye rows and depths, and
`head_plane_depths` reads each person's depth off the plane fitted to everybody else. A level
camera sees every eye on about the same row and the plane then says nothing about depth."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import NDArray

from attendance.vision.geometry.camera import EYE_SPACING_REL_SD

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

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
    coef: FloatArray            # (a, b, c)
    cov: FloatArray             # their covariance (3 x 3)
    head_sd_m: float            # spread of the heads about the plane, metres (fitted)
    used: BoolArray             # bool per person given to the fit: kept (not an outlier)

    def depth(self, xn: FloatArray, yn: FloatArray, coef: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
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
PLANE_PRIOR_N = 6          # the prior head spread counts as this many people's residuals
OUTLIER_SD = 3.0
_ROLL_PRIOR = 1.0 / 0.2 ** 2   # roll: 0 +- tan(11 deg) a priori (keeps the fit posed without x)


def fit_head_plane(xn: FloatArray, yn: FloatArray, z: FloatArray, *, rel_sd: float | FloatArray = EYE_SPACING_REL_SD,
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
            h2 = (dof * max(s2, 0.0) + PLANE_PRIOR_N * head_sd_m ** 2) / (dof + PLANE_PRIOR_N)
        var = w ** 2 * (h2 + a ** 2 * rel ** 2) + px_sd ** 2
        new_keep = ok & (np.abs(y - X @ coef) <= OUTLIER_SD * np.sqrt(var))
        if np.array_equal(new_keep, keep) or new_keep.sum() < _PLANE_MIN_PEOPLE:
            break
        keep = new_keep
    return HeadPlane(np.asarray(coef), np.asarray(cov), math.sqrt(h2), keep)


def head_plane_depths(xn: FloatArray, yn: FloatArray, z: FloatArray, *, rel_sd: float | FloatArray = EYE_SPACING_REL_SD,
                      head_sd_m: float = 0.08, px_sd: float = 0.0015) -> tuple[FloatArray, FloatArray]:
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


def with_head_plane(z: FloatArray, xn: FloatArray, yn: FloatArray, *, rel_sd: float | FloatArray, head_sd_m: float,
                    px_sd: float = 0.0015, use_plane: bool = True) -> tuple[FloatArray, FloatArray]:
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
        use &= (lzh - lz) ** 2 <= OUTLIER_SD ** 2 * (s2 + np.where(use, vh, 0.0))
        wgt = np.where(use, 1.0 / np.where(use, vh, 1.0), 0.0)
        lz = (lz / s2 + wgt * lzh) / (1.0 / s2 + wgt)
        s2 = 1.0 / (1.0 / s2 + wgt)
    return np.where(ok, np.exp(lz), z), np.where(ok, s2, np.inf)



@overload
def floor_distance(z: float, a: float, b: float, c: float, plane: bool) -> float: ...
@overload
def floor_distance(z: FloatArray, a: float, b: float, c: float, plane: bool) -> FloatArray: ...


def floor_distance(z: float | FloatArray, a: float, b: float, c: float, plane: bool) -> float | FloatArray:
    """Horizontal distance from the camera of a head at camera depth `z`. The heads' plane
    yn = a w + b + c xn has the unit normal g (pointing down) with g_y = 1 / sqrt(1 + b^2 + c^2),
    g_z = -b g_y, and lies a g_y below the camera; a head P on it is g.P = a g_y, so its distance
    along the floor, straight ahead, is (z - g_z a g_y) / sqrt(1 - g_z^2). Without a plane the
    camera is taken as level: D = z."""
    if not plane:
        return z
    gy = 1.0 / math.sqrt(1.0 + b * b + c * c)
    gz = -b * gy
    return (z - gz * a * gy) * floor_slope(a, b, c, plane)


def floor_slope(a: float, b: float, c: float, plane: bool) -> float:
    """The derivative of `floor_distance` in z: 1 / sqrt(1 - g_z^2), 1 for a level camera."""
    if not plane:
        return 1.0
    gy = 1.0 / math.sqrt(1.0 + b * b + c * c)
    gz = -b * gy
    return 1.0 / math.sqrt(max(1e-9, 1.0 - gz * gz))
