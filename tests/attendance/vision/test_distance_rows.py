"""Row-aware depth refinement (rows.row_groups, fit.refine_depths / positions_with_rows): real
pinhole geometry and seeded per-person depth errors, no mocks."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attendance.vision.geometry.camera import focal_px, position_m
from attendance.vision.geometry.fit import positions_and_violations, positions_with_rows, refine_depths
from attendance.vision.geometry.rows import row_groups
from attendance.vision.geometry.violations import violations

W, H = 1920, 1080
F = focal_px(W, 70.0)


def scene(row_depths, per_row, rng, *, camera_above_m=1.0, pitch_deg=12.5, head_sd=0.06, stand_sd=0.05, gap=1.3):
    """People in rows on the floor, seen by a camera `camera_above_m` above the mean head,
    pitched down. Returns true camera-coordinate positions (n, 3) and row index per person."""
    p = math.radians(pitch_deg)
    pts, rows = [], []
    for r, zw0 in enumerate(row_depths):
        xs = (np.arange(per_row) - (per_row - 1) / 2) * gap + (gap / 2 if r % 2 else 0.0)
        for x in xs:
            zw = zw0 + rng.normal(0, stand_sd)
            drop = camera_above_m - rng.normal(0, head_sd)
            pts.append((x, drop * math.cos(p) - zw * math.sin(p), drop * math.sin(p) + zw * math.cos(p)))
            rows.append(r)
    return np.array(pts), np.array(rows)


def image(pts):
    return W / 2 + F * pts[:, 0] / pts[:, 2], H / 2 + F * pts[:, 1] / pts[:, 2]


def same_partition(a, b) -> bool:
    return len(set(zip(a.tolist(), b.tolist(), strict=True))) == len(set(a.tolist())) == len(set(b.tolist()))


def test_two_rows_refined_depth_clearly_better_than_raw():
    raw_err, ref_err = [], []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        pts, _ = scene([4.0, 5.0], 7, rng)
        z_true = pts[:, 2]
        z = z_true * (1 + rng.normal(0, 0.05, len(z_true)))    # each person's own IPD
        _, v = image(pts)
        zr = refine_depths(z, v, F, H)
        raw_err += list(np.abs(z - z_true) / z_true)
        ref_err += list(np.abs(zr - z_true) / z_true)
    raw, ref = float(np.mean(raw_err)), float(np.mean(ref_err))
    assert ref < 0.7 * raw, (raw, ref)


def test_rows_found_from_depth_and_eye_rows():
    hits = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        pts, rows = scene([3.0, 4.0, 5.0], 6, rng)
        z = pts[:, 2] * (1 + rng.normal(0, 0.05, len(pts)))
        _, v = image(pts)
        hits += same_partition(row_groups(z, v - H / 2, F), rows)
    assert hits >= 17, hits


def test_single_person_unchanged():
    z = np.array([4.37])
    assert refine_depths(z, np.array([500.0]), F, H)[0] == pytest.approx(4.37, abs=0)
    (pos,) = positions_with_rows([(1200.0, 500.0)], None, [4.37], F, W, H)
    assert pos == pytest.approx(position_m(1200.0, 500.0, 4.37, F, W, H))


def test_level_camera_separates_rows_on_depth_alone():
    """Level camera at head height: every eye on the same image row, so only depth tells the
    rows (1 m apart) apart."""
    hits, raw_err, ref_err = 0, [], []
    for seed in range(20):
        rng = np.random.default_rng(200 + seed)
        z_true = np.repeat([3.0, 4.0], 6)
        z = z_true * (1 + rng.normal(0, 0.05, len(z_true)))
        v = np.full(len(z), H / 2)
        labels = row_groups(z, v - H / 2, F)
        hits += same_partition(labels, np.repeat([0, 1], 6))
        zr = refine_depths(z, v, F, H)
        raw_err += list(np.abs(z - z_true))
        ref_err += list(np.abs(zr - z_true))
    assert hits >= 18, hits
    assert np.mean(ref_err) < 0.75 * np.mean(raw_err)


def test_single_row_without_depth_spread_stays_one_row():
    rng = np.random.default_rng(7)
    z_true = np.full(9, 5.0)
    z = z_true * (1 + rng.normal(0, 0.05, 9))
    v = 520.0 + rng.normal(0, 10, 9)       # head heights differ a little
    assert len(set(row_groups(z, v - H / 2, F).tolist())) == 1
    # No error at all: nothing to pull toward, nothing moves.
    np.testing.assert_allclose(refine_depths(z_true, v, F, H), z_true, rtol=1e-12)


def test_positions_scale_x_with_the_refined_depth():
    rng = np.random.default_rng(3)
    pts, _ = scene([4.0, 5.0], 6, rng)
    z = pts[:, 2] * (1 + rng.normal(0, 0.05, len(pts)))
    u, v = image(pts)
    out = positions_with_rows(list(zip(u, v, strict=True)), list(v), z, F, W, H)
    zr = refine_depths(z, v, F, H, eye_x_px=u, width_px=W)   # the columns: roll, who stands side by side
    for (x, y, zz), cx, cy, want in zip(out, u, v, zr, strict=True):
        assert zz == pytest.approx(want)
        assert x == pytest.approx((cx - W / 2) * zz / F)
        assert y == pytest.approx((cy - H / 2) * zz / F)
    # Lateral error shrinks with the depth's.
    x_raw = (u - W / 2) * z / F
    x_ref = np.array([p[0] for p in out])
    assert np.abs(x_ref - pts[:, 0]).mean() < np.abs(x_raw - pts[:, 0]).mean()


def test_fewer_false_violations_between_rows():
    """Neighbours in the next row 1.12 m away (0.5 m aside, 1 m behind): per-person depth
    errors put many of them under 1 m; the rows pull them back."""
    fp_raw = fp_ref = 0
    for seed in range(30):
        rng = np.random.default_rng(300 + seed)
        pts, _ = scene([4.5, 5.5], 7, rng, gap=1.4, stand_sd=0.0)
        pts[7:, 0] = pts[:7, 0] + 0.5
        z = pts[:, 2] * (1 + rng.normal(0, 0.05, len(pts)))
        u, v = image(pts)
        raw = [position_m(a, b, c, F, W, H) for a, b, c in zip(u, v, z, strict=True)]
        ref = positions_with_rows(list(zip(u, v, strict=True)), list(v), z, F, W, H)
        fp_raw += len(violations(raw, 1.0))
        fp_ref += len(violations(ref, 1.0))
    assert fp_raw > 20
    assert fp_ref < 0.6 * fp_raw, (fp_raw, fp_ref)


def test_bad_depths_left_alone():
    z = np.array([4.0, 4.1, np.nan, 0.0, 3.9])
    v = np.full(5, 540.0)
    out = refine_depths(z, v, F, H)
    assert np.isnan(out[2]) and out[3] == 0.0
    assert np.all(np.isfinite(out[[0, 1, 4]]))
    with pytest.raises(ValueError):
        refine_depths(z, v[:3], F, H)
    with pytest.raises(ValueError):
        positions_with_rows([(100.0, 500.0)] * 3, None, [4.0, 4.1], F, W, H)


def test_a_masked_face_leans_on_its_row_more():
    """A masked face's eye spacing is measured less well: flagged as masked, its depth moves
    further toward its row's than the same measurement of an unmasked face does."""
    rng = np.random.default_rng(7)
    pts, _ = scene([3.5, 4.7, 5.9], 6, rng)
    z = pts[:, 2] * np.exp(rng.normal(0, 0.02, len(pts)))
    z[2] = pts[2, 2] * 0.88                       # one face of the front row measured 12% too near
    u, v = image(pts)
    centres = list(zip(u.tolist(), v.tolist(), strict=True))
    plain, _ = positions_and_violations(centres, None, z.tolist(), F, W, H, 1.0)
    flagged = [i == 2 for i in range(len(pts))]
    masked, _ = positions_and_violations(centres, None, z.tolist(), F, W, H, 1.0, masked=flagged)
    err = lambda p: abs(p[2] - pts[2, 2]) / pts[2, 2]   # noqa: E731
    assert err(masked[2]) < err(plain[2])
    # Everyone else is placed (nearly) as before.
    others = [abs(masked[i][2] - plain[i][2]) for i in range(len(pts)) if i != 2]
    assert max(others) < 0.05
