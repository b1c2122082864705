"""The apel report, its drill-down, the monthly recap, the signing key and report verification.
Counts by tier and by excuse category are keyed by tier (TL1-TL4) and category code."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Category(BaseModel):
    code: str
    id: str = Field(description="Label in Bahasa Indonesia")
    en: str = Field(description="Label in English")


class ReportAssembly(BaseModel):
    id: int
    title: str
    kind: str
    status: str
    scheduled_start: str
    started_at: str | None
    ended_at: str | None


class StatusCounts(BaseModel):
    """The counts an apel's figures and a month's recap share (attendance.reports.common counts them)."""

    present: int
    late: int
    attended: int
    late_by_tier: dict[str, int]
    tk: int
    excused: dict[str, int]
    excused_total: int


class Figures(StatusCounts):
    roster: int
    absent: int
    not_seen: int
    mask_known: int = Field(description="People whose mask state was seen")
    masked: int = Field(description="Of those, wearing a mask in at least half of their frames")
    mask_compliance: float | None
    distancing_alerts: int = Field(description="Episodes")
    people_with_alerts: int
    corrected: int


class ReportOffice(Figures):
    office_id: int
    code: str
    name: str
    timezone: str
    scheduled_start: str
    scheduled_start_local: str | None
    joined_at: str | None


class ApelReportOut(BaseModel):
    assembly: ReportAssembly
    ruleset: dict[str, Any] = Field(description="The rule set version the apel was judged by")
    categories: list[Category]
    offices: list[ReportOffice]
    total: Figures


class ReportPerson(BaseModel):
    record_id: int | None
    employee_id: int
    nip: str
    name: str
    position: str | None
    status: str
    tier: str | None
    late_minutes: int | None
    excuse_category: str | None
    excuse_reason: str | None
    first_seen_at: str | None
    first_seen_local: str | None
    last_seen_at: str | None
    last_seen_local: str | None
    frames: int
    best_confidence: float | None
    mask_frames: int
    mask_total: int
    distancing_alerts: int
    corrected: bool


class PeopleOffice(BaseModel):
    id: int
    code: str
    name: str
    timezone: str


class ApelPeopleOut(BaseModel):
    assembly_id: int
    office: PeopleOffice
    people: list[ReportPerson]


class RecapApel(BaseModel):
    id: int
    title: str
    kind: str
    scheduled_start: str


class RecapCounts(StatusCounts):
    apels: int
    late_minutes: int
    by_hand: int = Field(description="Of present + late: marked present by an operator, not seen by the camera")


class RecapOffice(RecapCounts):
    office_id: int
    code: str
    name: str
    employees: int


class RecapEmployee(RecapCounts):
    office_id: int
    office_code: str
    employee_id: int
    nip: str
    name: str


class RecapHandOperator(BaseModel):
    operator: str = Field(description="The operator's username")
    office_id: int
    office_code: str
    office_name: str
    marks: int = Field(description="People x apels marked, standing at the apel's end")
    people: int
    apels: int


class RecapOut(BaseModel):
    """`employees` only when asked for (employees=true)."""

    month: str
    timezone: str
    apels: list[RecapApel]
    categories: list[Category]
    offices: list[RecapOffice]
    total: RecapCounts
    employees: list[RecapEmployee] | None = None
    hand_by_operator: list[RecapHandOperator] | None = Field(
        None, description="Marked present by hand, per operator and office (HR and admins only)")


class SigningKeyOut(BaseModel):
    signer: str
    fingerprint: str
    fingerprint_short: str
    public_key_pem: str


class VerificationOut(BaseModel):
    valid: bool = Field(description="The bytes match the signature and the key is trusted here")
    reason: str = Field(description="ok | modified | bad_signature | untrusted_key | malformed")
    message: str
    explanation: str = Field(description="The reason in the person's language")
    signer: str | None
    signed_at: str | None
    document_id: str | None
    key_fingerprint: str | None
    key_fingerprint_short: str | None
    filename: str | None
    details: dict[str, Any]


_BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
# A signed download's 200 answer (app.web.api.reports.signed_download): the route answers with a file, not
# JSON, and says which kinds.
SIGNED_DOWNLOAD: dict[int | str, dict[str, Any]] = {200: {
    "description": "The signed report: a ZIP of the file and its `.sig` (`bundle=true`, the default), or the "
                   "file alone (`bundle=false`) with its signature base64-encoded in `X-Apel-Signature`.",
    "content": {"application/zip": _BINARY, "text/csv": _BINARY, "application/pdf": _BINARY,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": _BINARY}}}
