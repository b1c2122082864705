"""Each person's own IPD and eye height, learned over apels (results.BodyPrior,
distance.fit_positions): real pinhole geometry, one staff standing in the same places of the
formation day after day with their own bodies, seeded errors; no mocks."""
from __future__ import annotations

import math

import numpy as np

from attendance.vision.distance import MEAN_IPD_M, fit_positions, focal_px, positions_and_violations
from attendance.vision.results import BODY_MAX_APELS, BodyPrior

W, H = 1920, 1080
F = focal_px(W, 70.0)
ROWS = (3.5, 4.5, 5.5)
PER_ROW = 6


def staff(rng, n=len(ROWS) * PER_ROW):
    """Each person's IPD (63 +- 3 mm) and eye height off the average (+- 6 cm)."""
    return rng.normal(0.063, 0.003, n), rng.normal(0.0, 0.06, n)


def apel(ipd, dh, rng, *, camera_above_m=1.0, pitch_deg=12.5, stand_sd=0.06, landmark_sd=0.03):
    """One day: everybody in their place (row r, slot s), a step off the row line, seen by a
    camera 1 m above the average eye and pitched down. Returns picture centres, depths from eye
    spacing with the mean IPD (each face's landmarks err by `landmark_sd`), and true positions."""
    p = math.radians(pitch_deg)
    pts = []
    for r, zw0 in enumerate(ROWS):
        for s in range(PER_ROW):
            i = r * PER_ROW + s
            x = (s - (PER_ROW - 1) / 2) * 1.3 + (0.65 if r % 2 else 0.0)
            zw = zw0 + rng.normal(0, stand_sd)
            drop = camera_above_m - dh[i]
            pts.append((x, drop * math.cos(p) - zw * math.sin(p), drop * math.sin(p) + zw * math.cos(p)))
    pts = np.array(pts)
    u, v = W / 2 + F * pts[:, 0] / pts[:, 2], H / 2 + F * pts[:, 1] / pts[:, 2]
    eye_px = F * ipd / pts[:, 2] * (1 + rng.normal(0, landmark_sd, len(pts)))
    return list(zip(u, v)), F * MEAN_IPD_M / eye_px, pts


def row_relative(v):
    """Each value minus the mean of its row: what one frame can tell apart (a row whose people
    are taller on average looks like a row a little nearer, every day alike)."""
    v = np.asarray(v, np.float64)
    return v - np.repeat(v.reshape(len(ROWS), PER_ROW).mean(axis=1), PER_ROW)


def learn(ipd, dh, days, rng, frames=3):
    priors = [BodyPrior() for _ in ipd]
    for _ in range(days):
        c, z, _ = apel(ipd, dh, rng)
        obs = [[] for _ in ipd]
        for _ in range(frames):   # a few frames of one day: the same places, fresh landmark noise
            z_f = z * (1 + rng.normal(0, 0.01, len(z)))
            fit = fit_positions(c, None, z_f, F, W, H, 1.0, body=priors)
            for i, o in enumerate(fit.body_obs):
                if o is not None:
                    obs[i].append(o)
        priors = [b.updated(o) if o else b for b, o in zip(priors, obs)]
    return priors


def test_prior_update_is_a_median_per_apel_then_a_capped_running_mean():
    nan = float("nan")
    b = BodyPrior().updated([(0.060, 0.01), (0.070, nan), (0.064, 0.03)])
    assert b.ipd_apels == 1 and b.head_apels == 1
    assert b.ipd_m == 0.064 and abs(b.head_dh_m - 0.02) < 1e-12
    b2 = b.updated([(0.066, nan)])
    assert b2.ipd_apels == 2 and abs(b2.ipd_m - 0.065) < 1e-12
    assert b2.head_apels == 1 and b2.head_dh_m == b.head_dh_m       # nothing measured: unchanged
    assert b2.ipd_rel_sd < b.ipd_rel_sd and math.isinf(BodyPrior().ipd_rel_sd)
    # After many apels a new measurement still moves it by 1 / BODY_MAX_APELS.
    many = BodyPrior(ipd_m=0.063, ipd_apels=50, head_dh_m=0.0, head_apels=50)
    moved = many.updated([(0.073, 0.1)])
    assert abs(moved.ipd_m - (0.063 + 0.010 / BODY_MAX_APELS)) < 1e-12
    assert abs(moved.head_dh_m - 0.1 / BODY_MAX_APELS) < 1e-12


def test_without_priors_fit_positions_is_positions_and_violations():
    rng = np.random.default_rng(5)
    ipd, dh = staff(rng)
    c, z, _ = apel(ipd, dh, rng)
    fit = fit_positions(c, None, z, F, W, H, 1.0)
    pos, close = positions_and_violations(c, None, z, F, W, H, 1.0)
    assert fit.positions == pos and fit.violations == close
    assert sum(o is not None for o in fit.body_obs) == len(z)


def test_apels_measure_each_persons_own_ipd_and_eye_height():
    ipd_err, ipd_spread, dh_err, dh_spread = [], [], [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        ipd, dh = staff(rng)
        priors = learn(ipd, dh, 4, rng)
        assert all(b.ipd_apels == 4 and b.head_apels == 4 for b in priors)
        got_ipd = np.array([b.ipd_m for b in priors])
        got_dh = np.array([b.head_dh_m for b in priors])
        ipd_err += list(np.log(got_ipd / ipd))
        ipd_spread += list(np.log(MEAN_IPD_M / ipd))
        dh_err += list(got_dh - row_relative(dh))
        dh_spread += list(row_relative(dh))
    # Four apels know a person's eye height beside their row-mates far better than the
    # population does, and their IPD better.
    assert np.std(dh_err) < 0.65 * np.std(dh_spread), (np.std(dh_err), np.std(dh_spread))
    assert np.std(ipd_err) < 0.8 * np.std(ipd_spread), (np.std(ipd_err), np.std(ipd_spread))
    assert abs(np.mean(ipd_err)) < 0.01 and abs(np.mean(dh_err)) < 0.01


def test_learned_priors_make_depths_better():
    """Depth within a row is what puts a person in the neighbouring row (the false pairs across
    rows); the whole row's depth still errs with the row's average IPD and height, as before."""
    before, after = [], []
    for seed in range(8):
        rng = np.random.default_rng(50 + seed)
        ipd, dh = staff(rng)
        priors = learn(ipd, dh, 4, rng)
        c, z, pts = apel(ipd, dh, rng)
        truth = np.linalg.norm(pts, axis=1)
        for body, out in ((None, before), (priors, after)):
            fit = fit_positions(c, None, z, F, W, H, 1.0, body=body)
            got = np.linalg.norm(np.array(fit.positions), axis=1)
            out += list(np.abs(row_relative(np.log(got)) - row_relative(np.log(truth))))
    assert np.mean(after) < 0.8 * np.mean(before), (np.mean(before), np.mean(after))


def test_no_measurement_alone_in_a_row_and_no_ipd_from_a_masked_face():
    rng = np.random.default_rng(9)
    ipd, dh = staff(rng)
    c, z, _ = apel(ipd, dh, rng)
    # One more person far behind everybody: a row of their own.
    c2, z2 = c + [(W / 2, c[0][1] - 60)], np.append(z, 9.0)
    masked = [i == 3 for i in range(len(z2))]
    fit = fit_positions(c2, None, z2, F, W, H, 1.0, masked=masked)
    assert fit.body_obs[-1] is None
    assert math.isnan(fit.body_obs[3][0]) and math.isfinite(fit.body_obs[3][1])
    assert all(math.isfinite(o[0]) for i, o in enumerate(fit.body_obs[:-1]) if i != 3)
