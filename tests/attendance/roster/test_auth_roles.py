"""Login, CSRF, bearer tokens and the role checks on every roster route."""
from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import NIPS, PASSWORD, Env


def test_login_me_logout(env: Env) -> None:
    c = env.client
    assert c.get("/api/v1/auth/me").status_code == 401
    r = c.post("/api/v1/auth/login", json={"username": "hr", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"]["role"] == "hr" and body["csrf_token"] and body["access_token"]
    assert "apel_session" in c.cookies
    assert c.get("/api/v1/auth/me").json()["user"]["username"] == "hr"
    assert c.post("/api/v1/auth/logout").status_code == 403  # cookie auth without CSRF token
    assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]}).status_code == 200
    assert c.get("/api/v1/auth/me").status_code == 401


def test_wrong_password_is_401_and_throttled(env: Env) -> None:
    c = env.client
    for _ in range(10):
        r = c.post("/api/v1/auth/login", json={"username": "hr", "password": "wrong password"})
        assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_credentials"
    assert c.post("/api/v1/auth/login", json={"username": "hr", "password": PASSWORD}).status_code == 429
    assert c.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401


def test_csrf_required_for_cookie_writes_not_for_bearer(env: Env) -> None:
    c = env.client
    csrf = env.login("hr")
    new = {"nip": NIPS[0], "name": "Made", "office_code": "DISKOMINFOS"}
    before = env.counts()
    assert c.post("/api/v1/employees", json=new).status_code == 403
    assert c.post("/api/v1/employees", json=new, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert env.counts() == before
    assert c.post("/api/v1/employees", json=new, headers={"X-CSRF-Token": csrf}).status_code == 201
    with TestClient(env.app) as other:  # a bearer client has no cookie, so no CSRF to check
        r = other.post("/api/v1/employees", json={**new, "nip": NIPS[1]}, headers=env.token("hr"))
        assert r.status_code == 201


def test_password_change_revokes_tokens(env: Env) -> None:
    bearer = env.token("leader")
    with TestClient(env.app) as c:
        assert c.get("/api/v1/auth/me", headers=bearer).status_code == 200
        r = c.post("/api/v1/auth/password", headers=bearer,
                   json={"current_password": PASSWORD, "new_password": "another long one"})
        assert r.status_code == 200
        assert c.get("/api/v1/auth/me", headers=bearer).status_code == 401
        assert c.get("/api/v1/auth/me", headers={"Authorization": "Bearer garbage"}).status_code == 401


def test_only_hr_and_admin_change_the_roster(env: Env) -> None:
    new = {"nip": NIPS[0], "name": "Made", "office_code": "DISKOMINFOS"}
    office = {"code": "DINKES", "name": "Dinas Kesehatan"}
    before = env.counts()
    for who in ("leader", "op", "obs"):
        h = env.token(who)
        with TestClient(env.app) as c:
            assert c.post("/api/v1/employees", json=new, headers=h).status_code == 403, who
            assert c.post("/api/v1/offices", json=office, headers=h).status_code == 403, who
            assert c.patch(f"/api/v1/offices/{env.offices['BKPSDM']}", json={"name": "x"}, headers=h).status_code == 403
            roster = {"roster": ("r.csv", b"nip,name,office_code\n")}
            assert c.post("/api/v1/enrolment/bulk", headers=h, files=roster).status_code == 403
            assert c.get("/api/v1/users", headers=h).status_code == 403
    assert env.counts() == before
    with TestClient(env.app) as c:
        assert c.post("/api/v1/employees", json=new).status_code == 401  # nobody logged in
        h = env.token("hr")
        assert c.post("/api/v1/offices", json=office, headers=h).status_code == 201
        assert c.post("/api/v1/employees", json=new, headers=h).status_code == 201
        assert c.get("/api/v1/users", headers=h).status_code == 403  # users are the admin's
        assert c.post("/api/v1/users", headers=env.token("admin"),
                      json={"username": "newop", "password": PASSWORD, "role": "operator",
                            "office_id": env.offices["BKPSDM"]}).status_code == 201


def test_operator_sees_only_its_office(env: Env) -> None:
    h_hr = env.token("hr")
    with TestClient(env.app) as c:
        ids = {}
        for nip, code in ((NIPS[0], "DISKOMINFOS"), (NIPS[1], "BKPSDM")):
            r = c.post("/api/v1/employees", json={"nip": nip, "name": code, "office_code": code}, headers=h_hr)
            ids[code] = r.json()["id"]
        h = env.token("op")  # operator of DISKOMINFOS
        assert [o["code"] for o in c.get("/api/v1/offices", headers=h).json()] == ["DISKOMINFOS"]
        assert [e["nip"] for e in c.get("/api/v1/employees", headers=h).json()] == [NIPS[0]]
        assert c.get(f"/api/v1/employees?office_id={env.offices['BKPSDM']}", headers=h).status_code == 403
        assert c.get(f"/api/v1/employees/{ids['BKPSDM']}", headers=h).status_code == 403
        assert c.get(f"/api/v1/offices/{env.offices['BKPSDM']}", headers=h).status_code == 403
        assert c.get(f"/api/v1/employees/{ids['DISKOMINFOS']}", headers=h).status_code == 200
        assert c.get(f"/api/v1/employees/{ids['DISKOMINFOS']}/export", headers=h).status_code == 403
        # A leader reads every office.
        assert len(c.get("/api/v1/employees", headers=env.token("leader")).json()) == 2


def test_bad_employee_input_is_4xx_and_writes_nothing(env: Env, hr: dict) -> None:
    c = env.client
    ok = {"nip": NIPS[0], "name": "Made", "office_code": "DISKOMINFOS"}
    assert c.post("/api/v1/employees", json=ok, headers=hr).status_code == 201
    before = env.counts()
    cases = [
        ({**ok, "name": "Other"}, 409, "nip_exists"),                         # duplicate NIP
        ({**ok, "nip": "19850312201001100"}, 422, "nip_length"),
        ({**ok, "nip": "198513122010011001"}, 422, "nip_birth_month"),
        ({**ok, "nip": "198503122010013001"}, 422, "nip_gender"),
        ({**ok, "nip": NIPS[1], "office_code": "NOPE"}, 404, "office_not_found"),
        ({**ok, "nip": NIPS[1], "name": "   "}, 422, "name_missing"),
    ]
    for body, status, code in cases:
        r = c.post("/api/v1/employees", json=body, headers=hr)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]["code"] == code
        assert r.json()["detail"]["message"]
    assert c.post("/api/v1/employees", json={"name": "x"}, headers=hr).status_code == 422  # schema
    assert env.counts() == before


def test_openapi_documents_the_roster_api(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/api/v1/auth/login", "/api/v1/offices", "/api/v1/employees", "/api/v1/employees/{employee_id}/photos",
              "/api/v1/enrolment/bulk", "/api/v1/employees/{employee_id}/export", "/api/v1/users"):
        assert p in paths, p
    upload = paths["/api/v1/employees/{employee_id}/photos"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    assert not any(p.startswith("/employees") for p in paths)  # pages are not part of the API
