"""The heads' plane, evenly spaced rows, side-by-side grouping and the probabilistic violation
rule (plane.fit_head_plane / head_plane_depths, rows.segment_rows, fit.refine_depths /
violations.likely_violations, fit.positions_and_violations): real pinhole geometry, seeded per-person errors
(own IPD, own head height, own step off the row line), no mocks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attendance.vision.geometry.camera import focal_px, position_m
from attendance.vision.geometry.fit import positions_and_violations, positions_with_rows, refine_depths
from attendance.vision.geometry.plane import fit_head_plane, head_plane_depths
from attendance.vision.geometry.plane import floor_distance as plane_floor_distance
from attendance.vision.geometry.rows import segment_rows
from attendance.vision.geometry.violations import likely_violations, violations

W, H = 1920, 1080
F = focal_px(W, 70.0)


def office(rng, row_depths=(3.0, 4.0, 5.0, 6.0), per_row=(3, 4, 5, 7), *, camera_above_m=1.0, pitch_deg=12.5,
           roll_deg=0.0, head_sd=0.06, step_sd=0.06, gap=1.3, close_every=0):
    """People in rows on the floor (row r at row_depths[r] m, per_row[r] people, alternate rows
    shifted half a gap; with `close_every` every that many-th gap is 0.7 m, a pair too close),
    heads at their own height, each a step off the row line; a camera
    `camera_above_m` above the mean head, pitched down and rolled. Returns true camera-coordinate
    positions (n, 3), floor positions (n, 2) and the row of each."""
    p, q = math.radians(pitch_deg), math.radians(roll_deg)
    pts, floor, rows = [], [], []
    for r, (zw0, n) in enumerate(zip(row_depths, per_row, strict=True)):
        gaps = [0.7 if close_every and k % close_every == close_every - 1 else gap for k in range(n - 1)]
        xs = np.concatenate([[0.0], np.cumsum(gaps)])
        xs = xs - xs.mean() + (gap / 2 if r % 2 else 0.0)
        for x in xs:
            zw = zw0 + float(np.clip(rng.normal(0, step_sd), -0.15, 0.15))
            drop = camera_above_m - rng.normal(0, head_sd)
            xc, yc, zc = x, drop * math.cos(p) - zw * math.sin(p), drop * math.sin(p) + zw * math.cos(p)
            pts.append((math.cos(q) * xc - math.sin(q) * yc, math.sin(q) * xc + math.cos(q) * yc, zc))
            floor.append((x, zw))
            rows.append(r)
    return np.array(pts), np.array(floor), np.array(rows)


def image(pts):
    return W / 2 + F * pts[:, 0] / pts[:, 2], H / 2 + F * pts[:, 1] / pts[:, 2]


def ipd_depths(pts, rng, rel=0.05):
    return pts[:, 2] * (1 + rng.normal(0, rel, len(pts)))


def test_head_plane_recovers_camera_height_pitch_and_roll():
    """yn = a / z + b + c * xn with a = h / g_y (camera height above the heads over the vertical's
    y component), b = -g_z / g_y (minus the tangent of the pitch), c = -g_x / g_y (roll)."""
    a_s, b_s, c_s = [], [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        pts, _, _ = office(rng, per_row=(5, 6, 7, 8), roll_deg=3.0)
        u, v = image(pts)
        plane = fit_head_plane((u - W / 2) / F, (v - H / 2) / F, ipd_depths(pts, rng))
        assert plane is not None
        a_s.append(plane.coef[0])
        b_s.append(plane.coef[1])
        c_s.append(plane.coef[2])
    p, q = math.radians(12.5), math.radians(3.0)
    g = np.array([-math.sin(q) * math.cos(p), math.cos(q) * math.cos(p), math.sin(p)])   # "down" in camera coordinates
    assert np.mean(a_s) == pytest.approx(1.0 / g[1], rel=0.06)
    assert np.mean(b_s) == pytest.approx(-g[2] / g[1], abs=0.01)
    assert np.mean(c_s) == pytest.approx(-g[0] / g[1], abs=0.01)
    # Regression dilution corrected: the slope is not biased low by the 5% error of 1 / z.
    assert np.mean(a_s) > 0.97 / g[1]


def test_plane_depth_is_a_second_independent_measure():
    """Each person's plane depth (fitted to everybody else) errs by their own head height, not
    their IPD: its error is uncorrelated with the eye-spacing error, and its stated variance is
    about right."""
    e_ipd, e_plane, zscores = [], [], []
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        pts, _, _ = office(rng)
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        zh, vh = head_plane_depths((u - W / 2) / F, (v - H / 2) / F, z)
        ok = np.isfinite(zh)
        assert ok.mean() > 0.9
        e_ipd += list(np.log(z[ok] / pts[ok, 2]))
        e_plane += list(np.log(zh[ok] / pts[ok, 2]))
        zscores += list(np.log(zh[ok] / pts[ok, 2]) / np.sqrt(vh[ok]))
    assert abs(np.corrcoef(e_ipd, e_plane)[0, 1]) < 0.2
    assert 0.7 < np.std(zscores) < 1.4
    assert np.std(e_plane) < 0.09      # ~6 cm of head height over ~1 m of camera height


def test_level_camera_plane_says_nothing_and_refinement_still_works():
    """A camera at head height, not pitched: every eye on about the middle row of the picture.
    The plane gives no depth (no plane, or infinite variance); rows still do their work."""
    raw, ref = [], []
    for seed in range(20):
        rng = np.random.default_rng(200 + seed)
        pts, _, _ = office(rng, camera_above_m=0.0, pitch_deg=0.0)
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        zh, vh = head_plane_depths((u - W / 2) / F, (v - H / 2) / F, z)
        assert np.all(~np.isfinite(zh) | (vh > 0.05 ** 2 * 4))
        zr = refine_depths(z, v, F, H, eye_x_px=u, width_px=W)
        raw += list(np.abs(z - pts[:, 2]))
        ref += list(np.abs(zr - pts[:, 2]))
    assert np.mean(ref) < 0.7 * np.mean(raw)


def row_errors(seeds, **kw):
    """RMS error of each row's depth (mean over its people) and of the step between neighbouring
    rows, metres."""
    centre, step = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pts, _, rows = office(rng, per_row=(4, 5, 6, 7))
        u, v = image(pts)
        zr = refine_depths(ipd_depths(pts, rng), v, F, H, eye_x_px=u, width_px=W, **kw)
        e = [np.mean(zr[rows == r] - pts[rows == r, 2]) for r in range(4)]
        centre += e
        step += list(np.diff(e))
    return math.sqrt(np.mean(np.square(centre))), math.sqrt(np.mean(np.square(step)))


def test_plane_and_even_rows_each_shrink_the_row_error():
    """The error left after rows is each row's depth; the eye rows (for a camera above the
    heads) measure it again, and the even spacing of a drilled formation ties the steps between
    rows together (what decides whether people in neighbouring rows are too close)."""
    seeds = range(300, 340)
    rows_only = row_errors(seeds, head_plane=False, even_rows=False)
    plane = row_errors(seeds, even_rows=False)
    both = row_errors(seeds)
    assert plane[0] < 0.9 * rows_only[0] and plane[1] < 0.9 * rows_only[1], (rows_only, plane)
    assert both[1] < 0.85 * plane[1], (plane, both)
    assert both[0] < plane[0]


def test_uneven_rows_are_left_uneven():
    """Rows at 3, 4 and 6.5 m (one missing, or not a drilled formation): the even-spacing test
    rejects them and the result is the same as without it."""
    same = 0
    for seed in range(20):
        rng = np.random.default_rng(400 + seed)
        pts, _, _ = office(rng, row_depths=(3.0, 4.0, 6.5), per_row=(5, 6, 8))
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        a = refine_depths(z, v, F, H, eye_x_px=u, width_px=W)
        b = refine_depths(z, v, F, H, eye_x_px=u, width_px=W, even_rows=False)
        same += bool(np.allclose(a, b))
    assert same >= 18


def test_side_by_side_people_are_not_one_row():
    """Two staggered rows whose measured depths overlap: by depth alone one run, but people 0.2 m
    apart across the picture cannot stand in one row."""
    z = np.array([5.00, 5.05, 5.10, 5.15, 5.20, 5.25])
    xn = np.array([0.00, 0.04, 0.20, 0.24, 0.40, 0.44])      # pairs 0.2 m apart at 5 m
    var = np.full(6, 0.05 ** 2)
    assert len(set(segment_rows(z, var).tolist())) == 1
    labels = segment_rows(z, var, xn)
    for i in (0, 2, 4):
        assert labels[i] != labels[i + 1]


def test_one_row_stays_one_row_and_a_crowd_is_not_pulled():
    rng = np.random.default_rng(7)
    z = 5.0 * (1 + rng.normal(0, 0.05, 9))
    xn = np.linspace(-0.4, 0.4, 9)
    assert len(set(segment_rows(z, 0.05 ** 2, xn).tolist())) == 1
    # People scattered in depth, measured well: no row explains them, nobody is moved much.
    zc = np.array([3.0, 3.35, 3.7, 4.05, 4.4, 4.75, 5.1, 5.45])
    u = W / 2 + F * np.linspace(-0.5, 0.5, 8)
    out = refine_depths(zc, np.full(8, H / 2), F, H, eye_x_px=u, width_px=W, rel_sd=0.01)
    np.testing.assert_allclose(out, zc, rtol=0.02)


def test_likely_violations_uses_the_uncertainty():
    pos = [(0.0, 0.0, 5.0), (0.95, 0.0, 5.0), (2.0, 0.0, 5.0), (2.3, 0.0, 5.95)]
    # No uncertainty: the plain rule.
    assert likely_violations(pos, np.zeros((4, 4)), 1.0) == violations(pos, 1.0)
    # The pair across the picture (0, 1) is measured well even when each depth is uncertain by
    # 3%, if the errors are shared (one row); the pair in depth (2, 3) at 0.995 m is not.
    cov = np.full((4, 4), 0.0)
    cov[:2, :2] = 0.03 ** 2
    cov[2, 2] = cov[3, 3] = 0.03 ** 2
    got = {(i, j) for i, j, _ in likely_violations(pos, cov, 1.0, p_min=0.6)}
    assert (0, 1) in got and (2, 3) not in got
    assert (2, 3) in {(i, j) for i, j, _ in likely_violations(pos, cov, 1.0, p_min=0.5)}
    # Unknown depth: falls back to the plain rule.
    cov[3, 3] = np.inf
    assert (2, 3) in {(i, j) for i, j, _ in likely_violations(pos, cov, 1.0, p_min=0.6)}


def test_fewer_false_violations_and_no_lost_true_ones_on_offices():
    """Offices like the synthetic ones (rows 1 m apart, about one pair in five too close in a
    row): the refined positions with the probabilistic rule make far fewer false reports than
    eye spacing alone, and catch as many true ones."""
    tp = {"raw": 0, "new": 0}
    fp = {"raw": 0, "new": 0}
    true_pairs = 0
    for seed in range(20):
        rng = np.random.default_rng(500 + seed)
        pts, floor, _ = office(rng, close_every=3)
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        d_true = np.hypot(*(floor[:, None, :] - floor[None, :, :]).transpose(2, 0, 1))
        truth = {(i, j) for i in range(len(pts)) for j in range(i + 1, len(pts)) if d_true[i, j] < 0.9}
        far = {(i, j) for i in range(len(pts)) for j in range(i + 1, len(pts)) if d_true[i, j] > 1.1}
        true_pairs += len(truth)
        raw = [position_m(a, b, c, F, W, H) for a, b, c in zip(u, v, z, strict=True)]
        _, new = positions_and_violations(list(zip(u, v, strict=True)), list(v), z, F, W, H, 1.0)
        for k, pairs in (("raw", violations(raw, 1.0)), ("new", new)):
            got = {(i, j) for i, j, _ in pairs}
            tp[k] += len(got & truth)
            fp[k] += len(got & far)
    assert fp["raw"] > 30
    assert fp["new"] < 0.4 * fp["raw"], fp
    assert tp["new"] >= tp["raw"] - 1, (tp, true_pairs)


def test_positions_and_violations_places_like_positions_with_rows():
    rng = np.random.default_rng(3)
    pts, _, _ = office(rng)
    u, v = image(pts)
    z = ipd_depths(pts, rng)
    pos, close = positions_and_violations(list(zip(u, v, strict=True)), None, z, F, W, H, 1.0)
    np.testing.assert_allclose(pos, positions_with_rows(list(zip(u, v, strict=True)), None, z, F, W, H), rtol=1e-12)
    assert all(0 <= i < j < len(pts) and d >= 0 for i, j, d in close)
    with pytest.raises(ValueError):
        positions_and_violations([(100.0, 500.0)] * 3, None, [4.0, 4.1], F, W, H, 1.0)


def test_likely_violations_matches_the_pair_by_pair_rule():
    """The rule runs on every analysed frame, so it is computed for all pairs at once; this is the
    same rule written pair by pair (including depths with unknown variance)."""
    from scipy.stats import norm

    def by_pairs(p, cov, m, p_min):
        out = []
        for i in range(len(p)):
            for j in range(i + 1, len(p)):
                d = float(np.linalg.norm(p[i] - p[j]))
                u = (p[i] - p[j]) / max(d, 1e-9)
                g = np.array([p[i] @ u, -(p[j] @ u)])
                c = cov[np.ix_([i, j], [i, j])]
                sd = math.sqrt(max(float(g @ c @ g), 0.0)) if np.all(np.isfinite(c)) else 0.0
                prob = float(norm.cdf((m - d) / sd)) if sd > 0 else float(d < m)
                if prob > p_min:
                    out.append((i, j, round(d, 3)))
        return out

    rng = np.random.default_rng(7)
    seen = 0
    for trial in range(60):
        n = int(rng.integers(0, 22))
        p = np.c_[rng.uniform(-2.5, 2.5, n), rng.uniform(-0.2, 0.2, n), rng.uniform(3, 6, n)]
        a = rng.normal(0, 0.04, (n, n))
        cov = a @ a.T
        if n and trial % 4 == 0:
            cov[int(rng.integers(n)), :] = np.inf
        want = by_pairs(p, cov, 1.0, 0.55)
        seen += len(want)
        assert likely_violations(p, cov, 1.0, 0.55) == want
    assert seen > 50   # the comparison covered real violations, not only empty lists


def test_measured_camera_height_shrinks_the_rows_depth_error():
    """Eye spacing sets the heads' plane's scale only to ~10%; a measured camera height (above
    the staff's average eye height, PipelineConfig.camera_height_m - eye_height_m) fixes it,
    so whole rows misjudge their depth less, and the depth between rows too. A height 5 cm off
    still helps."""
    centre = {"unknown": [], "measured": [], "5 cm off": []}
    between = {k: [] for k in centre}
    for seed in range(40):
        rng = np.random.default_rng(900 + seed)
        pts, _, rows = office(rng)
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        for name, above in (("unknown", None), ("measured", 1.0), ("5 cm off", 1.05)):
            pos, _ = positions_and_violations(list(zip(u, v, strict=True)), list(v), z, F, W, H, 1.0,
                                              camera_above_m=above)
            zr = np.array([p[2] for p in pos])
            row_err = [np.mean(np.log(zr[rows == r] / pts[rows == r, 2])) for r in range(4)]
            centre[name] += row_err
            between[name] += list(np.diff(row_err))
    rms = {k: (math.sqrt(np.mean(np.square(centre[k]))), math.sqrt(np.mean(np.square(between[k])))) for k in centre}
    assert rms["measured"][0] < 0.92 * rms["unknown"][0] and rms["measured"][1] < rms["unknown"][1], rms
    assert rms["5 cm off"][0] < rms["unknown"][0], rms


def floor_distance(pts, pitch_deg=12.5):
    """Each camera-coordinate point's distance ahead along the floor (roll 0)."""
    p = math.radians(pitch_deg)
    return -pts[:, 1] * math.sin(p) + pts[:, 2] * math.cos(p)


def test_floor_distance_inverts_the_camera_pitch():
    """A head's horizontal distance from the camera, from its camera depth and the heads' plane
    (yn = a w + b + c xn): what the row lines, measured on the floor, are compared with."""
    rng = np.random.default_rng(3)
    for pitch in (0.0, 8.0, 20.0):
        pts, floor, _ = office(rng, pitch_deg=pitch, head_sd=0.0, step_sd=0.0)
        p = math.radians(pitch)
        a, b = 1.0 / math.cos(p), -math.tan(p)    # the plane 1 m below the camera, pitched
        got = np.array([plane_floor_distance(z, a, b, 0.0, True) for z in pts[:, 2]])
        assert np.allclose(got, floor[:, 1], atol=1e-9), (pitch, got - floor[:, 1])
    assert plane_floor_distance(4.2, 1.0, -0.3, 0.0, False) == 4.2   # no plane: a level camera


def _row_floor_errors(seeds, lines_shift=0.0, row_depths=(3.0, 4.0, 5.0, 6.0), per_row=(3, 4, 5, 7), lines=None):
    out = {"unknown": [], "lines": []}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        pts, floor, rows = office(rng, row_depths=row_depths, per_row=per_row)
        u, v = image(pts)
        z = ipd_depths(pts, rng)
        for name, given in (("unknown", None), ("lines", np.array(lines or row_depths) + lines_shift)):
            pos, _ = positions_and_violations(list(zip(u, v, strict=True)), list(v), z, F, W, H, 1.0,
                                              row_lines_m=given)
            got = floor_distance(np.array(pos))
            out[name].append([float(np.mean(got[rows == r]) - np.mean(floor[rows == r, 1]))
                              for r in range(len(row_depths))])
    return {k: np.array(v) for k, v in out.items()}


def test_measured_row_lines_fix_each_rows_depth():
    """With the formation's row lines measured on the floor (PipelineConfig.row_lines_m), each
    row is held to its line within ROW_LINE_SD_M (10 cm: people keep to marks only roughly), so
    the far rows, whose own measurements are the weakest, gain most (rms 12 -> 6 cm at 6 m on
    these offices), and lines measured 10 cm too far still do no harm overall."""
    seeds = range(500, 530)
    err = _row_floor_errors(seeds)
    rms = {k: np.sqrt(np.mean(np.square(v), axis=0)) for k, v in err.items()}
    assert np.all(rms["lines"] < rms["unknown"]), rms
    assert rms["lines"][-1] < 0.6 * rms["unknown"][-1], rms
    off = _row_floor_errors(seeds, lines_shift=0.10)
    assert np.sqrt(np.mean(np.square(off["lines"]))) < np.sqrt(np.mean(np.square(err["unknown"]))), off


def test_rows_match_lines_in_order_skipping_empty_lines_and_rows_on_none():
    """Lines with nobody on them (the 4 m line, here) are skipped, and a row standing on no
    line (6.8 m, with lines only to 6 m) keeps the depth the other cues give it: it is not
    pulled onto the nearest line."""
    err = _row_floor_errors(range(600, 620), row_depths=(3.0, 5.0, 6.0, 6.8), per_row=(4, 5, 5, 6),
                            lines=[3.0, 4.0, 5.0, 6.0])
    lines = err["lines"]
    rms = {k: np.sqrt(np.mean(np.square(v), axis=0)) for k, v in err.items()}
    assert np.all(rms["lines"][:3] < rms["unknown"][:3]), rms                    # held to their lines
    assert np.all(rms["lines"][:3] < 0.08), rms
    back = lines[:, 3]
    assert rms["lines"][3] < 1.2 * rms["unknown"][3], rms
    assert np.all(np.abs(back) < 0.5), back                                        # not snapped to 6.0 m


def test_rows_behind_the_last_measured_line_keep_the_formations_spacing():
    """An operator who measured only the front three lines: the back row stands on none, and is
    still placed by the formation's even spacing (which the lined rows now measure well), so it
    does better than with no lines at all, and every lined row does too."""
    err = _row_floor_errors(range(500, 530), lines=[3.0, 4.0, 5.0])
    rms = {k: np.sqrt(np.mean(np.square(v), axis=0)) for k, v in err.items()}
    assert np.all(rms["lines"] < rms["unknown"]), rms
    assert rms["lines"][3] < 0.9 * rms["unknown"][3], rms
