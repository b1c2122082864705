"""dlib's face ResNet converted to ONNX Runtime (attendance/vision/runtime/dlib_onnx.py) must give dlib's
own descriptors: the matching thresholds were fitted on them."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest

from attendance.vision import faces
from attendance.vision.recognise import dlib_models
from attendance.vision.runtime import dlib_onnx

from .conftest import read_rgb

TOL = 1e-4


def dlib_descriptors(chips: list[np.ndarray]) -> np.ndarray:
    enc = dlib_models.encoder()
    return np.array([np.array(d) for d in enc.compute_face_descriptor(chips)], np.float32)


def pairwise(d: np.ndarray) -> np.ndarray:
    return np.linalg.norm(d[:, None, :] - d[None, :, :], axis=-1)


@pytest.fixture(scope="module")
def encoder() -> dlib_onnx.DlibOnnxEncoder:
    return dlib_onnx.DlibOnnxEncoder(faces.encoder_path())


def synthetic_chips(n: int = 6) -> list[np.ndarray]:
    """Chips cut by dlib.get_face_chip from drawn faces (skin ellipse, eyes, nose, mouth, hair) with
    hand-placed 5-point landmarks, plus noise and the module's own check chip."""
    rng = np.random.default_rng(7)
    chips = []
    for i in range(n - 2):
        img = np.full((260, 240, 3), rng.integers(40, 220, 3), np.uint8)
        skin = tuple(int(v) for v in rng.integers(90, 235, 3))
        cx, cy = 120 + int(rng.integers(-10, 10)), 130 + int(rng.integers(-10, 10))
        cv2.ellipse(img, (cx, cy), (62, 82), 0, 0, 360, skin, -1)
        cv2.ellipse(img, (cx, cy - 70), (66, 30), 0, 180, 360, tuple(int(v) for v in rng.integers(0, 90, 3)), -1)
        eyes = [(cx - 26, cy - 18), (cx + 26, cy - 18)]
        for ex, ey in eyes:
            cv2.ellipse(img, (ex, ey), (12, 6), 0, 0, 360, (250, 250, 250), -1)
            cv2.circle(img, (ex, ey), 4, (30, 20, 10), -1)
        cv2.line(img, (cx, cy - 10), (cx - 6, cy + 14), (60, 40, 30), 2)
        cv2.ellipse(img, (cx, cy + 38), (22, 8 + i), 0, 0, 180, (140, 40, 50), -1)
        img = cv2.GaussianBlur(img, (3, 3), 0)
        # 5 points as dlib's 5-point predictor orders them (one eye's outer and inner corner, the
        # other eye's, the nose base); for parity only the chip's pixels matter.
        pts = [dlib.point(cx + 38, cy - 18), dlib.point(cx + 14, cy - 18), dlib.point(cx - 38, cy - 18),
               dlib.point(cx - 14, cy - 18), dlib.point(cx, cy + 16)]
        shape = dlib.full_object_detection(dlib.rectangle(cx - 62, cy - 82, cx + 62, cy + 82), pts)
        chip = faces.face_chip(img, shape)
        if i % 2:
            chip = np.ascontiguousarray(np.rot90(chip, 1))   # a different pose of the same thing
        chips.append(chip)
    chips.append(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8))
    chips.append(dlib_onnx.check_chip())
    return chips


@pytest.fixture(scope="module")
def lfw_chips(lfw: Path) -> list[np.ndarray]:
    """Two photos of each of the ten lfw10 people, aligned the way the pipeline aligns them."""
    if not lfw.is_dir():
        pytest.skip(f"{lfw} is absent")
    chips = []
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        for photo in sorted(person.glob("*.jpg"))[:2]:
            rgb = read_rgb(photo)
            dets = dlib_models.hog_detector()(rgb, 1)
            assert dets, photo
            best = max(dets, key=lambda r: r.area())
            box = (best.left(), best.top(), best.width(), best.height())
            chips.append(faces.face_chip(rgb, faces.landmarks5(rgb, box)))
    assert len(chips) == 20
    return chips


