"""Offices joining together at one vision worker: each stream's first frame goes before the frames of
streams already in view, even those handed to the pool earlier, and while other streams' first frames
wait behind it, a stream's first look is the hurried one (a smaller work image still than the quick
first look), so the last office's first answer does not wait for a round of dearer looks; nothing it
shows is named wrongly and the frames after it name the office as usual."""
from __future__ import annotations

import queue
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision.config import PipelineConfig
from attendance.vision.detect.detector import DetectorConfig, detect_faces
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.synth_office import make_office
from attendance.vision.types import FrameResult
from attendance.vision.workers import VisionWorkerPool

TINY = 64 * 36   # a work image on which HOG finds nobody: tells a hurried first look by its result alone


@pytest.fixture(scope="module")
def office(shared_data, tmp_path_factory):
    """6 people from lfw10 in a 1280x720 office (hfov 50), 2 s at 5 fps; enrolled from 2 photos each,
    never the one on camera."""
    work = tmp_path_factory.mktemp("office")
    roster = work / "roster"
    roster.mkdir()
    for d in sorted((shared_data / "faces" / "lfw10").iterdir()):
        if d.is_dir():
            (roster / d.name).symlink_to(d.resolve())
    truth = make_office(roster, 6, 2.0, work / "o.mp4", work / "o.json", fps=5, size=(1280, 720), hfov_deg=50,
                        masked_fraction=0.0, seed=3, arrive_within_s=0.0)
    shown = {Path(p["photo"]).resolve() for p in truth["people"]}
    people = enrol_roster(roster, strict=False, exclude=shown, limit_per_person=2)
    cap = cv2.VideoCapture(str(work / "o.mp4"))
    fs = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        fs.append(f)
    return fs, truth, people


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[DetectorConfig]:
    looks: list[DetectorConfig] = []

    def spy(rgb: np.ndarray, cfg: DetectorConfig) -> list:
        looks.append(cfg)
        return detect_faces(rgb, cfg)
    monkeypatch.setattr("attendance.vision.pipeline.detect_faces", spy)
    return looks


def test_a_hurried_first_look_is_smaller_and_the_office_is_named_right(office, monkeypatch):
    fs, truth, roster = office
    looks = _spy(monkeypatch)
    cfg = PipelineConfig(hfov_deg=50)
    pipe = OfficePipeline(roster, cfg)
    first = pipe.process(fs[0], 0.0, hurry=True)
    assert looks[0].max_work_pixels <= cfg.hurried_first_look_work_pixels < cfg.first_look_work_pixels
    assert not (looks[0].use_haar or looks[0].use_mask_hog or looks[0].cnn_active or looks[0].tiles_active)
    assert first.faces and not any(f.person_id for f in first.faces)   # the larger faces, shown, not named
    assert len(first.faces) < 5   # (this office's faces are mostly smaller than the hurried look finds)
    named: dict[int, str] = {}
    for k in range(1, 8):
        # `hurry` on a frame that is not a first look changes nothing
        for fc in pipe.process(fs[k % len(fs)], 0.2 * k, hurry=True).faces:
            if fc.person_id:
                named[fc.track_id] = fc.person_id
    ids = {p["id"] for p in truth["people"]}
    assert len(set(named.values()) & ids) >= 5 and set(named.values()) <= ids, (named, ids)
    # the next frame made the quick first look the hurried one stood in for; then no look was due yet
    assert len(looks) == 2, looks
    quick = looks[1]
    assert cfg.hurried_first_look_work_pixels < quick.max_work_pixels <= cfg.first_look_work_pixels
    assert not (quick.use_haar or quick.use_mask_hog or quick.cnn_active or quick.tiles_active)
    # without the hurry, the usual quick first look: the larger work image
    looks.clear()
    OfficePipeline(roster, cfg).process(fs[0], 0.0)
    assert cfg.hurried_first_look_work_pixels < looks[0].max_work_pixels <= cfg.first_look_work_pixels


def test_the_first_looks_work_images_must_have_pixels() -> None:
    PipelineConfig(hurried_first_look_work_pixels=3e6, first_look_work_pixels=64 * 36).validate()
    for name in ("first_look_work_pixels", "hurried_first_look_work_pixels"):
        for bad in (0.0, -1.0, float("nan")):
            with pytest.raises(ValueError, match=f"^{name} must be above 0"):
                PipelineConfig(**{name: bad}).validate()   # type: ignore[arg-type]


