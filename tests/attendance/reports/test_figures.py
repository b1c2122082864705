"""Report figures against the hand-counted dataset (tests/attendance/reports/dataset.py), on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from attendance.errors import Invalid, NotFound
from attendance.reports.apel import apel_people, apel_report
from attendance.reports.recap import month_bounds, monthly_recap

TZ = "Asia/Makassar"


def _office(report, code):
    return next(o for o in report.offices if o.code == code)


def test_apel_report_per_office_and_total(session, ds):
    r = apel_report(session, ds.apels["nov1"])
    assert [o.code for o in r.offices] == ["BKD", "DINKES", "DKI"]
    bkd = _office(r, "BKD").figures
    assert (bkd.roster, bkd.present, bkd.late, bkd.tk) == (5, 1, 2, 1)
    assert bkd.tiers == {"TL1": 1, "TL2": 0, "TL3": 1, "TL4": 0}
    assert bkd.excused["sakit"] == 1 and bkd.excused_total == 1 and bkd.absent == 2
    # masks: Ayu 10/10 yes, Bagus 2/10 no, Citra 5/10 yes (half counts), the rest unknown
    assert (bkd.mask_known, bkd.masked) == (3, 2)
    # alerts: pair episodes, each once (Ayu-Citra, Ayu-unknown), not the people's 2 + 1
    assert (bkd.distancing_alerts, bkd.people_with_alerts) == (2, 2)
    dinkes = _office(r, "DINKES").figures
    assert (dinkes.roster, dinkes.present, dinkes.late) == (4, 2, 1)
    assert (dinkes.tiers["TL4"], dinkes.excused["dinas_luar"]) == (1, 1)
    dki = _office(r, "DKI").figures
    assert (dki.tiers["TL2"], dki.excused["cuti"], dki.tk) == (1, 1, 1)
    t = r.total
    assert (t.roster, t.present, t.late, t.tk, t.excused_total, t.not_seen) == (12, 3, 4, 2, 3, 0)
    assert t.tiers == {"TL1": 1, "TL2": 1, "TL3": 1, "TL4": 1}
    assert t.present + t.late + t.tk + t.excused_total == t.roster
    assert (t.mask_known, t.masked, t.distancing_alerts) == (7, 5, 5)
    assert t.mask_compliance == pytest.approx(5 / 7)


def test_open_apel_counts_people_without_a_record_as_not_seen(session, ds):
    r = apel_report(session, ds.apels["open"])
    assert r.status == "open"
    assert (r.total.roster, r.total.present, r.total.late, r.total.not_seen) == (12, 1, 1, 10)
    assert _office(r, "BKD").figures.not_seen == 4


def test_office_filter_limits_the_report(session, ds):
    r = apel_report(session, ds.apels["nov1"], office_ids=[ds.offices["DKI"]])
    assert [o.code for o in r.offices] == ["DKI"]
    assert r.total.roster == 3


def test_drill_down_lists_people_and_filters(session, ds):
    office, people = apel_people(session, ds.apels["nov1"], ds.offices["BKD"])
    assert office.code == "BKD" and len(people) == 5
    late = apel_people(session, ds.apels["nov1"], ds.offices["BKD"], status="late")[1]
    assert sorted(p.name for p in late) == ["Bagus Pratama", "Citra Dewi"]
    tl3 = apel_people(session, ds.apels["nov1"], ds.offices["BKD"], tier="TL3")[1]
    assert [(p.name, p.late_minutes) for p in tl3] == [("Citra Dewi", 75)]
    open_people = apel_people(session, ds.apels["open"], ds.offices["BKD"])[1]
    assert len(open_people) == 5 and sum(p.status == "not_seen" for p in open_people) == 4


def test_unknown_apel_or_office_is_a_clear_error(session, ds):
    with pytest.raises(NotFound) as e:
        apel_report(session, 999_999)
    assert e.value.code == "not_found"
    with pytest.raises(NotFound):
        apel_people(session, ds.apels["nov1"], 999_999)
    with pytest.raises(NotFound) as e:
        apel_report(session, ds.apels["nov1"], office_ids=[999_999])
    assert e.value.code == "not_found"


def test_monthly_recap_counts_only_closed_apels_of_the_local_month(session, ds):
    rc = monthly_recap(session, "2026-11", tz=TZ)
    # nov1 (2026-10-31 23:30 UTC = 1 Nov 07:30 WITA) and nov2; not the open one, not Oct/Dec
    assert sorted(a["id"] for a in rc.apels) == sorted([ds.apels["nov1"], ds.apels["nov2"]])
    by_name = {e.name: e.counts for e in rc.employees}
    assert len(by_name) == 12
    ayu = by_name["Ayu Lestari"]
    assert (ayu.apels, ayu.present, ayu.late, ayu.tiers["TL1"], ayu.late_minutes) == (2, 1, 1, 1, 1)
    eka = by_name["Eka Putri"]
    assert (eka.present, eka.excused["izin"]) == (1, 1)
    indra = by_name["Indra Kusuma"]
    assert (indra.excused["cuti"], indra.excused["tugas_belajar"], indra.present) == (1, 1, 0)
    assert by_name["Hana Wijaya"].tiers["TL4"] == 1 and by_name["Hana Wijaya"].late_minutes == 120
    t = rc.total
    # "Apel" counts apels (two in the month), not people's records (24): it showed 13 and 10 per office.
    assert (t.apels, t.present, t.late, t.tk) == (2, 12, 5, 2)
    assert t.tiers == {"TL1": 2, "TL2": 1, "TL3": 1, "TL4": 1}
    assert t.excused == {"sakit": 1, "izin": 1, "cuti": 1, "dinas_luar": 1, "tugas_belajar": 1}
    assert t.late_minutes == 5 + 75 + 120 + 45 + 1
    offices = {o.code: o for o in rc.offices}
    assert offices["BKD"].employees == 5 and offices["BKD"].counts.apels == 2
    assert all(o.counts.apels == 2 for o in rc.offices)
    no_people = monthly_recap(session, "2026-11", tz=TZ, with_employees=False)
    assert [o.counts.apels for o in no_people.offices] == [2] * len(no_people.offices)
    assert no_people.total.apels == 2
    assert offices["DKI"].counts.tk == 1
    assert sum(o.counts.present for o in rc.offices) == t.present


def test_month_boundary_follows_the_zone(session, ds):
    # In UTC, the first November apel (2026-10-31 23:30Z) is still October.
    rc_utc = monthly_recap(session, "2026-11", tz="UTC")
    assert ds.apels["nov1"] not in [a["id"] for a in rc_utc.apels]
    oct_wita = monthly_recap(session, "2026-10", tz=TZ)
    assert [a["id"] for a in oct_wita.apels] == [ds.apels["oct"]]


def test_recap_office_filter_and_empty_month(session, ds):
    rc = monthly_recap(session, "2026-11", tz=TZ, office_ids=[ds.offices["DINKES"]])
    assert [o.code for o in rc.offices] == ["DINKES"] and len(rc.employees) == 4
    empty = monthly_recap(session, "2025-01", tz=TZ)
    assert empty.apels == [] and empty.employees == [] and empty.total.apels == 0


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-11", "", "2026-11-01", "abcd-ef"])
def test_bad_month_is_rejected(bad):
    with pytest.raises(Invalid) as e:
        month_bounds(bad, TZ)
    assert e.value.code == "bad_input"
