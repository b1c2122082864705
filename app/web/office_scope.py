"""Which offices a user may see, for the API and the pages alike: an operator is bound to one office
and sees nothing else; every other role sees every office."""
from __future__ import annotations

from sqlalchemy.orm import Session

from attendance.errors import Forbidden
from attendance.models import AssemblyOffice, Role, User
from attendance.roster.users import can_see_office


def is_operator(user: User) -> bool:
    return user.role == Role.operator.value


def ensure_office_access(user: User, office_id: int) -> None:
    if not can_see_office(user, office_id):
        raise Forbidden("forbidden", "operators may only access their own office")


def scoped_office(user: User, office_id: int | None) -> int | None:
    """The office filter a user may use: an operator's is always theirs (asking for another one is
    refused), anyone else's is what they asked for (None: every office)."""
    if not is_operator(user):
        return office_id
    if user.office_id is None:
        raise Forbidden("forbidden", "this operator account is not bound to an office")
    if office_id is not None and office_id != user.office_id:
        raise Forbidden("forbidden", "operators may only access their own office")
    return user.office_id


def scope_offices(user: User, office_id: int | None) -> list[int] | None:
    """The offices of a report: None = all. Operators are pinned to their own office."""
    scoped = scoped_office(user, office_id)
    return None if scoped is None else [scoped]


def ensure_takes_part(session: Session, user: User, assembly_id: int) -> None:
    """An operator may look at an apel only when their office takes part in it."""
    if not is_operator(user):
        return
    found = session.query(AssemblyOffice.id).filter(AssemblyOffice.assembly_id == assembly_id,
                                                    AssemblyOffice.office_id == user.office_id).first()
    if found is None:
        raise Forbidden("forbidden", "your office does not take part in this apel")
