"""Rule sets as data: an admin changes bounds and categories by saving a new version.

Versions are never updated in place. An assembly pins the version it is judged by when it starts,
so closed apels keep the rules they were run under.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Conflict, Forbidden, Invalid, NotFound
from attendance.models import Role, RuleSet, User
from attendance.models.assembly import DEFAULT_EXCUSE_CATEGORIES
from attendance.roster.common import refuse_control_characters
from attendance.rules import Rules

EDITABLE = ("grace_minutes", "tl1_max_minutes", "tl2_max_minutes", "tl3_max_minutes", "tk_after_minutes",
            "min_frames", "min_confidence", "excuse_categories")


def ruleset_view(rs: RuleSet) -> dict[str, Any]:
    return {
        "id": rs.id, "name": rs.name, "version": rs.version, "grace_minutes": rs.grace_minutes,
        "tl1_max_minutes": rs.tl1_max_minutes, "tl2_max_minutes": rs.tl2_max_minutes,
        "tl3_max_minutes": rs.tl3_max_minutes, "tk_after_minutes": rs.tk_after_minutes,
        "min_frames": rs.min_frames, "min_confidence": rs.min_confidence,
        "excuse_categories": list(rs.excuse_categories or []), "note": rs.note,
        "created_at": rs.created_at.isoformat() if rs.created_at else None, "created_by": rs.created_by,
    }


def current_ruleset(session: Session, name: str = "default") -> RuleSet:
    """The latest version of a family; a fresh "default" v1 is created if the table is empty."""
    rs = session.execute(
        select(RuleSet).where(RuleSet.name == name).order_by(RuleSet.version.desc()).limit(1)
    ).scalar_one_or_none()
    if rs is not None:
        return rs
    if name != "default":
        raise NotFound("not_found", f"no rule set named {name!r}")
    rs = RuleSet(name="default", version=1, excuse_categories=list(DEFAULT_EXCUSE_CATEGORIES),
                 note="created on first use", created_by="system")
    session.add(rs)
    session.flush()
    return rs


def ruleset_for_kind(session: Session, kind: str) -> RuleSet:
    """A family named after the apel kind (e.g. "disiplin") when an admin made one, else "default"."""
    exists = session.execute(select(func.count()).select_from(RuleSet).where(RuleSet.name == kind)).scalar()
    return current_ruleset(session, kind if exists else "default")


def list_rulesets(session: Session, name: str | None = None) -> list[RuleSet]:
    q = select(RuleSet).order_by(RuleSet.name, RuleSet.version.desc())
    if name:
        q = q.where(RuleSet.name == name)
    return list(session.execute(q).scalars())


def _categories(value: Any, known: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    """Codes with labels; a bare code that the previous version had keeps its labels."""
    if not isinstance(value, list) or not value:
        raise Invalid("invalid", "excuse_categories must be a non-empty list")
    labels = {c["code"]: c for c in known or [] if isinstance(c, dict) and "code" in c}
    out = []
    for item in value:
        if isinstance(item, str):
            item = dict(labels.get(item.strip().lower(), {"code": item}))
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            raise Invalid("invalid", "each excuse category needs a code")
        code = item["code"].strip().lower()
        out.append({"code": code, "id": str(item.get("id") or code.replace("_", " ").capitalize()),
                    "en": str(item.get("en") or item.get("id") or code.replace("_", " ").capitalize())})
    return out


def create_ruleset_version(session: Session, *, actor: User, name: str = "default", reason: str,
                           **changes: Any) -> RuleSet:
    """Save a new version of `name` from the latest one plus `changes` (admin only, audited)."""
    if actor.role != Role.admin.value:
        raise Forbidden("forbidden", "only an admin may change the rules")
    if not reason or not reason.strip():
        raise Invalid("invalid", "a reason is required to change the rules")
    refuse_control_characters(reason, "reason")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid("invalid", f"unknown rule fields: {', '.join(sorted(unknown))}")
    name = (name or "default").strip().lower()
    if not name.replace("_", "").isalnum() or len(name) > 32:
        raise Invalid("invalid", "rule set name: letters, digits and _ only, at most 32")
    base = session.execute(
        select(RuleSet).where(RuleSet.name == name).order_by(RuleSet.version.desc()).limit(1)
    ).scalar_one_or_none()
    if base is None:
        base = current_ruleset(session, "default")   # a new family starts from the default rules
        version = 1
    else:
        version = base.version + 1
    values = {f: getattr(base, f) for f in EDITABLE}
    for key, value in changes.items():
        if value is None and key != "tk_after_minutes":
            continue
        values[key] = _categories(value, base.excuse_categories) if key == "excuse_categories" else value
    try:
        for key in ("grace_minutes", "tl1_max_minutes", "tl2_max_minutes", "tl3_max_minutes", "min_frames"):
            values[key] = int(values[key])
        if values["tk_after_minutes"] is not None:
            values["tk_after_minutes"] = int(values["tk_after_minutes"])
        values["min_confidence"] = float(values["min_confidence"])
    except (TypeError, ValueError) as exc:
        raise Invalid("invalid", f"rule values must be numbers: {exc}") from exc
    rules = Rules(**{k: v for k, v in values.items() if k != "excuse_categories"},
                  excuse_categories=tuple(c["code"] for c in values["excuse_categories"]))
    problems = rules.problems()
    if problems:
        raise Invalid("invalid", "; ".join(problems))
    rs = RuleSet(name=name, version=version, note=reason.strip(), created_by=actor.username, **values)
    session.add(rs)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("wrong_state", "another admin saved a version at the same time; reload and try again") from exc
    audit.record(session, actor=actor.username, action="ruleset.create", entity="rule_set", entity_id=rs.id,
                 before=ruleset_view(base) if base.name == name else None, after=ruleset_view(rs),
                 reason=reason.strip())
    return rs
