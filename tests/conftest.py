"""Shared fixtures: real databases (a SQLite file and PostgreSQL on 127.0.0.1:5432), the shared real
data folder, and app clients.

Skips become failures in CI: APEL_REQUIRE_SHARED_DATA=1 (../shared/data must be there) and
APEL_REQUIRE_POSTGRES=1 (PostgreSQL must answer)."""
from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade

if TYPE_CHECKING:
    from tests.janus_server import JanusServer

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("APEL_SHARED_DATA", ROOT.parent / "shared" / "data"))
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_ADMIN_URL = os.environ.get("APEL_TEST_PG_URL", f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/postgres")


def _missing(reason: str, env: str) -> None:
    if os.environ.get(env):
        pytest.fail(f"{reason} ({env} is set, so this is required)")
    pytest.skip(reason)


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium for the real-browser tests; CI installs it, and there its absence fails."""
    from tests.e2e.cdp import CHROMIUM

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") or os.environ.get("APEL_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: real third-party photos and clips. Never copied into the project."""
    if not SHARED_DATA.is_dir():
        _missing(f"real data folder {SHARED_DATA} is absent", "APEL_REQUIRE_SHARED_DATA")
    return SHARED_DATA


def _pg_up() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not _pg_up():
        _missing(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}", "APEL_REQUIRE_POSTGRES")
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"apel_tpl_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # e.g. password authentication on a stock install
        admin.dispose()
        _missing(f"PostgreSQL answers but {PG_ADMIN_URL} cannot create a database "
                 f"(set APEL_TEST_PG_URL): {str(exc).splitlines()[0]}", "APEL_REQUIRE_POSTGRES")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fresh_pg(template: str | None) -> Iterator[str]:
    """A PostgreSQL database of its own for one test (a copy of `template`, or empty when None),
    dropped afterwards."""
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"apel_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    """PostgreSQL only, for tests whose subject SQLite cannot carry (LISTEN/NOTIFY, leases shared by
    several processes)."""
    yield from fresh_pg(pg_template)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database of each kind: every DB test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "apel.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        yield from fresh_pg(request.getfixturevalue("pg_template"))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """SQLite only, for tests whose subject is not the database."""
    path = tmp_path / "apel.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    factory = make_session_factory(engine)
    with factory() as s:
        yield s


@pytest.fixture
def settings_factory(tmp_path: Path):
    """Build Settings for an isolated app: its own data dir and the given database URL."""
    from app.settings import Settings

    def make(db_url: str, **overrides) -> Settings:
        return Settings(data_dir=tmp_path / "data", database_url=db_url, secret_key="test-secret", **overrides)

    return make


@pytest.fixture
def janus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JanusServer]:
    """A real Janus with a configuration of its own (tests/janus_server.py), stopped at the end. CI
    installs Debian's `janus` (./dev), and there its absence fails."""
    from tests.janus_server import JANUS_BIN, JanusServer

    if not Path(JANUS_BIN).exists():
        if os.environ.get("CI") or os.environ.get("APEL_REQUIRE_JANUS"):
            pytest.fail("janus is not installed (apt-get install -y janus)")
        pytest.skip("janus is not installed (apt-get install -y janus)")
    server = JanusServer(tmp_path_factory.mktemp("janus"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
