"""From what the cameras saw to a status: pure functions, no database, no clock.

Lateness is a difference of two instants (first confident sighting minus the office's scheduled
start), so it does not depend on the time zone; the zone matters where a schedule is given in an
office's local time ("apel pagi 07:30 in every office"), which `local_to_utc` turns into UTC.

Conventions (all from the rule set, so an admin can change them without a deploy):
- seen: recognised with confidence >= min_confidence in at least min_frames analysed frames;
- present: first seen no later than grace_minutes after the scheduled start (exactly at the
  bound is still on time);
- late: lateness in minutes is rounded up (1 s late counts as minute 1); TL1 up to tl1_max
  minutes inclusive, TL2 up to tl2_max, TL3 up to tl3_max, TL4 beyond; when tk_after_minutes
  is set, later than that counts as TK;
- while the apel is open an unseen person is not_seen; at close not_seen becomes TK;
- an excuse (sakit, izin, ...) wins: HR decided it on purpose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PRESENT, LATE, TK, EXCUSED, NOT_SEEN = "present", "late", "tk", "excused", "not_seen"
STATUSES = (PRESENT, LATE, TK, EXCUSED, NOT_SEEN)
FINAL_STATUSES = (PRESENT, LATE, TK, EXCUSED)
TIERS = ("TL1", "TL2", "TL3", "TL4")

# Indonesia's three zones; Bali is WITA.
ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


@dataclass(frozen=True)
class Rules:
    grace_minutes: int = 0
    tl1_max_minutes: int = 30
    tl2_max_minutes: int = 60
    tl3_max_minutes: int = 90
    tk_after_minutes: int | None = None
    min_frames: int = 3
    # 0.5 = the face passed vision's fitted acceptance distance and margin (attendance.vision.recognise.recognisers);
    # above it, how far inside them. Raise it to demand clearer views; min_frames demands more of them.
    min_confidence: float = 0.5
    excuse_categories: tuple[str, ...] = field(default=("sakit", "izin", "cuti", "dinas_luar", "tugas_belajar"))

    def problems(self) -> list[str]:
        """Why these rules cannot be used (empty when they can): checked before a version is saved."""
        out = []
        if self.grace_minutes < 0:
            out.append("grace_minutes must be >= 0")
        if not (0 < self.tl1_max_minutes < self.tl2_max_minutes < self.tl3_max_minutes):
            out.append("tier bounds must rise: 0 < TL1 < TL2 < TL3")
        if self.grace_minutes >= self.tl1_max_minutes:
            out.append("grace_minutes must be below the TL1 bound")
        if self.tk_after_minutes is not None and self.tk_after_minutes <= self.tl3_max_minutes:
            out.append("tk_after_minutes must be above the TL3 bound")
        if self.min_frames < 1:
            out.append("min_frames must be >= 1")
        if not (0.0 <= self.min_confidence <= 1.0):
            out.append("min_confidence must be between 0 and 1")
        codes = list(self.excuse_categories)
        if not codes or len(set(codes)) != len(codes) or any(not c or not c.replace("_", "").isalnum() for c in codes):
            out.append("excuse categories must be unique non-empty codes of letters, digits and _")
        return out

    @classmethod
    def from_ruleset(cls, rs: object) -> Rules:
        """From a RuleSet row (duck-typed, so this module stays free of the ORM)."""
        return cls(grace_minutes=rs.grace_minutes, tl1_max_minutes=rs.tl1_max_minutes,  # type: ignore[attr-defined]
                   tl2_max_minutes=rs.tl2_max_minutes, tl3_max_minutes=rs.tl3_max_minutes,  # type: ignore[attr-defined]
                   tk_after_minutes=rs.tk_after_minutes, min_frames=rs.min_frames,  # type: ignore[attr-defined]
                   min_confidence=rs.min_confidence,  # type: ignore[attr-defined]
                   excuse_categories=tuple(c["code"] for c in rs.excuse_categories or []))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Decision:
    status: str
    tier: str | None = None
    late_minutes: int | None = None


def is_confident(confidence: float, rules: Rules) -> bool:
    return confidence >= rules.min_confidence


def counts_as_seen(confident_frames: int, rules: Rules) -> bool:
    return confident_frames >= rules.min_frames


def late_minutes(first_seen: datetime, scheduled_start: datetime) -> int:
    """Whole minutes after the start, rounded up; 0 when on time or early."""
    _aware(first_seen, "first_seen")
    _aware(scheduled_start, "scheduled_start")
    seconds = (first_seen - scheduled_start).total_seconds()
    return max(0, math.ceil(seconds / 60))


def lateness_tier(minutes: int, rules: Rules) -> str:
    if minutes <= rules.tl1_max_minutes:
        return "TL1"
    if minutes <= rules.tl2_max_minutes:
        return "TL2"
    if minutes <= rules.tl3_max_minutes:
        return "TL3"
    return "TL4"


def decide(*, first_seen: datetime | None, confident_frames: int, scheduled_start: datetime, rules: Rules,
           excuse_category: str | None = None, closed: bool = False) -> Decision:
    """The status of one person in one apel."""
    if excuse_category:
        return Decision(EXCUSED)
    if first_seen is None or not counts_as_seen(confident_frames, rules):
        return Decision(TK if closed else NOT_SEEN)
    _aware(first_seen, "first_seen")
    _aware(scheduled_start, "scheduled_start")
    if first_seen - scheduled_start <= timedelta(minutes=rules.grace_minutes):
        return Decision(PRESENT)
    minutes = late_minutes(first_seen, scheduled_start)
    if rules.tk_after_minutes is not None and minutes > rules.tk_after_minutes:
        return Decision(TK, None, minutes)
    return Decision(LATE, lateness_tier(minutes, rules), minutes)


def zone(tz_name: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone: {tz_name!r}") from exc


def local_to_utc(day: date, at: time, tz_name: str) -> datetime:
    """An office's local wall-clock time on a day, as a UTC instant (Indonesia has no DST)."""
    return datetime.combine(day, at, tzinfo=zone(tz_name)).astimezone(UTC)


def to_local(instant: datetime, tz_name: str) -> datetime:
    _aware(instant, "instant")
    return instant.astimezone(zone(tz_name))


def zone_label(tz_name: str) -> str:
    """WIB / WITA / WIT for Indonesia's zones, otherwise the UTC offset."""
    if tz_name in ZONE_LABELS:
        return ZONE_LABELS[tz_name]
    offset = datetime.now(zone(tz_name)).utcoffset() or timedelta(0)
    hours = offset.total_seconds() / 3600
    return f"UTC{hours:+g}"


def format_local(instant: datetime | None, tz_name: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if instant is None:
        return ""
    return f"{to_local(instant, tz_name).strftime(fmt)} {zone_label(tz_name)}"


def _aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
