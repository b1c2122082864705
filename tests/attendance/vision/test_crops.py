"""Face crops for a person's answer (vision.crops) on a synthetic office of real lfw10 photos: the
people not enrolled get a small JPEG crop of their own face, once per track and at most once more;
the people named with confidence get none."""
from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from attendance.vision import crops
from attendance.vision.config import PipelineConfig
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.roster_dir import enrol_roster
from attendance.vision.training.synth_office import make_office
from attendance.vision.types import FaceResult, FrameResult

from .test_pipeline import frames

pytestmark = [pytest.mark.shared_data]


@pytest.fixture(scope="module")
def office(shared_data, tmp_path_factory):
    """4 people from lfw10 in a 1280x720 office, 3 s at 5 fps; two of them enrolled (from other photos)."""
    work = tmp_path_factory.mktemp("crops")
    roster = work / "roster"
    roster.mkdir()
    for d in sorted((shared_data / "faces" / "lfw10").iterdir()):
        if d.is_dir():
            (roster / d.name).symlink_to(d.resolve())
    truth = make_office(roster, 4, 3.0, work / "o.mp4", work / "o.json", fps=5, size=(1280, 720), hfov_deg=50,
                        masked_fraction=0.0, seed=5, arrive_within_s=0.0)
    shown = {Path(p["photo"]).resolve() for p in truth["people"]}
    on_camera = sorted({str(p["id"]) for p in truth["people"]})
    people = enrol_roster(roster, strict=False, exclude=shown, limit_per_person=2)
    enrolled = [p for p in people if p.person_id in on_camera[:2]]
    return work / "o.mp4", enrolled, on_camera


def test_unknown_faces_get_one_small_crop_named_ones_none(office) -> None:
    clip, enrolled, on_camera = office
    assert len(enrolled) == 2 and len(on_camera) == 4
    pipe = OfficePipeline(enrolled, PipelineConfig(hfov_deg=50))
    per_track: Counter[int] = Counter()
    named_with_crop = 0
    unknown_tracks: set[int] = set()
    for t, frame in frames(clip):
        result = pipe.process(frame, t)
        for face in result.faces:
            if face.person_id is None:
                unknown_tracks.add(face.track_id)
            if face.crop_jpeg is None:
                continue
            per_track[face.track_id] += 1
            assert crops.needs_person(face)
            named_with_crop += face.person_id is not None and face.confidence >= crops.UNCERTAIN_BELOW
            img = cv2.imdecode(np.frombuffer(face.crop_jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and max(img.shape[:2]) <= crops.MAX_SIDE_PX
            assert len(face.crop_jpeg) < 30_000
            # the crop is this face: its middle is the middle of the box, scaled
            x, y, w, h = face.box
            region = frame[max(0, y):y + h, max(0, x):x + w]
            assert region.size and abs(float(img.mean()) - float(region.mean())) < 40
    assert named_with_crop == 0
    assert unknown_tracks and unknown_tracks <= set(per_track)   # every unknown face has a crop
    assert max(per_track.values()) <= 2                            # once, and at most one better view


def test_second_crop_only_for_a_clearly_larger_face() -> None:
    frame = np.full((720, 1280, 3), 128, np.uint8)
    owner = object.__new__(OfficePipeline)   # any object with the pipeline's identity

    def face(width: int) -> FrameResult:
        return FrameResult(t_s=0.0, faces=[FaceResult(box=(100, 100, width, width), track_id=7, person_id=None,
                                                      confidence=0.0, distance=-1.0, mask=False, mask_p=0.0,
                                                      position_m=(0.0, 0.0, 3.0))])
    sent = [crops.attach(face(w), frame, owner).faces[0].crop_jpeg is not None for w in (40, 44, 60, 120, 200)]
    assert sent == [True, False, True, False, False]
    # a crossing to a worker's parent keeps it
    again = pickle.loads(pickle.dumps(crops.attach(face(50), frame, object.__new__(OfficePipeline))))
    assert again.faces[0].crop_jpeg[:2] == b"\xff\xd8"
