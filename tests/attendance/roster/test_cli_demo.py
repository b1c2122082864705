"""`apel user/office/enroll` and the demo seed, on both databases."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli.main import _register_all
from app.cli.main import app as cli
from app.settings import get_settings
from attendance.db import make_engine, make_session_factory
from attendance.models import AuditEntry, Employee, FaceTemplate, User

from .conftest import NIPS

_register_all()


@pytest.fixture
def run(db_url: str, tmp_path: Path):
    runner = CliRunner()
    env = {"APEL_DATABASE_URL": db_url, "APEL_DATA_DIR": str(tmp_path / "data"), "APEL_SECRET_KEY": "k"}

    def invoke(*args: str, input: str | None = None):
        get_settings.cache_clear()
        try:
            return runner.invoke(cli, list(args), env=env, input=input)
        finally:
            get_settings.cache_clear()

    return invoke


def _count(db_url: str, model) -> int:
    eng = make_engine(db_url)
    with make_session_factory(eng)() as s:
        n = s.execute(select(func.count()).select_from(model)).scalar_one()
    eng.dispose()
    return n


def test_help_lists_commands(run) -> None:
    out = run("--help").output
    for cmd in ("serve", "db", "user", "office", "enroll"):
        assert cmd in out
    assert "--role" in run("user", "create", "--help").output


def test_users_and_offices(run, db_url: str) -> None:
    r = run("office", "create", "diskominfos", "Dinas Kominfos")
    assert r.exit_code == 0, r.output
    assert run("office", "create", "DISKOMINFOS", "Again").exit_code == 1
    r = run("office", "create", "SETDA", "Sekretariat Daerah", "--hfov", "45", "--back-row", "4")
    assert r.exit_code == 0 and "back row 4 m" in r.output and "45 deg" in r.output, r.output
    bad = run("office", "create", "BAPPEDA", "Bappeda", "--back-row", "0.5")
    assert bad.exit_code == 1 and "back row" in bad.output, bad.output   # refused, and nothing created
    assert "BAPPEDA" not in run("office", "list").output
    r = run("office", "create", "DINKES", "Dinas Kesehatan", "--camera-height", "2.5")
    assert r.exit_code == 0 and "camera height 2.5 m" in r.output, r.output
    bad = run("office", "create", "DISHUB", "Dinas Perhubungan", "--camera-height", "0.2")
    assert bad.exit_code == 1 and "height" in bad.output, bad.output   # refused, and nothing created
    assert "DISHUB" not in run("office", "list").output
    r = run("office", "create", "DISDIK", "Dinas Pendidikan", "--row-lines", "6; 3 4,5")
    assert r.exit_code == 0 and "row lines 3; 4.5; 6 m" in r.output and "note:" not in r.output, r.output
    r = run("office", "create", "DISPORA", "Dinas Pemuda dan Olahraga", "--row-lines", "3;4;5")   # 1 m at a 1 m minimum
    assert r.exit_code == 0 and "row lines 3; 4; 5 m" in r.output, r.output                    # created, with advice
    assert "note: Row lines 3 m and 4 m are 1 m apart" in r.output and "at least 1.2 m apart" in r.output, r.output
    for typed in ("3; 3.1", "3, 4", ""):
        bad = run("office", "create", "DISPAR", "Dinas Pariwisata", "--row-lines", typed)
        assert bad.exit_code == 1 and "--row-lines" in bad.output, bad.output   # refused, and nothing created
    assert "DISPAR" not in run("office", "list").output
    r = run("user", "create", "--role", "operator", "--office", "DISKOMINFOS", "--password-stdin", "op1",
            input="a long password\n")
    assert r.exit_code == 0, r.output
    r = run("user", "create", "--role", "hr", "hr1", input="another password\nanother password\n")  # prompted twice
    assert r.exit_code == 0, r.output
    bad = run("user", "create", "--role", "operator", "--password-stdin", "op2", input="a long password\n")
    assert bad.exit_code == 1 and "office" in bad.output
    assert run("user", "create", "--role", "hr", "--password-stdin", "shorty", input="short\n").exit_code == 1
    listing = run("user", "list").output
    assert "op1" in listing and "DISKOMINFOS" in listing and "hr1" in listing and "op2" not in listing
    assert _count(db_url, User) == 2
    eng = make_engine(db_url)
    with make_session_factory(eng)() as s:
        actor = s.execute(select(AuditEntry.actor).where(AuditEntry.action == "user.create")).scalars().first()
        assert actor.startswith("cli")
    eng.dispose()


@pytest.mark.shared_data
def test_enroll_folder_reports_each_photo(run, db_url: str, tmp_path: Path, shared_data: Path) -> None:
    faces = shared_data / "faces"
    root = tmp_path / "people"
    made = root / f"{NIPS[0]}_Made_Wirawan"
    made.mkdir(parents=True)
    (made / "1.jpg").symlink_to(faces / "lfw10/Colin_Powell/Colin_Powell_0001.jpg")
    (made / "2.jpg").symlink_to(faces / "lfw10/Colin_Powell/Colin_Powell_0002.jpg")
    (made / "group.jpg").symlink_to(faces / "fr_examples/two_people.jpg")
    (made / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    unknown = root / NIPS[1]  # not registered and no name in the folder: skipped
    unknown.mkdir()
    (unknown / "a.jpg").symlink_to(faces / "lfw10/Tony_Blair/Tony_Blair_0001.jpg")
    (root / "not-a-nip").mkdir()
    assert run("office", "create", "DISKOMINFOS", "Dinas Kominfos").exit_code == 0

    dry = run("enroll", str(root), "--office", "DISKOMINFOS", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"would create employee {NIPS[0]} Made Wirawan" in dry.output, dry.output   # not "created"
    assert "created employee" not in dry.output and "nothing written" in dry.output
    assert _count(db_url, Employee) == 0 and _count(db_url, FaceTemplate) == 0

    r = run("enroll", str(root), "--office", "DISKOMINFOS")
    out = r.output
    assert r.exit_code == 0, out
    assert "1.jpg: accepted" in out and "2.jpg: accepted" in out
    assert "group.jpg: rejected: several_faces" in out
    assert "broken.png: rejected: corrupt" in out
    assert f"{NIPS[1]}: skipped" in out and "not-a-nip: skipped" in out
    assert "2 photo(s) accepted" in out
    assert _count(db_url, Employee) == 1
    eng = make_engine(db_url)
    with make_session_factory(eng)() as s:
        emp = s.execute(select(Employee)).scalar_one()
        assert emp.name == "Made Wirawan"
        kinds = s.execute(select(FaceTemplate.kind).where(FaceTemplate.employee_id == emp.id)).scalars().all()
        assert kinds.count("photo") == 2
    eng.dispose()
    again = run("enroll", str(root))
    assert "already enrolled" in again.output and _count(db_url, FaceTemplate) == len(kinds)


def test_demo_seed_is_idempotent_and_logs_in(db_url: str, settings_factory, capsys) -> None:
    from fastapi.testclient import TestClient

    from app.cli.demo import EMPLOYEES, seed_demo
    from app.web.app import create_app

    app = create_app(settings_factory(db_url), migrate=False)
    creds = seed_demo(app)
    printed = capsys.readouterr().out
    assert creds and creds["admin"] in printed
    assert seed_demo(app) is None and creds["admin"] not in capsys.readouterr().out  # printed once only
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "admin", "password": creds["admin"]})
        assert r.status_code == 200
        assert len(c.get("/api/v1/employees").json()) == len(EMPLOYEES)
        offices = c.get("/api/v1/offices").json()
        assert offices and all(o["timezone"] == "Asia/Makassar" for o in offices)
    with TestClient(app) as c:
        r = c.post("/api/v1/auth/login", json={"username": "operator", "password": creds["staff"]})
        assert r.json()["user"]["role"] == "operator"
        assert {e["office_id"] for e in c.get("/api/v1/employees").json()} == {r.json()["user"]["office_id"]}


def test_templates_after_a_change_of_recogniser(db_url: str, tmp_path: Path, shared_data: Path) -> None:
    """Enrolled with dlib (photos kept); the service then runs the default recogniser: `apel
    templates status` names who it cannot recognise, `rebuild` fixes them from the kept photos."""
    runner = CliRunner()
    env = {"APEL_DATABASE_URL": db_url, "APEL_DATA_DIR": str(tmp_path / "data"), "APEL_SECRET_KEY": "k",
           "APEL_KEEP_ENROLMENT_PHOTOS": "true"}

    def run(*args: str, **extra: str):
        get_settings.cache_clear()
        try:
            return runner.invoke(cli, list(args), env={**env, **extra})
        finally:
            get_settings.cache_clear()

    person = tmp_path / "people" / f"{NIPS[0]}_Made_Wirawan"
    person.mkdir(parents=True)
    (person / "1.jpg").symlink_to(shared_data / "faces/lfw10/Colin_Powell/Colin_Powell_0001.jpg")
    assert run("office", "create", "DISKOMINFOS", "Dinas Kominfos").exit_code == 0
    r = run("enroll", str(person.parent), "--office", "DISKOMINFOS", APEL_RECOGNIZER="dlib")
    assert r.exit_code == 0, r.output

    status = run("templates", "status")
    assert status.exit_code == 0, status.output
    assert "recogniser: dlib+faceres" in status.output and "templates by dlib-128" in status.output
    assert f"{NIPS[0]} Made Wirawan" in status.output
    r = run("templates", "rebuild")
    assert r.exit_code == 0, r.output
    assert "rebuilt templates for 1 employee(s)" in r.output
    status = run("templates", "status")
    assert "templates by dlib+faceres" in status.output and NIPS[0] not in status.output
    assert "every active employee with templates has one by this recogniser" in status.output
