"""Distancing alerts a leader can believe: a pair of people becomes an alert only when the fit is
sure they stand too close and they stay so for a couple of seconds, and each such episode is one
alert however many frames it lasts.

One frame's estimate is not enough. A pair of neighbours standing a little beyond the minimum is
estimated closer than it in some frames (depth from eye spacing carries the person's own IPD, and
landmarks jitter from frame to frame), so the per-frame rule flickers and every flicker was counted
as an alert. Two people who really stand too close stay too close: the closeness is judged on the
pair (keyed by the two tracks, so it survives faces being listed in another order) over time.

An episode starts when the pair is confidently too close (P(closer than the minimum) at least
`p_min`, from the fit's own uncertainty, violations.pair_estimates, widened by `scale_sd`) in every
frame that shows both of them for `hold_s` seconds and at least `min_frames` frames; one frame that is not confident
starts the wait again. It lasts while the pair stays more likely too close than not, and ends when
they have not been so for `release_s` seconds (so a pair swaying at the limit is one alert, not
many). Frames that show only one of the two neither extend nor break the wait."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from attendance.vision.geometry.camera import EYE_SPACING_REL_SD
from attendance.vision.geometry.violations import PairEstimate, pair_estimates
from attendance.vision.types import DistancingAlert

# Defaults of the rule above (docs/vision.md, "Distancing alerts", has the measured effect).
ALERT_P_MIN = 0.95
ALERT_HOLD_S = 3.0
ALERT_MIN_FRAMES = 3
ALERT_RELEASE_S = 2.0
# The share of a distance the fit's covariance leaves out: errors common to a whole row (the row's
# people's IPDs average out less than the fit assumes, the field of view is an office setting), which
# scale every distance across the picture alike. Added to each pair's sd before judging it.
ALERT_SCALE_SD = 0.05


@dataclass
class _Pair:
    since: float           # first frame of the current confident run
    frames: int            # confident frames in the run
    last_seen: float       # last frame showing both
    last_near: float       # last frame where the pair was more likely too close than not
    alerted: bool = False


class DistancingAlerts:
    """Pair persistence for one office stream. Not thread-safe; its state is bounded by the pairs
    near each other among the faces in view (a pair out of view for `release_s` is forgotten)."""

    def __init__(self, min_distance_m: float, *, p_min: float = ALERT_P_MIN, hold_s: float = ALERT_HOLD_S,
                 min_frames: int = ALERT_MIN_FRAMES, release_s: float = ALERT_RELEASE_S,
                 scale_sd: float = ALERT_SCALE_SD) -> None:
        if not 0.5 <= p_min < 1.0:
            raise ValueError(f"p_min must be in [0.5, 1), got {p_min}")
        if hold_s < 0 or release_s < 0 or min_frames < 1 or not 0 <= scale_sd < 1:
            raise ValueError("hold_s and release_s must be >= 0, min_frames >= 1 and scale_sd in [0, 1)")
        self.min_distance_m = min_distance_m
        self.p_min, self.hold_s, self.min_frames, self.release_s = p_min, hold_s, min_frames, release_s
        self.scale_sd = scale_sd
        self._pairs: dict[tuple[int, int], _Pair] = {}

    def update(self, t_s: float, track_ids: Sequence[int], positions: Sequence[tuple[float, float, float]],
               pairs: Sequence[PairEstimate] | None = None) -> list[DistancingAlert]:
        """The alerts standing in this frame (indices into its faces, which `track_ids` and
        `positions` follow). `pairs`: the fit's pair estimates (FrameFit.pairs); None when the frame
        had no fit, and each depth is then taken as known to the eye spacing's usual error."""
        if pairs is None:
            n = len(positions)
            pairs = pair_estimates(positions, np.diag(np.full(n, EYE_SPACING_REL_SD ** 2)), self.min_distance_m) \
                if n > 1 else []
        ids = list(track_ids)
        in_view = set(ids)
        by_key = {(min(ids[e.i], ids[e.j]), max(ids[e.i], ids[e.j])): e for e in pairs}
        out: list[DistancingAlert] = []
        for key in set(self._pairs) | set(by_key):
            state = self._pairs.get(key)
            if key[0] not in in_view or key[1] not in in_view:   # one of them is not in this frame
                if state is not None and t_s - state.last_seen > self.release_s:
                    del self._pairs[key]
                continue
            e = by_key.get(key)
            p = self._p_close(e) if e is not None else 0.0
            if state is not None and state.alerted:
                state.last_seen = t_s
                if p >= 0.5:
                    state.last_near = t_s
                elif t_s - state.last_near >= self.release_s:
                    del self._pairs[key]   # the episode is over
                    continue
                if e is not None and p >= 0.5:
                    out.append(self._alert(e, new=False))
                continue
            if p < self.p_min:   # not sure this frame: the wait starts again
                self._pairs.pop(key, None)
                continue
            if state is None:
                state = self._pairs[key] = _Pair(since=t_s, frames=0, last_seen=t_s, last_near=t_s)
            state.frames += 1
            state.last_seen = state.last_near = t_s
            if e is not None and t_s - state.since >= self.hold_s and state.frames >= self.min_frames:
                state.alerted = True
                out.append(self._alert(e, new=True))
        out.sort(key=lambda a: (a.a, a.b))
        return out

    def _sd(self, e: PairEstimate) -> float:
        return float(np.hypot(e.sd_m, self.scale_sd * e.distance_m))

    def _p_close(self, e: PairEstimate) -> float:
        """P(too close) with each row assignment's sd widened by `scale_sd` (a pair whose rows are
        in doubt is a mixture: `PairEstimate.modes`)."""
        if self.scale_sd == 0:
            return e.p_close
        p = 0.0
        for w, d, sd in e.components():
            s = float(np.hypot(sd, self.scale_sd * d))
            p += w * (float(ndtr((self.min_distance_m - d) / s)) if s > 0 else float(d < self.min_distance_m))
        return p

    def _alert(self, e: PairEstimate, *, new: bool) -> DistancingAlert:
        return DistancingAlert(a=e.i, b=e.j, distance_m=e.distance_m, sd_m=round(self._sd(e), 3), new=new)
