"""FaceRes, the second network of the default recogniser: the files fetched at install time,
the graph rebuilt from them, and the fused recogniser on real photos."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from attendance.vision.config import backend_name
from attendance.vision.enrol import enrol_face
from attendance.vision.recognise import faceres as faceres_onnx
from attendance.vision.recognise.recognisers import FusedRecogniser, MatchThresholds, make_recogniser
from attendance.vision.roster_dir import read_image_rgb
from attendance.vision.runtime import model_files, tfjs_onnx
from attendance.vision.runtime.model_files import ModelFileError


def _pattern_chip() -> np.ndarray:
    """A fixed 224x224 RGB test card (gradients, rings, three discs), the same everywhere."""
    y, x = np.mgrid[0:224, 0:224].astype(np.float32)
    img = np.stack([128 + 100 * np.sin(x / 13.0) * np.cos(y / 19.0), 255 * (x + y) / 448.0,
                    128 + 120 * np.cos(np.hypot(x - 112, y - 90) / 10.0)], -1)
    for cx, cy, r, col in ((75, 85, 18, (20, 30, 40)), (150, 85, 18, (20, 30, 40)), (112, 165, 30, (200, 90, 90))):
        img[np.hypot(x - cx, y - cy) < r] = col
    return img.clip(0, 255).astype(np.uint8)


def test_faceres_graph_agrees_with_tf2onnx() -> None:
    """Our TF.js -> ONNX translation gives what tf2onnx 1.17's conversion of the same files gave
    (`python -m tf2onnx.convert --tfjs faceres.json --opset 13`, fed BGR less VGGFace2's means):
    the six largest features of the test card, their positions, the norm and the count of
    non-zero features."""
    f = faceres_onnx.load().embed([_pattern_chip()])[0]
    top = np.argsort(-f)[:6]
    assert top.tolist() == [566, 715, 584, 88, 1013, 771]
    np.testing.assert_allclose(f[top], [3.39508, 3.2769, 3.1011, 2.50148, 2.2385, 1.92296], atol=1e-4)
    assert np.linalg.norm(f) == pytest.approx(8.22667, abs=1e-4)
    assert int((f > 0).sum()) == 152


def test_faceres_rejects_chips_of_another_size() -> None:
    with pytest.raises(ValueError, match="224x224"):
        faceres_onnx.load().embed([np.zeros((150, 150, 3), np.uint8)])


def test_fused_recogniser_names_western_faces(lfw: Path) -> None:
    """One enrolment photo per person, every other photo a probe: each probe is nearest its own
    person, by the fitted margin, and within the fitted acceptance distance."""
    rec = make_recogniser("dlib+faceres")
    assert isinstance(rec, FusedRecogniser) and backend_name(None) == rec.name == "dlib+faceres"
    th = MatchThresholds.load(rec.name)
    people = sorted(d for d in lfw.iterdir() if d.is_dir())[:5]
    enrolled, probes = [], []
    for d in people:
        photos = sorted(d.glob("*.jpg"))[:3]
        enrolled.append(enrol_face(read_image_rgb(photos[0]), masked_variants=False, recogniser=rec).embedding)
        probes += [(len(enrolled) - 1, enrol_face(read_image_rgb(p), masked_variants=False, recogniser=rec).embedding)
                   for p in photos[1:]]
    gallery = np.stack(enrolled)
    assert gallery.shape[1] == 128 + 1024
    for who, e in probes:
        d = np.linalg.norm(gallery - e, axis=1)
        order = np.argsort(d)
        assert order[0] == who
        assert d[order[0]] < th.accept and d[order[1]] - d[order[0]] >= th.margin


def test_fused_embedding_is_dlib_then_weighted_faceres(lfw: Path) -> None:
    """The first 128 dimensions are dlib's own (mirror-averaged) embedding, so dlib's part of a
    distance is unchanged; FaceRes's part has norm FACERES_WEIGHT."""
    photo = read_image_rgb(next((lfw / "Colin_Powell").glob("*.jpg")))
    dlib_only = enrol_face(photo, masked_variants=False, recogniser=make_recogniser("dlib")).embedding
    fused = enrol_face(photo, masked_variants=False, recogniser=FusedRecogniser()).embedding
    np.testing.assert_allclose(fused[:128], dlib_only, atol=1e-5)
    assert np.linalg.norm(fused[128:]) == pytest.approx(FusedRecogniser.FACERES_WEIGHT, rel=1e-4)


# ----------------------------------------------------------------------------- the files

def test_installed_files_pass_their_hash_check() -> None:
    assert model_files.check_files() == model_files.model_dir()


def test_missing_or_changed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="apel models fetch"):
        model_files.check_files(tmp_path)
    for name, _ in model_files.FILES.values():
        (tmp_path / name).write_bytes((model_files.model_dir() / name).read_bytes())
    model_files.check_files(tmp_path)
    (tmp_path / "faceres.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelFileError, match="sha256"):
        model_files.check_files(tmp_path)


def test_fetch_refuses_a_tarball_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    """A tarball with the right member names but other bytes (a tampered mirror, a truncated
    download) is refused before anything is written; the directory keeps what it had."""
    fake = tmp_path / "human.tgz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for member in model_files.FILES:
            blob = b"not a model"
            info = tarfile.TarInfo(member)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    fake.write_bytes(buf.getvalue())
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "faceres.json").write_text("kept")
    with pytest.raises(ModelFileError, match="sha512"):
        model_files.fetch(dest, url=fake.as_uri())
    assert sorted(p.name for p in dest.iterdir()) == ["faceres.json"]
    assert (dest / "faceres.json").read_text() == "kept"


def test_fetch_is_a_no_op_when_the_files_are_there(tmp_path: Path) -> None:
    for name, _ in model_files.FILES.values():
        (tmp_path / name).write_bytes((model_files.model_dir() / name).read_bytes())
    # An unreachable URL: nothing is downloaded when the files check out.
    assert model_files.fetch(tmp_path, url=(tmp_path / "nowhere.tgz").as_uri()) == tmp_path


def test_fetch_reports_an_unreachable_registry(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot download"):
        model_files.fetch(tmp_path / "m", url=(tmp_path / "nowhere.tgz").as_uri())
    assert not (tmp_path / "m").exists()


def test_a_graph_with_an_unknown_op_is_refused(tmp_path: Path) -> None:
    g = tfjs_onnx.read_tfjs(model_files.model_dir() / "faceres.json", model_files.model_dir() / "faceres.bin")
    g.nodes["global_pooling/Mean"] = dict(g.nodes["global_pooling/Mean"], op="Softsign")
    with pytest.raises(ModelFileError, match="Softsign"):
        faceres_onnx.build_onnx(g)
