"""Enrolment on real photos: each photo accepted, or rejected with the code that says why."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from attendance.vision.enrol import EnrolledFace, FaceRejected, enrol_face
from attendance.vision.recognise.recognisers import MatchThresholds

from .conftest import read_rgb


def test_real_photo_enrols_with_masked_variants(lfw):
    img = read_rgb(lfw / "Tony_Blair" / "Tony_Blair_0001.jpg")
    face = enrol_face(img)
    assert isinstance(face, EnrolledFace)
    assert face.embedding.shape == (128 + 1024,) and face.embedding.dtype == np.float32
    assert face.backend == "dlib+faceres"   # the default recogniser: dlib and FaceRes fused
    assert 0.0 < face.quality <= 1.0
    x, y, w, h = face.box
    assert 60 < x + w / 2 < 190 and 60 < y + h / 2 < 190  # LFW faces are centred
    assert len(face.masked_embeddings) == 3
    # A masked variant is the same person but not the same vector.
    d = [float(np.linalg.norm(m - face.embedding)) for m in face.masked_embeddings]
    assert all(0.05 < v < MatchThresholds.load(face.backend).accept for v in d), d


def test_same_person_closer_than_different_person(lfw):
    a = enrol_face(read_rgb(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg"), masked_variants=False)
    b = enrol_face(read_rgb(lfw / "Colin_Powell" / "Colin_Powell_0002.jpg"), masked_variants=False)
    c = enrol_face(read_rgb(lfw / "Hugo_Chavez" / "Hugo_Chavez_0001.jpg"), masked_variants=False)
    assert np.linalg.norm(a.embedding - b.embedding) < np.linalg.norm(a.embedding - c.embedding)


def test_tight_crop_is_found(shared_data):
    person = shared_data / "faces" / "rmfd" / "chenglong"
    img = read_rgb(person / sorted(p.name for p in person.iterdir())[0])
    assert enrol_face(img, masked_variants=False).embedding.shape == (128 + 1024,)


@pytest.mark.parametrize("case,code", [
    ("blank", "no_face"), ("two", "several_faces"), ("small", "face_too_small"),
    ("blurry", "too_blurry"), ("float", "bad_image"), ("empty", "bad_image"),
])
def test_rejections(shared_data, lfw, case, code):
    photo = read_rgb(lfw / "George_W_Bush" / "George_W_Bush_0001.jpg")
    img = {
        "blank": lambda: np.full((300, 300, 3), 128, np.uint8),
        "two": lambda: read_rgb(shared_data / "faces" / "fr_examples" / "two_people.jpg"),
        "small": lambda: cv2.resize(photo, (120, 120)),
        "blurry": lambda: cv2.GaussianBlur(photo, (0, 0), 5),
        "float": lambda: photo.astype(np.float32),
        "empty": lambda: np.zeros((0, 0, 3), np.uint8),
    }[case]()
    with pytest.raises(FaceRejected) as info:
        enrol_face(img)
    assert info.value.code == code
    assert info.value.message


def test_dlib_recogniser_sees_a_face_and_its_mirror_alike(lfw):
    """The default recogniser averages each chip's embedding with its mirror image's
    (recognise.DlibRecogniser): a photo and its mirror give nearly the same template, much
    nearer than dlib's plain embeddings of the two."""
    from attendance.vision.faces import embed_chips, face_chip, landmarks5
    from attendance.vision.recognise.recognisers import DlibRecogniser

    img = read_rgb(lfw / "Colin_Powell" / "Colin_Powell_0001.jpg")
    flipped = np.ascontiguousarray(img[:, ::-1])
    a = enrol_face(img, masked_variants=False)
    b = enrol_face(flipped, masked_variants=False)
    chip = face_chip(img, landmarks5(img, a.box))
    chip_b = face_chip(flipped, landmarks5(flipped, b.box))
    plain_a, plain_b = embed_chips([chip, chip_b])
    d_plain = float(np.linalg.norm(plain_a - plain_b))
    d_both = float(np.linalg.norm(a.embedding - b.embedding))
    assert d_both < 0.7 * d_plain, (d_both, d_plain)
    plain, mirrored = embed_chips([chip, np.ascontiguousarray(chip[:, ::-1])])
    both = DlibRecogniser().embed([chip])[0]
    assert np.allclose(both, (plain + mirrored) / 2, atol=1e-5)
    assert DlibRecogniser().embed([]).shape == (0, 128)
