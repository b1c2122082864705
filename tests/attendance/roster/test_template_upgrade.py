"""After a change of recogniser: staff whose templates another recogniser made are found, said at
start-up, and rebuilt from kept photos; people without kept photos are named for re-enrolment."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from attendance.models import AuditEntry, Employee, FaceTemplate, Office
from attendance.roster.photos import PhotoLimits, analyse_photo
from attendance.roster.templates import rebuild_from_kept_photos, store_templates, unrecognisable, warn_at_start

pytestmark = [pytest.mark.shared_data]


def _enrol(session, emp: Employee, photo: Path, recogniser: str, kept: Path | None = None) -> None:
    data = photo.read_bytes()
    analysed = analyse_photo(data, PhotoLimits(recogniser=recogniser), photo.name)
    assert analysed.ok, analysed.error_message
    rows, _ = store_templates(session, emp, analysed, actor="test")
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photo, kept)
        rows[0].photo_path = str(kept)


def _staff(session, *names: str) -> list[Employee]:
    """An office and one employee per name, NIPs ...0001, ...0002 in order."""
    office = Office(code="OPD1", name="Dinas Satu", timezone="Asia/Jakarta")
    session.add(office)
    session.flush()
    people = [Employee(nip=f"19800101200501{i:04d}", name=n, office_id=office.id) for i, n in enumerate(names, 1)]
    session.add_all(people)
    session.flush()
    return people


def test_staff_enrolled_under_dlib_are_found_warned_and_rebuilt(session, shared_data: Path, tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    lfw = shared_data / "faces" / "lfw10"
    kept, lost, fresh = _staff(session, "Kept Photo", "No Photo", "Already Fused")
    _enrol(session, kept, next((lfw / "Colin_Powell").glob("*.jpg")), "dlib", kept=tmp_path / "photos" / "a.jpg")
    _enrol(session, lost, next((lfw / "Tony_Blair").glob("*.jpg")), "dlib")
    _enrol(session, fresh, next((lfw / "Hugo_Chavez").glob("*.jpg")), "dlib+faceres")
    session.commit()

    assert [e.nip for e in unrecognisable(session, "dlib+faceres")] == [kept.nip, lost.nip]
    assert [e.nip for e in unrecognisable(session, "dlib-128")] == [fresh.nip]
    with caplog.at_level(logging.WARNING, logger="attendance.roster.templates"):
        assert warn_at_start(session, "dlib+faceres") == 2
    assert "2 active employees" in caplog.text and "apel templates rebuild" in caplog.text

    audits = session.execute(select(AuditEntry)).scalars().all()
    report = rebuild_from_kept_photos(session, PhotoLimits(recogniser="dlib+faceres"), actor="cli:test")
    session.commit()
    assert report.rebuilt == [kept.nip] and report.without_photos == [lost.nip] and report.failed == []
    new = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == kept.id,
                                                     FaceTemplate.backend == "dlib+faceres")).scalars().all()
    assert [t.kind for t in new][0] == "photo" and all(t.kind in ("photo", "masked") for t in new)
    assert new[0].photo_path == str(tmp_path / "photos" / "a.jpg") and len(new[0].embedding) == (128 + 1024) * 4
    assert len(session.execute(select(AuditEntry)).scalars().all()) == len(audits) + 1
    assert [e.nip for e in unrecognisable(session, "dlib+faceres")] == [lost.nip]
    # Nothing left to rebuild from: a second run changes nothing.
    again = rebuild_from_kept_photos(session, PhotoLimits(recogniser="dlib+faceres"), actor="cli:test")
    assert again.rebuilt == [] and again.without_photos == [lost.nip]


def test_a_kept_photo_that_is_gone_is_reported_and_nothing_is_written(session, shared_data: Path,
                                                                       tmp_path: Path) -> None:
    emp, = _staff(session, "Gone")
    path = tmp_path / "photos" / "gone.jpg"
    _enrol(session, emp, next((shared_data / "faces" / "lfw10" / "Colin_Powell").glob("*.jpg")), "dlib", kept=path)
    session.commit()
    path.unlink()
    before = session.execute(select(FaceTemplate)).scalars().all()
    report = rebuild_from_kept_photos(session, PhotoLimits(recogniser="dlib+faceres"), actor="cli:test")
    session.commit()
    assert report.rebuilt == [] and [(n, p) for n, p, _ in report.failed] == [(emp.nip, str(path))]
    assert "cannot read" in report.failed[0][2]
    assert len(session.execute(select(FaceTemplate)).scalars().all()) == len(before)


def test_the_service_says_at_start_up_who_it_cannot_recognise(db_url: str, settings_factory, shared_data: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A database enrolled under dlib, a service started on the default recogniser: the start-up
    log names the count and the way out."""
    from fastapi.testclient import TestClient

    from app.web.app import create_app

    app = create_app(settings_factory(db_url))
    with app.state.session_factory() as session:
        emp, = _staff(session, "Enrolled Before")
        _enrol(session, emp, next((shared_data / "faces" / "lfw10" / "Colin_Powell").glob("*.jpg")), "dlib")
        session.commit()
    with caplog.at_level(logging.WARNING, logger="attendance.roster.templates"), TestClient(app):
        pass
    assert "1 active employees have face templates only from another recogniser than dlib+faceres" in caplog.text
    caplog.clear()
    quiet = create_app(settings_factory(db_url, recognizer="dlib"))
    with caplog.at_level(logging.WARNING, logger="attendance.roster.templates"), TestClient(quiet):
        pass
    assert "only from another recogniser" not in caplog.text
