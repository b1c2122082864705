"""Every `apel` command says which database it works on and never makes a new one by accident: run
from another folder, `apel enroll` used to create an empty ./apel-data and then say the office did
not exist. Real SQLite files and a real PostgreSQL database."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.main import _register_all
from app.cli.main import app as cli
from app.settings import get_settings

_register_all()


def _invoke(env: dict[str, str], *args: str):
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args), env={"APEL_SECRET_KEY": "k", "APEL_RECOGNIZER": "dlib", **env})
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize("command", [("office", "list"), ("user", "list"), ("templates", "status"),
                                     ("audit", "verify"), ("report", "recap", "--month", "2026-11"), ("signing-key",)])
def test_a_missing_database_is_refused_not_created(tmp_path: Path, monkeypatch, command) -> None:
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("APEL_DATA_DIR", raising=False)
    monkeypatch.delenv("APEL_DATABASE_URL", raising=False)
    r = _invoke({}, *command)
    assert r.exit_code == 2, r.output
    assert f"no Apel database at {elsewhere / 'apel-data' / 'apel.db'}" in r.stderr, r.stderr
    assert "the default data folder ./apel-data" in r.stderr and "APEL_DATA_DIR" in r.stderr
    assert not (elsewhere / "apel-data").exists(), "nothing may be created"


def test_enroll_elsewhere_names_the_data_dir_it_looked_in(tmp_path: Path) -> None:
    people = tmp_path / "people"
    (people / "198503122010011001_Made").mkdir(parents=True)
    data = tmp_path / "typo-data"
    r = _invoke({"APEL_DATA_DIR": str(data)}, "enroll", str(people), "--office", "DISKOMINFOS")
    assert r.exit_code == 2 and f"APEL_DATA_DIR={data}" in r.stderr, r.output
    assert not data.exists()


@pytest.fixture
def pg_empty_url() -> Iterator[str]:
    """A PostgreSQL database that exists but was never migrated."""
    from tests.conftest import fresh_pg

    yield from fresh_pg(None)


@pytest.mark.postgres
def test_an_empty_file_or_database_is_not_an_installation(tmp_path: Path, pg_template: str, pg_empty_url: str) -> None:
    empty = tmp_path / "apel.db"
    empty.touch()
    r = _invoke({"APEL_DATABASE_URL": f"sqlite:///{empty}"}, "office", "list")
    assert r.exit_code == 2 and "holds no Apel tables" in r.stderr, r.output
    r = _invoke({"APEL_DATABASE_URL": pg_empty_url, "APEL_DATA_DIR": str(tmp_path / "d")}, "office", "list")
    assert r.exit_code == 2 and "holds no Apel tables" in r.stderr, r.output


def test_the_database_in_use_is_named(sqlite_url: str, tmp_path: Path) -> None:
    r = _invoke({"APEL_DATABASE_URL": sqlite_url, "APEL_DATA_DIR": str(tmp_path / "d")}, "office", "list")
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith(f"database: {sqlite_url.removeprefix('sqlite:///')}"), r.stderr
    assert "database:" not in r.stdout   # the listing stays clean for scripts


def test_db_upgrade_still_creates_a_new_database(tmp_path: Path) -> None:
    data = tmp_path / "new-data"
    r = _invoke({"APEL_DATA_DIR": str(data)}, "db", "upgrade")
    assert r.exit_code == 0, r.output
    assert (data / "apel.db").is_file()
    r = _invoke({"APEL_DATA_DIR": str(data)}, "office", "list")
    assert r.exit_code == 0, r.output
