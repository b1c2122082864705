"""An office that knows how far its back row stands gets a cheaper whole-frame look (faces are
searched down to the size they have there, not to 32 px) that still finds everyone in its rows."""
from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from attendance.vision.config import PipelineConfig
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.training.synth_office import make_office


@pytest.fixture(scope="module")
def formation(lfw: Path, tmp_path_factory):
    """10 lfw10 people in two rows at 3 and 4 m, 720p, hfov 45 (the live capacity case), 30% masked."""
    work = tmp_path_factory.mktemp("backrow")
    truth = make_office(lfw, 10, 1.0, work / "o.mp4", work / "o.json", fps=2, size=(1280, 720), hfov_deg=45,
                        masked_fraction=0.3, seed=5, arrive_within_s=0.0, rows_m=(3.0, 4.0))
    ok, frame = cv2.VideoCapture(str(work / "o.mp4")).read()
    assert ok
    return frame, truth


def test_smallest_face_follows_the_back_row():
    near = OfficePipeline([], PipelineConfig(hfov_deg=45, back_row_m=4.0)).smallest_face_px(1280)
    far = OfficePipeline([], PipelineConfig(hfov_deg=45, back_row_m=8.0)).smallest_face_px(1280)
    wide = OfficePipeline([], PipelineConfig(hfov_deg=90, back_row_m=4.0)).smallest_face_px(1280)
    assert 38 <= near <= 48            # a 60 px face at 4 m, searched with a margin
    assert abs(far - near / 2) <= 1     # twice as far: half the size
    assert wide < near                  # a wider lens makes faces smaller
    assert OfficePipeline([], PipelineConfig()).smallest_face_px(1280) == 32   # unknown: the default
    with pytest.raises(ValueError, match="back_row_m"):
        PipelineConfig(back_row_m=0.5).validate()


def test_back_row_look_finds_the_same_people(formation):
    frame, truth = formation
    counts = {}
    for name, cfg in (("default", PipelineConfig(hfov_deg=45)),
                      ("back row 4 m", PipelineConfig(hfov_deg=45, back_row_m=4.0))):
        res = OfficePipeline([], cfg).process(frame, 0.0)
        counts[name] = len(res.faces)
    assert counts["default"] >= 9, counts
    assert counts["back row 4 m"] >= counts["default"], counts
