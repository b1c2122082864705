"""The size correction of measured eye spacing (camera.unbiased_eye_px, models/ipd_bias.json):
real photos scaled down to the eye spacings of people 3-9 m from a 1080p camera, found and
measured as the pipeline does, give their true spacing (hence an unbiased depth)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attendance.vision.geometry import camera
from attendance.vision.geometry.camera import depth_m, focal_px, ipd_bias, unbiased_eye_px
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.training import fit_ipd_bias


def test_curve_is_fitted_on_named_data_and_vanishes_for_large_faces():
    data = fit_ipd_bias.json.loads(camera.IPD_BIAS_PATH.read_text())
    assert "shared/data" in data["fitted_on"]
    d = np.linspace(8, 60, 53)
    r = np.array([ipd_bias().ratio(x) for x in d])
    assert np.all(np.diff(r) >= -1e-12)              # smaller faces are measured no longer than larger ones
    assert 0.8 < r[0] <= 1.0 and abs(r[-1] - 1.0) < 0.005
    assert unbiased_eye_px(40.0) == pytest.approx(40.0, rel=0.005)
    assert unbiased_eye_px(4.0) == pytest.approx(4.0 / ipd_bias().ratio(8.0))   # not extrapolated below 8 px


def test_real_photos_scaled_down_give_unbiased_depths(shared_data: Path):
    """Depth from the corrected spacing of real faces at 11 and 14 px (about 6-8 m at 1080p, hfov
    70) against the depth their true spacing gives: the median error is within 3%, each within
    15% (a landmark can miss by a pixel)."""
    f = focal_px(1920, 70.0)
    photos = sorted((shared_data / "faces/lfw10").glob("*/*.jpg"))[::17][:6]
    errs = []
    for path in photos:
        rgb = read_image_rgb(path)
        ref = fit_ipd_bias.reference(rgb)
        if ref is None or ref[1] < fit_ipd_bias.MIN_REF_PX:
            continue
        for target in (11.0, 14.0):
            got = fit_ipd_bias.measure(rgb, ref[0], ref[1], target, jpeg=True)
            if got is None:
                continue
            true_px, measured_px, _ = got
            z_true = depth_m(true_px, f)
            errs.append(depth_m(unbiased_eye_px(measured_px), f) / z_true - 1.0)
    assert len(errs) >= 6, f"only {len(errs)} faces found"
    assert abs(float(np.median(errs))) < 0.03, errs
    assert max(abs(e) for e in errs) < 0.15, errs
