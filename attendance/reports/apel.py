"""Laporan apel: per office taking part in one apel, the roster and how it was marked.

Every figure comes from grouped queries (SUM(CASE ...) per status, tier and excuse category over
attendance_records; distancing alerts and mask compliance from assemblies.counts, the one count
the console and `apel analyze` use too), never from a Python loop over people, so an apel of the
whole province costs a few indexed scans.

Roster: every employee with a record in this apel. While an apel is not closed, active employees of
a taking-part office who have no record yet are added to the roster as "not yet seen" (a second
grouped query), so an open apel does not look complete when it is not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from attendance.assemblies.counts import office_counts
from attendance.assemblies.lookups import get_assembly
from attendance.errors import NotFound
from attendance.models import AssemblyOffice, AssemblyStatus, AttendanceRecord, Employee, Office, RuleSet
from attendance.reports.common import categories_for, local_time, status_sums
from attendance.rules import TIERS

R = AttendanceRecord


@dataclass
class Figures:
    """Counts for one office (or the total)."""

    roster: int = 0
    present: int = 0
    late: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: {t: 0 for t in TIERS})
    tk: int = 0
    excused: dict[str, int] = field(default_factory=dict)
    not_seen: int = 0
    mask_known: int = 0        # people whose mask state was seen (assemblies.counts)
    masked: int = 0            # of those, wearing a mask in at least half of their frames
    distancing_alerts: int = 0  # episodes of a pair too close, each counted once (assemblies.counts)
    people_with_alerts: int = 0
    corrected: int = 0

    @property
    def attended(self) -> int:
        return self.present + self.late

    @property
    def excused_total(self) -> int:
        return sum(self.excused.values())

    @property
    def absent(self) -> int:
        return self.tk + self.excused_total

    @property
    def mask_compliance(self) -> float | None:
        return None if self.mask_known == 0 else self.masked / self.mask_known

    def add(self, other: Figures) -> None:
        for name in ("roster", "present", "late", "tk", "not_seen", "mask_known", "masked",
                     "distancing_alerts", "people_with_alerts", "corrected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for t, n in other.tiers.items():
            self.tiers[t] = self.tiers.get(t, 0) + n
        for c, n in other.excused.items():
            self.excused[c] = self.excused.get(c, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "roster": self.roster, "present": self.present, "late": self.late, "attended": self.attended,
            "late_by_tier": dict(self.tiers), "tk": self.tk, "excused": dict(self.excused),
            "excused_total": self.excused_total, "absent": self.absent, "not_seen": self.not_seen,
            "mask_known": self.mask_known, "masked": self.masked,
            "mask_compliance": None if self.mask_compliance is None else round(self.mask_compliance, 4),
            "distancing_alerts": self.distancing_alerts, "people_with_alerts": self.people_with_alerts,
            "corrected": self.corrected,
        }


@dataclass
class OfficeRow:
    office_id: int
    code: str
    name: str
    timezone: str
    scheduled_start: datetime
    joined_at: datetime | None
    figures: Figures


@dataclass
class ApelReport:
    assembly_id: int
    title: str
    kind: str
    status: str
    scheduled_start: datetime
    started_at: datetime | None
    ended_at: datetime | None
    ruleset: dict[str, Any]
    categories: list[dict[str, str]]
    offices: list[OfficeRow]
    total: Figures

    def as_dict(self) -> dict[str, Any]:
        return {
            "assembly": {"id": self.assembly_id, "title": self.title, "kind": self.kind, "status": self.status,
                         "scheduled_start": self.scheduled_start.isoformat(),
                         "started_at": self.started_at.isoformat() if self.started_at else None,
                         "ended_at": self.ended_at.isoformat() if self.ended_at else None},
            "ruleset": self.ruleset,
            "categories": self.categories,
            "offices": [{"office_id": o.office_id, "code": o.code, "name": o.name, "timezone": o.timezone,
                         "scheduled_start": o.scheduled_start.isoformat(),
                         "scheduled_start_local": local_time(o.scheduled_start, o.timezone),
                         "joined_at": o.joined_at.isoformat() if o.joined_at else None,
                         **o.figures.as_dict()} for o in self.offices],
            "total": self.total.as_dict(),
        }


def apel_report(session: Session, assembly_id: int, office_ids: list[int] | None = None) -> ApelReport:
    """office_ids=None: every office taking part; else only those (an operator's own office)."""
    a = get_assembly(session, assembly_id)
    rs = session.get_one(RuleSet, a.ruleset_id)

    office_q = (select(AssemblyOffice, Office).join(Office, Office.id == AssemblyOffice.office_id)
                .where(AssemblyOffice.assembly_id == assembly_id).order_by(Office.code))
    if office_ids is not None:
        office_q = office_q.where(AssemblyOffice.office_id.in_(office_ids))
    participants = session.execute(office_q).all()
    if office_ids is not None and not participants:
        raise NotFound("not_found", f"office(s) {office_ids} do not take part in apel {assembly_id}")
    ids = [ao.office_id for ao, _ in participants]

    # Categories seen in the data but no longer in the rule set still have to be counted.
    extra = session.execute(select(R.excuse_category).distinct().where(
        R.assembly_id == assembly_id, R.status == "excused")).scalars().all()
    categories = categories_for([rs.excuse_categories or []], extra_codes=extra)
    codes = [c["code"] for c in categories]

    cols = [
        R.office_id.label("office_id"),
        func.count().label("records"),
        *status_sums(R, codes),
        func.sum(case((R.distancing_alerts > 0, 1), else_=0)).label("people_with_alerts"),
        func.sum(case((R.corrected.is_(True), 1), else_=0)).label("corrected"),
    ]
    grouped = {row.office_id: row for row in session.execute(
        select(*cols).where(R.assembly_id == assembly_id, R.office_id.in_(ids)).group_by(R.office_id))}

    counted = office_counts(session, assembly_id, ids)   # the one count (assemblies.counts)

    missing: dict[int, int] = {}
    if a.status != AssemblyStatus.closed.value and ids:
        has_record = exists().where(R.assembly_id == assembly_id, R.employee_id == Employee.id)
        missing = dict(session.execute(
            select(Employee.office_id, func.count()).where(Employee.office_id.in_(ids), Employee.active.is_(True),
                                                           ~has_record).group_by(Employee.office_id)).all())

    rows: list[OfficeRow] = []
    total = Figures(excused={c: 0 for c in codes})
    for ao, office in participants:
        g = grouped.get(ao.office_id)
        f = Figures(excused={c: 0 for c in codes})
        if g is not None:
            f.roster = int(g.records)
            f.present, f.late, f.tk, f.not_seen = (int(g.present or 0), int(g.late or 0), int(g.tk or 0),
                                                   int(g.not_seen or 0))
            f.tiers = {t: int(getattr(g, t.lower()) or 0) for t in TIERS}
            f.excused = {c: int(getattr(g, f"ex_{i}") or 0) for i, c in enumerate(codes)}
            f.people_with_alerts = int(g.people_with_alerts or 0)
            f.corrected = int(g.corrected or 0)
        c = counted[ao.office_id]
        f.mask_known, f.masked, f.distancing_alerts = c.mask_known, c.masked, c.distancing_alerts
        extra_unseen = missing.get(ao.office_id, 0)
        f.roster += extra_unseen
        f.not_seen += extra_unseen
        rows.append(OfficeRow(office.id, office.code, office.name, office.timezone, ao.scheduled_start,
                              ao.joined_at, f))
        total.add(f)
    return ApelReport(
        assembly_id=a.id, title=a.title, kind=a.kind, status=a.status, scheduled_start=a.scheduled_start,
        started_at=a.started_at, ended_at=a.ended_at,
        ruleset={"id": rs.id, "name": rs.name, "version": rs.version, "grace_minutes": rs.grace_minutes,
                 "tl1_max_minutes": rs.tl1_max_minutes, "tl2_max_minutes": rs.tl2_max_minutes,
                 "tl3_max_minutes": rs.tl3_max_minutes, "tk_after_minutes": rs.tk_after_minutes},
        categories=categories, offices=rows, total=total)


@dataclass
class PersonRow:
    record_id: int | None
    employee_id: int
    nip: str
    name: str
    position: str | None
    status: str
    tier: str | None
    late_minutes: int | None
    excuse_category: str | None
    excuse_reason: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    frames: int
    best_confidence: float | None
    mask_frames: int
    mask_total: int
    distancing_alerts: int
    corrected: bool

    def as_dict(self, tz: str) -> dict[str, Any]:
        return {
            "record_id": self.record_id, "employee_id": self.employee_id, "nip": self.nip, "name": self.name,
            "position": self.position, "status": self.status, "tier": self.tier, "late_minutes": self.late_minutes,
            "excuse_category": self.excuse_category, "excuse_reason": self.excuse_reason,
            "first_seen_at": self.first_seen_at.isoformat() if self.first_seen_at else None,
            "first_seen_local": local_time(self.first_seen_at, tz),
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
            "last_seen_local": local_time(self.last_seen_at, tz),
            "frames": self.frames,
            "best_confidence": None if self.best_confidence is None else round(self.best_confidence, 3),
            "mask_frames": self.mask_frames, "mask_total": self.mask_total,
            "distancing_alerts": self.distancing_alerts, "corrected": self.corrected,
        }


def apel_people(session: Session, assembly_id: int, office_id: int, *, status: str | None = None,
                tier: str | None = None, category: str | None = None) -> tuple[Office, list[PersonRow]]:
    """Drill-down: the people of one office in one apel, optionally only one status/tier/category."""
    a = get_assembly(session, assembly_id)
    ao = session.execute(select(AssemblyOffice).where(AssemblyOffice.assembly_id == assembly_id,
                                                      AssemblyOffice.office_id == office_id)).scalar_one_or_none()
    if ao is None:
        raise NotFound("not_found", f"office {office_id} does not take part in apel {assembly_id}")
    office = session.get_one(Office, office_id)  # exists: the apel's office row refers to it
    q = (select(R, Employee).join(Employee, Employee.id == R.employee_id)
         .where(R.assembly_id == assembly_id, R.office_id == office_id))
    if status:
        q = q.where(R.status == status)
    if tier:
        q = q.where(R.tier == tier)
    if category:
        q = q.where(R.excuse_category == category)
    people = [PersonRow(r.id, e.id, e.nip, e.name, e.position, r.status, r.tier, r.late_minutes, r.excuse_category,
                        r.excuse_reason, r.first_seen_at, r.last_seen_at, r.frames, r.best_confidence, r.mask_frames,
                        r.mask_total, r.distancing_alerts, bool(r.corrected))
              for r, e in session.execute(q.order_by(Employee.name, Employee.nip))]
    if a.status != AssemblyStatus.closed.value and status in (None, "not_seen") and not tier and not category:
        has_record = exists().where(R.assembly_id == assembly_id, R.employee_id == Employee.id)
        for e in session.execute(select(Employee).where(Employee.office_id == office_id, Employee.active.is_(True),
                                                        ~has_record).order_by(Employee.name)).scalars():
            people.append(PersonRow(None, e.id, e.nip, e.name, e.position, "not_seen", None, None, None, None,
                                    None, None, 0, None, 0, 0, 0, False))
        people.sort(key=lambda p: (p.name, p.nip))
    return office, people
