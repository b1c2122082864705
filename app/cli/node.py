"""`apel node`: a vision node. It analyses the office feeds it leases (attendance.nodes.leases) from a
frame source, on any number of machines sharing the PostgreSQL database (docs/nodes.md).

It refuses to start, saying why, on SQLite (one machine: `apel serve` analyses its own offices), on a
database it cannot reach, and on one whose schema is not this code's (a node never migrates: the web
node's `apel db upgrade` does). SIGTERM or Ctrl+C stops it cleanly: leases given back at once."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from app.settings import Settings

NODE_REFUSED_EXIT = 2
CONNECT_TIMEOUT_S = 5


def _refuse(key: str, lang: str, **fmt: object) -> NoReturn:
    from attendance.i18n import t

    typer.secho(f"error: {t(key, lang, **fmt)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(NODE_REFUSED_EXIT)


def _label(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def check_database(s: Settings) -> None:
    """Refuse (exit 2, with the reason) anything but a reachable PostgreSQL at this code's schema."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from attendance.db.migrate import alembic_config

    lang = s.language
    try:
        url = make_url(s.db_url)
    except ArgumentError as exc:
        _refuse("node.unreachable", lang, db=repr(s.db_url), reason=str(exc))
    if url.get_backend_name() != "postgresql":
        _refuse("node.needs_postgres", lang, db=_label(s.db_url))
    try:
        engine = create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    except (ArgumentError, NoSuchModuleError) as exc:
        _refuse("node.unreachable", lang, db=_label(s.db_url), reason=str(exc))
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                _refuse("node.no_schema", lang, db=_label(s.db_url))
            have = sorted(MigrationContext.configure(conn).get_current_heads())
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        _refuse("node.unreachable", lang, db=_label(s.db_url), reason=reason)
    finally:
        engine.dispose()
    want = sorted(ScriptDirectory.from_config(alembic_config(s.db_url)).get_heads())
    if have != want:
        _refuse("node.old_schema", lang, db=_label(s.db_url), have=", ".join(have) or "-", want=", ".join(want))


async def _run(s: Settings, source_spec: str, capacity: int, sample_fps: float, lease_s: float,
               heartbeat_s: float) -> str:
    from app.live.node import NodeOptions, NodeRunner
    from app.live.node_sources import make_source
    from attendance.db import make_engine, make_session_factory

    source = make_source(source_spec, sample_fps=sample_fps)
    engine = make_engine(s.db_url, pool_size=s.db_pool_size, max_overflow=s.db_max_overflow,
                         pool_timeout_s=s.db_pool_timeout_s)
    node = NodeRunner(s, make_session_factory(engine), source,
                      NodeOptions(capacity=capacity, lease_s=lease_s, heartbeat_s=heartbeat_s))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    from attendance.i18n import t

    typer.echo(t("node.started", s.language, node=node.id, db=_label(s.db_url), capacity=capacity), err=True)
    try:
        await node.run(stop)
    finally:
        engine.dispose()
    return node.id


def register(app: typer.Typer) -> None:
    @app.command()
    def node(
        source: str = typer.Option(..., "--source", help="Where the offices' video comes from: "
                                   "file:PATH (a video file, PATH may hold {office}, the office code)."),
        capacity: int = typer.Option(10, min=1, max=1000, help="Offices this node analyses at most."),
        sample_fps: float = typer.Option(5.0, help="Frames sampled per second per office."),
        lease_s: float = typer.Option(5.0, help="A lease lapses this long after its node's last heartbeat."),
        heartbeat_s: float = typer.Option(1.0, help="Seconds between heartbeats (a third of the lease at most)."),
    ) -> None:
        """Run a vision node: analyse the office feeds it leases, on PostgreSQL shared with the web node."""
        from app.settings import get_settings
        from attendance.errors import ApelError
        from attendance.i18n import t
        from attendance.nodes.leases import check_timing

        s = get_settings()
        try:
            check_timing(lease_s, heartbeat_s)
            from app.live.node_sources import make_source

            make_source(source, sample_fps=sample_fps)
        except ApelError as exc:
            _refuse("node.bad_option", s.language, reason=exc.message)
        check_database(s)
        s.ensure_dirs()
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # httpx logs every request to Janus at INFO (several a second per office): the node's own lines would drown
        logging.getLogger("httpx").setLevel(logging.WARNING)
        node_id = asyncio.run(_run(s, source, capacity, sample_fps, lease_s, heartbeat_s))
        typer.echo(t("node.stopped", s.language, node=node_id), err=True)
        # Everything the node owns is released by now. The interpreter's teardown then collected every
        # module's objects, measured at 4-10 s on a loaded machine: past the 5 s a stop may take, for
        # nothing. Frozen objects are left out of that collection; the exit hooks still run.
        gc.freeze()
