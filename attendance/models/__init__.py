"""All ORM models; importing this registers every table on Base.metadata (Alembic needs that)."""
from attendance.models import report_indexes  # noqa: F401  (migration 0003: the recap's covering index)
from attendance.models.assembly import (
    Assembly,
    AssemblyKind,
    AssemblyOffice,
    AssemblyStatus,
    AttendanceRecord,
    AttendanceStatus,
    Correction,
    ReviewItem,
    RuleSet,
    SightingTrack,
)
from attendance.models.audit import AuditEntry
from attendance.models.base import Base, UTCDateTime, utcnow
from attendance.models.nodes import OfficeLease, OfficeView, VisionNode
from attendance.models.roster import Employee, FaceTemplate, LearnedFaceGeometry, Office
from attendance.models.users import Role, User

__all__ = ["Assembly", "AssemblyKind", "AssemblyOffice", "AssemblyStatus", "AttendanceRecord", "AttendanceStatus",
           "Correction", "ReviewItem", "RuleSet", "SightingTrack",
           "AuditEntry", "Base", "Employee", "FaceTemplate", "LearnedFaceGeometry", "Office", "OfficeLease",
           "OfficeView", "Role", "User", "UTCDateTime", "VisionNode", "utcnow"]
