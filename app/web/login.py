"""Logging in and out, for the API and the login page alike. Failed logins are throttled three ways
(below), and the message never says which half was wrong; a login starts a fresh session, a logout
ends every session and token of the user."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar, cast

from fastapi import Request
from sqlalchemy.orm import Session

from app.settings import IPNetwork
from app.web.security import new_csrf_token, password_fingerprint
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import ApelError
from attendance.models import User
from attendance.roster.passwords import hash_parameters, verify_and_update
from attendance.roster.users import revoke_sessions, upgrade_password_hash, user_by_username

log = logging.getLogger("apel.login")

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
    """A password check takes a core for a few hundredths of a second on purpose (argon2), and logins
    arrive in bursts (a whole office at 07:25). Unbounded, a burst takes every core and every request
    thread from the reads and the live video. At most `slots` logins are past the gate at once (so at
    most `slots` checks run, and a burst holds at most `slots` request threads); up to `waiting` more
    wait for their turn on the event loop, where a waiting login costs a coroutine, not a thread. A login
    beyond that gets a quick 503 `busy` with Retry-After instead of a freeze for everybody.

    The login routes take their turn with the `login_turn` dependency before FastAPI hands them to a
    request thread; `verify` bounds the checks again for any caller that did not (same limits)."""

    def __init__(self, slots: int, waiting: int) -> None:
        self.slot_count = max(1, slots)
        self.limit = self.slot_count + max(0, waiting)
        self.slots = threading.BoundedSemaphore(self.slot_count)
        self._admitted = 0
        self._lock = threading.Lock()
        self._queued = 0   # logins in turn(); touched on the event loop only
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turns: asyncio.Semaphore | None = None

    @staticmethod
    def _busy() -> ApelError:
        return ApelError("busy", "many people are logging in at this moment; try again in a few seconds", 503,
                         details={"retry_after_s": 2})

    def _turns_here(self) -> asyncio.Semaphore:
        """The turns' semaphore for the running loop (an asyncio primitive belongs to one loop; a test
        client starts a loop per client)."""
        loop = asyncio.get_running_loop()
        if self._turns is None or self._loop is not loop:
            self._loop, self._turns = loop, asyncio.Semaphore(self.slot_count)
        return self._turns

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._queued >= self.limit:
            raise self._busy()
        self._queued += 1
        try:
            async with self._turns_here():
                yield
        finally:
            self._queued -= 1

    def verify(self, password_hash: str | None, password: str) -> tuple[bool, str | None]:
        """verify_and_update in a slot: whether the password is right, and its rehash if one is due (the
        rehash is a second check's worth of CPU, so it takes the same slot)."""
        with self._lock:
            if self._admitted >= self.limit:
                raise self._busy()
            self._admitted += 1
        try:
            with self.slots:
                return verify_and_update(password_hash, password)
        finally:
            with self._lock:
                self._admitted -= 1


def _gate(request: Request) -> HashingGate:
    settings = request.app.state.settings
    return _per_app(request, "login_gate",
                    lambda: HashingGate(settings.login_hash_slots, settings.login_hash_waiting))


async def login_turn(request: Request) -> AsyncIterator[None]:
    """A login route's dependency: its turn at the gate (HashingGate), waited for on the event loop
    before the route gets a request thread, held until the route is done."""
    async with _gate(request).turn():
        yield


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
    password_ok, new_hash = _gate(request).verify(user.password_hash if user is not None else None, password)
    if user is None or not user.active or not password_ok:
        throttle.fail(_keys(client, name))
        raise ApelError("bad_credentials", "wrong username or password", 401)
    throttle.clear(_keys(client, name)[0][0])
    if new_hash is not None:
        _store_rehash(db, user, new_hash)
    return user


def _store_rehash(db: Session, user: User, new_hash: str) -> None:
    """Existing accounts move to the current hashing parameters silently, at their next login. A failure
    to store the rehash never fails the login (the old hash still works; the next login tries again).
    The user is re-read either way, so the session about to start carries the stored hash's fingerprint
    (one side effect, as on a password change: the user's other sessions and tokens end once)."""
    old_hash = user.password_hash
    try:
        stored = run_in_transaction(db, lambda: upgrade_password_hash(db, user.id, old_hash, new_hash))
        db.refresh(user)
        db.commit()
    except Exception:
        log.exception("could not store %s's password rehash; the old hash stays", user.username)
        db.rollback()
        return
    if stored:
        log.info("%s's password hash moved from %s to %s", user.username, hash_parameters(old_hash),
                 hash_parameters(new_hash))


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
