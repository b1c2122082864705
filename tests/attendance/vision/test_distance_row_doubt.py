"""Rows seen merged and people whose row is in doubt (rows.segment_rows' shoulder rule,
rows.row_alternatives, violations.pair_estimates' alternatives, alerts): real pinhole geometry
of the synthetic offices (camera 2.6 m high aimed at a 1.6 m head 4.5 m away), no mocks.

The case: the back two rows of an apel, 1.06 m apart, staggered half a gap. Two people of the
back row have large IPDs or short heads, so their faces say a depth between the rows; the fit
used to put both rows in one and report the people of the back row 0.35-0.7 m from those in
front with 2-4 cm of claimed uncertainty: false alerts that waiting cannot clear."""
from __future__ import annotations

import math

import numpy as np

from attendance.vision.geometry.alerts import DistancingAlerts
from attendance.vision.geometry.camera import MEAN_IPD_M, focal_px
from attendance.vision.geometry.fit import fit_frame
from attendance.vision.geometry.rows import SIDE_BY_SIDE_M, row_alternatives, segment_rows
from attendance.vision.geometry.violations import pair_estimates

W, H = 1920, 1080
F = focal_px(W, 70.0)
PITCH = math.atan2(2.6 - 1.6, 4.5)

# (x, floor depth, head height, IPD) of each person: the front two rows, then the two back rows
# of an office (seed 903, "close"; its people as rendered there).
FRONT = [(0.0102, 2.9519, 1.6408, 0.0600), (1.1301, 2.9758, 1.6011, 0.0603),
         (0.9921, 4.0439, 1.5874, 0.0603), (-0.0121, 4.0641, 1.6354, 0.0607)]
ROW_A = [(-1.1551, 5.1505, 1.4671, 0.0675), (1.065, 5.1957, 1.5843, 0.0661), (2.2572, 5.1495, 1.6077, 0.0579)]
ROW_B = [(1.9952, 6.2171, 1.4846, 0.0632), (-0.1048, 6.2395, 1.6301, 0.0687), (0.9426, 6.2013, 1.5472, 0.0624)]
PEOPLE = FRONT + ROW_A + ROW_B
TRUE_ROW = [0, 0, 1, 1] + [2] * len(ROW_A) + [3] * len(ROW_B)

# The same people as the pipeline saw them in one frame of that office's clip (bench_distance.py
# --apel, frame 15): face-box centre, depth from eye spacing (its track's), masked; the fit put
# both back rows in one row at 5.75 m then, the back row's people 0.36-0.69 m from row A's.
SEEN = [((955.0, 681.0), 3.198, False), ((1463.5, 699.0), 3.273, False),
        ((1283.0, 585.0), 4.148, False), ((948.5, 571.0), 4.202, False),
        ((660.0, 543.0), 4.846, True), ((1237.5, 510.5), 5.026, True), ((1555.5, 508.5), 5.756, False),
        ((1395.5, 487.5), 6.164, True), ((930.5, 455.5), 5.729, True), ((1159.5, 475.0), 6.651, True)]


def frame(people=PEOPLE):
    """Face centres in the picture and depths from eye spacing read with the mean IPD."""
    cp, sp = math.cos(PITCH), math.sin(PITCH)
    centres, z = [], []
    for x, zw, head, ipd in people:
        drop = 2.6 - head
        y, zc = drop * cp - zw * sp, drop * sp + zw * cp
        centres.append((W / 2 + F * x / zc, H / 2 + F * y / zc))
        z.append(zc * MEAN_IPD_M / ipd)
    return centres, z


def floor_gap(a, b) -> float:
    return math.hypot(PEOPLE[a][0] - PEOPLE[b][0], PEOPLE[a][1] - PEOPLE[b][1])


def test_everybody_stands_at_least_the_minimum_apart():
    n = len(PEOPLE)
    assert min(floor_gap(a, b) for a in range(n) for b in range(a + 1, n)) > 1.0


def test_the_two_back_rows_are_not_merged_and_nobody_is_surely_too_close():
    centres, z, masked = ([c for c, _, _ in SEEN], [d for _, d, _ in SEEN], [m for _, _, m in SEEN])
    fit = fit_frame(centres, None, z, F, W, H, 1.0, masked=masked)
    rule = DistancingAlerts(1.0)
    sure = [e for e in fit.pairs if rule._p_close(e) >= rule.p_min]
    assert sure == [], [(e.i, e.j, e.distance_m, e.sd_m, floor_gap(e.i, e.j)) for e in sure]
    # The shoulder rule keeps the back row's people out of the row in front: nobody is placed
    # shoulder to shoulder with anybody (the merged row put two of them 0.36 m apart).
    assert min(e.distance_m for e in fit.pairs) > SIDE_BY_SIDE_M, fit.pairs
    # Held for the whole apel, such a frame gives no alert.
    alerts = [rule.update(k / 5, list(range(len(SEEN))), fit.positions, fit.pairs) for k in range(50)]
    assert not any(alerts)


def test_shoulder_to_shoulder_costs_a_row_but_depths_can_overrule_it():
    z = np.array([5.0, 5.05, 5.1, 5.3, 6.0, 6.1])
    xn = np.array([0.0, 0.2, 0.4, 0.07, 0.3, 0.5])     # the 4th stands 0.36 m from the 1st
    assert segment_rows(z, 0.002, None).tolist() == [0, 0, 0, 0, 1, 1]
    assert segment_rows(z, 0.002, xn).tolist() == [0, 0, 0, 1, 1, 1]
    # Well inside one row by depth (1 cm off it), the same pair stays: a penalty, not a rule.
    z_in = np.array([5.0, 5.01, 5.0, 5.01, 6.0, 6.1])
    assert segment_rows(z_in, 0.0001, xn, row_sd_m=0.01).tolist()[:4] == [0, 0, 0, 0]
    assert SIDE_BY_SIDE_M >= 0.4


