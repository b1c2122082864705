"""The one count (attendance.assemblies.counts): the rule `apel analyze` applies in Python and the one
the database applies for the console and the reports are the same, on SQLite and PostgreSQL; and the
console's roll-call and the laporan apel give the same figures for the hand-counted dataset."""
from __future__ import annotations

from sqlalchemy import Integer, case, literal, select

from attendance.assemblies.counts import (
    alert_episodes,
    counts_from_tallies,
    is_masked,
    masked_sql,
    office_counts,
    percent,
)
from attendance.assemblies.sightings import live_rollcall
from attendance.reports.apel import apel_report


def test_the_mask_rule_is_the_same_in_python_and_in_the_database(session) -> None:
    for total in range(0, 9):
        for frames in range(0, total + 1):
            cond = masked_sql(literal(frames, Integer), literal(total, Integer))
            in_db = session.execute(select(case((cond, 1), else_=0))).scalar_one()
            assert bool(in_db) == bool(is_masked(frames, total)), (frames, total)
    assert is_masked(0, 0) is None and is_masked(1, 2) is True and is_masked(1, 3) is False


def test_people_not_frames_and_episodes_not_marks() -> None:
    # One person masked in 9 of 10 frames, one never masked in 2 frames, one never seen masked or not:
    # 1 of 2 people (50%), where frames would say 9 of 12 (75%).
    c = counts_from_tallies([(9, 10), (0, 2), (0, 0)], [1, 1, 2, 2])
    assert (c.mask_known, c.masked, c.mask_compliance, c.distancing_alerts) == (2, 1, 0.5, 3)
    assert alert_episodes(0) == 0 and counts_from_tallies([], []).mask_compliance is None
    # The console shows the server's whole percent: 5 of 8 is 62% on every page (JS would round to 63).
    assert (percent(5 / 8), percent(0.0), percent(None)) == (62, 0, None)


def test_console_and_report_agree_on_the_dataset(session, ds) -> None:
    for key in ("nov1", "nov2", "open"):
        report = apel_report(session, ds.apels[key])
        roll = live_rollcall(session, ds.apels[key])
        by_code = {o["code"]: o for o in roll["offices"]}
        for o in report.offices:
            r = by_code[o.code]
            assert (r["distancing_alerts"], r["mask_known"], r["masked"], r["mask_compliance"]) == \
                (o.figures.distancing_alerts, o.figures.mask_known, o.figures.masked, o.figures.mask_compliance)
        t = roll["totals"]
        assert (t["distancing_alerts"], t["mask_known"], t["masked"]) == \
            (report.total.distancing_alerts, report.total.mask_known, report.total.masked)
    counted = office_counts(session, ds.apels["nov1"], list(ds.offices.values()))
    assert counted[ds.offices["BKD"]].distancing_alerts == 2 and counted[ds.offices["DKI"]].distancing_alerts == 0
