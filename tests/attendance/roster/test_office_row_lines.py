"""An office's row lines (optional: 1-12 distances from the camera, 0.5-30 m, at least 0.3 m apart):
set, read, cleared and refused over the API and from the office page, on both real databases; a
refused value changes nothing. The rule itself (attendance.vision.config) is checked here too."""
from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from attendance.vision.config import check_row_lines, format_row_lines, parse_row_lines, rows_at_the_limit

from .conftest import Env
from .test_office_camera_height import _form as _camera_form
from .test_pages import _login


def _office(env: Env, c: TestClient, code: str) -> dict:
    return [o for o in c.get("/api/v1/offices").json() if o["code"] == code][0]


def test_the_rule_and_the_typed_form() -> None:
    assert check_row_lines([6, 3, 4.5]) == (3.0, 4.5, 6.0)                # stored front to back
    assert check_row_lines([0.5, 0.8, 30]) == (0.5, 0.8, 30.0)            # the bounds and the 0.3 m gap are allowed
    for bad, says in (([], "between 1 and 12"), ([3.0 + i for i in range(13)], "between 1 and 12"),
                      ([0.4], "between 0.5 and 30"), ([3, 31], "between 0.5 and 30"), ([float("nan")], "between"),
                      ([3, 3.2], "0.3 m apart"), ([4, 4], "0.3 m apart"), ("3;4", "list"), (3, "list"),
                      ([[3, 4]], "number"), (["3"], "number"), ([True], "number"), ([10 ** 400], "between")):
        with pytest.raises(ValueError, match=says):
            check_row_lines(bad)
    assert parse_row_lines("3; 4,5; 6") == parse_row_lines("3 4.5 6") == parse_row_lines(" 3;4.5 ;6; ") == [3, 4.5, 6]
    assert parse_row_lines("  ") == []
    for bad in ("3, 4, 5", "3,4,5", "3;x", "tiga", "-3", "nan"):   # commas as separators: refused, not guessed at
        with pytest.raises(ValueError, match="semicolons"):
            parse_row_lines(bad)
    assert format_row_lines((3.0, 4.5, 6.0)) == "3; 4.5; 6" and format_row_lines(None) == ""
    assert parse_row_lines(format_row_lines([3.123456789, 10.0])) == [3.123456789, 10.0]   # a form saved unchanged


def test_rows_at_the_limit_of_the_minimum_distance() -> None:
    """Advice, not a rule: neighbouring lines closer than 1.2 x the minimum distance are named
    (the first such pair, front first), in any order given; lines further apart, or none, are not."""
    assert rows_at_the_limit([3, 4, 5, 6], 1.0) == (3.0, 4.0)
    assert rows_at_the_limit([6, 3, 4.5, 5.5], 1.0) == (4.5, 5.5)
    assert rows_at_the_limit([3, 4.2, 5.4], 1.0) is None                  # exactly 1.2 apart: enough
    assert rows_at_the_limit([3, 4.5, 6], 1.5) == (3.0, 4.5)              # the office's own minimum counts
    assert rows_at_the_limit([3], 1.0) is None and rows_at_the_limit(None, 1.0) is None


def test_row_lines_over_the_api(env: Env, hr: dict[str, str]) -> None:
    c = env.client
    r = c.post("/api/v1/offices", json={"code": "DINKES", "name": "Dinas Kesehatan", "row_lines_m": [6, 3, 4.5]},
               headers=hr)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert r.json()["row_lines_m"] == [3.0, 4.5, 6.0]                      # stored sorted
    assert c.get(f"/api/v1/offices/{oid}").json()["row_lines_m"] == [3.0, 4.5, 6.0]
    assert c.get(f"/api/v1/offices/{env.offices['BKPSDM']}").json()["row_lines_m"] is None   # unknown by default
    # Refused, on create or on change: 422 naming the field (with its hint), and nothing written.
    before = env.counts()
    for body in ({"row_lines_m": [3, 3.2]}, {"row_lines_m": [0.2, 3]}, {"row_lines_m": [3, 45]},
                 {"row_lines_m": []}, {"row_lines_m": [float(i + 1) for i in range(13)]},
                 {"row_lines_m": "3; 4; 5"}, {"row_lines_m": [[3, 4]]}, {"row_lines_m": ["3", "4"]},
                 {"row_lines_m": 4}, {"name": "Renamed", "row_lines_m": [3, 3.1]}):
        r = c.patch(f"/api/v1/offices/{oid}", json=body, headers=hr)
        assert r.status_code == 422, (body, r.text)
        detail = r.json()["detail"]
        assert detail["code"] == "row_lines_m" and "row line" in detail["message"], (body, detail)
        assert detail["hint"].startswith("Garis barisan")
    r = c.post("/api/v1/offices", json={"code": "BARIS", "name": "x", "row_lines_m": [2, 2.1]}, headers=hr)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "row_lines_m"
    assert env.counts() == before
    got = c.get(f"/api/v1/offices/{oid}").json()
    assert got["row_lines_m"] == [3.0, 4.5, 6.0] and got["name"] == "Dinas Kesehatan"
    # A patch that does not name it keeps it; null clears it; each change is audited.
    r = c.patch(f"/api/v1/offices/{oid}", json={"camera_height_m": 2.5}, headers=hr)
    assert r.status_code == 200 and r.json()["row_lines_m"] == [3.0, 4.5, 6.0] and r.json()["camera_height_m"] == 2.5
    r = c.patch(f"/api/v1/offices/{oid}", json={"row_lines_m": [2.5, 3.5]}, headers=hr)
    assert r.status_code == 200 and r.json()["row_lines_m"] == [2.5, 3.5]
    r = c.patch(f"/api/v1/offices/{oid}", json={"row_lines_m": None}, headers=hr)
    assert r.status_code == 200 and r.json()["row_lines_m"] is None and r.json()["camera_height_m"] == 2.5
    assert c.get(f"/api/v1/offices/{oid}").json()["row_lines_m"] is None
    assert env.counts()["audit"] == before["audit"] + 3
    # Operators read it for their own office but may not change it.
    op = env.token("op")
    with TestClient(env.app) as oc:   # no HR cookie: only the operator's token
        assert oc.get(f"/api/v1/offices/{env.offices['DISKOMINFOS']}", headers=op).json()["row_lines_m"] is None
        r = oc.patch(f"/api/v1/offices/{env.offices['DISKOMINFOS']}", json={"row_lines_m": [3, 4]}, headers=op)
        assert r.status_code == 403
    assert c.get(f"/api/v1/offices/{env.offices['DISKOMINFOS']}").json()["row_lines_m"] is None