def test_first_frames_waiting_at_a_worker_hurry_the_look_before_them(office) -> None:
    """Offices joining together at one worker: the first keeps it busy (a whole look), the other three's
    first frames arrive meanwhile. Each of those is hurried (here a work image too small for any face,
    so its answer has none; its next frame makes the look it stood in for): the first two while others
    wait behind them, the last because it came right after the others' looks. An office joining on its
    own later gets the usual quick first look and its faces."""
    import time

    from attendance.vision.workers import FIRST_LOOKS_TOGETHER_S

    fs, _, roster = office
    delivered: queue.Queue[tuple[str, FrameResult | None]] = queue.Queue()
    pool = VisionWorkerPool(workers=1)
    pool.start(lambda key, result: delivered.put((key, result)))
    try:
        cfg = PipelineConfig(hfov_deg=50, hurried_first_look_work_pixels=TINY)
        pool.configure("busy", roster, replace(cfg, quick_first_frame=False))
        for key in ("a", "b", "c", "alone"):
            pool.configure(key, roster, cfg)
        for key in ("busy", "a", "b", "c"):
            assert pool.submit(key, fs[0], 0.0)
        got = [delivered.get(timeout=120) for _ in range(4)]
        assert [k for k, _ in got] == ["busy", "a", "b", "c"], (got, pool.errors)
        results = {k: v for k, v in got if v is not None}
        assert len(results["busy"].faces) >= 5
        assert not any(results[k].faces for k in ("a", "b", "c")), results   # hurried
        assert pool.submit("a", fs[1], 0.2)
        key, second = delivered.get(timeout=120)
        assert key == "a" and second is not None and len(second.faces) >= 5
        time.sleep(FIRST_LOOKS_TOGETHER_S + 0.5)
        assert pool.submit("alone", fs[0], 0.0)
        key, alone = delivered.get(timeout=120)
        assert key == "alone" and alone is not None and len(alone.faces) >= 5
    finally:
        pool.close()


def test_a_first_frame_goes_before_frames_handed_to_a_busy_worker_earlier(office) -> None:
    """The worker is busy (a whole look) and has its next frame; a frame of another office already in
    view is handed over, then an office's first frame: the first frame is looked at before it. (Sent to
    the worker as they came, the earlier frame would sit in its inbox pipe ahead of the first frame,
    which could not pass it.)"""
    fs, _, roster = office
    delivered: queue.Queue[tuple[str, FrameResult | None]] = queue.Queue()
    pool = VisionWorkerPool(workers=1)
    pool.start(lambda key, result: delivered.put((key, result)))
    try:
        cfg = PipelineConfig(hfov_deg=50)
        for key in ("seen", "seen too", "new"):
            pool.configure(key, roster, cfg)
        pool.configure("slow", roster, replace(cfg, quick_first_frame=False))
        for key in ("seen", "seen too"):
            assert pool.submit(key, fs[0], 0.0)
        assert {delivered.get(timeout=120)[0] for _ in range(2)} == {"seen", "seen too"}
        assert pool.submit("slow", fs[0], 0.0)       # a whole look: the worker is busy for a while
        assert pool.submit("seen", fs[1], 0.2)       # sent ahead (the worker's next frame) ...
        assert pool.submit("seen too", fs[1], 0.2)   # ... this one waits in the pool ...
        assert pool.submit("new", fs[0], 0.0)        # ... and so does an office's first frame, handed over last
        got = [delivered.get(timeout=120) for _ in range(4)]
        order = [k for k, _ in got]
        # "seen" was in the worker's pipe before the first frame; whether the worker took it before the
        # first frame reached the pipe too (it prefers a first frame it finds there) is a race either way
        # right. The frame that waited in the pool must come after the first frame.
        assert order[0] == "slow" and sorted(order[1:]) == ["new", "seen", "seen too"], (got, pool.errors)
        assert order.index("new") < order.index("seen too"), (got, pool.errors)
        assert all(r is not None for _, r in got)
    finally:
        pool.close()
