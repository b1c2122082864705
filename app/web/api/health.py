"""Liveness and readiness: is the process up, can it reach its database."""
from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from app.web.schemas.common import Health

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", response_model=Health)
def health(request: Request) -> dict:
    with request.app.state.session_factory() as s:
        s.execute(text("SELECT 1"))
    return {"status": "ok", "database": request.app.state.engine.dialect.name}
