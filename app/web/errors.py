"""HTTP errors for people and for programs: API paths keep FastAPI's JSON; a browser asking for a
page gets the same message as a page in its language instead of raw JSON (e.g. an oversized
upload refused with 413 before the form handler ran)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException


def _wants_page(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def _message(detail: object) -> str:
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("detail") or detail)
    return str(detail)


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_page(request) or exc.status_code in (301, 302, 303, 307, 308):
            return await http_exception_handler(request, exc)
        from app.web.rendering import render

        user = getattr(request.state, "page_user", None)
        return render(request, "error.html", {"status_code": exc.status_code, "message": _message(exc.detail)},
                      user=user, status_code=exc.status_code)
