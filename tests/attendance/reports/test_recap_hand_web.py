"""Hand marks in the recap over HTTP, both databases: everyone who reads the recap sees the "present
without camera" counts (observers the offices' only); the per-operator table is HR's and admins' alone,
in the JSON, on the page and in the signed downloads."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import load_workbook

from attendance.i18n import t

from .test_recap_hand import mark_the_open_apel
from .test_routes import Web, web  # noqa: F401  (the fixture)

HTML = {"Accept": "text/html"}


@pytest.fixture
def marked(web: Web) -> Web:  # noqa: F811
    with web.app.state.session_factory() as s:
        mark_the_open_apel(s, web.ds)
    return web


@pytest.mark.parametrize("who", ["hr", "admin"])
def test_hr_and_admin_see_who_marked_how_many(marked: Web, who: str) -> None:
    with marked.client(who) as c:
        body = c.get("/api/v1/reports/recap", params={"month": "2026-11"}).json()
        assert body["total"]["by_hand"] == 3
        assert {e["name"]: e["by_hand"] for e in body["employees"] if e["by_hand"]} == {
            "Bagus Pratama": 1, "Dewa Made": 1, "Komang Ayu": 1}
        assert [(m["operator"], m["office_code"], m["marks"]) for m in body["hand_by_operator"]] == [
            ("opbkd", "BKD", 2), ("leader", "DKI", 1), ("opdki", "DKI", 1)]
        page = c.get("/reports/recap", params={"month": "2026-11", "lang": "en"}, headers=HTML)
        assert page.status_code == 200
        assert 'id="recap-hand-operators"' in page.text and ">opdki</td>" in page.text
        assert t("recap.hand.col", "en") in page.text
        r = c.get("/api/v1/reports/recap/export", params={"month": "2026-11", "format": "xlsx"})
        assert r.status_code == 200, r.text
        z = zipfile.ZipFile(io.BytesIO(r.content))
        wb = load_workbook(io.BytesIO(z.read(next(n for n in z.namelist() if n.endswith(".xlsx")))))
        assert "Tanpa kamera per operator" in wb.sheetnames


@pytest.mark.parametrize("who", ["leader", "opbkd", "obs"])
def test_others_see_the_counts_but_not_the_operators(marked: Web, who: str) -> None:
    with marked.client(who) as c:
        body = c.get("/api/v1/reports/recap", params={"month": "2026-11"}).json()
        assert "hand_by_operator" not in body
        offices = {o["code"]: o["by_hand"] for o in body["offices"]}
        assert offices == ({"BKD": 2} if who == "opbkd" else {"BKD": 2, "DINKES": 0, "DKI": 1})
        page = c.get("/reports/recap", params={"month": "2026-11", "lang": "en"}, headers=HTML)
        assert page.status_code == 200
        assert 'id="recap-hand-operators"' not in page.text and "opdki" not in page.text
        assert t("recap.hand.col", "en") in page.text
        r = c.get("/api/v1/reports/recap/export", params={"month": "2026-11", "format": "csv", "lang": "en"})
        assert r.status_code == 200, r.text
        z = zipfile.ZipFile(io.BytesIO(r.content))
        text = z.read(next(n for n in z.namelist() if n.endswith(".csv"))).decode("utf-8-sig")
        assert "Present without camera" in text and "per operator" not in text
