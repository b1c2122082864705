"""Engine and session factory. One place decides SQLite vs PostgreSQL; the models are the same."""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, echo: bool = False, *, pool_size: int = 10, max_overflow: int = 20,
                pool_timeout_s: float = 5.0) -> Engine:
    """`pool_timeout_s` is how long a caller waits for a free connection before SQLAlchemy raises
    TimeoutError: short, so a full pool is a quick refusal the edge answers with 503, never a queue
    of requests that look like a frozen server."""
    kwargs: dict = {"echo": echo, "future": True, "pool_size": pool_size, "max_overflow": max_overflow,
                    "pool_timeout": pool_timeout_s}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        _create_private_sqlite_file(url)
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    # Every session that can commit gets the records-seal hook (a closed apel's records are sealed in
    # the transaction that changes them); registering it here means no entry point can forget it.
    import attendance.audit_seals  # noqa: F401
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            # WAL: readers do not block the writer; foreign keys: ON DELETE CASCADE really cascades.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    return engine


def _create_private_sqlite_file(url: str) -> None:
    """SQLite would create the file world-readable (0644 under the usual umask), and it holds password
    hashes and face templates: create it 0600 first. Its -wal and -shm files take the same mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir() and not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:   # another process made it first
            pass


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)
