"""Logging in and out, for the API and the login page alike. Failed logins are throttled three ways
(below), and the message never says which half was wrong; a login starts a fresh session, a logout
ends every session and token of the user."""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from fastapi import Request
from sqlalchemy.orm import Session

from app.settings import IPNetwork
from app.web.security import new_csrf_token, password_fingerprint
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import ApelError
from attendance.models import User
from attendance.roster.passwords import verify_password
from attendance.roster.users import revoke_sessions, user_by_username

WINDOW_S = 300.0
# Failed logins allowed in WINDOW_S, per key:
PER_CLIENT_AND_USER = 10   # one address guessing one account's password
PER_CLIENT = 30            # one address trying one password on many accounts (spraying)
PER_USER = 20              # many addresses guessing one account; it can lock the account for
                           # others too, so it is above what a person mistyping ever reaches
MAX_KEYS = 100_000         # beyond this, keys with no failure left in the window are forgotten


class Throttle:
    """Failed logins per key in a sliding window; in memory, per process. Each key keeps only its last
    `limit` failure times, so memory is bounded per key. Logins run in worker threads (the password
    check is slow on purpose), so a lock keeps the counts whole."""

    def __init__(self) -> None:
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Sequence[tuple[tuple[str, str], int]]) -> float:
        """Seconds until every (key, limit) is below its limit again; 0 when none is reached."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key, limit in keys:
                q = self._fails.get(key)
                if q is not None and len(q) >= limit:
                    wait = max(wait, q[-limit] + WINDOW_S - now)
        return wait

    def fail(self, keys: Sequence[tuple[tuple[str, str], int]]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._fails) >= MAX_KEYS:
                self._fails = {k: q for k, q in self._fails.items() if q and now - q[-1] < WINDOW_S}
            for key, limit in keys:
                q = self._fails.get(key)
                if q is None or q.maxlen != limit:
                    q = self._fails[key] = deque(q or (), maxlen=limit)
                q.append(now)

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.pop(key, None)


_CREATING = threading.Lock()
T = TypeVar("T")


def _per_app(request: Request, name: str, make: Callable[[], T]) -> T:
    """The app's one `name` (a throttle, a gate), made on first use: two first logins at once share it."""
    found = getattr(request.app.state, name, None)
    if found is None:
        with _CREATING:
            found = getattr(request.app.state, name, None)
            if found is None:
                found = make()
                setattr(request.app.state, name, found)
    return cast(T, found)


def _throttle(request: Request) -> Throttle:
    return _per_app(request, "login_throttle", Throttle)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(request: Request, trusted: Sequence[IPNetwork]) -> str:
    """The address a request came from. The connection's peer, unless the peer is a configured proxy
    (APEL_TRUSTED_PROXIES): then the nearest address in X-Forwarded-For that is not one of ours. Anyone
    can send the header, so from anyone else it is ignored (otherwise each guess could claim a new address)."""
    peer = request.client.host if request.client else "?"
    if not trusted:
        return peer

    def is_proxy(addr: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return addr is not None and any(addr in net for net in trusted)

    if not is_proxy(_ip(peer)):
        return peer
    hops = [h for line in request.headers.getlist("x-forwarded-for") for h in line.split(",")]
    for hop in reversed(hops):   # the right-most hops were added by our own proxies
        addr = _ip(hop)
        if addr is None:
            return peer   # a garbled header: trust none of it
        if not is_proxy(addr):
            return str(addr)
    return peer


def _keys(client: str, username: str) -> list[tuple[tuple[str, str], int]]:
    return [(("pair", f"{client}\n{username}"), PER_CLIENT_AND_USER), (("client", client), PER_CLIENT),
            (("user", username), PER_USER)]


def _refuse_while_throttled(throttle: Throttle, client: str, username: str) -> None:
    pair, per_client, per_user = _keys(client, username)
    wait = throttle.retry_after([pair, per_client])
    if wait > 0:
        minutes = math.ceil(wait / 60)
        raise ApelError("too_many_attempts", f"too many failed logins from this address; try again in "
                        f"{minutes} minute{'s' if minutes > 1 else ''}", 429,
                        details={"retry_after_s": math.ceil(wait)})
    wait = throttle.retry_after([per_user])
    if wait > 0:
        minutes = math.ceil(wait / 60)
        raise ApelError("account_throttled", f"too many failed logins for this account from several addresses; "
                        f"try again in {minutes} minute{'s' if minutes > 1 else ''}", 429,
                        details={"retry_after_s": math.ceil(wait)})


class HashingGate:
    """A password check takes a core for a fifth of a second on purpose (argon2), and logins arrive in
    bursts (a whole office at 07:25). Unbounded, a burst takes every core and every request thread from
    the reads and the live video. At most `slots` checks run at once; at most `waiting` more logins wait
    for a slot (each holds a request thread meanwhile); a login beyond that gets a quick 503 `busy`
    with Retry-After instead of a freeze for everybody."""

    def __init__(self, slots: int, waiting: int) -> None:
        self.slots = threading.BoundedSemaphore(max(1, slots))
        self.limit = max(1, slots) + max(0, waiting)
        self._admitted = 0
        self._lock = threading.Lock()

    def verify(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            if self._admitted >= self.limit:
                raise ApelError("busy", "many people are logging in at this moment; try again in a few seconds",
                                503, details={"retry_after_s": 2})
            self._admitted += 1
        try:
            with self.slots:
                return verify_password(password_hash, password)
        finally:
            with self._lock:
                self._admitted -= 1


def _gate(request: Request) -> HashingGate:
    settings = request.app.state.settings
    return _per_app(request, "login_gate",
                    lambda: HashingGate(settings.login_hash_slots, settings.login_hash_waiting))


def authenticate(request: Request, db: Session, username: str, password: str) -> User:
    """The active user with this name and password; 401 `bad_credentials`, or 429 `too_many_attempts` /
    `account_throttled` (with Retry-After), or 503 `busy` in a burst of logins (see HashingGate)."""
    name = username.strip().lower()
    client = client_address(request, request.app.state.settings.trusted_proxy_networks)
    throttle = _throttle(request)
    _refuse_while_throttled(throttle, client, name)
    user = user_by_username(db, username) if username.strip() else None
    # The lookup's connection goes back to the pool before the slow check (the user stays loaded: the
    # session does not expire objects on commit), so a burst of logins never holds the pool.
    db.commit()
    # The password is checked whether or not the account exists or is active: equal timing.
    password_ok = _gate(request).verify(user.password_hash if user is not None else None, password)
    if user is None or not user.active or not password_ok:
        throttle.fail(_keys(client, name))
        raise ApelError("bad_credentials", "wrong username or password", 401)
    throttle.clear(_keys(client, name)[0][0])
    return user


def start_session(request: Request, user: User) -> str:
    """A fresh session (no fixation): user id, password fingerprint, token version, new CSRF token."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["fp"] = password_fingerprint(user.password_hash)
    request.session["tv"] = user.token_version
    token = new_csrf_token()
    request.session["csrf"] = token
    return token


def end_session(request: Request, db: Session, user: User | None) -> None:
    """Log out: forget this browser's session and revoke every session cookie and bearer token the user
    holds (a copied cookie or token stops working now, not when it expires)."""
    request.session.clear()
    if user is not None:
        run_in_transaction(db, lambda: revoke_sessions(db, user.id))
