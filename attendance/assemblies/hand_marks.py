"""Which records of an apel an operator marked present by hand (attendance.assemblies.present_by_hand),
read by whatever shows a record's source (the roll-call, the record list and page) without importing
the use case, which itself builds on the sightings module.

A hand mark is a sighting track of its own, keyed HAND_TRACK_PREFIX + the employee id: the records'
one computation (sightings.refresh_records) then counts it like any confirmed track, and camera
tracks of the same person add to it instead of replacing it."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from attendance.i18n import t
from attendance.models import AttendanceRecord, SightingTrack
from attendance.rules import format_local

HAND_TRACK_PREFIX = "hand:"


def hand_track_key(employee_id: int) -> str:
    return f"{HAND_TRACK_PREFIX}{employee_id}"


def hand_marks(session: Session, assembly_id: int, office_ids: Iterable[int] | None = None,
               employee_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
    """By employee id: who marked them and when (UTC, ISO 8601)."""
    q = select(SightingTrack.employee_id, SightingTrack.confirmed_by, SightingTrack.first_at).where(
        SightingTrack.assembly_id == assembly_id, SightingTrack.track_key.startswith(HAND_TRACK_PREFIX))
    if office_ids is not None:
        q = q.where(SightingTrack.office_id.in_(list(office_ids)))
    if employee_ids is not None:
        q = q.where(SightingTrack.employee_id.in_(list(employee_ids)))
    return {int(e): {"by": by, "at": _iso(at)} for e, by, at in session.execute(q).all() if e is not None}


def is_by_hand() -> ColumnElement[bool]:
    """A filter on AttendanceRecord: the record carries an operator's hand mark."""
    return exists().where(and_(SightingTrack.assembly_id == AttendanceRecord.assembly_id,
                               SightingTrack.employee_id == AttendanceRecord.employee_id,
                               SightingTrack.track_key.startswith(HAND_TRACK_PREFIX)))


def _iso(at: datetime) -> str:
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def with_local(mark: dict[str, Any], tz_name: str) -> dict[str, Any]:
    """The mark with its time on the office's wall clock (`at_local`, with its zone), as the
    roll-call shows every other time: a leader in another zone reads the office's time."""
    return {**mark, "at_local": format_local(datetime.fromisoformat(mark["at"]), tz_name, "%H:%M:%S")}


def hand_note(mark: dict[str, Any] | None, tz_name: str, lang: str) -> str:
    """What a report's Keterangan says of a hand-marked record ("" for any other): a signed report that
    shows "present" must not read as the camera's finding when only the operator's word stands behind it."""
    if not mark:
        return ""
    when = format_local(datetime.fromisoformat(mark["at"]), tz_name, "%H:%M")
    return t("hand.source", lang, by=mark.get("by") or "-", time=when)
