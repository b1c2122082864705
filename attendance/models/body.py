"""Each employee's own face geometry as the office camera measured it over apels (one row each).

`attendance.vision.BodyPrior` in the database: the person's interpupillary distance and how far
their eyes sit above or below their office's average eye height, each a running mean over the
apels that measured it (NULL / 0 apels: not measured yet). The vision pipeline uses it to sharpen
that person's distance from the camera. It is a measurement derived from the face, so personal
data under UU PDP: erased with the face templates (`attendance.enrolment.erase_face_data`), and
with the employee (ON DELETE CASCADE). See docs/roster.md, "Personal data"."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class BodyMeasure(Base):
    __tablename__ = "body_measures"

    employee_id: Mapped[int] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True,
                                             autoincrement=False)
    ipd_m: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    ipd_apels: Mapped[int] = mapped_column(Integer, default=0)
    head_dh_m: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    head_apels: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