def assert_same_descriptors(got: np.ndarray, ref: np.ndarray) -> None:
    assert got.shape == ref.shape and got.dtype == np.float32
    diff = float(np.abs(got - ref).max())
    assert diff < TOL, f"max |onnx - dlib| = {diff:.3g}"
    ddiff = float(np.abs(pairwise(got) - pairwise(ref)).max())
    assert ddiff < TOL, f"pairwise distances differ by up to {ddiff:.3g}"


# ---------------------------------------------------------------------------------- parity

def test_parity_synthetic_chips_batch_and_single(encoder):
    chips = synthetic_chips()
    ref = dlib_descriptors(chips)
    assert_same_descriptors(encoder.embed(chips), ref)
    single = np.concatenate([encoder.embed([c]) for c in chips])
    assert_same_descriptors(single, ref)


@pytest.mark.shared_data
def test_parity_real_faces(encoder, lfw_chips):
    ref = dlib_descriptors(lfw_chips)
    got = encoder.embed(lfw_chips)
    assert_same_descriptors(got, ref)
    assert_same_descriptors(np.concatenate([encoder.embed([c]) for c in lfw_chips[:5]]), ref[:5])
    # the point of parity: who matches whom at the fitted thresholds does not change
    d_ref, d_got = pairwise(ref), pairwise(got)
    for t in (0.5, 0.6, 0.64):
        assert ((d_ref < t) == (d_got < t)).all()
    # and the descriptors are real face descriptors: same person close, different people far
    same = d_got[0, 1]
    assert same < 0.6 and np.median(d_got[0, 2:]) > 0.6


@pytest.mark.shared_data
def test_embed_chips_uses_the_fast_path_and_matches_dlib(lfw_chips, monkeypatch):
    monkeypatch.delenv("APEL_DLIB_ONNX", raising=False)
    assert isinstance(faces.fast_encoder(), dlib_onnx.DlibOnnxEncoder)
    calls = []
    real = dlib_onnx.DlibOnnxEncoder.embed
    monkeypatch.setattr(dlib_onnx.DlibOnnxEncoder, "embed", lambda self, c: calls.append(len(c)) or real(self, c))
    got = faces.embed_chips(lfw_chips[:7])
    assert calls == [7]
    assert_same_descriptors(got, dlib_descriptors(lfw_chips[:7]))


def test_forced_dlib_with_env(monkeypatch):
    monkeypatch.setenv("APEL_DLIB_ONNX", "0")
    assert faces.fast_encoder() is None
    monkeypatch.setattr(dlib_onnx, "load", lambda *a, **k: pytest.fail("ONNX path used despite APEL_DLIB_ONNX=0"))
    chips = synthetic_chips(4)
    got = faces.embed_chips(chips)
    assert np.array_equal(got, dlib_descriptors(chips))   # dlib itself: bit for bit


def test_jitter_and_odd_chips_stay_on_dlib(monkeypatch):
    monkeypatch.delenv("APEL_DLIB_ONNX", raising=False)
    chip = synthetic_chips(3)[0]
    # a chip that is not 150x150 is dlib's business, as before: dlib refuses it
    with pytest.raises(RuntimeError, match="150x150"):
        faces.embed_chips([chip, cv2.resize(chip, (120, 120))])
    monkeypatch.setattr(dlib_onnx.DlibOnnxEncoder, "embed", lambda *a: pytest.fail("jitter must use dlib"))
    jit = faces.embed_chips([chip], jitters=2)
    assert jit.shape == (1, 128)
    ref = np.array(dlib_models.encoder().compute_face_descriptor(chip, 2), np.float32)
    assert np.abs(jit[0] - ref).max() < 0.05   # dlib's jitter is random; same ballpark


# ---------------------------------------------------------------------------------- the file format

