"""Distancing alerts (geometry.alerts): only a pair surely too close for a couple of seconds alerts,
once per episode; the pair estimates carry the distance's uncertainty (violations.pair_estimates);
the overlay shows it. The per-frame inputs are real geometry (pinhole positions and a covariance of
log depths of the size the fit gives); what the pipeline makes of real faces is measured by
bench/bench_distance.py --apel and checked end to end in tests/app/live/test_counts_agree.py."""
from __future__ import annotations

import numpy as np
import pytest

from attendance.vision.geometry.alerts import ALERT_HOLD_S, ALERT_P_MIN, DistancingAlerts
from attendance.vision.geometry.violations import PairEstimate, likely_violations, pair_estimates


def _pair(d: float, sd: float, p: float, i: int = 0, j: int = 1) -> PairEstimate:
    return PairEstimate(i, j, d, sd, p)


def _rule(**kw) -> DistancingAlerts:
    """The rule judged on the probabilities given (no widening), held 2 s: the logic, not its settings."""
    return DistancingAlerts(1.0, **{"p_min": 0.9, "hold_s": 2.0, "scale_sd": 0.0, **kw})


def _run(rule: DistancingAlerts, ps: list[float], ids=(7, 9), fps: float = 5.0) -> list[list]:
    """Feed one pair's P(too close) frame by frame; returns each frame's alerts."""
    out = []
    for k, p in enumerate(ps):
        pairs = [_pair(0.8 if p >= 0.5 else 1.1, 0.1, p)]
        out.append(rule.update(k / fps, list(ids), [(0, 0, 3), (0.8, 0, 3)], pairs))
    return out


def test_a_pair_surely_too_close_for_the_hold_alerts_once() -> None:
    frames = _run(DistancingAlerts(1.0, scale_sd=0.0), [0.99] * 30)     # six seconds at 5 frames a second
    new = [k for k, f in enumerate(frames) if any(a.new for a in f)]
    assert new == [int(ALERT_HOLD_S * 5)], "one alert, when the closeness has held for the hold time"
    assert all(len(f) == 1 for f in frames[new[0]:]), "the alert stands while the pair stays close"
    assert frames[-1][0].distance_m == 0.8 and frames[-1][0].sd_m == 0.1


def test_the_widened_uncertainty_decides_and_is_shown() -> None:
    """A row's common error scales the pair's distance: 0.93 +- 0.025 m from the fit alone is "sure"
    (P 0.997), widened by 5% of the distance it is not (P 0.88 < ALERT_P_MIN); 0.7 m stays sure."""
    rule = DistancingAlerts(1.0, scale_sd=0.05)
    near = [rule.update(k / 5, [1, 2], [(0, 0, 5), (0.93, 0, 5)], [PairEstimate(0, 1, 0.93, 0.025, 0.997)])
            for k in range(30)]
    assert not any(near) and ALERT_P_MIN > 0.88
    rule = DistancingAlerts(1.0, scale_sd=0.05)
    clear = [rule.update(k / 5, [1, 2], [(0, 0, 5), (0.7, 0, 5)], [PairEstimate(0, 1, 0.7, 0.025, 1.0)])
             for k in range(30)]
    shown = [a for f in clear for a in f]
    assert shown and shown[0].sd_m == pytest.approx(np.hypot(0.025, 0.035), abs=1e-3)


def test_flicker_and_doubt_do_not_alert() -> None:
    # Every other frame sure (the per-frame rule's false alerts at the limit): never two seconds in a row.
    assert not any(_run(_rule(), [0.95, 0.6] * 15)[k] for k in range(30))
    # Likely too close but not sure: no alert however long.
    assert not any(_run(_rule(), [0.8] * 30))
    # Sure for less than the hold time, then apart.
    assert not any(_run(_rule(), [0.99] * 8 + [0.1] * 20))


def test_swaying_at_the_limit_is_one_episode_and_a_new_one_after_release() -> None:
    rule = _rule()
    ps = [0.99] * 15 + [0.3, 0.7, 0.4, 0.6] * 2 + [0.99] * 5     # sways, never apart for release_s
    assert sum(a.new for f in _run(rule, ps) for a in f) == 1
    rule = _rule()
    ps = [0.99] * 15 + [0.1] * 15 + [0.99] * 15                  # apart for 3 s, then close again
    assert sum(a.new for f in _run(rule, ps) for a in f) == 2


