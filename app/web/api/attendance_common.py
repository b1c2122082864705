"""Shared by the attendance routes (API and pages): service errors to HTTP, office scoping."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from attendance.models import AssemblyOffice, Role, User
from attendance.assemblies import ServiceError


@contextmanager
def service_errors(session: Session | None = None) -> Iterator[None]:
    """A refused use case becomes its HTTP status with {detail, code, ...}; nothing stays half-written."""
    try:
        yield
    except ServiceError as exc:
        if session is not None:
            session.rollback()
        raise HTTPException(exc.status_code, detail=exc.to_dict()) from None


def is_operator(user: User) -> bool:
    return user.role == Role.operator.value


def scoped_office(user: User, office_id: int | None) -> int | None:
    """Operators see only their office: a filter for another office is refused, none means theirs."""
    if not is_operator(user):
        return office_id
    if user.office_id is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this operator account is not bound to an office")
    if office_id is not None and office_id != user.office_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "operators may only access their own office")
    return user.office_id


def ensure_takes_part(session: Session, user: User, assembly_id: int) -> None:
    """An operator may look at an apel only when their office takes part in it."""
    if not is_operator(user):
        return
    found = session.query(AssemblyOffice.id).filter(AssemblyOffice.assembly_id == assembly_id,
                                                    AssemblyOffice.office_id == user.office_id).first()
    if found is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "your office does not take part in this apel")
