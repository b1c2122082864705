"""Vision nodes and the office leases that share the apel's feeds among them (docs/nodes.md).

- `VisionNode`: one `apel node` process, registered at start and heartbeating while it runs, so the
  others know how many share the work (each takes its fair share) and which of them are alive.
- `OfficeLease`: one row per (open apel, office) feed, held by at most one node until `expires_at`.
  The holder renews it with its heartbeat; once it lapses any node may take it over. `epoch` grows
  at every take-over: it names the holder's run of the feed (its sightings' track keys) and fences a
  node that lost the feed from writing for it (attendance.nodes.leases.holds).
- `OfficeView`: the last overlay and still of an office a node analyses, for the web node's console.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from attendance.models.base import Base, UTCDateTime, utcnow


class VisionNode(Base):
    __tablename__ = "vision_nodes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)   # random, chosen by the node at start
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)                  # offices it takes at most
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)   # a clean stop


class OfficeLease(Base):
    __tablename__ = "office_leases"
    __table_args__ = (
        UniqueConstraint("assembly_id", "office_id", name="uq_office_leases_assembly_office"),
        Index("ix_office_leases_node_id", "node_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"))
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    # No foreign key to vision_nodes: a node's row may be cleaned up while an old lease names it.
    node_id: Mapped[str | None] = mapped_column(String(32), nullable=True)   # None: free
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    renewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)   # the holder's heartbeat
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OfficeView(Base):
    """What the web node shows of an office a vision node analyses (docs/janus.md): the node holding
    the office's lease writes its last overlay (boxes, names, lines, caption, as JSON for the console's
    canvas) and a small JPEG still of its last decoded frame, overwriting the one row of the apel's
    office, because the web node decodes none of that office's video itself.

    The still is a picture of people (biometric data, UU PDP): only the latest is kept, the node deletes
    its rows when it leaves the office or stops, and the web node deletes the rows of apels no longer
    open and rows nobody refreshed for a while (app.live.node_views). Times are the database's clock
    (`statement_timestamp()`), so nodes and web node on different machines agree on a row's age."""

    __tablename__ = "office_views"

    assembly_id: Mapped[int] = mapped_column(ForeignKey("assemblies.id", ondelete="CASCADE"), primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(32), index=True)   # the writer (deletes only its own)
    overlay: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    overlay_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overlay_frame_t: Mapped[float | None] = mapped_column(Float, nullable=True)   # its frame's receipt, epoch s
    still_jpeg: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    still_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)   # any write: the node is alive
