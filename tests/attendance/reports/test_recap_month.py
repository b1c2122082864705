"""The recap page opened without a month (a bookmark, a typed address) shows this month where the
installation is, and a month that is not YYYY-MM is refused on the page in the person's language; it
answered with FastAPI's English "Field required" before."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from attendance.i18n import t

from .test_routes import web  # noqa: F401  (the fixture)

HTML = {"Accept": "text/html"}


def test_recap_without_a_month_shows_this_month(web) -> None:  # noqa: F811
    this_month = datetime.now(ZoneInfo(web.app.state.settings.default_timezone)).strftime("%Y-%m")
    with web.client("hr") as c:
        for params in ({}, {"month": ""}, {"month": " "}):
            r = c.get("/reports/recap", params=params, headers=HTML)
            assert r.status_code == 200, r.text[:500]
            assert f"{t('rep.ui.recap', 'id')} {this_month}" in r.text
            assert "required" not in r.text.lower()


def test_a_bad_month_is_refused_in_the_pages_language(web) -> None:  # noqa: F811
    with web.client("hr") as c:
        for month in ("bogus", "2026-011", "2026-13", "11-2026"):
            for lang in ("id", "en"):
                r = c.get("/reports/recap", params={"month": month, "lang": lang}, headers=HTML)
                assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), r.text[:300]
                assert t("err.bad_month", lang) in r.text, r.text
                assert "String should have" not in r.text and 'id="recap-offices"' not in r.text
        api = c.get("/reports/recap", params={"month": "bogus"})   # a program asking gets the one error body
        assert api.status_code == 422 and api.json()["detail"]["code"] == "bad_month"
