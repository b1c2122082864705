"""All ORM models; importing this registers every table on Base.metadata (Alembic needs that)."""
from .assembly import (Assembly, AssemblyKind, AssemblyOffice, AssemblyStatus, AttendanceRecord, AttendanceStatus,
                       Correction, ReviewItem, RuleSet, SightingTrack)
from .audit import AuditEntry
from . import report_indexes  # noqa: F401  (migration 0003: the recap's covering index)
from .base import Base, UTCDateTime, utcnow
from .roster import Employee, FaceTemplate, LearnedFaceGeometry, Office
from .users import Role, User

__all__ = ["Assembly", "AssemblyKind", "AssemblyOffice", "AssemblyStatus", "AttendanceRecord", "AttendanceStatus",
           "Correction", "ReviewItem", "RuleSet", "SightingTrack",
           "AuditEntry", "Base", "Employee", "FaceTemplate", "LearnedFaceGeometry", "Office", "Role", "User", "UTCDateTime", "utcnow"]
