"""Demo data for `./dev serve` on an empty database (filled in by the foundation issue)."""
from __future__ import annotations

from fastapi import FastAPI


def seed_demo(app: FastAPI) -> None:
    """Create demo offices/users once; print admin credentials once."""
