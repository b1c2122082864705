"""The faces of a running apel that wait for a person's answer, and the roster people not yet seen
that the picker offers."""
from __future__ import annotations

from pydantic import BaseModel, Field


class LiveFaceOut(BaseModel):
    face_id: str = Field(description="Opaque; valid while the apel runs in this server.")
    assembly_id: int
    office_id: int
    office: str = Field(description="Office code.")
    status: str = Field(description="open | confirmed | visitor")
    employee_id: int | None = Field(None, description="Who it was confirmed as.")
    employee_name: str | None = None
    by: str | None = Field(None, description="Who answered.")
    suggested_employee_id: int | None = Field(None, description="The person vision leaned to, when unsure.")
    suggested_name: str | None = None
    confidence: float
    first_seen: float = Field(description="Unix time.")
    last_seen: float
    crop_url: str


class CandidateOut(BaseModel):
    employee_id: int
    name: str
    nip: str


class LiveFacesOut(BaseModel):
    assembly_id: int | None = Field(None, description="None when the office has no live apel here.")
    faces: list[LiveFaceOut]
    candidates: dict[str, list[CandidateOut]] = Field(
        description="Per office id: its active staff not yet present or late (the picker).")
