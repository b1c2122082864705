"""Rekap kehadiran bulanan: per employee and per office, counts by status and lateness tier over the
closed apels of a month: the figures TPP (allowance) deductions are computed from.

Set-based: one GROUP BY (office, employee) and one GROUP BY office over attendance_records joined to
the month's closed assemblies; Python only formats the aggregated rows. 10,000 employees x 22 apels
(220,000 records) takes well under the 2 s budget on SQLite and PostgreSQL (bench/bench_recap.py).

Which apels belong to a month: those whose scheduled start falls in that calendar month in the
installation's time zone (APEL_DEFAULT_TIMEZONE). Apels are held in office hours, far from midnight,
so the three Indonesian zones never disagree about the month of an apel.
Only closed apels count: an open apel's figures are not final (not_seen is not yet TK).
Days marked present by hand, and who marked them, come from attendance.reports.recap_hand.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance.errors import Invalid
from attendance.models import Assembly, AssemblyStatus, AttendanceRecord, Employee, Office, RuleSet
from attendance.reports.common import categories_for, status_sums, zone
from attendance.reports.corrections_note import CorrectionNote, correction_notes
from attendance.reports.recap_hand import OperatorMarks, month_hand_marks
from attendance.rules import TIERS

R = AttendanceRecord
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next month) in UTC, for a zone."""
    m = MONTH_RE.match(month or "")
    if not m:
        raise Invalid("bad_input", f"month must be YYYY-MM, got {month!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    if not 2000 <= year <= 2100:
        raise Invalid("bad_input", f"year {year} is out of range")
    z = zone(tz)
    lo = datetime(year, mon, 1, tzinfo=z)
    hi = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=z)
    return lo.astimezone(UTC), hi.astimezone(UTC)


@dataclass
class Counts:
    apels: int = 0
    present: int = 0
    late: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TIERS})
    tk: int = 0
    excused: dict[str, int] = field(default_factory=dict)
    late_minutes: int = 0
    by_hand: int = 0   # of present + late: marked by an operator, not seen by the camera

    @property
    def attended(self) -> int:
        return self.present + self.late

    def as_dict(self) -> dict[str, Any]:
        return {"apels": self.apels, "present": self.present, "late": self.late, "attended": self.attended,
                "late_by_tier": dict(self.tiers), "tk": self.tk, "excused": dict(self.excused),
                "excused_total": sum(self.excused.values()), "late_minutes": self.late_minutes,
                "by_hand": self.by_hand}


@dataclass
class EmployeeRecap:
    office_id: int
    office_code: str
    employee_id: int
    nip: str
    name: str
    counts: Counts
    # Their records HR corrected this month (the recap's Keterangan), by apel
    corrections: list[CorrectionNote] = field(default_factory=list)


@dataclass
class OfficeRecap:
    office_id: int
    code: str
    name: str
    employees: int
    counts: Counts


@dataclass
class MonthlyRecap:
    month: str
    timezone: str
    apels: list[dict[str, Any]]
    categories: list[dict[str, str]]
    offices: list[OfficeRecap]
    employees: list[EmployeeRecap]
    total: Counts
    # Marked by hand, per operator and office: HR's and admins' only (None: not asked for)
    hand_operators: list[OperatorMarks] | None = None

    def as_dict(self, *, with_employees: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "month": self.month, "timezone": self.timezone, "apels": self.apels, "categories": self.categories,
            "offices": [{"office_id": o.office_id, "code": o.code, "name": o.name, "employees": o.employees,
                         **o.counts.as_dict()} for o in self.offices],
            "total": self.total.as_dict(),
        }
        if self.hand_operators is not None:
            out["hand_by_operator"] = [m.as_dict() for m in self.hand_operators]
        if with_employees:
            out["employees"] = [{"office_id": e.office_id, "office_code": e.office_code,
                                 "employee_id": e.employee_id, "nip": e.nip, "name": e.name, **e.counts.as_dict(),
                                 "corrections": [{"assembly_id": n.assembly_id, "record_id": n.record_id,
                                                  "status": n.status, "tier": n.tier,
                                                  "excuse_category": n.excuse_category, "reason": n.reason,
                                                  "document": n.document} for n in e.corrections]}
                                for e in self.employees]
        return out


def _counts_at(v: Sequence[Any], codes: list[str]) -> Counts:
    """From the aggregate columns by position (apels, present, late, TL1-4, tk, not_seen, categories,
    late minutes): name lookups on 10,000 rows cost more than the SQL that made them."""
    n = len(codes)   # COUNT/SUM of integers: ints on both databases, never NULL inside a group
    return Counts(apels=v[0], present=v[1], late=v[2], tiers=dict(zip(TIERS, v[3:7], strict=True)), tk=v[7],
                  excused=dict(zip(codes, v[9:9 + n], strict=True)), late_minutes=v[9 + n])


def _add(total: Counts, c: Counts) -> None:
    total.apels += c.apels
    total.present += c.present
    total.late += c.late
    total.tk += c.tk
    total.late_minutes += c.late_minutes
    total.by_hand += c.by_hand
    for t, k in c.tiers.items():
        total.tiers[t] += k
    for code, k in c.excused.items():
        total.excused[code] += k


