"""Engine and session factory. One place decides SQLite vs PostgreSQL; the models are the same."""
from __future__ import annotations

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
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
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
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


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)
