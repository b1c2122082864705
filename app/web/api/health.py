"""Liveness and readiness: is the process up, can it reach its database.

The check is async and runs its query in a thread with a deadline, so /health answers within that
deadline whatever the load (it never waits behind the request threadpool) and says 503 when the
database cannot be reached, which is what a load balancer or systemd watchdog needs to know."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.engine import Engine

from app.web.schemas.common import Health
from app.web.schemas.errors import ErrorBody

router = APIRouter(tags=["health"])
DEADLINE_S = 3.0


def _select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


@router.get("/api/v1/health", response_model=Health, responses={503: {"model": ErrorBody}})
async def health(request: Request) -> dict[str, str] | JSONResponse:
    engine: Engine = request.app.state.engine
    try:
        await asyncio.wait_for(asyncio.to_thread(_select_one, engine), DEADLINE_S)
    except Exception as exc:   # unreachable, refused, timed out, pool exhausted: all mean "not ready"
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return JSONResponse({"detail": {"code": "database_unreachable",
                                        "message": f"the database cannot be reached ({reason})"}},
                            status_code=503, headers={"Retry-After": "5"})
    return {"status": "ok", "database": engine.dialect.name}
