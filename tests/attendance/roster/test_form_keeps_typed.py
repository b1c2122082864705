"""A refused form comes back as it was typed, with the reason beside it; a refused NIP shows which
digits are wrong; a NIP pasted as printed (with spaces, no-break spaces or the "NIP." label) is
accepted wherever a NIP is typed. Real SQLite and PostgreSQL behind the real app."""
from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from attendance.nip import explain_nip, normalise_nip, parse_nip

from .conftest import NIPS, Env

SPACED = "19910724 201311 1 005"
PASTED = "NIP. 19910724\u00a0201311\u00a01\u00a0005"   # as copied from a letter in a PDF


def _field(page: str, name: str) -> str:
    m = re.search(rf'<input name="{name}"[^>]*value="([^"]*)"', page)
    assert m, f"no filled {name} field"
    return html.unescape(m.group(1))


def test_wrong_nip_keeps_the_form_and_marks_the_digits(env: Env) -> None:
    csrf = env.login("hr")
    before = env.counts()
    office = str(env.offices["BKPSDM"])
    r = env.client.post("/employees?lang=en", data={"nip": "19851312 201001 1 001", "name": "Ni Luh Ayu Sri",
                                                    "office_id": office, "position": "Analis SDM",
                                                    "csrf_token": csrf})
    assert r.status_code == 422
    assert _field(r.text, "nip") == "19851312 201001 1 001"
    assert _field(r.text, "name") == "Ni Luh Ayu Sri" and _field(r.text, "position") == "Analis SDM"
    assert re.search(rf'<option value="{office}" selected', r.text)
    problem = re.search(r'<small id="nip-problem"[^>]*>(.*?)</small>', r.text, re.S)
    assert problem, r.text
    assert "1985<mark>1</mark><mark>3</mark>12" in problem.group(1)            # digits 5-6, the month
    assert "birth month 13 (digits 5-6) is not 01-12" in html.unescape(problem.group(1))
    assert env.counts() == before
    # A duplicate keeps the form too; the reason is the one HR knows.
    env.client.post("/api/v1/employees", headers={"X-CSRF-Token": csrf},
                    json={"nip": NIPS[0], "name": "Made", "office_code": "BKPSDM"})
    r = env.client.post("/employees", data={"nip": NIPS[0], "name": "Made Lagi", "office_id": office,
                                            "csrf_token": csrf})
    assert r.status_code == 409 and "NIP sudah terdaftar" in r.text and _field(r.text, "name") == "Made Lagi"


def test_refused_office_and_user_forms_keep_what_was_typed(env: Env) -> None:
    csrf = env.login("admin")
    r = env.client.post("/offices", data={"code": "DINKES", "name": "Dinas Kesehatan", "timezone": "Asia/Jayapura",
                                          "camera_hfov_deg": "200", "row_lines_m": "3; 4,5", "csrf_token": csrf})
    assert r.status_code == 422
    add = r.text[r.text.index('id="add-office"'):]
    assert _field(add, "code") == "DINKES" and _field(add, "camera_hfov_deg") == "200"
    assert _field(add, "row_lines_m") == "3; 4,5" and "<option selected>Asia/Jayapura</option>" in add
    oid = env.offices["BKPSDM"]
    r = env.client.post(f"/offices/{oid}", data={"name": "Badan Kepegawaian Baru", "timezone": "Asia/Makassar",
                                                 "min_distance_m": "9", "action": "save", "csrf_token": csrf})
    assert r.status_code == 422
    edit = r.text[r.text.index(f'id="edit-{oid}"'):]
    assert edit.split(">")[0].endswith("open") and _field(edit, "min_distance_m") == "9"
    assert _field(edit, "name") == "Badan Kepegawaian Baru"
    r = env.client.post("/users", data={"username": "op.baru", "full_name": "Operator Baru", "password": "pendek",
                                        "role": "operator", "office_id": str(oid), "csrf_token": csrf})
    assert r.status_code == 422
    assert _field(r.text, "username") == "op.baru" and _field(r.text, "full_name") == "Operator Baru"
    assert '<option value="operator" selected' in r.text and f'<option value="{oid}" selected' in r.text
    assert "pendek" not in r.text   # never a password


