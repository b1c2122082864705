"""Rekap kehadiran bulanan: per employee and per office, counts by status and lateness tier over the
closed apels of a month: the figures TPP (allowance) deductions are computed from.

Set-based: one GROUP BY (office, employee) and one GROUP BY office over attendance_records joined to
the month's closed assemblies; Python only formats the aggregated rows. 10,000 employees x 22 apels
(220,000 records) takes well under the 2 s budget on SQLite and PostgreSQL (bench/bench_recap.py).

Which apels belong to a month: those whose scheduled start falls in that calendar month in the
installation's time zone (APEL_DEFAULT_TIMEZONE). Apels are held in office hours, far from midnight,
so the three Indonesian zones never disagree about the month of an apel.
Only closed apels count: an open apel's figures are not final (not_seen is not yet TK).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance.models import Assembly, AssemblyStatus, AttendanceRecord, Employee, Office, RuleSet

from .common import TIERS, ReportError, categories_for, status_sums, zone

R = AttendanceRecord
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next month) in UTC, for a zone."""
    m = MONTH_RE.match(month or "")
    if not m:
        raise ReportError("bad_input", f"month must be YYYY-MM, got {month!r}")
    year, mon = int(m.group(1)), int(m.group(2))
    if not 2000 <= year <= 2100:
        raise ReportError("bad_input", f"year {year} is out of range")
    z = zone(tz)
    lo = datetime(year, mon, 1, tzinfo=z)
    hi = datetime(year + (mon == 12), 1 if mon == 12 else mon + 1, 1, tzinfo=z)
    return lo.astimezone(timezone.utc), hi.astimezone(timezone.utc)


@dataclass
class Counts:
    apels: int = 0
    present: int = 0
    late: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TIERS})
    tk: int = 0
    excused: dict[str, int] = field(default_factory=dict)
    late_minutes: int = 0

    @property
    def attended(self) -> int:
        return self.present + self.late

    def as_dict(self) -> dict[str, Any]:
        return {"apels": self.apels, "present": self.present, "late": self.late, "attended": self.attended,
                "late_by_tier": dict(self.tiers), "tk": self.tk, "excused": dict(self.excused),
                "excused_total": sum(self.excused.values()), "late_minutes": self.late_minutes}


@dataclass
class EmployeeRecap:
    office_id: int
    office_code: str
    employee_id: int
    nip: str
    name: str
    counts: Counts


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

    def as_dict(self, *, with_employees: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "month": self.month, "timezone": self.timezone, "apels": self.apels, "categories": self.categories,
            "offices": [{"office_id": o.office_id, "code": o.code, "name": o.name, "employees": o.employees,
                         **o.counts.as_dict()} for o in self.offices],
            "total": self.total.as_dict(),
        }
        if with_employees:
            out["employees"] = [{"office_id": e.office_id, "office_code": e.office_code,
                                 "employee_id": e.employee_id, "nip": e.nip, "name": e.name, **e.counts.as_dict()}
                                for e in self.employees]
        return out


def _counts(row: Any, codes: list[str]) -> Counts:
    return Counts(apels=int(row.apels), present=int(row.present or 0), late=int(row.late or 0),
                  tiers={t: int(getattr(row, t.lower()) or 0) for t in TIERS}, tk=int(row.tk or 0),
                  excused={c: int(getattr(row, f"ex_{i}") or 0) for i, c in enumerate(codes)},
                  late_minutes=int(row.late_minutes or 0))


def monthly_recap(session: Session, month: str, *, tz: str = "Asia/Makassar", office_ids: list[int] | None = None,
                  with_employees: bool = True) -> MonthlyRecap:
    lo, hi = month_bounds(month, tz)
    in_month = (Assembly.scheduled_start >= lo, Assembly.scheduled_start < hi,
                Assembly.status == AssemblyStatus.closed.value)
    apel_rows = session.execute(select(Assembly.id, Assembly.title, Assembly.kind, Assembly.scheduled_start,
                                       Assembly.ruleset_id).where(*in_month).order_by(Assembly.scheduled_start)).all()
    apel_ids = [a.id for a in apel_rows]
    rule_cats = session.execute(select(RuleSet.excuse_categories).where(
        RuleSet.id.in_({a.ruleset_id for a in apel_rows}))).scalars().all() if apel_rows else []

    base_filter = [R.assembly_id.in_(select(Assembly.id).where(*in_month))]
    if office_ids is not None:
        base_filter.append(R.office_id.in_(office_ids))
    extra = session.execute(select(R.excuse_category).distinct().where(
        *base_filter, R.status == "excused")).scalars().all() if apel_ids else []
    categories = categories_for(rule_cats, extra_codes=extra)
    codes = [c["code"] for c in categories]
    sums = [func.count().label("apels"), *status_sums(R, codes),
            func.coalesce(func.sum(R.late_minutes), 0).label("late_minutes")]

    office_names = {o.id: o for o in session.execute(select(Office)).scalars()}
    offices: list[OfficeRecap] = []
    total = Counts(excused={c: 0 for c in codes})
    office_q = (select(R.office_id, func.count(func.distinct(R.employee_id)).label("employees"), *sums)
                .where(*base_filter).group_by(R.office_id))
    for row in session.execute(office_q):
        o = office_names[row.office_id]
        c = _counts(row, codes)
        offices.append(OfficeRecap(o.id, o.code, o.name, int(row.employees), c))
        total.apels += c.apels
        total.present += c.present
        total.late += c.late
        total.tk += c.tk
        total.late_minutes += c.late_minutes
        for t in TIERS:
            total.tiers[t] += c.tiers[t]
        for code in codes:
            total.excused[code] += c.excused[code]
    offices.sort(key=lambda o: o.code)

    employees: list[EmployeeRecap] = []
    if with_employees and apel_ids:
        per_emp = (select(R.office_id.label("office_id"), R.employee_id.label("employee_id"), *sums)
                   .where(*base_filter).group_by(R.office_id, R.employee_id).subquery())
        q = (select(per_emp, Employee.nip, Employee.name, Office.code.label("office_code"))
             .join(Employee, Employee.id == per_emp.c.employee_id)
             .join(Office, Office.id == per_emp.c.office_id)
             .order_by(Office.code, Employee.name, Employee.nip))
        employees = [EmployeeRecap(row.office_id, row.office_code, row.employee_id, row.nip, row.name,
                                   _counts(row, codes)) for row in session.execute(q)]
    apels = [{"id": a.id, "title": a.title, "kind": a.kind, "scheduled_start": a.scheduled_start.isoformat()}
             for a in apel_rows]
    return MonthlyRecap(month, tz, apels, categories, offices, employees, total)
