"""Helpers shared by the roster routes (API and pages): domain errors -> HTTP, upload size limits
enforced while the body streams in, and the per-app enrolment worker pool."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from starlette.datastructures import UploadFile

from app.web.i18n import t
from app.settings import Settings
from app.web.rendering import lang_of
from attendance.roster.enrolment import EnrolmentWorkers
from attendance.roster import RosterError

MULTIPART_OVERHEAD = 64 * 1024


def http_error(request: Request, exc: RosterError) -> HTTPException:
    """`code` for programs, `message` (English, specific) and `hint` (the user's language) for people."""
    lang = lang_of(request)
    key = f"err.{exc.code}"
    hint = t(key, lang)
    detail: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if hint != key:
        detail["hint"] = hint
    if exc.details is not None:
        detail["details"] = exc.details
    return HTTPException(exc.status, detail=detail)


def localized(request: Request, exc: RosterError) -> str:
    """One line for a page: the translated hint (if any) and the specific English reason."""
    key = f"err.{exc.code}"
    hint = t(key, lang_of(request))
    return exc.message if hint == key else f"{hint} ({exc.message})"


def body_limit(limit_of: Callable[[Settings], int]) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses a body larger than the limit: at once from Content-Length, and
    while streaming for chunked uploads, so an oversized upload is never fully read or spooled.
    List it before the auth dependency (the CSRF check may parse the form)."""

    async def guard(request: Request) -> None:
        limit = limit_of(request.app.state.settings) + MULTIPART_OVERHEAD
        declared = request.headers.get("content-length")
        too_big = HTTPException(413, detail={"code": "too_large", "message": f"the upload is larger than {limit:,} bytes",
                                             "hint": t("err.too_large", lang_of(request))})
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big
        receive = request._receive  # Starlette keeps the ASGI receive here; wrap it to count bytes
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_big
            return message

        request._receive = counted

    return guard


async def read_upload(request: Request, field_names: tuple[str, ...], limit: int, what: str) -> tuple[str, bytes] | None:
    """The first uploaded file among `field_names` as (filename, bytes); None when absent."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise HTTPException(415, detail={"code": "not_multipart",
                                         "message": f"send multipart/form-data with a '{field_names[0]}' file"})
    form = await request.form(max_files=4, max_fields=20)
    for name in field_names:
        value = form.get(name)
        if isinstance(value, UploadFile) and (value.filename or value.size):
            data = await value.read(limit + 1)
            if len(data) > limit:
                raise HTTPException(413, detail={"code": "too_large",
                                                 "message": f"{what} is larger than {limit:,} bytes",
                                                 "hint": t("err.too_large", lang_of(request))})
            return value.filename or name, data
    return None


def enrolment_workers(app: FastAPI) -> EnrolmentWorkers:
    """Created on first use (most requests never need dlib), closed with the app."""
    workers = getattr(app.state, "enrolment_workers", None)
    if workers is None:
        workers = EnrolmentWorkers(1)
        app.state.enrolment_workers = workers

        async def _close(_app: FastAPI) -> None:
            workers.close()
            _app.state.enrolment_workers = None

        app.state.shutdown_hooks.append(_close)
    return workers
