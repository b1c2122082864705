"""The one error family of the project: every refusal a person or a client sees is an `ApelError`.

It lives at the bottom of the dependency graph (it imports nothing of ours), so the domain, the live
apel, the media server and the HTTP edge all raise the same kind of error, and the edge translates
it to HTTP in one exception handler. `code` is stable (clients and translations key on it),
`message` is readable English, `status` the HTTP status the edge answers with, `details` anything
a client needs to act on (e.g. the current version of a record after a conflict).
"""
from __future__ import annotations

from typing import Any, ClassVar


class ApelError(Exception):
    """A refusal that changed nothing. Subclasses set the default status and code."""

    status: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"

    def __init__(self, code: str | None, message: str, status: int | None = None, *, details: Any = None) -> None:
        super().__init__(message)
        self.code: str = code or self.default_code
        self.message = message
        self.details = details
        if status is not None:
            self.status = status  # type: ignore[misc]  # an instance may answer with another status


class Invalid(ApelError):
    """The input is wrong (a malformed NIP, a bad image, a value out of bounds)."""

    status = 422
    default_code = "invalid"


class NotFound(ApelError):
    status = 404
    default_code = "not_found"


class Forbidden(ApelError):
    status = 403
    default_code = "forbidden"


class Conflict(ApelError):
    """The request clashes with what is stored (a duplicate NIP, a stale version, a closed apel)."""

    status = 409
    default_code = "conflict"


class StaleVersion(Conflict):
    """Someone changed the record since the caller read it. `details` is the record as it is now, so the
    caller can show it and let the person decide again."""

    default_code = "stale_version"

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__("stale_version", message, details=current)

    @property
    def current(self) -> dict[str, Any]:
        return self.details


class TooLarge(ApelError):
    status = 413
    default_code = "too_large"


class Unavailable(ApelError):
    """A resource is busy or out of reach for now; the client may retry."""

    status = 503
    default_code = "unavailable"


__all__ = ["ApelError", "Conflict", "Forbidden", "Invalid", "NotFound", "StaleVersion", "TooLarge", "Unavailable"]
