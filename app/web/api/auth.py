"""Login, logout, who am I, change my password.

Login answers with both a session cookie (browsers; unsafe requests then need the CSRF token in
`X-CSRF-Token` or a `csrf_token` form field) and a bearer token (API clients). Failed logins are
throttled (per address and username, per address, per username; app.web.login), and the message never
says which half was wrong. Logging out revokes every session and token of the user, on every device."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app.web.deps import CurrentUser, DbSession, OptionalUser, SettingsDep
from app.web.login import authenticate, end_session, login_turn, start_session
from app.web.schemas.auth import LoginOut, MeOut
from app.web.schemas.common import Ok
from app.web.security import issue_token
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import Forbidden
from attendance.roster.passwords import verify_password
from attendance.roster.users import update_user, user_dict

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login", response_model=LoginOut, dependencies=[Depends(login_turn)])
def login(body: LoginIn, request: Request, db: DbSession, settings: SettingsDep) -> dict:
    user = authenticate(request, db, body.username, body.password)
    csrf = start_session(request, user)
    return {"user": user_dict(user), "csrf_token": csrf,
            "access_token": issue_token(settings.session_secret(), user.id, user.password_hash, user.token_version),
            "token_type": "bearer", "expires_in": settings.session_max_age_s}


@router.post("/logout", response_model=Ok)
def logout(request: Request, user: OptionalUser, db: DbSession) -> dict:
    """Ends this session and revokes the user's every session cookie and bearer token (this one included)."""
    end_session(request, db, user)
    return {"ok": True}


@router.get("/me", response_model=MeOut)
def me(request: Request, user: CurrentUser) -> dict:
    return {"user": user_dict(user), "csrf_token": request.session.get("csrf")}


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024, description="At least 10 characters, not a common "
                              "password (attendance.roster.passwords)")


@router.post("/password", response_model=Ok)
def change_password(body: PasswordIn, request: Request, user: CurrentUser, db: DbSession) -> dict:
    """Changing the password revokes every bearer token and other session (both carry its fingerprint and
    the token version it bumps); this browser's session goes on with the new one."""
    if not verify_password(user.password_hash, body.current_password):
        raise Forbidden("bad_credentials", "the current password is wrong")
    run_in_transaction(db, lambda: update_user(db, user.id, actor=user, password=body.new_password))
    if "uid" in request.session:
        start_session(request, user)
    return {"ok": True}
