"""Users and roles. An operator is bound to one office and sees only that office."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from attendance.models.base import Base, UTCDateTime, utcnow


class Role(str, enum.Enum):
    admin = "admin"
    hr = "hr"
    leader = "leader"
    operator = "operator"
    observer = "observer"


# Who may do what: the use cases refuse anyone else, and the edges show or hide the actions by these.
HR_ROLES = (Role.admin.value, Role.hr.value)            # the roster, corrections, the review queue
LEADER_ROLES = (Role.admin.value, Role.leader.value)    # scheduling, starting and ending apels
# Who may see people (names, NIPs, each person's record): everyone but observers, who see figures only
# (how many present, late, absent, per office). Operators only for their own office.
PEOPLE_ROLES = (Role.admin.value, Role.hr.value, Role.leader.value, Role.operator.value)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    office_id: Mapped[int | None] = mapped_column(ForeignKey("offices.id", ondelete="RESTRICT"), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Sessions and bearer tokens carry the version they were issued under; logging out and changing the
    # password bump it, which revokes every one issued before (app.web.deps checks it on each request).
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
