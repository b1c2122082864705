"""Offices, employees, user accounts, face templates, enrolment and personal data."""
from __future__ import annotations

from pydantic import BaseModel, Field


class OfficeOut(BaseModel):
    id: int
    code: str
    name: str
    timezone: str
    camera_hfov_deg: float | None
    min_distance_m: float | None
    back_row_m: float | None
    camera_height_m: float | None
    row_lines_m: list[float] | None = Field(description="Row lines' distances from the camera (m), front row first.")
    active: bool


class EmployeeOut(BaseModel):
    id: int
    nip: str
    name: str
    office_id: int
    position: str | None
    active: bool


class EmployeeWithPhotos(EmployeeOut):
    photos_enrolled: int = Field(description="Face templates from enrolment photos.")


class UserOut(BaseModel):
    id: int
    username: str
    full_name: str | None
    role: str
    office_id: int | None
    active: bool


class TemplateOut(BaseModel):
    """A face template's metadata; the embedding itself only in the personal-data export."""

    id: int
    kind: str = Field(description="photo | masked")
    backend: str
    quality: float
    source_sha256: str | None
    dim: int
    photo_kept: bool
    created_at: str | None
    created_by: str | None


class PhotoSummary(BaseModel):
    """One analysed photo: accepted with its measurements, or refused with `code` and `reason`."""

    file: str
    sha256: str
    accepted: bool
    quality: float | None = None
    box: list[int] | None = None
    width: int | None = None
    height: int | None = None
    masked_variants: int | None = None
    code: str | None = None
    reason: str | None = None


class FaceWarning(BaseModel):
    """The enrolled face matches another employee's (the same photo re-encoded, or a mix-up)."""

    code: str
    employee_id: int
    nip: str
    name: str
    distance: float
    message: str


class PhotoEnrolled(BaseModel):
    employee_id: int
    nip: str
    photo: PhotoSummary
    templates: list[TemplateOut]
    warnings: list[FaceWarning] = []


class BulkPhoto(PhotoSummary):
    nip: str


class BulkEnrolled(BaseModel):
    created: list[EmployeeOut]
    enrolled: list[BulkPhoto]


class TemplatesErased(BaseModel):
    ok: bool
    photos_removed: int


class GeometryForgotten(BaseModel):
    ok: bool
    roll_calls_forgotten: int
