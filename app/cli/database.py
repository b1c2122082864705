"""Which database a command works on, said aloud, and never a new one made by accident.

Every command but `apel serve` and `apel db upgrade` works on an installation that exists: run from
another folder, the default `./apel-data` is a different (absent) one, and creating it silently left
HR with an empty database that "has no such office". So the command names the database it uses (on
standard error, so that its output stays clean) and refuses one that does not exist yet, saying where
it looked and how to point it elsewhere."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from app.settings import Settings

NO_DATABASE_EXIT = 2


def database_label(s: Settings) -> str:
    """The database as people recognise it: the SQLite file, or the URL without its password."""
    path = sqlite_file(s)
    return str(path) if path is not None else make_url(s.db_url).render_as_string(hide_password=True)


def sqlite_file(s: Settings) -> Path | None:
    url = make_url(s.db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def _where_it_looked(s: Settings) -> str:
    if s.database_url:
        return "APEL_DATABASE_URL"
    if "data_dir" in s.model_fields_set:
        return f"APEL_DATA_DIR={s.data_dir}"
    return f"the default data folder ./apel-data of the current folder {Path.cwd()}"


def _refuse(s: Settings, why: str) -> NoReturn:
    typer.secho(f"error: {why} (from {_where_it_looked(s)}). Run the command in the folder that holds "
                "apel-data, or set APEL_DATA_DIR (or APEL_DATABASE_URL) to the installation's; "
                "`apel db upgrade` creates a new, empty database.", fg=typer.colors.RED, err=True)
    raise typer.Exit(NO_DATABASE_EXIT)


def existing_settings(*, say: bool = True) -> Settings:
    """The settings of an installation whose database exists (a SQLite file that is there; a server
    database is checked when it is opened, see `open_database`); its data folder is made if missing."""
    from app.settings import get_settings

    s = get_settings()
    if say:
        typer.echo(f"database: {database_label(s)}", err=True)
    path = sqlite_file(s)
    if path is not None and not path.is_file():
        _refuse(s, f"no Apel database at {path}")
    s.ensure_dirs()
    return s


def open_database(*, say: bool = True) -> tuple[Settings, Engine, sessionmaker[Session]]:
    """The installation's database, migrated to the code's schema; refused when it has no Apel tables."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    from attendance.db import make_engine, make_session_factory
    from attendance.db.migrate import upgrade

    s = existing_settings(say=say)
    engine = make_engine(s.db_url)
    try:
        has_schema = inspect(engine).has_table("alembic_version")
    except OperationalError as exc:
        engine.dispose()
        _refuse(s, f"cannot open the database {database_label(s)}: {str(exc.orig).strip()}")
    if not has_schema:
        engine.dispose()
        _refuse(s, f"the database {database_label(s)} holds no Apel tables")
    upgrade(s.db_url)
    return s, engine, make_session_factory(engine)


def installation_exists() -> bool:
    """For commands that can do without the installation (verifying with --trust keys only)."""
    from app.settings import get_settings

    path = sqlite_file(get_settings())
    return path is None or path.is_file()


__all__ = ["database_label", "existing_settings", "installation_exists", "open_database"]
