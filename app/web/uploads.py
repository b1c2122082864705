"""Uploaded files, for the API and the pages alike: size limits enforced while the body streams in
(an oversized upload is never fully read or spooled), and the first file of a multipart form."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.types import Message

from app.settings import Settings
from attendance.errors import ApelError, TooLarge

MULTIPART_OVERHEAD = 64 * 1024


def body_limit(limit_of: Callable[[Settings], int]) -> Callable[[Request], Awaitable[None]]:
    """A dependency that refuses a body larger than the limit: at once from Content-Length, and
    while streaming for chunked uploads. List it before the auth dependency (the CSRF check may
    parse the form), on routes that read their form themselves: FastAPI turns an error raised while
    it parses a declared form body into a plain 400."""

    async def guard(request: Request) -> None:
        limit = limit_of(request.app.state.settings) + MULTIPART_OVERHEAD
        message = f"the upload is larger than {limit:,} bytes"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TooLarge("too_large", message)
        receive = request._receive  # Starlette keeps the ASGI receive here; wrap it to count bytes
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            event = await receive()
            if event["type"] == "http.request":
                seen += len(event.get("body", b""))
                if seen > limit:
                    raise TooLarge("too_large", message)
            return event

        request._receive = counted

    return guard


def require_multipart(request: Request, fields: str) -> None:
    """415 before anything is parsed: `fields` says what the form should carry."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApelError("not_multipart", f"send multipart/form-data with {fields}", 415)


async def read_upload(request: Request, field_names: tuple[str, ...], limit: int,
                      what: str) -> tuple[str, bytes] | None:
    """The first uploaded file among `field_names` as (filename, bytes); None when absent."""
    require_multipart(request, f"a '{field_names[0]}' file")
    form = await request.form(max_files=4, max_fields=20)
    for name in field_names:
        value = form.get(name)
        if isinstance(value, UploadFile) and (value.filename or value.size):
            data = await value.read(limit + 1)
            if len(data) > limit:
                raise TooLarge("too_large", f"{what} is larger than {limit:,} bytes")
            return value.filename or name, data
    return None
