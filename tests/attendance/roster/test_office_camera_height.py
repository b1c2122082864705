"""An office's camera height above the floor (optional, 0.5-20 m): set, read, cleared and refused
over the API and from the office page, on both real databases; a refused value changes nothing."""
from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import Env
from .test_pages import _login


def _office(env: Env, c: TestClient, code: str) -> dict:
    return [o for o in c.get("/api/v1/offices").json() if o["code"] == code][0]


def test_camera_height_over_the_api(env: Env, hr: dict[str, str]) -> None:
    c = env.client
    r = c.post("/api/v1/offices", json={"code": "DINKES", "name": "Dinas Kesehatan", "camera_height_m": 3.1},
               headers=hr)
    assert r.status_code == 201, r.text
    oid = r.json()["id"]
    assert r.json()["camera_height_m"] == 3.1
    assert c.get(f"/api/v1/offices/{oid}").json()["camera_height_m"] == 3.1
    assert c.get(f"/api/v1/offices/{env.offices['BKPSDM']}").json()["camera_height_m"] is None   # unknown by default
    # Out of range, on create or on change: 422 naming the field, and nothing written.
    before = env.counts()
    for body in ({"camera_height_m": 0.2}, {"camera_height_m": 20.5}, {"camera_height_m": -3},
                 {"name": "Renamed", "camera_height_m": 100}):
        r = c.patch(f"/api/v1/offices/{oid}", json=body, headers=hr)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]["code"] == "camera_height_m" and "height" in r.json()["detail"]["message"]
    r = c.post("/api/v1/offices", json={"code": "TINGGI", "name": "x", "camera_height_m": 21}, headers=hr)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "camera_height_m"
    assert r.json()["detail"]["hint"] == "Tinggi kamera dari lantai harus antara 0,5 dan 20 meter."   # Indonesian first
    assert env.counts() == before
    got = c.get(f"/api/v1/offices/{oid}").json()
    assert got["camera_height_m"] == 3.1 and got["name"] == "Dinas Kesehatan"
    # A patch that does not name it keeps it; null clears it; each change is audited.
    r = c.patch(f"/api/v1/offices/{oid}", json={"back_row_m": 5}, headers=hr)
    assert r.status_code == 200 and r.json()["camera_height_m"] == 3.1 and r.json()["back_row_m"] == 5
    r = c.patch(f"/api/v1/offices/{oid}", json={"camera_height_m": 2.4}, headers=hr)
    assert r.status_code == 200 and r.json()["camera_height_m"] == 2.4
    r = c.patch(f"/api/v1/offices/{oid}", json={"camera_height_m": None}, headers=hr)
    assert r.status_code == 200 and r.json()["camera_height_m"] is None and r.json()["back_row_m"] == 5
    assert c.get(f"/api/v1/offices/{oid}").json()["camera_height_m"] is None
    assert env.counts()["audit"] == before["audit"] + 3
    # Operators read it for their own office but may not change it.
    op = env.token("op")
    with TestClient(env.app) as oc:   # no HR cookie: only the operator's token
        assert oc.get(f"/api/v1/offices/{env.offices['DISKOMINFOS']}", headers=op).json()["camera_height_m"] is None
        r = oc.patch(f"/api/v1/offices/{env.offices['DISKOMINFOS']}", json={"camera_height_m": 3}, headers=op)
        assert r.status_code == 403


def _form(o: dict, **changes: str) -> dict[str, str]:
    """What the office's edit form posts: every field, as typed."""
    f = {"name": o["name"], "timezone": o["timezone"], "camera_hfov_deg": str(o["camera_hfov_deg"]),
         "min_distance_m": str(o["min_distance_m"]),
         "back_row_m": "" if o["back_row_m"] is None else str(o["back_row_m"]),
         "camera_height_m": "" if o["camera_height_m"] is None else str(o["camera_height_m"]),
         "active": "on", "action": "save"}
    f.update(changes)
    return f


def test_camera_height_from_the_office_page(env: Env) -> None:
    c = env.client
    csrf = _login(env, c, "hr")
    page = c.get("/offices")
    assert "Tinggi kamera dari lantai (m)" in page.text and 'name="camera_height_m"' in page.text
    assert "ukur dengan meteran dari lantai sampai lensa kamera" in page.text
    # Created with a comma decimal, as typed on an Indonesian keyboard.
    r = c.post("/offices", data={"code": "DINKES", "name": "Dinas Kesehatan", "camera_height_m": "2,5",
                                 "csrf_token": csrf})
    assert r.status_code == 200 and "DINKES" in r.text
    o = _office(env, c, "DINKES")
    assert o["camera_height_m"] == 2.5
    assert 'name="camera_height_m" value="2.5"' in c.get("/offices").text
    # Out of range: an error on the page, nothing changed or audited.
    before = env.counts()
    r = c.post(f"/offices/{o['id']}", data={**_form(o, camera_height_m="0.3", name="Diubah"), "csrf_token": csrf})
    assert r.status_code == 422 and "between 0.5 and 20 metres" in r.text   # the form comes back as typed
    assert 'value="0.3"' in r.text and 'value="Diubah"' in r.text
    r = c.post("/offices", data={"code": "TINGGI", "name": "x", "camera_height_m": "30", "csrf_token": csrf})
    assert r.status_code == 422 and "between 0.5 and 20 metres" in r.text and 'value="TINGGI"' in r.text
    assert env.counts() == before
    assert _office(env, c, "DINKES") == o
    # Changed, then cleared by emptying the field.
    r = c.post(f"/offices/{o['id']}", data={**_form(o, camera_height_m="3.25"), "csrf_token": csrf})
    assert r.status_code == 200 and _office(env, c, "DINKES")["camera_height_m"] == 3.25
    o = _office(env, c, "DINKES")
    r = c.post(f"/offices/{o['id']}", data={**_form(o, camera_height_m=""), "csrf_token": csrf})
    assert r.status_code == 200 and _office(env, c, "DINKES")["camera_height_m"] is None
    assert env.counts()["audit"] == before["audit"] + 2
    c.get("/lang/en?next=/", follow_redirects=False)
    page = c.get("/offices")
    assert "Camera height above the floor (m)" in page.text and "floor to the camera lens" in page.text
