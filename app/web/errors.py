"""Errors for people and for programs, translated in one place.

A refusal (an `ApelError` from any layer, an HTTP error, a request that fails validation) answers on
API paths with the one error body (app.web.schemas.errors.ErrorBody: code, English message, hint in
the person's language, details); a browser asking for a page gets the same reason as a page in its
language instead of raw JSON (e.g. an oversized upload refused with 413 before the form handler ran).
Routes raise and let these handlers answer; a page whose form shows a refusal on the page it goes
back to uses `flash_refusal`.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web.rendering import flash, lang_of, render
from attendance.errors import ApelError
from attendance.i18n import error_hint

MAX_LISTED_FIELDS = 5
BUSY_RETRY_AFTER_S = 2


def error_detail(request: Request, code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The `detail` of the error body: hint and details only when there are some."""
    detail: dict[str, Any] = {"code": code, "message": message}
    hint = error_hint(code, lang_of(request))
    if hint is not None:
        detail["hint"] = hint
    if details is not None:
        detail["details"] = details
    return detail


def refusal_text(request: Request, exc: ApelError) -> str:
    """One line for a page: the hint in the person's language (if any) and the specific English reason."""
    hint = error_hint(exc.code, lang_of(request))
    return exc.message if hint is None else f"{hint} ({exc.message})"


def flash_refusal(request: Request, exc: ApelError, session: Session | None = None) -> None:
    """A form refused: forget the half-done work and say why on the page the browser goes back to."""
    if session is not None:
        session.rollback()
    flash(request, refusal_text(request, exc), "error")


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _error_page(request: Request, status: int, message: str) -> Response:
    user = getattr(request.state, "page_user", None)   # set by require_page_user: the error page keeps the menu
    return render(request, "error.html", {"status_code": status, "message": message}, user=user, status_code=status)


def _status_code_name(status: int) -> str:
    """A code for an HTTP error raised without one (a framework 404, a 401 from authentication)."""
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors]
    more = len(parts) - MAX_LISTED_FIELDS
    return "; ".join(parts[:MAX_LISTED_FIELDS]) + (f" (and {more} more)" if more > 0 else "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApelError)
    async def _refused(request: Request, exc: ApelError) -> Response:
        # A refusal that ends by itself (a login throttle) says when, in details and as Retry-After.
        retry = exc.details.get("retry_after_s") if isinstance(exc.details, dict) else None
        headers = {"Retry-After": str(retry)} if isinstance(retry, int) else None
        if _wants_page(request):
            page = _error_page(request, exc.status, refusal_text(request, exc))
            page.headers.update(headers or {})
            return page
        return JSONResponse({"detail": error_detail(request, exc.code, exc.message, exc.details)},
                            status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400:   # redirects (PageRedirect) and friends keep FastAPI's answer
            return await http_exception_handler(request, exc)
        message = str(exc.detail)
        if _wants_page(request):
            return _error_page(request, exc.status_code, message)
        return JSONResponse({"detail": error_detail(request, _status_code_name(exc.status_code), message)},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> Response:
        # Every database connection is in use: a quick refusal the client retries, not a request that waits
        # (and holds a thread) until the server looks frozen.
        message = "the server is busy: every database connection is in use, try again in a moment"
        headers = {"Retry-After": str(BUSY_RETRY_AFTER_S)}
        if _wants_page(request):
            page = _error_page(request, 503, message)
            page.headers.update(headers)
            return page
        return JSONResponse({"detail": error_detail(request, "busy", message)}, status_code=503, headers=headers)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        # A bug, not a refusal: Starlette's ServerErrorMiddleware answers with this and then re-raises, so
        # the server still logs the traceback. The client gets the one error body (or the error page), never
        # a bare "Internal Server Error".
        message = "an unexpected error on the server; it has been logged"
        if _wants_page(request):
            try:
                return _error_page(request, 500, message)
            except Exception:   # the page itself cannot be rendered: say it plainly
                return PlainTextResponse(message, status_code=500)
        return JSONResponse({"detail": error_detail(request, "internal_error", message)}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = jsonable_encoder(exc.errors())
        message = _validation_message(errors)
        if _wants_page(request):
            return _error_page(request, 422, message)
        return JSONResponse({"detail": error_detail(request, "invalid_request", message, errors)}, status_code=422)
