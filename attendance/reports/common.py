"""Pieces shared by the apel report and the monthly recap."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func

from attendance.models.assembly import DEFAULT_EXCUSE_CATEGORIES
from attendance.rules import TIERS, ZONE_LABELS

# Excused records without a category (should not happen, but a report must still add up).
UNCATEGORISED = "_uncategorised"


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(instant: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str | None:
    if instant is None:
        return None
    label = ZONE_LABELS.get(tz, tz)
    return f"{instant.astimezone(zone(tz)).strftime(fmt)} {label}"


def categories_for(rule_category_lists: Iterable[list[dict]], extra_codes: Iterable[str | None] = ()) -> list[dict]:
    """The excuse categories to report, in a stable order: the defaults first, in their own order (sakit,
    izin, cuti, dinas luar, tugas belajar), then any others the rule sets define, then codes
    found only in the data (a category removed from the rules after records used it)."""
    out: dict[str, dict] = {c["code"]: dict(c) for c in DEFAULT_EXCUSE_CATEGORIES}
    for cats in rule_category_lists:
        for c in cats or []:
            code = c.get("code")
            if code and code not in out:
                out[code] = {"code": code, "id": c.get("id") or code, "en": c.get("en") or c.get("id") or code}
    uncategorised = False
    for code in extra_codes:
        if code is None:
            uncategorised = True
        elif code not in out:
            out[code] = {"code": code, "id": code, "en": code}
    if uncategorised:
        out[UNCATEGORISED] = {"code": UNCATEGORISED, "id": "Lainnya", "en": "Other"}
    return list(out.values())


def status_sums(R, codes: list[str]) -> list:
    """SUM(CASE ...) columns: present, late, tl1..tl4, tk, not_seen, ex_0..ex_n (by category index,
    since category codes are data and must not become SQL identifiers)."""
    def count_if(cond, label: str):
        return func.sum(case((cond, 1), else_=0)).label(label)

    cols = [count_if(R.status == "present", "present"), count_if(R.status == "late", "late")]
    cols += [count_if((R.status == "late") & (R.tier == t), t.lower()) for t in TIERS]
    cols += [count_if(R.status == "tk", "tk"), count_if(R.status == "not_seen", "not_seen")]
    cols += [count_if((R.status == "excused") & (R.excuse_category.is_(None) if c == UNCATEGORISED
                                                 else R.excuse_category == c), f"ex_{i}")
             for i, c in enumerate(codes)]
    return cols
