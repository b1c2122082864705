"""Apels (assemblies), the offices taking part, the rules they were judged by, and what came of it:
per-track sighting aggregates, attendance records, the HR review queue and corrections.

Design choices worth knowing:
- Rule sets are immutable rows: changing a rule inserts a new version. An assembly pins the
  version it is judged by (`ruleset_id`), so a rule change never rewrites a closed apel.
- Sightings are not stored per frame. `SightingTrack` keeps one row per (apel, office, track,
  identity) with counts and first/last times; the table stays small (a few rows per person per apel).
- `AttendanceRecord.version` is SQLAlchemy's version counter: every UPDATE checks it, so two
  writers that loaded the same version cannot both commit (optimistic concurrency).
"""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from attendance.models.base import Base, UTCDateTime, utcnow
from attendance.models.roster import Employee, Office


class AssemblyKind(str, enum.Enum):
    pagi = "pagi"            # daily morning apel
    sore = "sore"            # daily afternoon apel
    disiplin = "disiplin"    # monthly apel disiplin
    upacara = "upacara"      # special ceremony


class AssemblyStatus(str, enum.Enum):
    scheduled = "scheduled"
    open = "open"
    closed = "closed"


class AttendanceStatus(str, enum.Enum):
    not_seen = "not_seen"    # only while the apel is open; becomes tk (or stays excused) at close
    present = "present"
    late = "late"
    tk = "tk"                # tanpa keterangan: absent without reason
    excused = "excused"      # with an excuse category (sakit, izin, cuti, dinas_luar, tugas_belajar, ...)


DEFAULT_EXCUSE_CATEGORIES: list[dict[str, str]] = [
    {"code": "sakit", "id": "Sakit", "en": "Sick"},
    {"code": "izin", "id": "Izin", "en": "Permission"},
    {"code": "cuti", "id": "Cuti", "en": "Leave"},
    {"code": "dinas_luar", "id": "Dinas luar", "en": "Official travel"},
    {"code": "tugas_belajar", "id": "Tugas belajar", "en": "Study assignment"},
]


class RuleSet(Base):
    """One immutable version of a family of rules (`name`, e.g. "default" or "disiplin")."""

    __tablename__ = "rule_sets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_rule_sets_name_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), default="default")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Seen up to grace_minutes after the scheduled start: present. Later: late, by tier.
    grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # Inclusive upper bounds, in whole minutes after the scheduled start, of TL1, TL2 and TL3;
    # anything later is TL4 (or TK past tk_after_minutes when that is set).
    tl1_max_minutes: Mapped[int] = mapped_column(Integer, default=30)
    tl2_max_minutes: Mapped[int] = mapped_column(Integer, default=60)
    tl3_max_minutes: Mapped[int] = mapped_column(Integer, default=90)
    tk_after_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Seen = recognised with confidence >= min_confidence in at least min_frames analysed frames.
    min_frames: Mapped[int] = mapped_column(Integer, default=3)
    min_confidence: Mapped[float] = mapped_column(Float, default=0.5)
    # [{"code": "sakit", "id": "Sakit", "en": "Sick"}, ...]
    excuse_categories: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_EXCUSE_CATEGORIES))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    def category_codes(self) -> list[str]:
        return [c["code"] for c in self.excuse_categories or []]


