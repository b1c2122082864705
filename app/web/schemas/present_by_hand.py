"""People marked present by hand during the apel (no camera detected them) and the mark each record
carries as its source."""
from __future__ import annotations

from pydantic import BaseModel, Field


class HandMarkOut(BaseModel):
    """A record's source when a person, not a camera, said they were there."""

    by: str | None = Field(description="Who marked them present (username).")
    at: str = Field(description="When (UTC, ISO 8601): the time lateness is counted from.")
    at_local: str | None = Field(None, description="The same on the office's wall clock.")


class HandMarkedOut(HandMarkOut):
    employee_id: int
    name: str
    nip: str
    office_id: int
    office: str = Field(description="Office code.")
    status: str = Field(description="The record's status now (present | late; the camera may have added evidence).")


class HandMarksOut(BaseModel):
    assembly_id: int
    marks: list[HandMarkedOut]
