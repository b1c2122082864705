"""The HR pages: login with CSRF, language switch, roster forms, operator scoping."""
from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from .conftest import NIPS, PASSWORD, Env


def _csrf(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m, "every page carries the CSRF token for scripts"
    return m.group(1)


def _login(env: Env, c: TestClient, username: str) -> str:
    page = c.get("/login")
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": _csrf(page.text),
                               "next": "/employees"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/employees"
    return _csrf(c.get("/").text)


def test_login_page_flow_and_language(env: Env) -> None:
    c = env.client
    r = c.get("/employees", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    page = c.get("/login")
    assert page.status_code == 200 and "Masuk" in page.text and 'lang="id"' in page.text
    # Login form without the CSRF token, or with a wrong password: refused, no session.
    assert c.post("/login", data={"username": "hr", "password": PASSWORD}).status_code == 403
    r = c.post("/login", data={"username": "hr", "password": "nope", "csrf_token": _csrf(page.text)})
    assert r.status_code == 401 and "salah" in r.text
    # An open redirect after login is not followed.
    r = c.post("/login", data={"username": "hr", "password": PASSWORD, "csrf_token": _csrf(c.get("/login").text),
                               "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    home = c.get("/")
    assert "Selamat datang" in home.text and "/employees" in home.text
    c.get("/lang/en?next=/", follow_redirects=False)
    home = c.get("/")
    assert "Welcome" in home.text and 'lang="en"' in home.text


def test_hr_manages_roster_from_pages(env: Env, shared_data: Path) -> None:
    c = env.client
    csrf = _login(env, c, "hr")
    before = env.counts()
    # A form post without the CSRF token is refused and writes nothing.
    r = c.post("/offices", data={"code": "DINKES", "name": "Dinas Kesehatan"}, follow_redirects=False)
    assert r.status_code == 403 and env.counts() == before
    r = c.post("/offices", data={"code": "DINKES", "name": "Dinas Kesehatan", "csrf_token": csrf})
    assert r.status_code == 200 and "DINKES" in r.text
    office = [o for o in c.get("/api/v1/offices").json() if o["code"] == "DINKES"][0]
    r = c.post("/employees", data={"nip": NIPS[0], "name": "I Made", "office_id": str(office["id"]),
                                   "position": "Perawat", "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    emp_url = r.headers["location"]
    page = c.get(emp_url)
    assert "I Made" in page.text and NIPS[0] in page.text
    # Duplicate and malformed NIP: an error message on the page, nothing written.
    before = env.counts()
    r = c.post("/employees", data={"nip": NIPS[0], "name": "Dup", "office_id": str(office["id"]), "csrf_token": csrf})
    assert "NIP sudah terdaftar" in r.text
    r = c.post("/employees", data={"nip": "123", "name": "Bad", "office_id": str(office["id"]), "csrf_token": csrf})
    assert "18" in r.text
    assert env.counts() == before
    # Photo upload from the employee page, with a real photo.
    photo = (shared_data / "faces/lfw10/Vladimir_Putin/Vladimir_Putin_0001.jpg").read_bytes()
    r = c.post(f"{emp_url}/photos", data={"csrf_token": csrf}, files={"photo": ("p.jpg", photo, "image/jpeg")})
    assert r.status_code == 200 and "Foto diterima" in r.text
    two_people = (shared_data / "faces/fr_examples/two_people.jpg").read_bytes()
    r = c.post(f"{emp_url}/photos", data={"csrf_token": csrf}, files={"photo": ("p.jpg", two_people, "image/jpeg")})
    assert "beberapa wajah" in r.text
    # Bulk page with a CSV in the wrong encoding: the reason is shown, status 422.
    r = c.post("/enrolment", data={"csrf_token": csrf},
               files={"roster": ("r.csv", "nip,name,office_code\n198711232011011002,Süa,DINKES\n".encode("latin-1"))})
    assert r.status_code == 422 and "UTF-8" in r.text
    r = c.post("/enrolment", data={"csrf_token": csrf},
               files={"roster": ("r.csv", b"nip,name,office_code\n198711232011011002,Komang,DINKES\n")})
    assert r.status_code == 200 and "1 pegawai ditambahkan" in r.text


def test_pages_respect_roles(env: Env) -> None:
    hr = env.token("hr")
    with TestClient(env.app) as c:
        for nip, code in ((NIPS[0], "DISKOMINFOS"), (NIPS[1], "BKPSDM")):
            c.post("/api/v1/employees", json={"nip": nip, "name": f"Staf {code}", "office_code": code}, headers=hr)
    with TestClient(env.app) as c:
        csrf = _login(env, c, "op")
        page = c.get("/employees")
        assert "Staf DISKOMINFOS" in page.text and "Staf BKPSDM" not in page.text
        assert "Tambah pegawai" not in page.text  # no roster forms for operators
        assert c.get("/users").status_code == 403
        assert c.get("/enrolment").status_code == 403
        before = env.counts()
        assert c.post("/offices", data={"code": "X", "name": "X", "csrf_token": csrf}).status_code == 403
        assert env.counts() == before
    with TestClient(env.app) as c:
        _login(env, c, "admin")
        assert "hr" in c.get("/users").text