def _form(o: dict, **changes: str) -> dict[str, str]:
    """What the office's edit form posts: every field, as typed."""
    return _camera_form(o, **{"row_lines_m": format_row_lines(o["row_lines_m"]), **changes})


def test_row_lines_from_the_office_page(env: Env) -> None:
    c = env.client
    csrf = _login(env, c, "hr")
    page = c.get("/offices")
    assert "Garis barisan dari kamera (m)" in page.text and 'name="row_lines_m"' in page.text
    assert "pisahkan dengan titik koma" in page.text
    # Created with decimal commas and semicolons, as typed on an Indonesian keyboard.
    r = c.post("/offices", data={"code": "DINKES", "name": "Dinas Kesehatan", "row_lines_m": "3; 4,5; 6",
                                 "csrf_token": csrf})
    assert r.status_code == 200 and "DINKES" in r.text
    o = _office(env, c, "DINKES")
    assert o["row_lines_m"] == [3.0, 4.5, 6.0]
    page = c.get("/offices").text
    assert 'name="row_lines_m" value="3; 4.5; 6"' in page and "garis barisan 3; 4.5; 6 m" in page
    assert "kurang dari 1,2 kali jarak minimum" not in page              # 1.5 m apart at a 1 m minimum
    # Unreadable, too close or out of range: an error on the page, nothing changed or audited.
    before = env.counts()
    for typed, says in (("3; 3,1", "0.3 m apart"), ("3, 4, 5", "semicolons"), ("3; empat", "semicolons"),
                        ("0,2; 3", "between 0.5 and 30")):
        r = c.post(f"/offices/{o['id']}", data={**_form(o, row_lines_m=typed, name="Diubah"), "csrf_token": csrf})
        assert r.status_code == 422 and "Garis barisan" in r.text and says in r.text, typed
        assert html.escape(typed, quote=True) in r.text   # the form comes back as typed
    r = c.post("/offices", data={"code": "BARIS", "name": "x", "row_lines_m": "4 4", "csrf_token": csrf})
    assert r.status_code == 422 and "0.3 m apart" in r.text and 'value="4 4"' in r.text
    assert env.counts() == before
    assert _office(env, c, "DINKES") == o
    # Changed (spaces and dots do too), then cleared by emptying the field. Rows 1 m apart at a 1 m
    # minimum are saved, with advice on the page to mark them further apart.
    r = c.post(f"/offices/{o['id']}", data={**_form(o, row_lines_m="2.5 3.5"), "csrf_token": csrf})
    assert r.status_code == 200 and _office(env, c, "DINKES")["row_lines_m"] == [2.5, 3.5]
    assert "Garis barisan 2.5 m dan 3.5 m berjarak 1 m, kurang dari 1,2 kali jarak minimum (1.0 m)" in r.text
    assert "Tandai barisan sedikitnya 1.2 m terpisah" in r.text
    c.get("/lang/en?next=/", follow_redirects=False)
    assert ("Row lines 2.5 m and 3.5 m are 1 m apart, less than 1.2 times the minimum distance (1.0 m)"
            in c.get("/offices").text)
    c.get("/lang/id?next=/", follow_redirects=False)
    o = _office(env, c, "DINKES")
    r = c.post(f"/offices/{o['id']}", data={**_form(o, row_lines_m=""), "csrf_token": csrf})
    assert r.status_code == 200 and _office(env, c, "DINKES")["row_lines_m"] is None
    assert env.counts()["audit"] == before["audit"] + 2
    c.get("/lang/en?next=/", follow_redirects=False)
    page = c.get("/offices")
    assert "Row lines&#39; distances from the camera (m)" in page.text and "separate them with semicolons" in page.text


def test_operator_cannot_change_row_lines_from_the_page(env: Env) -> None:
    with TestClient(env.app) as oc:
        csrf = _login(env, oc, "op")
        oid = env.offices["DISKOMINFOS"]
        o = oc.get(f"/api/v1/offices/{oid}").json()
        r = oc.post(f"/offices/{oid}", data={**_form(o, row_lines_m="3; 4"), "csrf_token": csrf})
        assert r.status_code == 403
        assert oc.get(f"/api/v1/offices/{oid}").json()["row_lines_m"] is None
