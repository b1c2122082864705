"""One router module per resource. main.create_app mounts every router listed here."""
from __future__ import annotations

from fastapi import APIRouter


def all_routers() -> list[APIRouter]:
    """Imported lazily so `apel --help` stays fast."""
    from . import health

    return [health.router]