def monthly_recap(session: Session, month: str, *, tz: str = "Asia/Makassar", office_ids: list[int] | None = None,
                  with_employees: bool = True, with_operators: bool = False) -> MonthlyRecap:
    lo, hi = month_bounds(month, tz)
    apel_rows = session.execute(
        select(Assembly.id, Assembly.title, Assembly.kind, Assembly.scheduled_start, Assembly.ruleset_id)
        .where(Assembly.scheduled_start >= lo, Assembly.scheduled_start < hi,
               Assembly.status == AssemblyStatus.closed.value)
        .order_by(Assembly.scheduled_start)).all()
    apel_ids = [a.id for a in apel_rows]
    apels = [{"id": a.id, "title": a.title, "kind": a.kind, "scheduled_start": a.scheduled_start.isoformat()}
             for a in apel_rows]
    if not apel_ids:
        return MonthlyRecap(month, tz, [], categories_for([]), [], [], Counts(excused={
            c["code"]: 0 for c in categories_for([])}), [] if with_operators else None)
    rule_cats = session.execute(select(RuleSet.excuse_categories).where(
        RuleSet.id.in_({a.ruleset_id for a in apel_rows}))).scalars().all()

    # A month has a few dozen apels: an explicit id list lets both databases walk the
    # (assembly_id, office_id) index instead of planning a semi-join.
    base_filter = [R.assembly_id.in_(apel_ids)]
    if office_ids is not None:
        base_filter.append(R.office_id.in_(office_ids))
    extra = session.execute(select(R.excuse_category).distinct().where(
        *base_filter, R.status == "excused")).scalars().all()
    categories = categories_for(rule_cats, extra_codes=extra)
    codes = [c["code"] for c in categories]
    sums = [func.count(), *status_sums(R, codes), func.coalesce(func.sum(R.late_minutes), 0)]
    width = len(sums)

    offices_by_id = {o.id: o for o in session.execute(select(Office)).scalars()}
    total = Counts(excused={c: 0 for c in codes})
    per_office: dict[int, tuple[int, Counts]] = {}
    employees: list[EmployeeRecap] = []
    hand = month_hand_marks(session, apel_ids, office_ids, offices_by_id, with_operators=with_operators)
    by_hand = hand.days
    if with_employees:
        # One GROUP BY (office, employee); office figures are sums of these rows (exact, and no second scan).
        per_emp = (select(R.office_id.label("office_id"), R.employee_id.label("employee_id"),
                          *[c.label(f"c{i}") for i, c in enumerate(sums)])
                   .where(*base_filter).group_by(R.office_id, R.employee_id).subquery())
        q = (select(per_emp, Employee.nip, Employee.name, Office.code)
             .join(Employee, Employee.id == per_emp.c.employee_id)
             .join(Office, Office.id == per_emp.c.office_id)
             .order_by(Office.code, Employee.name, Employee.nip))
        for row in session.execute(q):
            c = _counts_at(row[2:2 + width], codes)
            c.by_hand = by_hand.get((row[0], row[1]), 0)
            employees.append(EmployeeRecap(row[0], row[2 + width + 2], row[1], row[2 + width], row[2 + width + 1], c))
            n, oc = per_office.get(row[0]) or (0, Counts(excused={k: 0 for k in codes}))
            _add(oc, c)
            per_office[row[0]] = (n + 1, oc)
    else:
        office_q = (select(R.office_id, func.count(func.distinct(R.employee_id)), *sums)
                    .where(*base_filter).group_by(R.office_id))
        for row in session.execute(office_q):
            per_office[row[0]] = (int(row[1]), _counts_at(row[2:], codes))
        for (oid, _), n in by_hand.items():
            if oid in per_office:
                per_office[oid][1].by_hand += n
    # An office's (and the month's) "apels" is how many apels it took part in, not the sum of its
    # people's: those sums stay the records' (present + late + TK + excused + unseen add up to them).
    held: dict[int, int] = {oid: n for oid, n in session.execute(
        select(R.office_id, func.count(func.distinct(R.assembly_id))).where(*base_filter).group_by(R.office_id))}
    if employees:
        order = {a.id: i for i, a in enumerate(apel_rows)}
        by_employee: dict[int, list[CorrectionNote]] = {}
        for note in correction_notes(session, assembly_ids=apel_ids).values():
            by_employee.setdefault(note.employee_id, []).append(note)
        for e in employees:
            e.corrections = sorted(by_employee.get(e.employee_id, []), key=lambda n: order.get(n.assembly_id, 0))
    offices = []
    for oid, (n, c) in per_office.items():
        o = offices_by_id[oid]
        _add(total, c)
        c.apels = int(held.get(oid, 0))
        offices.append(OfficeRecap(o.id, o.code, o.name, n, c))
    total.apels = int(session.execute(select(func.count(func.distinct(R.assembly_id))).where(*base_filter))
                      .scalar_one())
    offices.sort(key=lambda o: o.code)
    return MonthlyRecap(month, tz, apels, categories, offices, employees, total, hand.operators)
