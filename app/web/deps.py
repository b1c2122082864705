"""Typed dependencies: the DB session, the current user, role guards, office scoping, CSRF.

Two ways to authenticate:
- Browser: POST /api/v1/auth/login sets a signed session cookie (Starlette SessionMiddleware).
  Unsafe methods (POST/PUT/PATCH/DELETE) with cookie auth must carry the session's CSRF token in the
  `X-CSRF-Token` header or a `csrf_token` form field.
- API clients: `Authorization: Bearer <token>` from the login response (no cookie, so no CSRF risk).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from annotated_types import Interval
from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from app.settings import Settings
from app.web.security import Claims, read_token, same_secret, still_valid
from attendance.errors import Forbidden
from attendance.models import Role, User
from attendance.models.users import HR_ROLES, LEADER_ROLES, PEOPLE_ROLES

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """A session per request. Routes commit explicitly; anything not committed is rolled back."""
    session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DbSession = Annotated[Session, Depends(get_db)]

DB_ID_MAX = 2**31 - 1
# Every id a client sends (path, query, body): a larger one would reach the database and fail there
# (PostgreSQL's integer ends at DB_ID_MAX, SQLite's at 2**63 - 1); out of range it is a 422 instead.
DbId = Annotated[int, Interval(ge=1, le=DB_ID_MAX)]


def form_id(value: object) -> int | None:
    """An id from a form field or a page's filter (where "" means none): None unless it can name a row."""
    text = value.strip() if isinstance(value, str) else ""
    if not text.isascii() or not text.isdigit():
        return None
    n = int(text)
    return n if 1 <= n <= DB_ID_MAX else None


async def _csrf_ok(request: Request) -> bool:
    expected = request.session.get("csrf")
    if not expected:
        return False
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent:
        return False
    return same_secret(sent, expected)


def _authenticated_user(request: Request, db: DbSession, settings: SettingsDep) -> User | None:
    """Who sent the request, read from the database. A plain `def` on purpose: FastAPI runs it in its
    threadpool, so the lookup (and a wait for a pooled connection) never blocks the event loop that
    carries every request and the live video. The same lookup checks that the cookie or token has not
    been revoked (logout, password change): no second query."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        claims = read_token(settings.session_secret(), auth[7:].strip(), settings.session_max_age_s)
        user = _current(db, claims)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                                headers={"WWW-Authenticate": "Bearer"})
        return user
    if "session" not in request.scope or request.session.get("uid") is None:
        return None
    sess = request.session
    try:
        claims = Claims(int(sess["uid"]), str(sess.get("fp", "")), int(sess.get("tv", 0)))
    except (TypeError, ValueError):
        claims = None
    user = _current(db, claims)
    if user is None:
        sess.clear()
    return user


def _current(db: Session, claims: Claims | None) -> User | None:
    """The user the claims name, if they still hold (see app.web.security.still_valid)."""
    if claims is None or not 1 <= claims.uid <= DB_ID_MAX:
        return None
    user = db.get(User, claims.uid)
    _release_connection(db)
    if user is None or not still_valid(claims, user.active, user.password_hash, user.token_version):
        return None
    return user


def _release_connection(db: Session) -> None:
    """End the lookup's read-only transaction: its connection goes back to the pool at once, so a route
    that then waits (an event stream open for the whole apel, a slow upload) holds none. The user stays
    loaded (the session does not expire objects on commit); the route's own work begins a new transaction."""
    db.commit()


async def optional_user(request: Request,
                        user: Annotated[User | None, Depends(_authenticated_user)]) -> User | None:
    """The signed-in user or None; a cookie-authenticated unsafe request must carry the CSRF token
    (read from the form body, hence async; no database work here)."""
    if user is not None and not request.headers.get("authorization", "").lower().startswith("bearer ") \
            and request.method in UNSAFE and not await _csrf_ok(request):
        raise Forbidden("csrf", "missing or wrong CSRF token")
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]


def require_roles(*roles: Role | str) -> Callable[[User], Awaitable[User]]:
    allowed = {r.value if isinstance(r, Role) else r for r in roles}

    async def guard(user: CurrentUser) -> User:
        if user.role not in allowed:
            needs = ", ".join(sorted(allowed))
            raise Forbidden("forbidden", f"role '{user.role}' may not do this (needs one of: {needs})")
        return user

    return guard


AdminUser = Annotated[User, Depends(require_roles(Role.admin))]
HrUser = Annotated[User, Depends(require_roles(*HR_ROLES))]
LeaderUser = Annotated[User, Depends(require_roles(*LEADER_ROLES))]
# The live console: leaders and admins lead (their camera out); HR and observers watch it read-only.
CONSOLE_ROLES = (*LEADER_ROLES, Role.hr.value, Role.observer.value)
ConsoleUser = Annotated[User, Depends(require_roles(*CONSOLE_ROLES))]


def sees_people(user: User) -> bool:
    """Whether the user may see who (names, NIPs, a person's record), not only how many."""
    return user.role in PEOPLE_ROLES


def ensure_sees_people(user: User) -> None:
    if not sees_people(user):
        raise Forbidden("observer_no_people", "observers see summary figures only, not people's names or NIPs")


async def _people_reader(user: CurrentUser) -> User:
    ensure_sees_people(user)
    return user


# A route that lists people (records, drill-downs, corrections): every role but observers.
PeopleReader = Annotated[User, Depends(_people_reader)]


def people_wanted(user: User, asked: bool | None) -> bool:
    """A report's "with the people" switch: by default whatever the user may see; asking for people as
    an observer is refused rather than quietly answered without them."""
    if asked is None:
        return sees_people(user)
    if asked:
        ensure_sees_people(user)
    return asked


def without_people(rollcall: dict) -> dict:
    """A roll-call as an observer sees it: every office's figures, nobody's name."""
    return {**rollcall, "offices": [{**o, "people": []} for o in rollcall.get("offices", [])]}
