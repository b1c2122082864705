"""Learned face geometry (face_geometry.py, fit.fit_frame's `geometry` and samples): real
pinhole geometry, people with their own IPD and eye height who stand somewhere else each day,
eye landmarks with their own error; the fit learns from its own output, never from the truth."""
from __future__ import annotations

import math

import numpy as np
import pytest

from attendance.vision.geometry import face_geometry as fg
from attendance.vision.geometry.camera import focal_px
from attendance.vision.geometry.fit import fit_frame

W, H = 1920, 1080
F = focal_px(W, 70.0)
PEOPLE = [f"p{i}" for i in range(20)]


def one_day(ipd: np.ndarray, eye: np.ndarray, rng: np.random.Generator, *, rows=(3.0, 4.0, 5.0, 6.0),
            landmark_sd: float = 0.03):
    """Twenty people in four rows, placed in a new order, each a little off their row's line, seen
    by a camera 1 m above the average eye, pitched 12.5 degrees. Returns true positions (n, 3),
    picture centres, eye rows, depths from eye spacing with the mean IPD, and who stands where."""
    pitch = math.radians(12.5)
    order = rng.permutation(len(PEOPLE))
    pts, who = [], []
    for r, line in enumerate(rows):
        for k, x in enumerate((np.arange(5) - 2) * 1.3 + (0.65 if r % 2 else 0.0)):
            i = int(order[5 * r + k])
            zw = line + float(np.clip(rng.normal(0, 0.06), -0.15, 0.15))
            drop = 1.0 - eye[i]
            pts.append((x, drop * math.cos(pitch) - zw * math.sin(pitch),
                        drop * math.sin(pitch) + zw * math.cos(pitch)))
            who.append(i)
    pts = np.array(pts)
    u = W / 2 + F * pts[:, 0] / pts[:, 2]
    v = H / 2 + F * pts[:, 1] / pts[:, 2] + rng.normal(0, 1.0, len(pts))
    z = pts[:, 2] * 0.063 / ipd[who] * np.exp(rng.normal(0, landmark_sd, len(pts)))
    return pts, list(zip(u.tolist(), v.tolist(), strict=True)), v.tolist(), z.tolist(), who


def test_learns_each_persons_ipd_and_eye_height_and_places_them_better():
    """Three roll-calls teach each person's IPD and eye height to about half the population's
    spread, and the fourth roll-call's depths, read with them, err clearly less."""
    before, after, ipd_err, eye_err = [], [], [], []
    for office in range(12):
        rng = np.random.default_rng(office)
        ipd = rng.normal(0.063, 0.003, len(PEOPLE))
        eye = rng.normal(0.0, 0.06, len(PEOPLE))
        learned: dict[int, fg.GeometrySamples] = {}
        for day in range(4):
            pts, centres, v, z, who = one_day(ipd, eye, rng)
            geo = [fg.geometry(learned[i]) if i in learned else None for i in who]
            fit = fit_frame(centres, v, z, F, W, H, 1.0, geometry=geo)
            if day == 3:
                plain = fit_frame(centres, v, z, F, W, H, 1.0)
                depth = pts[:, 2]
                before += list(np.abs(np.array([p[2] for p in plain.positions]) - depth) / depth)
                after += list(np.abs(np.array([p[2] for p in fit.positions]) - depth) / depth)
                for i in range(len(PEOPLE)):
                    g = fg.geometry(learned[i])
                    ipd_err.append(g.ipd_m - ipd[i])
                    eye_err.append(g.eye_offset_m - (eye[i] - eye.mean()))
                break
            for i, a, b in zip(who, fit.ipd_samples_m, fit.eye_offset_samples_m, strict=True):
                learned[i] = learned.get(i, fg.GeometrySamples()).add(*fg.session_sample([(a, b)]))
    assert np.std(ipd_err) < 0.6 * 0.003, np.std(ipd_err)
    assert np.std(eye_err) < 0.5 * 0.06, np.std(eye_err)
    assert np.mean(after) < 0.85 * np.mean(before), (np.mean(before), np.mean(after))


def test_samples_only_where_the_frame_can_say():
    rng = np.random.default_rng(5)
    ipd, eye = np.full(len(PEOPLE), 0.063), np.zeros(len(PEOPLE))
    _, centres, v, z, _ = one_day(ipd, eye, rng)
    masked = [i == 3 for i in range(len(z))]
    fit = fit_frame(centres, v, z, F, W, H, 1.0, masked=masked)
    # a mask hides the eye spacing's scale
    assert fit.ipd_samples_m[3] is None and fit.eye_offset_samples_m[3] is not None
    assert sum(s is not None for s in fit.ipd_samples_m) == len(z) - 1
    # Two people alone: no row to measure them against.
    pair = fit_frame(centres[:2], v[:2], z[:2], F, W, H, 1.0)
    assert pair.ipd_samples_m == [None, None] and pair.eye_offset_samples_m == [None, None]