def test_a_person_between_two_rows_may_stand_in_either():
    W_rows = 1.0 / np.array([5.2, 6.2])
    labels = np.array([0, 0, 1, 1, 0])
    lz = np.log(np.array([5.2, 5.21, 6.2, 6.19, 5.62]))
    var = np.full(5, 0.045 ** 2)
    xn = np.array([-0.3, 0.0, -0.15, 0.15, 0.4])
    alt = row_alternatives(lz, var, xn, labels, W_rows, np.full(2, 1e-4), 0.08)
    assert alt[0] == [] and alt[2] == []                     # sure of their rows
    (row, weight), = alt[4]
    assert row == 1 and 0.2 < weight < 0.8                   # right between the rows
    # A row where they would stand shoulder to shoulder with somebody is out.
    xn_b = xn.copy()
    xn_b[3] = xn[4] + 0.2 / 6.2
    assert row_alternatives(lz, var, xn_b, labels, W_rows, np.full(2, 1e-4), 0.08)[4] == []


def test_a_pair_too_close_only_in_one_assignment_is_not_sure():
    # Two people 0.5 m apart side by side at 5.2 m, the second maybe a row behind (6.2 m).
    pos = [(0.0, 0.0, 5.2), (0.5, 0.0, 5.2)]
    cov = np.diag([0.0004, 0.0004])
    (sure,) = pair_estimates(pos, cov, 1.0)
    assert sure.p_close > 0.99 and sure.modes == ()
    (doubt,) = pair_estimates(pos, cov, 1.0, alternatives=[[], [(0.3, 6.2)]])
    assert doubt.distance_m == sure.distance_m                      # the fit's distance is shown ...
    assert doubt.sd_m > 3 * sure.sd_m                                # ... with the doubt in its spread
    assert 0.65 < doubt.p_close < 0.75                               # too close only if the fit's row is right
    assert [round(w, 2) for w, _, _ in doubt.modes] == [0.7, 0.3]
    rule = DistancingAlerts(1.0)
    assert rule._p_close(doubt) < rule.p_min <= rule._p_close(sure)


def test_a_pair_truly_too_close_in_one_row_still_alerts():
    people = list(PEOPLE)
    x, zw, head, ipd = people[5]
    people[5] = (people[4][0] + 0.7, people[4][1], people[4][2], people[4][3])   # 0.7 m beside no. 4
    people[6] = (x + 1.8, zw, head, ipd)
    centres, z = frame(people)
    fit = fit_frame(centres, None, z, F, W, H, 1.0)
    rule = DistancingAlerts(1.0)
    alerts = [rule.update(k / 5, list(range(len(people))), fit.positions, fit.pairs) for k in range(20)]
    assert any((a.a, a.b) == (4, 5) and a.new for frame_alerts in alerts for a in frame_alerts)


def test_a_row_with_somebody_at_shoulder_distance_is_priced_not_banned():
    # The person's own cues say row 1 (6.1 m); the fit put them in row 0. A row-1 member 0.38 m
    # aside (shoulder to shoulder: maybe that member is the one in the wrong row) makes row 1
    # less likely, not impossible; 0.2 m aside nobody stands, and the row is out.
    W_rows = 1.0 / np.array([5.2, 6.2])
    labels = np.array([0, 0, 1, 1, 0])
    lz = np.log(np.array([5.2, 5.21, 6.2, 6.19, 6.1]))
    var = np.full(5, 0.045 ** 2)
    xn = np.array([-0.3, 0.0, -0.15, 0.15, 0.4])
    free = row_alternatives(lz, var, xn, labels, W_rows, np.full(2, 1e-4), 0.08)[4]
    xn[3] = xn[4] + 0.38 / 6.2
    (row, weight), = row_alternatives(lz, var, xn, labels, W_rows, np.full(2, 1e-4), 0.08)[4]
    assert row == 1 and 0.3 < weight < free[0][1]
    xn[3] = xn[4] + 0.2 / 6.2
    assert row_alternatives(lz, var, xn, labels, W_rows, np.full(2, 1e-4), 0.08)[4] == []


def test_a_person_placed_far_from_their_own_cues_is_in_doubt():
    from attendance.vision.geometry.fit import OWN_DISAGREE_WEIGHT, _doubt_own_disagreement

    # Face says 5.11 m (+-4%), the rows held them at 4.46 m (3.4 sd); the other is where it says.
    alternatives: list[list[tuple[float, float]]] = [[], []]
    _doubt_own_disagreement(alternatives, np.array([0, 1]), np.array([4.46, 4.40]), np.array([5.11, 4.42]),
                            np.full(2, 0.04 ** 2), 0.08)
    assert alternatives == [[(OWN_DISAGREE_WEIGHT, 5.11)], []]
    # A pair with a row-mate 0.9 m aside is then not surely too close (1.16 m apart where the face says).
    pos = [(-0.45, 0.0, 4.46), (0.45, 0.0, 4.46)]
    (e,) = pair_estimates(pos, np.diag([0.0004, 0.0004]), 1.0, alternatives=[alternatives[0], []])
    assert e.p_close < 0.95
    (sure,) = pair_estimates(pos, np.diag([0.0004, 0.0004]), 1.0)
    assert sure.p_close > 0.99
