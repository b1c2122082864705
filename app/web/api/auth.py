"""Login, logout, who am I, change my password.

Login answers with both a session cookie (browsers; unsafe requests then need the CSRF token in
`X-CSRF-Token` or a `csrf_token` form field) and a bearer token (API clients). Failed logins are
throttled per client and username, and the message never says which half was wrong."""
from __future__ import annotations

import time
from collections import defaultdict, deque

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from app.web.deps import CurrentUser, DbSession, OptionalUser, SettingsDep
from app.web.security import issue_token, new_csrf_token, password_fingerprint, verify_password
from attendance.models import User
from attendance.roster import Invalid, update_user, user_by_username, user_dict

from app.web.api.roster_common import http_error

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

MAX_FAILURES = 10
WINDOW_S = 300.0


class Throttle:
    """Failed logins per (client, username) in a sliding window; in memory, per process."""

    def __init__(self) -> None:
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def blocked(self, key: tuple[str, str]) -> bool:
        q = self._fails[key]
        now = time.monotonic()
        while q and now - q[0] > WINDOW_S:
            q.popleft()
        return len(q) >= MAX_FAILURES

    def fail(self, key: tuple[str, str]) -> None:
        self._fails[key].append(time.monotonic())

    def clear(self, key: tuple[str, str]) -> None:
        self._fails.pop(key, None)


def _throttle(request: Request) -> Throttle:
    th = getattr(request.app.state, "login_throttle", None)
    if th is None:
        th = request.app.state.login_throttle = Throttle()
    return th


def authenticate(request: Request, db, username: str, password: str) -> User:  # noqa: ANN001
    """Shared by the API and the login page."""
    key = (request.client.host if request.client else "?", username.strip().lower())
    throttle = _throttle(request)
    if throttle.blocked(key):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            detail={"code": "too_many_attempts", "message": "too many failed logins; wait a few minutes"})
    user = user_by_username(db, username) if username.strip() else None
    if user is None or not user.active or not verify_password(user.password_hash, password):
        throttle.fail(key)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            detail={"code": "bad_credentials", "message": "wrong username or password"})
    throttle.clear(key)
    return user


def start_session(request: Request, user: User) -> str:
    """A fresh session (no fixation): user id, password fingerprint, new CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["fp"] = password_fingerprint(user.password_hash)
    token = new_csrf_token()
    request.session["csrf"] = token
    return token


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login")
def login(body: LoginIn, request: Request, db: DbSession, settings: SettingsDep) -> dict:
    user = authenticate(request, db, body.username, body.password)
    csrf = start_session(request, user)
    return {"user": user_dict(user), "csrf_token": csrf,
            "access_token": issue_token(settings.session_secret(), user.id, user.password_hash),
            "token_type": "bearer", "expires_in": settings.session_max_age_s}


@router.post("/logout")
def logout(request: Request, user: OptionalUser) -> dict:
    request.session.clear()
    return {"ok": True}


@router.get("/me")
def me(request: Request, user: CurrentUser) -> dict:
    return {"user": user_dict(user), "csrf_token": request.session.get("csrf")}


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


@router.post("/password")
def change_password(body: PasswordIn, request: Request, user: CurrentUser, db: DbSession) -> dict:
    """Changing the password revokes every bearer token and other session (both carry its fingerprint)."""
    if not verify_password(user.password_hash, body.current_password):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail={"code": "bad_credentials",
                                                              "message": "the current password is wrong"})
    try:
        update_user(db, user.id, actor=user, password=body.new_password)
    except Invalid as exc:
        raise http_error(request, exc) from None
    db.commit()
    if "uid" in request.session:
        start_session(request, user)
    return {"ok": True}


__all__ = ["router", "authenticate", "start_session"]
