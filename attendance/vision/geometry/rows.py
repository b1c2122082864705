"""People standing in rows: which row each person stands in, and which floor line each row is on.

At an apel people stand in drilled rows, evenly spaced, so a row's depth is measured by all its
members at once. `segment_rows` cuts the depth order into rows, `row_groups` does so after each
depth has been combined with the heads' plane, `loose_rows_apart` lets people who do not stand in
a row stand alone, `evenly_spaced_ok` tests the rows for an evenly spaced formation, and
`match_row_lines` puts the rows found on the floor lines the operator measured."""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.stats import chi2

from attendance.vision.geometry.camera import EYE_PX_SD, EYE_SPACING_REL_SD, normalised_x
from attendance.vision.geometry.plane import with_head_plane

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int_]


# With the formation's row lines measured (an office setting: the floor marks' distances from the
# camera), how far a row's people stand off their line on average. A drilled row dresses on its
# line within a few centimetres; people who only roughly keep to marks, ~10 cm.
ROW_LINE_SD_M = 0.10
# A row further than this (standard scores) from every line stands on none of them.
_ROW_LINE_MAX_SD = 3.0


# Grouping people into rows. Sorted by depth, people of one row form a run; the rows are the
# split of that order into runs that explains the depths best (least squares, each person
# weighted by their depth's variance plus the row's own spread) for a price per row: a split
# must reduce the chi-square by more than _ROW_SPLIT_COST (two true rows 1 m apart reduce it by
# tens; splitting one row at its most favourable point reduces it by ~2 ln n, 6-8). Exact by
# dynamic programming. Two people side by side closer than SIDE_BY_SIDE_M (head centres) cannot
# be in one row: head centre to head centre, two people side by side stand at least a shoulder
# width apart (adults' shoulders are 0.36-0.45 m across, arms and clothes add to it), so a row that
# would put two of them closer is two rows seen merged (a person of the row behind, standing half
# a gap aside, whose face says a depth between the rows). Rows whose centres come closer than
# _ROW_MIN_GAP_M are not two rows.
_ROW_SPLIT_COST = 12.0
_ROW_MIN_GAP_M = 0.5
SIDE_BY_SIDE_M = 0.45
# Closer than this nobody stands side by side (a hard rule); between it and SIDE_BY_SIDE_M only
# shoulder to shoulder, which an apel's rows never are: each such pair in a row costs
# _SIDE_BY_SIDE_COST (chi-square units), so the depths can still overrule it.
_SIDE_BY_SIDE_M = 0.3
_SIDE_BY_SIDE_COST = 9.0
_MAX_ROWS = 12


def segment_rows(z: FloatArray, var_log: FloatArray | float, xn: FloatArray | None = None, *, row_sd_m: float = 0.08,
                 split_cost: float = _ROW_SPLIT_COST, min_gap_m: float = _ROW_MIN_GAP_M,
                 side_by_side_m: float = _SIDE_BY_SIDE_M, shoulder_m: float = SIDE_BY_SIDE_M,
                 shoulder_cost: float = _SIDE_BY_SIDE_COST) -> IntArray:
    """Row label per person (0..k-1, front row first; -1 for a depth that is not positive and
    finite), from depths `z` whose logs have variance `var_log`, and (optional) each person's
    normalised picture column xn = (u - W/2) / f, which tells who stands side by side: no row
    holds two people closer than `side_by_side_m`, and each pair closer than `shoulder_m` costs
    `shoulder_cost`."""
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
    # tight[i, j]: pairs closer than `shoulder_m` within the run idx[i:j].
    tight = np.zeros((n + 1, n + 1))
    if xn is not None:
        x = np.asarray(xn, np.float64).ravel()[idx]
        zz = z[idx]
        gap_m = np.abs(x[:, None] - x[None, :]) * np.sqrt(zz[:, None] * zz[None, :])
        close = gap_m < side_by_side_m
        for q in range(n):
            ps = np.flatnonzero(close[:q, q])
            lim[q + 1] = max(lim[q], int(ps.max()) if len(ps) else -1)
        for j in range(1, n + 1):
            lim[j] = max(lim[j], lim[j - 1])
        near = (gap_m < shoulder_m).astype(float)
        for j in range(2, n + 1):
            # pairs (a, j-1) with a in [i, j-1), for every i: a suffix sum of column j-1
            col = np.concatenate([np.cumsum(near[:j - 1, j - 1][::-1])[::-1], [0.0]])
            tight[:j, j] = tight[:j, j - 1] + col[:j]

    def cost(i: int, j: int) -> float:
        sw = S0[j] - S0[i]
        return float(S2[j] - S2[i] - (S1[j] - S1[i]) ** 2 / sw + shoulder_cost * tight[i, j])

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


def row_groups(z: FloatArray, eye_y_px: FloatArray, f_px: float, *, row_sd_m: float = 0.08,
               rel_sd: float = EYE_SPACING_REL_SD, head_sd_m: float = 0.08, eye_x_px: FloatArray | None = None,
               width_px: int | None = None) -> IntArray:
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
    xn = normalised_x(eye_x_px, width_px, f_px, z)
    zc, s2 = with_head_plane(z, xn, v / f_px, rel_sd=rel_sd, head_sd_m=head_sd_m, px_sd=EYE_PX_SD / f_px)
    return segment_rows(zc, s2, xn if eye_x_px is not None else None, row_sd_m=row_sd_m)


ROW_SPACING_SD_M = 0.10     # how far a drilled row may stand off an evenly spaced formation
_EVEN_ROWS_CHI2_P = 0.01     # below this p-value the rows are not evenly spaced: leave them be
_ROW_CHI2_P = 0.001          # a "row" whose members spread more than this allows is not a row


