"""Small answers shared by several resources."""
from __future__ import annotations

from pydantic import BaseModel


class Ok(BaseModel):
    ok: bool


class Health(BaseModel):
    status: str
    database: str