def test_depths_read_with_another_ipd_are_sampled_against_it():
    """An office that set its own mean IPD reads depths with it. Nothing else in the frame fixes
    the scale (no camera height, no row lines), so the rows scale with it and each sample says the
    person's IPD in the setting's terms: the same ratio to it as with the default."""
    rng = np.random.default_rng(9)
    ipd, eye = rng.normal(0.063, 0.003, 20), np.zeros(20)
    _, centres, v, z, _ = one_day(ipd, eye, rng, landmark_sd=0.0)
    a = fit_frame(centres, v, z, F, W, H, 1.0)
    b = fit_frame(centres, v, (np.array(z) * 0.060 / 0.063).tolist(), F, W, H, 1.0, ipd_m=0.060)
    ra = np.array([s for s in a.ipd_samples_m if s is not None]) / 0.063
    rb = np.array([s for s in b.ipd_samples_m if s is not None]) / 0.060
    assert len(ra) == len(rb) == 20
    assert np.allclose(ra, rb, rtol=0.005)


def test_a_wrong_geometry_list_is_refused():
    rng = np.random.default_rng(1)
    _, centres, v, z, _ = one_day(np.full(20, 0.063), np.zeros(20), rng)
    with pytest.raises(ValueError, match="geometries"):
        fit_frame(centres, v, z, F, W, H, 1.0, geometry=[None] * 3)


def test_samples_sessions_and_prior():
    assert fg.geometry(fg.GeometrySamples()) is None
    # Implausible samples (a misnamed face, a failed fit) teach nothing.
    s = fg.GeometrySamples().add(0.090, 0.5).add(float("nan"), None)
    assert fg.geometry(s) is None
    one = fg.geometry(fg.GeometrySamples().add(0.067, 0.05))
    many = fg.geometry(fg.GeometrySamples(8, 8 * 0.067, 8, 8 * 0.05))
    # One roll-call moves a person part of the way from the population, several nearly all.
    assert 0.063 < one.ipd_m < many.ipd_m < 0.067 and 0.0 < one.eye_offset_m < many.eye_offset_m < 0.05
    assert many.ipd_sd_m < one.ipd_sd_m < fg.POPULATION_IPD_SD_M
    # Posture changes from day to day: no number of roll-calls knows the eye height better than that.
    assert many.eye_offset_sd_m > fg.DAILY_EYE_OFFSET_SD_M
    assert many.sessions == 8
    # A part never measured is unknown, not the population's value.
    only_eye = fg.geometry(fg.GeometrySamples().add(None, 0.02))
    assert math.isnan(only_eye.ipd_m) and math.isnan(only_eye.ipd_sd_m) and only_eye.eye_offset_m > 0
    assert fg.session_sample([(0.064, 0.01), (0.066, None), (None, 0.03), (0.2, 1.0)]) == (0.065, 0.02)
    assert fg.session_sample([]) == (None, None)


@pytest.mark.shared_data
def test_synthetic_office_on_other_days_keeps_each_persons_traits(shared_data, tmp_path):
    """`make_office(traits_seed=)`: the same people on another day keep their own IPD and head
    height; they take other places, or keep their row with `same_places` (bench_distance --days)."""
    from attendance.vision.training.synth_office import make_office

    roster = tmp_path / "roster"
    roster.mkdir()
    for d in sorted((shared_data / "faces" / "lfw10").iterdir()):
        if d.is_dir():
            (roster / d.name).symlink_to(d.resolve())
    days = {}
    for name, seed, same in (("a", 1, False), ("b", 2, False), ("kept", 2, True), ("kept again", 3, True)):
        truth = make_office(roster, 10, 0.2, tmp_path / f"{name}.mp4", tmp_path / f"{name}.json", fps=5,
                            size=(640, 360), seed=seed, traits_seed=7, same_places=same)
        days[name] = {p["id"]: p for p in truth["people"]}
    a, b, kept = days["a"], days["b"], days["kept"]
    assert set(a) == set(b) == set(kept)
    for pid in a:
        assert a[pid]["ipd_m"] == b[pid]["ipd_m"] == kept[pid]["ipd_m"]
        assert a[pid]["head_height_m"] == b[pid]["head_height_m"] == kept[pid]["head_height_m"]
    assert any(a[pid]["row"] != b[pid]["row"] for pid in a)
    again = days["kept again"]
    assert all(kept[pid]["row"] == again[pid]["row"] for pid in a)
    assert any(kept[pid]["floor_m"] != again[pid]["floor_m"] for pid in a)   # the layout itself is new
    assert len({round(p["ipd_m"], 6) for p in a.values()}) == len(a)
