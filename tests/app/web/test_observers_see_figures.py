"""Observers see figures, not people (docs/roster.md, Roles): every route that lists people's names or
NIPs either refuses an observer (403 `observer_no_people`) or answers the same figures without them.
Each route is checked for an observer, and for a leader to show it does list people (so the check
cannot pass by looking at a page that never had names)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attendance.reports.dataset import EMPLOYEES, nip

from .people_web import Web, make_web

NAMES = [name for name in (n for _, n in EMPLOYEES.values()) if name.isprintable() and "=" not in name]
NIPS = [nip(i) for i in EMPLOYEES]

# (path template, what an observer gets: "refused" or "figures"). {a}: a closed apel, {o}: an office,
# {r}: a record of that apel; {open}: the open apel.
ROUTES = [
    ("/api/v1/assemblies/{a}/records", "refused"),
    ("/api/v1/records/{r}", "refused"),
    ("/api/v1/records/{r}/corrections", "refused"),
    ("/api/v1/corrections?assembly_id={a}", "refused"),
    ("/api/v1/reports/apel/{a}/offices/{o}/people", "refused"),
    ("/api/v1/reports/apel/{a}/export?format=csv&bundle=false&detail=true", "refused"),
    ("/api/v1/reports/recap?month=2026-11&employees=true", "refused"),
    ("/api/v1/reports/recap/export?month=2026-11&format=csv&bundle=false&employees=true", "refused"),
    ("/api/v1/employees", "refused"),
    ("/api/v1/assemblies/{a}/rollcall", "figures"),
    ("/api/v1/assemblies/{open}/rollcall", "figures"),
    ("/api/v1/live/assemblies/{open}/rollcall", "figures"),
    ("/api/v1/reports/apel/{a}", "figures"),
    ("/api/v1/reports/apel/{a}/export?format=csv&bundle=false", "figures"),
    ("/api/v1/reports/recap?month=2026-11", "figures"),
    ("/api/v1/reports/recap?month=2026-11&office_id={o}", "figures"),
    ("/api/v1/reports/recap/export?month=2026-11&format=csv&bundle=false", "figures"),
    ("/apel/{a}", "figures"),
    ("/apel/{open}", "figures"),
    ("/records/{r}", "refused"),
    ("/reports/apel/{a}", "figures"),
    ("/reports/apel/{a}/office/{o}", "refused"),
    ("/reports/recap?month=2026-11&office_id={o}", "figures"),
]
# Routes that show no names to anyone here (figures for all, or no correction made in the dataset): the
# leader check below is skipped for them.
NO_NAMES_FOR_ANYONE = {"/api/v1/reports/apel/{a}", "/reports/apel/{a}",
                       "/api/v1/corrections?assembly_id={a}", "/api/v1/records/{r}/corrections"}


@pytest.fixture
def web(db_url: str, settings_factory) -> Iterator[Web]:
    # One vision worker on the plain dlib recogniser: the live routes start the live service.
    yield from make_web(db_url, settings_factory, vision_workers=1, recognizer="dlib")


def _path(web: Web, template: str) -> str:
    a = web.ds.apels["nov1"]
    rec = web.client.get(f"/api/v1/assemblies/{a}/records", headers=web.auth("hr")).json()[0]
    return template.format(a=a, open=web.ds.apels["open"], o=web.ds.offices["BKD"], r=rec["id"])


def _people_in(text: str) -> list[str]:
    return [s for s in NAMES + NIPS if s in text]


@pytest.mark.parametrize(("template", "observer_gets"), ROUTES, ids=[r[0] for r in ROUTES])
def test_observer_sees_no_names_or_nips(web: Web, template: str, observer_gets: str) -> None:
    path = _path(web, template)
    page = not path.startswith("/api/")
    accept = {"accept": "text/html"} if page else {}
    if template not in NO_NAMES_FOR_ANYONE:
        as_leader = web.client.get(path, headers={**web.auth("leader"), **accept})
        assert as_leader.status_code == 200 and _people_in(as_leader.text), (path, as_leader.text[:300])
    r = web.client.get(path, headers={**web.auth("obs"), **accept})
    if observer_gets == "refused":
        assert r.status_code == 403, (path, r.text[:300])
        if not page and template != "/api/v1/employees":
            assert r.json()["detail"]["code"] == "observer_no_people"
    else:
        assert r.status_code == 200, (path, r.text[:300])
    assert _people_in(r.text) == [], path


def test_observer_figures_are_the_same_numbers(web: Web) -> None:
    """Figures only, not fewer figures: the roll-call's counts are the leader's."""
    path = f"/api/v1/assemblies/{web.ds.apels['nov1']}/rollcall"
    leader = web.client.get(path, headers=web.auth("leader")).json()
    obs = web.client.get(path, headers=web.auth("obs")).json()
    assert obs["totals"] == leader["totals"] and leader["totals"]["roster"] == 12
    assert [o["people"] for o in obs["offices"]] == [[], [], []]
    assert [len(o["people"]) for o in leader["offices"]] == [5, 4, 3]


def test_observer_event_stream_has_no_names(web: Web) -> None:
    """The live console's event stream: its first roll-call event, as an observer and as a leader."""
    path = f"/api/v1/live/assemblies/{web.ds.apels['open']}/events"

    def first_rollcall(who: str) -> str:
        with web.client.stream("GET", path, headers=web.auth(who)) as s:
            assert s.status_code == 200
            lines = s.iter_lines()
            for line in lines:
                if line == "event: rollcall":
                    return next(lines)
        raise AssertionError("no rollcall event")

    assert _people_in(first_rollcall("leader"))
    assert _people_in(first_rollcall("obs")) == []
