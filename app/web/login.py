"""Logging in, for the API and the login page alike. Failed logins are throttled per client and
username, and the message never says which half was wrong; a login starts a fresh session."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from fastapi import Request
from sqlalchemy.orm import Session

from app.web.security import new_csrf_token, password_fingerprint
from attendance.errors import ApelError
from attendance.models import User
from attendance.roster.passwords import verify_password
from attendance.roster.users import user_by_username

MAX_FAILURES = 10
WINDOW_S = 300.0


class Throttle:
    """Failed logins per (client, username) in a sliding window; in memory, per process. Logins run in
    worker threads (the password check is slow on purpose), so a lock keeps the counts whole."""

    def __init__(self) -> None:
        self._fails: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, key: tuple[str, str]) -> bool:
        with self._lock:
            q = self._fails[key]
            now = time.monotonic()
            while q and now - q[0] > WINDOW_S:
                q.popleft()
            return len(q) >= MAX_FAILURES

    def fail(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails[key].append(time.monotonic())

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.pop(key, None)


_THROTTLE_CREATED = threading.Lock()


def _throttle(request: Request) -> Throttle:
    th = getattr(request.app.state, "login_throttle", None)
    if th is None:
        with _THROTTLE_CREATED:   # two first logins at once share one throttle
            th = getattr(request.app.state, "login_throttle", None)
            if th is None:
                th = request.app.state.login_throttle = Throttle()
    return th


def authenticate(request: Request, db: Session, username: str, password: str) -> User:
    """The active user with this name and password; 401 `bad_credentials` or 429 `too_many_attempts` otherwise."""
    key = (request.client.host if request.client else "?", username.strip().lower())
    throttle = _throttle(request)
    if throttle.blocked(key):
        raise ApelError("too_many_attempts", "too many failed logins; wait a few minutes", 429)
    user = user_by_username(db, username) if username.strip() else None
    # The password is checked whether or not the account exists or is active: equal timing.
    password_ok = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not user.active or not password_ok:
        throttle.fail(key)
        raise ApelError("bad_credentials", "wrong username or password", 401)
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
