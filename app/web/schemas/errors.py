"""The one error body of the API. Every refusal (a domain `ApelError`, an HTTP error, a request that
fails validation) and every server fault answers {"detail": {"code", "message", "hint"?, "details"?}}:
see app.web.errors."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable reason (clients and translations key on it).",
                      examples=["nip_exists"])
    message: str = Field(description="What was refused and why, in English.",
                         examples=["NIP 198503122010011001 is already registered (employee 7, Made)"])
    hint: str | None = Field(None, description="The reason in the person's language (?lang=, the `lang` cookie, "
                             "APEL_LANGUAGE), when there is a translation for `code`.")
    details: Any = Field(None, description="What a client needs to act on, when there is more: the record as it "
                         "is now after `stale_version`, every bad line of a roster CSV, the list of fields that "
                         "failed validation for `invalid_request`.")


class ErrorBody(BaseModel):
    detail: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorBody, "description": "Refused; nothing was changed. Request validation errors (422, "
            "code `invalid_request`) have this shape too."},
    503: {"model": ErrorBody, "description": "Busy (code `busy`: every database connection is in use; the "
          "`Retry-After` header says when to try again) or a worker the request needs is not running."},
    500: {"model": ErrorBody, "description": "A fault on the server (code `internal_error`), logged there: not "
          "something a different request would fix."},
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "A worker the request needs is busy or not running; try again."},
}