def test_compact_float_tensor_decoding():
    rng = np.random.default_rng(3)
    vals = np.concatenate([rng.normal(0, 0.05, 500), rng.normal(0, 300, 50), [0.0, 1.0, -1.0, 0.5, 256.0, -3e-9]])
    vals = vals.astype(np.float32)
    shape = (1, len(vals), 1, 1)
    blob = (dlib_onnx.pack_int(1) + b"".join(dlib_onnx.pack_int(d) for d in shape)
            + b"".join(dlib_onnx.pack_float(float(v), mantissa_bits=24) for v in vals))
    r = dlib_onnx._Reader(blob + b"\x01\x07")
    got = r.tensor()
    assert got.shape == shape
    assert np.array_equal(got.ravel(), vals)
    assert r.pos == len(blob) and r.int() == 7
    # raw (version 2) tensors, as the shipped file has them
    raw = dlib_onnx.pack_int(2) + b"".join(dlib_onnx.pack_int(d) for d in shape) + vals.astype("<f4").tobytes()
    assert np.array_equal(dlib_onnx._Reader(raw).tensor().ravel(), vals)
    # truncated inside the values
    with pytest.raises(dlib_onnx.DlibModelError, match="truncated"):
        dlib_onnx._Reader(blob[:-3]).tensor()


def test_parse_the_shipped_network():
    mean, layers = dlib_onnx.parse_dat(Path(faces.encoder_path()).read_bytes())
    assert np.allclose(mean, [122.782, 117.001, 104.298], atol=1e-3)
    kinds = [layer.kind for layer in layers]
    assert kinds.count("con") == 29 and kinds.count("add_prev") == 14 and kinds[-2:] == ["avg_pool", "fc"]
    con = layers[0]
    assert con.arrays["w"].shape == (32, 3, 7, 7) and con.ints["stride_y"] == 2 and con.ints["pad_y"] == 0
    assert layers[-1].arrays["w"].shape == (256, 128) and "b" not in layers[-1].arrays


# ---------------------------------------------------------------------------------- broken files

@pytest.fixture
def dat_bytes() -> bytes:
    return Path(faces.encoder_path()).read_bytes()


@pytest.mark.parametrize("cut", [10, 300, 5_000_000, -1])
def test_truncated_file_is_a_clear_error(tmp_path, dat_bytes, cut):
    bad = tmp_path / "truncated.dat"
    bad.write_bytes(dat_bytes[:cut])
    with pytest.raises(dlib_onnx.DlibModelError, match="truncated|unexpected|not a dlib|no input"):
        dlib_onnx.DlibOnnxEncoder(bad)


def test_wrong_layers_and_garbage(tmp_path, dat_bytes):
    bad = tmp_path / "renamed.dat"
    bad.write_bytes(dat_bytes.replace(b"relu_", b"relx_", 1))
    with pytest.raises(dlib_onnx.DlibModelError, match="unsupported layer 'relx_'"):
        dlib_onnx.DlibOnnxEncoder(bad)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(dlib_onnx.DlibModelError):
        dlib_onnx.DlibOnnxEncoder(junk)
    with pytest.raises(dlib_onnx.DlibModelError, match="cannot read"):
        dlib_onnx.load(tmp_path / "missing.dat")


def test_broken_file_falls_back_to_dlib_with_one_warning(tmp_path, dat_bytes, monkeypatch, caplog):
    bad = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    bad.write_bytes(dat_bytes[: len(dat_bytes) // 2])
    monkeypatch.delenv("APEL_DLIB_ONNX", raising=False)
    monkeypatch.setattr(faces, "encoder_path", lambda: str(bad))
    monkeypatch.setattr(faces, "_fast_warned", False)
    chips = synthetic_chips(3)
    with caplog.at_level(logging.WARNING, logger="attendance.vision.faces"):
        assert faces.fast_encoder() is None
        got = faces.embed_chips(chips)
        faces.embed_chips(chips)
    assert np.array_equal(got, dlib_descriptors(chips))
    warnings = [r for r in caplog.records if "using dlib" in r.getMessage()]
    assert len(warnings) == 1 and "truncated" in warnings[0].getMessage()


def test_a_network_that_disagrees_with_dlib_is_refused(tmp_path, dat_bytes, monkeypatch):
    """The self-check at load: a converted network that does not reproduce dlib is not used."""
    enc = dlib_onnx.DlibOnnxEncoder(faces.encoder_path())
    assert dlib_onnx.verify_against_dlib(enc) < TOL
    monkeypatch.setattr(enc, "embed", lambda chips: np.zeros((len(chips), 128), np.float32))
    with pytest.raises(dlib_onnx.DlibModelError, match="disagrees with dlib"):
        dlib_onnx.verify_against_dlib(enc)
