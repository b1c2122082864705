"""Signed audit checkpoints, written by the service itself (see attendance.audit_seals): at every
apel's end (the end routes call `sign_now`), and once a day while the log grows (a poller). Nobody has to remember to
keep one, so a rewrite of the log is found by `apel audit verify` without a checkpoint kept on paper."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from attendance.audit_seals import checkpoint_due, write_checkpoint
from attendance.db.unit_of_work import run_in_transaction
from attendance.reports.signing import load_signer

log = logging.getLogger("apel.audit")


def sign_now(app: FastAPI, session: Session, reason: str) -> bool:
    """Sign the log's tip in its own transaction (blocking: call it from a worker thread). A failure
    is logged, not raised: the change it follows has committed, and the daily checkpoint covers it."""
    settings = app.state.settings
    try:
        signer = load_signer(settings.data_dir, settings.signing_settings)
        return run_in_transaction(session, lambda: write_checkpoint(session, signer, reason)) is not None
    except (SQLAlchemyError, OSError, ValueError) as exc:   # a database outage or a bad key file
        log.warning("could not sign an audit checkpoint (%s): %s", reason, exc)
        return False


def sign_if_due(app: FastAPI) -> str | None:
    """One look (in a worker thread: it reads the database and may sign); returns the reason it signed."""
    with app.state.session_factory() as session:
        reason = checkpoint_due(session)
        if reason is None or not sign_now(app, session, reason):
            return None
        return reason


async def _loop(app: FastAPI) -> None:
    interval = app.state.settings.audit_checkpoint_poll_s
    while True:
        try:
            reason = await asyncio.to_thread(sign_if_due, app)
            if reason:
                log.info("signed an audit checkpoint (%s)", reason)
        except SQLAlchemyError as exc:   # the database is away: try again next time
            log.warning("could not look for a due audit checkpoint: %s", exc)
        await asyncio.sleep(interval)


def install(app: FastAPI) -> None:
    async def start(app: FastAPI) -> None:
        app.state.audit_checkpoints = asyncio.create_task(_loop(app), name="audit-checkpoints")

    async def stop(app: FastAPI) -> None:
        task = app.state.audit_checkpoints
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
