"""Hand marks in the monthly recap: per employee, how many of their present/late days stand on an
operator's word rather than the camera (attendance.assemblies.present_by_hand), and per operator how
many people they marked.

HR needs both because a hand mark feeds the allowance like a camera sighting does, with only a
person behind it: the per-employee count shows whose attendance rests on it, the per-operator table
shows an operator who marks unusually many.

A day counts when the record is present or late and carries a hand mark, the same test the record
list's "by hand" filter applies (hand_marks.is_by_hand); a mark undone during the apel is gone with
its track. The operator table counts every mark standing at the apel's end, even where HR later
corrected the record to something else: an overturned mark is what HR looks for there.

One query reads the month's hand marks with their records' office and status: they are a small
share of the month's tracks (finding them is what costs: a scan of the month's tracks, which no index
narrows by key prefix on both databases), so a second query for the operator table would double the
cost for nothing; Python adds up the few rows.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from attendance.assemblies.hand_marks import HAND_TRACK_PREFIX
from attendance.models import AttendanceRecord, Office, SightingTrack
from attendance.rules import LATE, PRESENT

R, T = AttendanceRecord, SightingTrack


@dataclass
class OperatorMarks:
    operator: str
    office_id: int
    office_code: str
    office_name: str
    marks: int     # person-apels the operator vouched for
    people: int    # distinct people among them
    apels: int     # apels in which they marked anyone

    def as_dict(self) -> dict[str, Any]:
        return {"operator": self.operator, "office_id": self.office_id, "office_code": self.office_code,
                "office_name": self.office_name, "marks": self.marks, "people": self.people, "apels": self.apels}


@dataclass
class MonthHandMarks:
    days: dict[tuple[int, int], int] = field(default_factory=dict)   # (record office, employee): days
    operators: list[OperatorMarks] | None = None


def month_hand_marks(session: Session, apel_ids: list[int], office_ids: list[int] | None,
                     offices: Mapping[int, Office], *, with_operators: bool) -> MonthHandMarks:
    """Days by the record's office (as the recap groups records); operators by the mark's office (the
    one they answer for); operators most marks first, to make the outlier stand out."""
    q = (select(T.confirmed_by, T.office_id, T.assembly_id, T.employee_id, R.office_id, R.status)
         .select_from(T).outerjoin(R, and_(R.assembly_id == T.assembly_id, R.employee_id == T.employee_id))
         .where(T.assembly_id.in_(apel_ids), T.track_key.startswith(HAND_TRACK_PREFIX)))
    if office_ids is not None:
        q = q.where(or_(T.office_id.in_(office_ids), R.office_id.in_(office_ids)))
    scope = None if office_ids is None else set(office_ids)
    days: set[tuple[int, int, int]] = set()
    ops: dict[tuple[str, int], list[tuple[int, int]]] = {}   # (operator, office): (employee, apel) marked
    for by, mark_office, assembly_id, employee_id, rec_office, status in session.execute(q):
        if employee_id is None:   # a hand mark always names its person
            continue
        if status in (PRESENT, LATE) and (scope is None or rec_office in scope):
            days.add((rec_office, employee_id, assembly_id))
        if with_operators and (scope is None or mark_office in scope):
            ops.setdefault((by or "-", mark_office), []).append((employee_id, assembly_id))
    out = MonthHandMarks()
    for office_id, employee_id, _ in days:
        out.days[(office_id, employee_id)] = out.days.get((office_id, employee_id), 0) + 1
    if with_operators:
        out.operators = sorted(
            (OperatorMarks(by, oid, offices[oid].code, offices[oid].name, len(marks),
                           len({e for e, _ in marks}), len({a for _, a in marks}))
             for (by, oid), marks in ops.items()),
            key=lambda m: (-m.marks, m.operator, m.office_code))
    return out
