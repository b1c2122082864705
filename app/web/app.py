"""App factory. Every resource (engine, sessions, background services) is created per app instance,
so tests can build as many isolated apps as they like."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.middleware.sessions import SessionMiddleware

from app.settings import Settings, get_settings
from attendance.db import make_engine, make_session_factory
from attendance.db.migrate import upgrade

log = logging.getLogger("apel")
STATIC_DIR = Path(__file__).resolve().parents[2] / "static"


async def _warn_unrecognisable_staff(app: FastAPI) -> None:
    """Staff whose templates another recogniser made are unknown live: say so in the log. A database
    that cannot be reached at start-up is logged, not fatal: the service starts, /health says 503, and
    requests work again as soon as the database is back."""
    from attendance.roster.templates import warn_at_start

    def check() -> None:
        with app.state.session_factory() as session:
            warn_at_start(session, app.state.settings.recogniser_spec)

    try:
        await asyncio.to_thread(check)
    except OperationalError as exc:
        log.error("the database cannot be reached at start-up (%s); starting anyway", exc.orig or exc)


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    settings = settings or get_settings()
    settings.ensure_dirs()
    if migrate:
        upgrade(settings.db_url)
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                         pool_timeout_s=settings.db_pool_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            await hook(app)
        try:
            yield
        finally:
            for hook in reversed(app.state.shutdown_hooks):
                await hook(app)
            engine.dispose()

    app = FastAPI(title="Apel", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,   # app.web.api_docs
                  description="Virtual roll-call and attendance for Indonesian government offices.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_session_factory(engine)
    app.state.startup_hooks = [_warn_unrecognisable_staff]
    app.state.shutdown_hooks = []

    app.add_middleware(SessionMiddleware, secret_key=settings.session_secret(), session_cookie="apel_session",
                       max_age=settings.session_max_age_s, same_site="lax", https_only=settings.cookie_secure)

    from app.web.api_docs import install as install_api_docs
    from app.web.audit_checkpoints import install as install_audit_checkpoints
    from app.web.errors import install_error_handlers
    from app.web.headers import install as install_security_headers
    from app.web.routers import all_routers
    from app.web.schemas.errors import ERROR_RESPONSES
    from app.web.watchdog import install as install_watchdog

    install_error_handlers(app)
    install_api_docs(app)
    install_watchdog(app)
    install_security_headers(app)
    install_audit_checkpoints(app)

    for router in all_routers():
        app.include_router(router, responses=ERROR_RESPONSES)   # every API route documents the one error body
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
