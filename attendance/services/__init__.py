"""Use cases of the rules area: assemblies and their tokens, sightings, review, corrections, rule sets.

Every mutating function commits its own unit of work (the change and its audit entry together) and
raises a `ServiceError` subclass, with an HTTP status the routes pass on, when it refuses: it
changes nothing in that case.
"""
from __future__ import annotations

from typing import Any


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


def retry_audit_race(fn):  # noqa: ANN001, ANN201
    """Run a use case again when it lost the race for the audit chain's tip.

    The audit log's `prev_hash` is unique, so of two transactions that read the same tip only the
    first commits; the other gets an IntegrityError on audit_log. Everything it did was rolled back,
    so running it again from fresh state is exact (up to 5 attempts)."""
    import functools

    from sqlalchemy.exc import IntegrityError

    @functools.wraps(fn)
    def wrapper(session, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        for attempt in range(5):
            try:
                return fn(session, *args, **kwargs)
            except IntegrityError as exc:
                session.rollback()
                if "audit_log" not in str(exc.orig) or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    return wrapper