def loose_rows_apart(labels: IntArray, lz: FloatArray, s2: FloatArray, z: FloatArray, row_sd_m: float) -> IntArray:
    """People not standing in rows (a crowd, passers-by) still fall into runs of depth; such a
    run spreads far more than a row's `row_sd_m` plus the measurement noise allows. Test each
    run (chi-square of its members about their weighted mean, p < _ROW_CHI2_P), after leaving
    out its most distant member: if the rest pass, only that member stands alone; if not, the
    run is not a row and every member stands alone (no pull toward anybody). Rows renumbered
    front to back, one label per person who stands alone."""
    out = labels.copy()
    nxt = int(labels.max()) + 1 if len(labels) else 0

    def spread(idx: IntArray) -> FloatArray:
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


def evenly_spaced_ok(W: FloatArray, cov_W: FloatArray, sizes: IntArray) -> bool:
    """Do the rows (inverse depths W, front to back, their covariance) pass for an evenly spaced
    formation? Rows of two or more people, at least three of them, their depths on a line in
    their rank within ROW_SPACING_SD_M (chi-square test at _EVEN_ROWS_CHI2_P). A missing row, or
    rows that are not evenly spaced, fail it and are left alone."""
    big = np.flatnonzero(sizes >= 2)
    if len(big) < 3:
        return False
    Z = 1.0 / W[big]
    C = np.diag(np.diag(cov_W)[big] / W[big] ** 4) + ROW_SPACING_SD_M ** 2 * np.eye(len(big))
    X = np.stack([np.ones(len(big)), np.arange(len(big))], 1)
    Ci = np.linalg.inv(C)
    beta = np.linalg.solve(X.T @ Ci @ X, X.T @ Ci @ Z)
    r = Z - X @ beta
    return bool(chi2.sf(float(r @ Ci @ r), len(big) - 2) >= _EVEN_ROWS_CHI2_P)


def match_row_lines(D: FloatArray, var_D: FloatArray, sizes: IntArray, lines: FloatArray) -> FloatArray:
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



# A row other than the fit's is kept as a possibility for a person when its posterior weight is
# at least this (smaller ones change no probability the alerts are judged at).
_ALTERNATIVE_MIN_WEIGHT = 0.005


def row_alternatives(lz: FloatArray, var_lz: FloatArray, xn: FloatArray, labels: IntArray, W: FloatArray,
                     var_log_W: FloatArray, row_sd_m: float,
                     side_by_side_m: float = _SIDE_BY_SIDE_M, shoulder_m: float = SIDE_BY_SIDE_M,
                     shoulder_cost: float = _SIDE_BY_SIDE_COST) -> list[list[tuple[int, float]]]:
    """Per person, the other rows they may stand in and each one's posterior weight, [(row,
    weight)] (empty: their row is sure), the fit's row keeping the rest of the weight.

    Why: once a person is put in a row, the fit measures their depth by the whole row's, so their
    depth's variance is the row's (a few cm) whether the row was right or not. A person whose own
    face says a depth between two rows (their IPD or height far from the average) can be put in
    the wrong one, and then stands, with a few cm of claimed error, half a row gap from the people
    of the row in front or behind: a steady, confident and false pair. The honest answer is a
    mixture over the rows their own cues allow: each row q weighs in by how well the person's own
    log depth `lz` (variance `var_lz`: eye spacing combined with the heads' plane, before any row)
    agrees with the row's fitted depth (inverse depths `W`, the variances of their logs
    `var_log_W`, a person's step off the row `row_sd_m`), the two rows nearest their own depth
    and the fit's; a row in which they would stand closer than `side_by_side_m` to one of its
    members (`xn`: normalised picture columns) is out, and each member closer than `shoulder_m`
    costs the row `shoulder_cost` (chi-square units), as in `segment_rows`. The price, not a ban:
    that member may be the one in the wrong row (a masked face, somebody between rows), and a ban
    would then hold the person in the wrong row with no doubt at all, "surely" too close to its
    people for the whole apel. People standing alone (a row of one) are measured by their own cues
    already and get none."""
    n = len(labels)
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    R = len(W)
    if R < 2:
        return out
    Z = 1.0 / np.maximum(W, 1e-6)
    lZ = np.log(Z)
    sizes = np.bincount(labels, minlength=R)
    for i in range(n):
        r = int(labels[i])
        if sizes[r] < 2 or not (np.isfinite(lz[i]) and np.isfinite(var_lz[i])):
            continue
        near = np.argsort(np.abs(lZ - lz[i]))[:2]
        rows = sorted({r, *(int(q) for q in near)})
        chi = np.array([(lz[i] - lZ[q]) ** 2 / (var_lz[i] + (row_sd_m / Z[q]) ** 2 + var_log_W[q]) for q in rows])
        weight = np.exp(-0.5 * (chi - chi.min()))
        for k, q in enumerate(rows):
            if q == r:
                continue
            others = np.flatnonzero((labels == q) & (np.arange(n) != i))
            gaps = np.abs(xn[others] - xn[i]) * Z[q]
            if others.size and np.min(gaps) < side_by_side_m:
                weight[k] = 0.0
            else:
                weight[k] *= math.exp(-0.5 * shoulder_cost * int(np.sum(gaps < shoulder_m)))
        weight /= weight.sum()
        out[i] = [(q, float(w)) for q, w in zip(rows, weight, strict=True) if q != r and w >= _ALTERNATIVE_MIN_WEIGHT]
    return out
