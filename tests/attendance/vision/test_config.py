"""The settings' bounds (attendance.vision.config): one range per setting, the same for every check,
and PipelineConfig judged by them."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest

from attendance.vision.config import (
    BACK_ROW_M,
    CAMERA_HEIGHT_M,
    DEFAULT_RECOGNISER,
    EYE_HEIGHT_M,
    HFOV_DEG,
    MIN_DISTANCE_M,
    ROW_LINE_M,
    Bounds,
    PipelineConfig,
    backend_name,
    check_row_lines,
)


@pytest.mark.parametrize("bounds", [HFOV_DEG, MIN_DISTANCE_M, BACK_ROW_M, CAMERA_HEIGHT_M, EYE_HEIGHT_M, ROW_LINE_M])
def test_bounds_hold_their_ends_and_refuse_what_is_not_a_number(bounds: Bounds) -> None:
    assert bounds.lo in bounds and bounds.hi in bounds and (bounds.lo + bounds.hi) / 2 in bounds
    for bad in (bounds.lo - 0.01, bounds.hi + 0.01, math.nan, math.inf, -math.inf, True, "1", None, 10 ** 400):
        assert bad not in bounds, bad
    assert bounds.check(bounds.hi, "x") == float(bounds.hi)
    with pytest.raises(ValueError, match=f"^x must be {bounds.text()}, got"):
        bounds.check(bounds.hi * 2 + 1, "x")


def test_the_ranges_are_the_documented_ones() -> None:
    assert [(b.lo, b.hi, b.unit) for b in (HFOV_DEG, MIN_DISTANCE_M, BACK_ROW_M, CAMERA_HEIGHT_M, EYE_HEIGHT_M,
                                            ROW_LINE_M)] == [
        (20.0, 170.0, "degrees"), (0.3, 5.0, "metres"), (1.0, 30.0, "metres"), (0.5, 20.0, "metres"),
        (0.8, 2.2, "metres"), (0.5, 30.0, "metres")]
    assert MIN_DISTANCE_M.text() == "between 0.3 and 5 metres"


@pytest.mark.parametrize(("field", "bounds"), [("hfov_deg", HFOV_DEG), ("min_distance_m", MIN_DISTANCE_M),
                                               ("back_row_m", BACK_ROW_M), ("camera_height_m", CAMERA_HEIGHT_M),
                                               ("eye_height_m", EYE_HEIGHT_M)])
def test_pipeline_config_uses_the_same_bounds(field: str, bounds: Bounds) -> None:
    for ok in (bounds.lo, bounds.hi):
        replace(PipelineConfig(), **{field: ok}).validate()
    for bad in (bounds.lo - 0.01, bounds.hi + 0.01):
        with pytest.raises(ValueError, match=f"{field} must be {bounds.text()}"):
            replace(PipelineConfig(), **{field: bad}).validate()


def test_row_lines_use_the_row_line_bounds() -> None:
    assert check_row_lines([ROW_LINE_M.hi, ROW_LINE_M.lo]) == (ROW_LINE_M.lo, ROW_LINE_M.hi)
    with pytest.raises(ValueError, match=ROW_LINE_M.text()):
        check_row_lines([ROW_LINE_M.hi + 1])


def test_backend_names_need_no_model() -> None:
    assert backend_name(None) == backend_name("") == backend_name(DEFAULT_RECOGNISER) == "dlib+faceres"
    assert backend_name("dlib") == "dlib-128"
    assert backend_name("/models/w600k_mbf.onnx") == "onnx-w600k_mbf"
