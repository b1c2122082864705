"""The face crops behind an attendance record: when a person's presence came from an answered review
item (an operator's confirmation during the apel, or HR's assignment after it), HR checking the record
needs the face that answer was about, or to be told plainly that no picture is kept.

Only what the record page needs to decide what to show: whether a crop is there to be fetched, and
if not, why. The picture itself is served (and each look audited) by the review queue's evidence
route, so the record page adds no second way to a face."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.models import AttendanceRecord, ReviewItem, utcnow


def record_crops(session: Session, rec: AttendanceRecord) -> list[dict[str, Any]]:
    """The review items answered as this record's person in this apel and office, oldest first, each
    with `kept` (the evidence route will serve a crop) or `why` it will not: `expired` (its retention
    ended, the purge took it or will) or `not_kept` (evidence keeping was off, or it was deleted)."""
    items = session.execute(select(ReviewItem).where(
        ReviewItem.assembly_id == rec.assembly_id, ReviewItem.office_id == rec.office_id,
        ReviewItem.status == "assigned", ReviewItem.resolved_employee_id == rec.employee_id)
        .order_by(ReviewItem.resolved_at, ReviewItem.id)).scalars()
    now = utcnow()
    out = []
    for item in items:
        expired = item.expires_at is not None and item.expires_at <= now
        there = item.has_evidence_jpeg or bool(item.evidence_path and Path(item.evidence_path).is_file())
        why = None if there and not expired else "expired" if expired else "not_kept"
        out.append({"id": item.id, "kept": why is None, "why": why, "resolved_by": item.resolved_by,
                    "resolved_at": item.resolved_at, "expires_at": item.expires_at})
    return out
