"""Where people stand, in metres, from face geometry and the camera's field of view.

A pinhole camera with focal length f = (width / 2) / tan(hfov / 2) pixels sees a distance D
between the eyes as D * f / z pixels, so z = f * D / d_px. Adult interpupillary distance is
63 mm on average (about +-4 mm between people), which bounds the error from anatomy at ~7%;
the rest is landmark noise on small faces, which tracks smooth out. An operator who knows one
person's distance can calibrate `ipd_m` instead (see docs/vision.md).

Calibration fixes the mean, not each person's own IPD (~5% each). `positions_with_rows` uses
that people at an apel stand in drilled rows to pull each depth toward its row's."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

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


# Grouping people into rows: two people are "in the same row" when their depths and eye rows in
# the picture differ by no more than the noise of a row allows. Their dissimilarity is a sum of
# two squared standardised differences, so for two people of one row it is about chi-square with
# 2 degrees of freedom; clusters merge (average linkage) while their mean dissimilarity is under
# the 95% point of that distribution.
_SAME_ROW_CHI2 = 5.99
_EYE_PX_SD = 2.0   # landmark/box jitter of the eye row, pixels


def row_groups(z: np.ndarray, eye_y_px: np.ndarray, f_px: float, *, row_sd_m: float = 0.08,
               rel_sd: float = 0.05, head_sd_m: float = 0.08) -> np.ndarray:
    """Row label per person (0..k-1, front row first; -1 for a depth that is not positive and
    finite). Depth compares in log units against the per-person relative error `rel_sd` plus
    the row's own depth spread `row_sd_m`; the eye row compares against the spread of head
    heights `head_sd_m` seen at that depth. A camera above the heads sees rows further back
    higher in the picture, which separates rows whose depths overlap; a level camera sees all
    eyes at about the same height, the eye term is then small for everybody and the grouping
    rests on depth alone. Average linkage on that dissimilarity makes the rows (a person too
    far from every row stays a row of one), then people move to the row whose middle they are
    nearest until nothing changes."""
    z = np.asarray(z, np.float64).ravel()
    v = np.asarray(eye_y_px, np.float64).ravel()
    if v.shape != z.shape:
        raise ValueError(f"{len(z)} depths but {len(v)} eye rows")
    labels = np.full(len(z), -1, int)
    ok = np.flatnonzero(np.isfinite(z) & (z > 0) & np.isfinite(v))
    if len(ok) == 0:
        return labels
    if len(ok) == 1:
        labels[ok] = 0
        return labels
    zo, vo = z[ok], v[ok]
    lz = np.log(zo)
    zm = np.sqrt(zo[:, None] * zo[None, :])
    var_z = 2 * rel_sd ** 2 + 2 * (row_sd_m / zm) ** 2
    sd_v = f_px * head_sd_m / zo + _EYE_PX_SD
    var_v = sd_v[:, None] ** 2 + sd_v[None, :] ** 2
    d2 = (lz[:, None] - lz[None, :]) ** 2 / var_z + (vo[:, None] - vo[None, :]) ** 2 / var_v
    iu = np.triu_indices(len(ok), 1)
    lab = fcluster(linkage(d2[iu], method="average"), t=_SAME_ROW_CHI2, criterion="distance")
    # Average linkage can chain one person into the wrong row early on; a few rounds of
    # "join the row whose middle (median depth and eye row) you are closest to" settle that,
    # with the same standardised distance (rows only change members here, none is made).
    for _ in range(5):
        rows = sorted(set(lab.tolist()))
        cz = np.array([np.median(lz[lab == c]) for c in rows])
        cv = np.array([np.median(vo[lab == c]) for c in rows])
        zc = np.exp(cz)
        dz2 = (lz[:, None] - cz[None, :]) ** 2 / (rel_sd ** 2 + (row_sd_m / zc[None, :]) ** 2)
        dv2 = (vo[:, None] - cv[None, :]) ** 2 / sd_v[:, None] ** 2
        dd = dz2 + dv2
        best = np.argmin(dd, axis=1)
        new = np.array([rows[b] for b in best])
        if np.array_equal(new, lab):
            break
        lab = new
    # Number rows front to back by their median depth.
    order = sorted(set(lab.tolist()), key=lambda c: float(np.median(zo[lab == c])))
    remap = {c: k for k, c in enumerate(order)}
    labels[ok] = [remap[c] for c in lab]
    return labels


def refine_depths(z: np.ndarray, eye_y_px: np.ndarray, f_px: float, height_px: int, *, row_sd_m: float = 0.08,
                  rel_sd: float = 0.05, head_sd_m: float = 0.08) -> np.ndarray:
    """Depths pulled toward their row's, in metres (same order as `z`).

    Why: depth from eye spacing uses the population mean interpupillary distance, and each
    person's own differs by about 5%, so each depth carries its own ~5% error (0.25-0.3 m at
    5-6 m). That is enough to put people in neighbouring rows, 1 m apart, under a 1 m minimum.
    But people at an apel stand in drilled rows (barisan, aligned by command): everybody in a
    row is at nearly the same depth, within `row_sd_m`. So each person's depth is combined with
    their row's: the row is found by `row_groups` (depth and eye row in the picture), its centre
    is the mean of the *other* members' log depths, leaving out any more than 3 sd from their
    median (robust to one bad estimate, and not counting the person twice), and the two are
    averaged with inverse-variance weights, in log units because the anatomical error is a
    ratio: the person's own measurement has variance rel_sd**2, the row centre (row spread +
    the uncertainty of a mean of n others) (row_sd_m / z)**2 + (rel_sd**2 + (row_sd_m / z)**2) / n.
    Somebody alone in a row keeps their own depth. What is left is the error of each row's
    centre, ~5% / sqrt(n): it moves a whole row as a block, so it does not change distances
    within a row, but it does between rows (at 5-6 m with 5-8 people a row, ~0.1-0.15 m).

    `height_px` is the picture height: eye rows are measured from its middle."""
    z = np.asarray(z, np.float64).ravel()
    v = np.asarray(eye_y_px, np.float64).ravel() - height_px / 2.0
    labels = row_groups(z, v, f_px, row_sd_m=row_sd_m, rel_sd=rel_sd, head_sd_m=head_sd_m)
    out = z.copy()
    for r in set(labels.tolist()) - {-1}:
        idx = np.flatnonzero(labels == r)
        if len(idx) < 2:
            continue
        lz = np.log(z[idx])
        for k, i in enumerate(idx):
            others = np.delete(lz, k)
            med = float(np.median(others))
            s_row2 = (row_sd_m / math.exp(med)) ** 2
            spread = math.sqrt(rel_sd ** 2 + s_row2)
            kept = others[np.abs(others - med) <= 3 * spread]
            kept = kept if len(kept) else others
            c = float(kept.mean())
            prior = s_row2 + spread ** 2 / len(kept)
            w = prior / (prior + rel_sd ** 2)   # weight of the person's own measurement
            out[i] = math.exp(c + w * (lz[k] - c))
    return out


def positions_with_rows(centres_px: Sequence[tuple[float, float]], eye_y_px: Sequence[float] | None,
                        z_m: Sequence[float], f_px: float, width: int, height: int, *,
                        row_sd_m: float = 0.08, rel_sd: float = 0.05,
                        head_sd_m: float = 0.08) -> list[tuple[float, float, float]]:
    """Camera-coordinate positions (x, y, z) of everybody in one frame, depths refined by rows
    (`refine_depths`). `centres_px` are the points to place (face-box centres), `z_m` each
    face's depth from eye spacing, `eye_y_px` the eye rows in the picture (None: the centres'
    rows, which differ from the eyes' by a fraction of a face and group the same). x and y are
    recomputed from the refined depth: x = (cx - W/2) * z / f scales with z, so its error
    shrinks with z's."""
    c = np.asarray(centres_px, np.float64).reshape(-1, 2)
    ey = c[:, 1] if eye_y_px is None else np.asarray(eye_y_px, np.float64).ravel()
    if len(np.ravel(z_m)) != len(c):
        raise ValueError(f"{len(c)} centres but {len(np.ravel(z_m))} depths")
    zr = refine_depths(np.asarray(z_m, np.float64), ey, f_px, height, row_sd_m=row_sd_m, rel_sd=rel_sd,
                       head_sd_m=head_sd_m)
    return [position_m(float(cx), float(cy), float(zz), f_px, width, height) for (cx, cy), zz in zip(c, zr)]