class Assembly(Base):
    __tablename__ = "assemblies"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=AssemblyKind.pagi.value)
    title: Mapped[str] = mapped_column(String(200))
    # The common start instant (UTC). Offices may have their own (see AssemblyOffice.scheduled_start)
    # when the apel is held at the same *local* time in every office.
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    status: Mapped[str] = mapped_column(String(16), default=AssemblyStatus.scheduled.value, index=True)
    ruleset_id: Mapped[int] = mapped_column(ForeignKey("rule_sets.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)

    ruleset: Mapped[RuleSet] = relationship()
    offices: Mapped[list[AssemblyOffice]] = relationship(
        back_populates="assembly", cascade="all, delete-orphan", passive_deletes=True,
        order_by="AssemblyOffice.id")


class AssemblyOffice(Base):
    """An office taking part in an apel, with its join token (only the SHA-256 is kept)."""

    __tablename__ = "assembly_offices"
    __table_args__ = (UniqueConstraint("assembly_id", "office_id", name="uq_assembly_offices_assembly_office"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"), index=True)
    scheduled_start: Mapped[datetime] = mapped_column(UTCDateTime)   # this office's start, UTC
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)      # first join
    last_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    join_count: Mapped[int] = mapped_column(Integer, default=0)

    assembly: Mapped[Assembly] = relationship(back_populates="offices")
    office: Mapped[Office] = relationship()


class AttendanceRecord(Base):
    """One employee in one apel. Written by the sighting service while open, by corrections after."""

    __tablename__ = "attendance_records"
    __table_args__ = (
        UniqueConstraint("assembly_id", "employee_id", name="uq_attendance_records_assembly_employee"),
        Index("ix_attendance_records_assembly_office", "assembly_id", "office_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"))
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="RESTRICT"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"))  # office at the time
    status: Mapped[str] = mapped_column(String(16), default=AttendanceStatus.not_seen.value)
    tier: Mapped[str | None] = mapped_column(String(4), nullable=True)          # TL1..TL4 when late
    late_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    excuse_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    excuse_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    excuse_attachment: Mapped[str | None] = mapped_column(String(500), nullable=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)   # first confident frame
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    frames: Mapped[int] = mapped_column(Integer, default=0)              # confident frames
    best_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    mask_frames: Mapped[int] = mapped_column(Integer, default=0)         # frames with a mask on
    mask_total: Mapped[int] = mapped_column(Integer, default=0)          # frames where the mask state was known
    distancing_alerts: Mapped[int] = mapped_column(Integer, default=0)   # episodes, not frames
    corrected: Mapped[bool] = mapped_column(Boolean, default=False)      # changed by a person at least once
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    assembly: Mapped[Assembly] = relationship()
    employee: Mapped[Employee] = relationship()


class SightingTrack(Base):
    """Aggregate of one tracked face in one office stream: a few numbers instead of every frame.

    identity_key is str(employee_id) or "unknown" (a NULL would not be unique on either database)."""

    __tablename__ = "sighting_tracks"
    __table_args__ = (
        UniqueConstraint("assembly_id", "office_id", "track_key", "identity_key", name="uq_sighting_tracks_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"))
    track_key: Mapped[str] = mapped_column(String(64))
    identity_key: Mapped[str] = mapped_column(String(16))
    employee_id: Mapped[int | None] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), nullable=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    confident_frames: Mapped[int] = mapped_column(Integer, default=0)
    first_confident_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    best_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    mask_frames: Mapped[int] = mapped_column(Integer, default=0)
    mask_total: Mapped[int] = mapped_column(Integer, default=0)
    violation_frames: Mapped[int] = mapped_column(Integer, default=0)
    distancing_alerts: Mapped[int] = mapped_column(Integer, default=0)
    in_violation: Mapped[bool] = mapped_column(Boolean, default=False)   # last frame's state (edge detection)
    # Set when HR assigned this track to employee_id from the review queue: from then on all its
    # frames count as that person's confident frames, whatever the stream calls them.
    confirmed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ReviewItem(Base):
    """An unknown or low-confidence face for HR. The embedding is kept so HR can assign it (and it
    becomes a FaceTemplate); a face crop only when evidence keeping is on. Both expire."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"), index=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("sighting_tracks.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(16))             # "unknown" | "low_confidence"
    suggested_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), nullable=True)
    best_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)   # float32 LE
    embedding_backend: Mapped[str | None] = mapped_column(String(32), nullable=True)
    evidence_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The crop itself, when a vision node kept it (its machine's files are not the web node's).
    evidence_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    # Whether it is there, read with the row (the queue's list loads no pictures).
    has_evidence_jpeg: Mapped[bool] = column_property(
        evidence_jpeg.column.is_not(None))   # type: ignore[attr-defined]   # a MappedColumn in the class body
    # The crop is there for the running apel's live picker only (a vision node with evidence keeping
    # off): not evidence, not shown in HR's queue, deleted when the apel ends.
    evidence_transient: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # crop + embedding purge
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)     # open | assigned | dismissed
    resolved_employee_id: Mapped[int | None] = mapped_column(
        ForeignKey("employees.id", ondelete="SET NULL"), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    track: Mapped[SightingTrack] = relationship()


class Correction(Base):
    """A person's change to an attendance record: original and new value, who, when, why, and a
    reference to the supporting document (a letter number or file name, not the file)."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("attendance_records.id", ondelete="CASCADE"), index=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"), index=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))              # "status" | "excuse" | "review_assign"
    before: Mapped[dict] = mapped_column(JSON)
    after: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    attachment_ref: Mapped[str | None] = mapped_column(String(500), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version_before: Mapped[int] = mapped_column(Integer)
    version_after: Mapped[int] = mapped_column(Integer)
