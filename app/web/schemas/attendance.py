"""Apels, their roll-call and records, corrections, the review queue and the rule sets. Times are
ISO 8601 strings in UTC unless a field says `_local` (the office's wall clock)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.web.schemas.present_by_hand import HandMarkOut


class RulesetRef(BaseModel):
    id: int
    name: str
    version: int


class AssemblyOfficeOut(BaseModel):
    office_id: int
    code: str
    name: str
    timezone: str
    scheduled_start: str
    token_expires_at: str | None
    joined_at: str | None
    last_joined_at: str | None
    left_at: str | None
    join_count: int


class AssemblyOut(BaseModel):
    id: int
    kind: str
    title: str
    status: str = Field(description="scheduled | open | closed")
    scheduled_start: str
    duration_minutes: int
    ruleset: RulesetRef
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    created_by_id: int | None
    started_by_id: int | None
    ended_by_id: int | None
    offices: list[AssemblyOfficeOut]


class OfficeTokenOut(BaseModel):
    assembly_id: int
    office_id: int
    office_code: str
    token: str = Field(description="Plaintext, in this answer only.")
    expires_at: str
    join_path: str
    join_url: str = Field(description="The same link in full, from APEL_PUBLIC_URL (else the address this "
                                      "request came in on); the token stays after `#`.")


class RecordOut(BaseModel):
    """An attendance record; `*_local` only where the office's time zone is known."""

    id: int
    assembly_id: int
    employee_id: int
    office_id: int
    nip: str | None
    name: str | None
    status: str = Field(description="present | late | tk | excused | not_seen")
    tier: str | None
    late_minutes: int | None
    excuse_category: str | None
    excuse_reason: str | None
    excuse_attachment: str | None
    first_seen_at: str | None
    last_seen_at: str | None
    frames: int
    best_confidence: float | None
    mask_frames: int
    mask_total: int
    mask_ratio: float | None
    distancing_alerts: int
    corrected: bool
    version: int
    first_seen_local: str | None = None
    last_seen_local: str | None = None
    by_hand: HandMarkOut | None = Field(None, description="Marked present by hand, not seen by the camera.")


class RollcallPerson(BaseModel):
    """A person on the roll-call: their record, or (not seen yet, no record) only who they are."""

    id: int | None
    employee_id: int
    nip: str | None
    name: str | None
    office_id: int
    status: str
    tier: str | None
    frames: int
    version: int | None
    assembly_id: int | None = None
    late_minutes: int | None = None
    excuse_category: str | None = None
    excuse_reason: str | None = None
    excuse_attachment: str | None = None
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    best_confidence: float | None = None
    mask_frames: int | None = None
    mask_total: int | None = None
    mask_ratio: float | None = None
    distancing_alerts: int | None = None
    corrected: bool | None = None
    first_seen_local: str | None = None
    last_seen_local: str | None = None
    by_hand: HandMarkOut | None = Field(None, description="Marked present by hand, not seen by the camera.")


class RollcallCounts(BaseModel):
    roster: int
    present: int
    late: int
    not_seen: int
    tk: int
    excused: int
    late_by_tier: dict[str, int]
    excused_by_category: dict[str, int]
    distancing_alerts: int = Field(description="Episodes of a pair too close, each counted once (docs/reports.md)")
    mask_known: int = Field(description="People whose mask state was seen")
    masked: int = Field(description="Of those, masked in at least half of their frames")
    unknown_faces: int
    not_yet_seen: int
    mask_compliance: float | None = Field(description="masked / mask_known: a share of people, not frames")
    mask_compliance_pct: int | None = Field(description="mask_compliance as the whole percent every page shows")


class RollcallOffice(RollcallCounts):
    office_id: int
    code: str
    name: str
    timezone: str
    zone: str = Field(description="WIB | WITA | WIT, or the zone's name")
    scheduled_start: str
    scheduled_start_local: str | None
    joined: bool
    joined_at: str | None
    people: list[RollcallPerson]


class RollcallAssembly(BaseModel):
    id: int
    kind: str
    title: str
    status: str
    scheduled_start: str
    ruleset: dict[str, Any] = Field(description="name and version")


class RollcallOut(BaseModel):
    assembly: RollcallAssembly
    generated_at: str
    offices: list[RollcallOffice]
    totals: RollcallCounts


class CorrectionOut(BaseModel):
    id: int
    record_id: int
    assembly_id: int
    employee_id: int
    kind: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    attachment_ref: str | None
    actor: str
    at: str
    version_before: int | None
    version_after: int | None


class ReviewItemOut(BaseModel):
    id: int
    assembly_id: int
    office_id: int
    kind: str
    status: str = Field(description="open | assigned | dismissed")
    suggested_employee_id: int | None
    best_confidence: float | None
    frames: int | None
    first_at: str | None
    last_at: str | None
    has_embedding: bool
    has_evidence: bool
    expires_at: str | None
    resolved_employee_id: int | None
    resolved_by: str | None
    resolved_at: str | None
    note: str | None


class RuleSetOut(BaseModel):
    id: int
    name: str
    version: int
    grace_minutes: int
    tl1_max_minutes: int
    tl2_max_minutes: int
    tl3_max_minutes: int
    tk_after_minutes: int | None
    min_frames: int
    min_confidence: float
    excuse_categories: list[dict[str, Any]] = Field(description="{code, id (Bahasa Indonesia label), en}")
    note: str | None
    created_at: str | None
    created_by: str | None
