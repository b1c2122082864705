"""Logging in and who is logged in."""
from __future__ import annotations

from pydantic import BaseModel, Field

from app.web.schemas.roster import UserOut


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send it in X-CSRF-Token (or a csrf_token form field) with the session cookie.")
    access_token: str = Field(description="Bearer token for API clients.")
    token_type: str
    expires_in: int = Field(description="Seconds.")


class MeOut(BaseModel):
    user: UserOut
    csrf_token: str | None
