"""What an office's camera learns of each person's face over the roll-calls it has seen: their
interpupillary distance (IPD) and how high their eyes are against the office's average.

Why: one frame places a face in depth by its eye spacing against the population's mean IPD
(63 +- 3 mm) and by its eye row against the heads' plane (each person's eye height differs by
~6 cm). Each person's own IPD and height are then ~5% and ~6% of error on their depth: enough
to put somebody in the neighbouring row, or to miss the few centimetres that make two people in
neighbouring rows too close. But the same people stand before the same camera every working day,
and each roll-call measures them again against their row: the row's depth is fitted from all its
members, so the row's depth against a person's own eye spacing says their IPD, and their eye row
against the heads' plane says how high their eyes are. Averaged over a few roll-calls, both are
known to a fraction of the population's spread, and every later roll-call places that person by
their own face rather than the average one.

The samples come from the pipeline's own fits (`fit.fit_frame`), never from ground truth,
so they are only as good as the recognition that names the face: `session_sample` takes one
median per person per roll-call (a single frame's bad landmark does not move it), and
`geometry` combines the sessions with the population's spread as a prior, so one roll-call
moves a person's values only part of the way.

Personal data: two numbers per person derived from their face on camera are biometric data
under UU PDP 27/2022. The product stores them with the person's face templates, uses them only
for distancing, and deletes them with the templates."""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median

from attendance.vision.geometry.camera import IPD_SD_M as POPULATION_IPD_SD_M
from attendance.vision.geometry.camera import MEAN_IPD_M as POPULATION_IPD_M
from attendance.vision.types import FaceGeometry

# How far one person's eyes sit above or below the office's average (adults, men and women).
POPULATION_EYE_OFFSET_SD_M = 0.06
# One roll-call's measurement of a person against their row (sd): the eye landmarks, the row's
# fitted depth and their own step off the row's line for the IPD; the row's depth through the
# plane's height above the eyes, and their step, for the eye height. Measured by
# `bench/bench_distance.py --days` (docs/vision.md, "Learned face geometry").
SESSION_IPD_REL_SD = 0.04
SESSION_EYE_OFFSET_SD_M = 0.025
# A person's posture and shoes change their eye height from day to day by about this much: what
# no number of roll-calls learns away.
DAILY_EYE_OFFSET_SD_M = 0.015
# Samples further than this from the population (sd) are a misnamed face or a failed fit.
_PLAUSIBLE_SD = 4.0


@dataclass(frozen=True)
class GeometrySamples:
    """What is stored per person: how many roll-calls measured them and the sums of their
    per-roll-call medians. Sums, so adding a roll-call is one update and nothing else is kept."""
    ipd_sessions: int = 0
    ipd_sum_m: float = 0.0
    eye_sessions: int = 0
    eye_sum_m: float = 0.0

    def add(self, ipd_m: float | None, eye_offset_m: float | None) -> GeometrySamples:
        ipd = ipd_m if ipd_m is not None and plausible_ipd(ipd_m) else None
        eye = eye_offset_m if eye_offset_m is not None and plausible_eye_offset(eye_offset_m) else None
        return GeometrySamples(self.ipd_sessions + (ipd is not None),
                               self.ipd_sum_m + (ipd if ipd is not None else 0.0),
                               self.eye_sessions + (eye is not None),
                               self.eye_sum_m + (eye if eye is not None else 0.0))


def plausible_ipd(ipd_m: float) -> bool:
    return math.isfinite(ipd_m) and abs(ipd_m - POPULATION_IPD_M) <= _PLAUSIBLE_SD * POPULATION_IPD_SD_M


def plausible_eye_offset(offset_m: float) -> bool:
    return math.isfinite(offset_m) and abs(offset_m) <= _PLAUSIBLE_SD * POPULATION_EYE_OFFSET_SD_M


def geometry(samples: GeometrySamples) -> FaceGeometry | None:
    """The person's geometry: the population's values as a prior, each roll-call's median as one
    measurement (inverse-variance weights). None before any roll-call measured them."""
    if samples.ipd_sessions == 0 and samples.eye_sessions == 0:
        return None
    nan = float("nan")
    p_ipd = 1.0 / POPULATION_IPD_SD_M ** 2
    m_ipd = 1.0 / (SESSION_IPD_REL_SD * POPULATION_IPD_M) ** 2
    prec = p_ipd + samples.ipd_sessions * m_ipd
    ipd = (p_ipd * POPULATION_IPD_M + m_ipd * samples.ipd_sum_m) / prec
    # Day-to-day posture is part of every session's sample and of the day to come: it shrinks
    # the weight of each session and stays in the spread.
    s2 = SESSION_EYE_OFFSET_SD_M ** 2 + DAILY_EYE_OFFSET_SD_M ** 2
    p_eye, m_eye = 1.0 / POPULATION_EYE_OFFSET_SD_M ** 2, 1.0 / s2
    prec_eye = p_eye + samples.eye_sessions * m_eye
    eye = m_eye * samples.eye_sum_m / prec_eye
    eye_sd = math.sqrt(1.0 / prec_eye + DAILY_EYE_OFFSET_SD_M ** 2)
    measured_ipd, measured_eye = samples.ipd_sessions > 0, samples.eye_sessions > 0
    return FaceGeometry(ipd if measured_ipd else nan, math.sqrt(1.0 / prec) if measured_ipd else nan,
                        eye if measured_eye else nan, min(eye_sd, POPULATION_EYE_OFFSET_SD_M) if measured_eye else nan,
                        max(samples.ipd_sessions, samples.eye_sessions))


def session_sample(frames: Iterable[tuple[float | None, float | None]]) -> tuple[float | None, float | None]:
    """One roll-call's (IPD, eye offset) for one person from their per-frame samples: the
    medians of the plausible ones (None where no frame measured it)."""
    ipd, eye = [], []
    for a, b in frames:
        if a is not None and plausible_ipd(a):
            ipd.append(a)
        if b is not None and plausible_eye_offset(b):
            eye.append(b)
    return (median(ipd) if ipd else None), (median(eye) if eye else None)
