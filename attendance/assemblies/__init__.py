"""Use cases of the rules area: assemblies and their tokens, sightings, review, corrections, rule sets.

Every mutating function commits its own unit of work (the change and its audit entry together) and
raises a `ServiceError` subclass, with an HTTP status the routes pass on, when it refuses: it
changes nothing in that case.
"""
from __future__ import annotations

from typing import Any

from attendance.audit import retry_audit_race  # noqa: F401  (one retry helper for every area)


class ServiceError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        return {"detail": self.message, "code": self.code, **self.extra}


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class InvalidInput(ServiceError):
    status_code = 422
    code = "invalid"


class WrongState(ServiceError):
    """E.g. starting a closed apel, or changing a closed apel other than by a correction."""

    status_code = 409
    code = "wrong_state"


class StaleVersion(ServiceError):
    """Someone changed the record since the caller read it; `current` is what it is now."""

    status_code = 409
    code = "stale_version"

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message, current=current)
        self.current = current


__all__ = ["Forbidden", "InvalidInput", "NotFound", "ServiceError", "StaleVersion", "WrongState"]