def test_employee_page_keeps_a_refused_edit(env: Env) -> None:
    csrf = env.login("hr")
    emp = env.client.post("/api/v1/employees", headers={"X-CSRF-Token": csrf},
                          json={"nip": NIPS[1], "name": "Ayu", "office_code": "BKPSDM"}).json()
    r = env.client.post(f"/employees/{emp['id']}", data={"name": "Ayu\x07", "position": "Kepala Bidang",
                                                         "office_id": str(env.offices["BKPSDM"]), "action": "save",
                                                         "csrf_token": csrf})
    assert r.status_code == 422 and _field(r.text, "position") == "Kepala Bidang"


def test_a_pasted_nip_is_accepted_everywhere(env: Env, tmp_path: Path) -> None:
    csrf = env.login("hr")
    h = {"X-CSRF-Token": csrf}
    # The form.
    r = env.client.post("/employees", data={"nip": PASTED, "name": "Made", "office_id": str(env.offices["BKPSDM"]),
                                            "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    # The API.
    r = env.client.post("/api/v1/employees", headers=h,
                        json={"nip": "19900105\u202f2015032002", "name": "Ayu", "office_code": "BKPSDM"})
    assert r.status_code == 201 and r.json()["nip"] == NIPS[1], r.text
    # The CSV, with a dash between the groups.
    r = env.client.post("/api/v1/enrolment/bulk", headers=h, files={
        "roster": ("r.csv", b"nip,name,office_code\n19871123-201101-1-002,Komang,BKPSDM\n", "text/csv")})
    assert r.status_code == 201 and r.json()["created"][0]["nip"] == NIPS[2], r.text
    # The list finds a NIP searched as printed.
    page = env.client.get("/employees", params={"q": SPACED})
    assert "199107242013111005" in page.text and NIPS[1] not in page.text
    found = env.client.get("/api/v1/employees", params={"q": SPACED}, headers=h)
    assert [e["nip"] for e in found.json()] == ["199107242013111005"], found.text


@pytest.mark.parametrize("typed", [SPACED, PASTED, "nip: 19910724-201311-1-005", "\u200b199107242013111005\ufeff"])
def test_one_normalisation(typed: str) -> None:
    assert normalise_nip(typed) == "199107242013111005"
    assert parse_nip(typed).nip == "199107242013111005"


def test_letters_are_still_refused_with_the_character_named() -> None:
    why = explain_nip("19910724 2O1311 1 005")   # a letter O for a zero
    assert why is not None and why.code == "not_digits" and "'O' is not a digit" in why.message
    assert ("O", True) in why.groups[1]


def test_a_nip_can_be_checked_before_the_form_is_filled(env: Env) -> None:
    env.login("hr")
    ok = env.client.get("/employees/nip-check", params={"nip": PASTED, "lang": "id"}).json()
    assert ok["ok"] and ok["nip"] == "199107242013111005" and ok["printed"] == SPACED
    assert "lahir 1991-07-24" in ok["text"] and "diangkat 2013-11" in ok["text"] and "laki-laki" in ok["text"]
    bad = env.client.get("/employees/nip-check", params={"nip": "19910724 201313 1 005", "lang": "en"}).json()
    assert not bad["ok"] and bad["code"] == "nip_appointment_month"
    assert "appointment month 13 (digits 13-14)" in bad["text"]
    marked = [d for g in bad["groups"] for d, wrong in g if wrong]
    assert marked == ["1", "3"]
    page = env.client.get("/employees").text
    assert 'data-nip-check="nip-problem"' in page and "/static/js/nip-check.js" in page
    env.login("op")
    assert env.client.get("/employees/nip-check", params={"nip": SPACED}).status_code == 403   # HR's tool