def test_pairs_are_keyed_by_tracks_not_by_their_place_in_the_frame() -> None:
    rule = _rule()
    new = 0
    for k in range(20):
        flip = k % 2 == 1    # the two faces listed in the other order every other frame
        ids = [9, 7] if flip else [7, 9]
        out = rule.update(k / 5, ids, [(0, 0, 3), (0.7, 0, 3)], [_pair(0.7, 0.05, 0.99)])
        new += sum(a.new for a in out)
    assert new == 1
    # A face that gets a new track (someone else now) starts a new wait.
    out = [rule.update(4 + k / 5, [7, 11], [(0, 0, 3), (0.7, 0, 3)], [_pair(0.7, 0.05, 0.99)]) for k in range(3)]
    assert not any(out)


def test_one_face_out_of_view_neither_breaks_nor_extends_the_wait() -> None:
    rule = _rule(min_frames=3)
    close = [_pair(0.7, 0.05, 0.99)]
    assert not rule.update(0.0, [1, 2], [(0, 0, 3), (0.7, 0, 3)], close)
    assert not rule.update(1.0, [1], [(0, 0, 3)], [])              # one of them hidden
    assert not rule.update(1.4, [1, 2], [(0, 0, 3), (0.7, 0, 3)], close)
    assert [a.new for a in rule.update(2.2, [1, 2], [(0, 0, 3), (0.7, 0, 3)], close)] == [True]


def test_without_a_fit_the_depths_own_error_decides() -> None:
    rule = DistancingAlerts(1.0)   # the product's settings
    clearly = [(0.0, 0.0, 3.0), (0.6, 0.0, 3.0)]       # 0.6 m apart side by side: sure
    limit = [(0.0, 0.0, 3.0), (0.0, 0.0, 3.95)]         # 0.95 m apart in depth: eye spacing cannot tell
    got_clear = [rule.update(k / 5, [1, 2], clearly) for k in range(25)]
    got_limit = [rule.update(k / 5, [3, 4], limit) for k in range(25)]
    assert sum(a.new for f in got_clear for a in f) == 1
    assert not any(got_limit)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        DistancingAlerts(1.0, p_min=0.3)
    with pytest.raises(ValueError):
        DistancingAlerts(1.0, min_frames=0)
    with pytest.raises(ValueError):
        DistancingAlerts(1.0, scale_sd=-0.1)


def test_pair_estimates_carry_the_uncertainty_and_agree_with_likely_violations() -> None:
    pos = [(0.0, 0.0, 3.0), (0.7, 0.0, 3.0), (0.0, 0.0, 3.9), (3.0, 0.0, 3.0)]
    cov = np.diag([0.05 ** 2] * 4)
    est = {(e.i, e.j): e for e in pair_estimates(pos, cov, 1.0)}
    assert set(est) == {(0, 1), (0, 2), (1, 2)}, "pairs beyond 1.5x the minimum are left out"
    side, depth = est[0, 1], est[0, 2]
    assert side.sd_m < depth.sd_m, "side by side is measured better than one behind the other"
    assert depth.sd_m == pytest.approx(np.hypot(0.05 * 3.0, 0.05 * 3.9), abs=0.01)   # each along its own ray
    assert side.p_close > 0.99 and 0.5 < depth.p_close < 0.9
    assert likely_violations(pos, cov, 1.0, 0.55) == [(e.i, e.j, e.distance_m) for e in est.values()
                                                      if e.p_close > 0.55]


def test_overlay_shows_the_distance_with_its_uncertainty() -> None:
    from app.live.streams import StreamInfo
    from app.live.translate import overlay_from_result, sightings_from_result
    from attendance.vision.types import DistancingAlert, FaceResult, FrameResult

    faces = [FaceResult((10 + 60 * k, 10, 40, 40), k + 1, str(k + 1), 0.9, 0.3, k == 0, 0.9 if k == 0 else 0.1,
                        (0.7 * k, 0.0, 3.0)) for k in range(3)]
    result = FrameResult(1.0, faces, violations=[(0, 1, 0.7), (1, 2, 0.7)],
                         alerts=[DistancingAlert(0, 1, 0.7, 0.05, new=True)])
    info = StreamInfo("1/OPD", 1, 1, 1, "OPD", "j1", {"1": "Ayu", "2": "Budi", "3": "Citra"}, 0.0)
    ov = overlay_from_result(info, result, (640, 360), "en")
    assert [b.label for b in ov.boxes] == ["Ayu [mask] 0.70+-0.05m", "Budi 0.70+-0.05m", "Citra"]
    assert len(ov.lines) == 1, "only the alert is drawn, not the frame's own flicker (1, 2)"
    s = sightings_from_result(info, result)
    assert [(x.distancing_violation, x.new_alerts) for x in s] == [(True, 1), (True, 1), (False, 0)]
