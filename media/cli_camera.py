"""Sub-commands of `apel` for this area (filled in by the issue that owns it)."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root `apel` app."""
