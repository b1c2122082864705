"""The pure rules: tier boundaries exactly at the bounds, grace period, TK cut-off, seen threshold,
excuses, and Indonesia's three time zones."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from attendance.rules import (
    EXCUSED,
    LATE,
    NOT_SEEN,
    PRESENT,
    TK,
    Rules,
    decide,
    late_minutes,
    lateness_tier,
    local_to_utc,
    to_local,
    zone_label,
)

START = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
R = Rules(grace_minutes=5, tl1_max_minutes=30, tl2_max_minutes=60, tl3_max_minutes=90, min_frames=3,
          min_confidence=0.6)


def seen_at(delta: timedelta, rules: Rules = R, frames: int = 3, closed: bool = False):
    return decide(first_seen=START + delta, confident_frames=frames, scheduled_start=START, rules=rules, closed=closed)


@pytest.mark.parametrize("delta, status, tier, minutes", [
    (timedelta(minutes=-10), PRESENT, None, None),              # early
    (timedelta(0), PRESENT, None, None),                        # exactly on time
    (timedelta(minutes=5), PRESENT, None, None),                # exactly at the end of grace
    (timedelta(minutes=5, seconds=1), LATE, "TL1", 6),          # one second past grace
    (timedelta(minutes=30), LATE, "TL1", 30),                   # exactly at the TL1 bound
    (timedelta(minutes=30, seconds=1), LATE, "TL2", 31),        # just past it
    (timedelta(minutes=60), LATE, "TL2", 60),
    (timedelta(minutes=60, seconds=1), LATE, "TL3", 61),
    (timedelta(minutes=90), LATE, "TL3", 90),
    (timedelta(minutes=90, seconds=1), LATE, "TL4", 91),
    (timedelta(hours=5), LATE, "TL4", 300),
])
def test_tier_boundaries(delta: timedelta, status: str, tier: str | None, minutes: int | None) -> None:
    d = seen_at(delta)
    assert (d.status, d.tier, d.late_minutes) == (status, tier, minutes)


def test_no_grace_means_one_second_is_late() -> None:
    rules = Rules(grace_minutes=0)
    assert seen_at(timedelta(0), rules).status == PRESENT
    d = seen_at(timedelta(seconds=1), rules)
    assert (d.status, d.tier, d.late_minutes) == (LATE, "TL1", 1)


def test_grace_period_changes_the_outcome() -> None:
    assert seen_at(timedelta(minutes=9), Rules(grace_minutes=10)).status == PRESENT
    assert seen_at(timedelta(minutes=9), Rules(grace_minutes=5)).status == LATE


def test_configurable_bounds() -> None:
    rules = Rules(tl1_max_minutes=10, tl2_max_minutes=20, tl3_max_minutes=40)
    assert [lateness_tier(m, rules) for m in (1, 10, 11, 20, 21, 40, 41)] == \
        ["TL1", "TL1", "TL2", "TL2", "TL3", "TL3", "TL4"]


def test_tk_after_cutoff() -> None:
    rules = Rules(tl3_max_minutes=90, tk_after_minutes=120)
    assert seen_at(timedelta(minutes=120), rules).tier == "TL4"
    d = seen_at(timedelta(minutes=120, seconds=1), rules)
    assert d.status == TK and d.late_minutes == 121


def test_seen_needs_enough_confident_frames() -> None:
    assert seen_at(timedelta(0), frames=2).status == NOT_SEEN
    assert seen_at(timedelta(0), frames=2, closed=True).status == TK
    assert seen_at(timedelta(0), frames=3).status == PRESENT
    assert decide(first_seen=None, confident_frames=0, scheduled_start=START, rules=R).status == NOT_SEEN
    assert decide(first_seen=None, confident_frames=0, scheduled_start=START, rules=R, closed=True).status == TK


def test_excuse_wins() -> None:
    d = decide(first_seen=None, confident_frames=0, scheduled_start=START, rules=R, excuse_category="sakit",
               closed=True)
    assert d.status == EXCUSED


def test_late_minutes_rounds_up_and_needs_aware_times() -> None:
    assert late_minutes(START + timedelta(seconds=61), START) == 2
    assert late_minutes(START - timedelta(minutes=3), START) == 0
    with pytest.raises(ValueError):
        late_minutes(datetime(2026, 11, 30, 0, 31), START)


def test_three_time_zones() -> None:
    day, seven_thirty = date(2026, 11, 30), time(7, 30)
    wib = local_to_utc(day, seven_thirty, "Asia/Jakarta")
    wita = local_to_utc(day, seven_thirty, "Asia/Makassar")
    wit = local_to_utc(day, seven_thirty, "Asia/Jayapura")
    assert wib == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert wita == datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    assert wit == datetime(2026, 11, 29, 22, 30, tzinfo=UTC)
    assert [zone_label(z) for z in ("Asia/Jakarta", "Asia/Makassar", "Asia/Jayapura")] == ["WIB", "WITA", "WIT"]
    # One instant, three wall clocks.
    assert to_local(wib, "Asia/Jayapura").strftime("%H:%M") == "09:30"
    # 07:40 local in each office is 10 minutes late in each office, whatever the zone.
    for tz, start in (("Asia/Jakarta", wib), ("Asia/Makassar", wita), ("Asia/Jayapura", wit)):
        first = local_to_utc(day, time(7, 40), tz)
        d = decide(first_seen=first, confident_frames=3, scheduled_start=start, rules=R)
        assert (d.status, d.tier, d.late_minutes) == (LATE, "TL1", 10), tz
    with pytest.raises(ValueError):
        local_to_utc(day, seven_thirty, "Mars/Olympus")


def test_rule_validation() -> None:
    assert R.problems() == []
    assert Rules(tl1_max_minutes=60, tl2_max_minutes=30).problems()
    assert Rules(grace_minutes=30).problems()
    assert Rules(min_frames=0).problems()
    assert Rules(min_confidence=1.5).problems()
    assert Rules(excuse_categories=("sakit", "sakit")).problems()
    assert Rules(tk_after_minutes=60).problems()
