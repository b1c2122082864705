"""Finding an apel, the offices taking part and their roster, and locking the apel: the reads the
use cases of this area and the reports start from, kept below them so none imports another for them.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.orm import Session

from attendance.errors import NotFound
from attendance.models import Assembly, AssemblyOffice, AssemblyStatus, Employee


def get_assembly(session: Session, assembly_id: int) -> Assembly:
    a = session.get(Assembly, assembly_id)
    if a is None:
        raise NotFound("not_found", f"apel {assembly_id} does not exist")
    return a


def lock_assembly(session: Session, assembly_id: int, *, only_open: bool = False) -> bool:
    """Take the apel's row write lock for the rest of the transaction (a no-op UPDATE: portable,
    a row lock on PostgreSQL, the database write lock on SQLite). False when no row matched."""
    table = cast(Table, Assembly.__table__)  # declared as a FromClause; a mapped class's table is a Table
    stmt = update(table).where(table.c.id == assembly_id).values(status=table.c.status)
    if only_open:
        stmt = stmt.where(table.c.status == AssemblyStatus.open.value)
    # Session.execute is typed as returning Result; for an UPDATE it is a CursorResult (rowcount).
    return cast(CursorResult, session.execute(stmt)).rowcount == 1


def lock_open_assembly(session: Session, assembly_id: int) -> bool:
    return lock_assembly(session, assembly_id, only_open=True)


def get_assembly_office(session: Session, assembly_id: int, office_id: int) -> AssemblyOffice:
    ao = session.execute(select(AssemblyOffice).where(AssemblyOffice.assembly_id == assembly_id,
                                                      AssemblyOffice.office_id == office_id)).scalar_one_or_none()
    if ao is None:
        raise NotFound("not_found", f"office {office_id} does not take part in apel {assembly_id}")
    return ao


def roster_employees(session: Session, office_ids: Sequence[int]) -> list[Employee]:
    if not office_ids:
        return []
    return list(session.execute(
        select(Employee).where(Employee.office_id.in_(list(office_ids)), Employee.active.is_(True))
        .order_by(Employee.name, Employee.id)).scalars())
