"""Indexes the reports need on tables other areas own (created by migration 0003), declared here so
the metadata matches the migrated schema and Alembic autogenerate does not propose dropping them."""
from __future__ import annotations

from sqlalchemy import Index

from attendance.models.assembly import AttendanceRecord

RECAP_INDEX = Index(
    "ix_attendance_records_recap",
    AttendanceRecord.assembly_id, AttendanceRecord.office_id, AttendanceRecord.employee_id,
    AttendanceRecord.status, AttendanceRecord.tier, AttendanceRecord.excuse_category, AttendanceRecord.late_minutes,
)
