"""Rule sets: everyone logged in may read them; only admins save a new version."""
from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.web.deps import AdminUser, CurrentUser, DbSession
from app.web.schemas.attendance import RuleSetOut
from attendance.assemblies.rulesets import create_ruleset_version, current_ruleset, list_rulesets, ruleset_view
from attendance.db.unit_of_work import run_in_transaction

router = APIRouter(prefix="/api/v1/rulesets", tags=["rules"])


class CategoryIn(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    id: str | None = Field(None, max_length=100, description="Label in Bahasa Indonesia")
    en: str | None = Field(None, max_length=100, description="Label in English")


class RuleSetIn(BaseModel):
    name: str = Field("default", max_length=32)
    reason: str = Field(min_length=1, max_length=2000)
    grace_minutes: int | None = Field(None, ge=0, le=600)
    tl1_max_minutes: int | None = Field(None, ge=1, le=1440)
    tl2_max_minutes: int | None = Field(None, ge=1, le=1440)
    tl3_max_minutes: int | None = Field(None, ge=1, le=1440)
    tk_after_minutes: int | None = Field(None, ge=1, le=1440)
    clear_tk_after: bool = Field(False, description="Remove the TK cut-off")
    min_frames: int | None = Field(None, ge=1, le=1000)
    min_confidence: float | None = Field(None, ge=0.0, le=1.0)
    excuse_categories: list[CategoryIn] | None = Field(None, min_length=1, max_length=50)


@router.get("", response_model=list[RuleSetOut])
def index(user: CurrentUser, db: DbSession, name: str | None = None) -> list[dict]:
    return [ruleset_view(r) for r in list_rulesets(db, name)]


@router.get("/current", response_model=RuleSetOut)
def current(user: CurrentUser, db: DbSession, name: str = "default") -> dict:
    return ruleset_view(current_ruleset(db, name))


@router.post("", status_code=201, response_model=RuleSetOut)
def create(body: RuleSetIn, user: AdminUser, db: DbSession) -> dict:
    changes = body.model_dump(exclude={"name", "reason", "clear_tk_after"}, exclude_none=True)
    if body.excuse_categories is not None:
        changes["excuse_categories"] = [c.model_dump() for c in body.excuse_categories]
    if body.clear_tk_after:
        changes["tk_after_minutes"] = None
    return ruleset_view(run_in_transaction(db, lambda: create_ruleset_version(db, actor=user, name=body.name,
                                                                              reason=body.reason, **changes)))
