"""Server-rendered pages: one Jinja2 environment, one `render` that gives every template the same
context (user, language, translations, CSRF token, navigation, flash messages), and the posted form
as a dependency so that form routes need not run on the event loop.

Other areas add their pages by extending `base.html` and their menu entries with `add_nav(...)`
at import time of their page router module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from app.web.i18n import request_lang
from app.web.security import new_csrf_token
from attendance.i18n import LANGS, t
from attendance.models import User

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


@dataclass(frozen=True)
class NavItem:
    key: str               # i18n key of the label
    href: str
    roles: frozenset[str]  # who sees it; empty = every logged-in user
    order: int = 50


NAV: list[NavItem] = []


def add_nav(key: str, href: str, roles: tuple[str, ...] = (), order: int = 50) -> None:
    """Add a menu entry (idempotent: importing a module twice does not duplicate it)."""
    item = NavItem(key, href, frozenset(roles), order)
    if all(n.href != href for n in NAV):
        NAV.append(item)
        NAV.sort(key=lambda n: (n.order, n.href))


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also before login, for the login form)."""
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return token


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], [kind, message]][-5:]


def _pop_flash(request: Request) -> list[list[str]]:
    return request.session.pop("flash", []) or []


def lang_of(request: Request) -> str:
    settings = getattr(request.app.state, "settings", None)
    return request_lang(request, default=getattr(settings, "language", "id"))


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, user: User | None = None,
           status_code: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    nav = [n for n in NAV if user is not None and (not n.roles or user.role in n.roles)]
    ctx = {
        "request": request,
        "user": user,
        "lang": lang,
        "langs": LANGS,
        "t": lambda key, **kw: t(key, lang, **kw),
        "csrf_token": csrf_token(request),
        "nav": nav,
        "flashes": _pop_flash(request),
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


async def posted_form(request: Request) -> FormData:
    """The posted form. A dependency, so a page route that takes it can be a plain `def` (FastAPI runs
    it in its threadpool, off the event loop): reading the body is the one part that needs the loop."""
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


async def form_fields(form: PostedForm) -> dict[str, str]:
    """The posted form's text fields (files left out), last value of each name."""
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormFields = Annotated[dict[str, str], Depends(form_fields)]


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)


class PageRedirect(HTTPException):
    """Raised by page guards; FastAPI turns the Location header into a browser redirect."""

    def __init__(self, location: str) -> None:
        super().__init__(status.HTTP_303_SEE_OTHER, headers={"Location": location})


def require_page_user(request: Request, user: User | None, *roles: str) -> User:
    """Pages redirect to the login form instead of answering 401; a wrong role is still 403."""
    if user is None:
        raise PageRedirect(login_redirect(request).headers["location"])
    # An error page raised later still shows this user's menu. A plain snapshot: the ORM object is
    # expired once the request's session rolls back, before the error handler renders.
    request.state.page_user = SimpleNamespace(id=user.id, username=user.username, full_name=user.full_name,
                                              role=user.role, office_id=user.office_id)
    if roles and user.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN, t("common.forbidden", lang_of(request)))
    return user
