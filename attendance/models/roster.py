"""Offices (OPD), employees and their face templates: the roster the vision pipeline matches against."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from attendance.models.base import Base, UTCDateTime, utcnow


class Office(Base):
    __tablename__ = "offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Makassar")
    # Camera geometry for distancing: horizontal field of view of the office camera, and the
    # minimum distance between people that the office enforces.
    camera_hfov_deg: Mapped[float] = mapped_column(Float, default=70.0)
    min_distance_m: Mapped[float] = mapped_column(Float, default=1.0)
    # How far the back row stands from the camera, if the operator knows: the smallest face the
    # detector must look for follows from it (a whole-frame look costs with the upscaling that face
    # needs). Unknown: the detector looks down to faces of 32 px.
    back_row_m: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # The camera's height above the floor, if the operator measured it (tape from the floor to the
    # lens): the vision pipeline can then place the heads' plane. Unknown: not used.
    camera_height_m: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # The formation's row lines, if the operator measured them: each line's distance from the
    # camera along the floor (tape), front row first, sorted (attendance.vision.config). The distance fit
    # holds each row standing on a line to its depth. Unknown: rows are placed by the other cues.
    # A JSON list (one value per row, few rows); SQL NULL, not JSON null, when unknown.
    row_lines_m: Mapped[list[float] | None] = mapped_column(JSON(none_as_null=True), nullable=True, default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    employees: Mapped[list[Employee]] = relationship(back_populates="office")


class Employee(Base):
    __tablename__ = "employees"

    id: Mapped[int] = mapped_column(primary_key=True)
    nip: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"), index=True)
    position: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    office: Mapped[Office] = relationship(back_populates="employees")
    templates: Mapped[list[FaceTemplate]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", passive_deletes=True
    )


class FaceTemplate(Base):
    """A face embedding. The photo itself is not kept unless settings.keep_enrolment_photos."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), index=True)
    backend: Mapped[str] = mapped_column(String(32), default="dlib-128")
    # float32 little-endian bytes; dimension is len/4 (128 for dlib).
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    # photo: enrolled from an uploaded photo; masked: synthetic masked variant of a photo;
    # sighting: a face from the office camera that HR confirmed (a centroid of its own beside the
    # photos': recognisers.LEARNED_KINDS); masked_sighting: one the camera saw masked (averaged with
    # the masked variants, not the photos: recognisers.MASKED_KINDS).
    kind: Mapped[str] = mapped_column(String(16), default="photo")
    source_sha256: Mapped[str] = mapped_column(String(64), index=True)
    quality: Mapped[float] = mapped_column(Float, default=0.0)
    photo_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    employee: Mapped[Employee] = relationship(back_populates="templates")


class LearnedFaceGeometry(Base):
    """What the office cameras learned of one person's face over their roll-calls: their
    interpupillary distance and how high their eyes are against their office's average, as the
    sums of one median per roll-call (attendance.vision.geometry.face_geometry). Used only to place them
    for the distancing check; biometric data (UU PDP): erased with the face templates."""

    __tablename__ = "learned_face_geometry"

    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    ipd_sessions: Mapped[int] = mapped_column(Integer, default=0)
    ipd_sum_m: Mapped[float] = mapped_column(Float, default=0.0)
    eye_sessions: Mapped[int] = mapped_column(Integer, default=0)
    eye_sum_m: Mapped[float] = mapped_column(Float, default=0.0)
    # The last apel that taught it: an apel teaches each person once, even if the service restarts
    # during it or the office rejoins.
    last_assembly_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
