"""The HTTP edge: role checks (only leaders/admins run apels, only HR/admins correct and review,
operators see only their office, observers only read), 409 on stale versions, and the pages."""
from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from app.web.app import create_app
from app.web.security import issue_token
from attendance.assemblies.sightings import record_sightings
from attendance.db.unit_of_work import committed

from .conftest import T0, World, at
from .test_sightings import seen


@pytest.fixture
def client(db_url: str, settings_factory, world: World):
    app = create_app(settings_factory(db_url), migrate=False)
    with TestClient(app) as c:
        yield c


def auth(w: World, role: str) -> dict[str, str]:
    u = w.users[role]
    return {"Authorization": f"Bearer {issue_token('test-secret', u.id, u.password_hash)}"}


def _create(client: TestClient, w: World, role: str = "leader", offices: tuple[str, ...] = ("JKT", "BALI")):
    return client.post("/api/v1/assemblies", headers=auth(w, role), json={
        "kind": "pagi", "title": "Apel pagi", "scheduled_start": T0.isoformat(),
        "office_ids": [w.offices[c].id for c in offices]})


def test_apel_lifecycle_roles(client: TestClient, world: World) -> None:
    for role in ("hr", "operator", "observer"):
        assert _create(client, world, role).status_code == 403
    assert client.post("/api/v1/assemblies", json={}).status_code == 401
    r = _create(client, world)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    for role in ("hr", "operator", "observer"):
        assert client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, role)).status_code == 403
    assert client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader")).json()["status"] == "open"
    tok = client.post(f"/api/v1/assemblies/{aid}/offices/{world.offices['JKT'].id}/token",
                      headers=auth(world, "leader"), json={"ttl_minutes": 30})
    assert tok.status_code == 201 and tok.json()["token"]
    assert tok.json()["join_path"].startswith("/live/join?office=JKT")
    assert client.post(f"/api/v1/assemblies/{aid}/offices/{world.offices['PAPUA'].id}/token",
                       headers=auth(world, "leader")).status_code == 404   # Papua is not taking part
    assert client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "observer")).status_code == 403
    assert client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "admin")).json()["status"] == "closed"
    r = client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader"))
    assert r.status_code == 409 and r.json()["detail"]["code"] == "wrong_state"


def test_bad_requests_are_clear(client: TestClient, world: World) -> None:
    h = auth(world, "leader")
    r = client.post("/api/v1/assemblies", headers=h, json={"kind": "pesta", "title": "x",
                                                            "scheduled_start": T0.isoformat(),
                                                            "office_ids": [world.offices["JKT"].id]})
    assert r.status_code == 422 and "kind must be one of" in r.json()["detail"]["message"]
    r = client.post("/api/v1/assemblies", headers=h, json={"kind": "pagi", "title": "x",
                                                            "scheduled_start": "2026-11-30T07:30:00",
                                                            "office_ids": [world.offices["JKT"].id]})
    assert r.status_code == 422 and "time zone" in r.json()["detail"]["message"]
    r = client.post("/api/v1/assemblies", headers=h, json={"kind": "pagi", "title": "x",
                                                            "local_date": "2026-11-30", "local_time": "07:30",
                                                            "office_ids": [world.offices["JKT"].id,
                                                                           world.offices["PAPUA"].id]})
    assert r.status_code == 201
    offs = {o["code"]: o["scheduled_start"] for o in r.json()["offices"]}
    assert offs == {"JKT": "2026-11-30T00:30:00+00:00", "PAPUA": "2026-11-29T22:30:00+00:00"}
    assert client.get("/api/v1/assemblies/9999", headers=h).status_code == 404


def test_operator_sees_only_their_office(client: TestClient, world: World, factory) -> None:
    aid = _create(client, world).json()["id"]
    other = _create(client, world, offices=("BALI",)).json()["id"]
    client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader"))
    op = auth(world, "operator")   # bound to JKT
    listed = client.get("/api/v1/assemblies", headers=op).json()
    assert [a["id"] for a in listed] == [aid]
    assert [o["code"] for o in listed[0]["offices"]] == ["JKT"]
    assert client.get(f"/api/v1/assemblies/{other}", headers=op).status_code == 403
    assert client.get(f"/api/v1/assemblies?office_id={world.offices['BALI'].id}", headers=op).status_code == 403
    roll = client.get(f"/api/v1/assemblies/{aid}/rollcall", headers=op).json()
    assert [o["code"] for o in roll["offices"]] == ["JKT"]
    assert client.get(f"/api/v1/assemblies/{aid}/rollcall?office_id={world.offices['BALI'].id}",
                      headers=op).status_code == 403
    recs = client.get(f"/api/v1/assemblies/{aid}/records", headers=auth(world, "leader"))
    assert recs.status_code == 200
    client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "leader"))
    all_recs = client.get(f"/api/v1/assemblies/{aid}/records", headers=auth(world, "hr")).json()
    assert len(all_recs) == 6
    mine = client.get(f"/api/v1/assemblies/{aid}/records", headers=op).json()
    assert len(mine) == 3 and {r["office_id"] for r in mine} == {world.offices["JKT"].id}
    bali_rec = next(r for r in all_recs if r["office_id"] == world.offices["BALI"].id)
    assert client.get(f"/api/v1/records/{bali_rec['id']}", headers=op).status_code == 403
    assert client.get(f"/api/v1/records/{mine[0]['id']}", headers=op).status_code == 200


def test_corrections_over_http(client: TestClient, world: World) -> None:
    aid = _create(client, world).json()["id"]
    client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader"))
    client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "leader"))
    rec = client.get(f"/api/v1/assemblies/{aid}/records", headers=auth(world, "hr")).json()[0]
    body = {"expected_version": rec["version"], "status": "excused", "excuse_category": "sakit",
            "reason": "surat dokter", "attachment_ref": "SKD-1"}
    for role in ("leader", "operator", "observer"):
        assert client.post(f"/api/v1/records/{rec['id']}/corrections", headers=auth(world, role),
                           json=body).status_code == 403
    r = client.post(f"/api/v1/records/{rec['id']}/corrections", headers=auth(world, "hr"), json=body)
    assert r.status_code == 200 and r.json()["status"] == "excused" and r.json()["version"] == rec["version"] + 1
    # The second HR user still holds the old version: 409 with the current value, nothing overwritten.
    r = client.post(f"/api/v1/records/{rec['id']}/corrections", headers=auth(world, "hr2"),
                    json={**body, "status": "present", "excuse_category": None, "reason": "hadir"})
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail["code"] == "stale_version" and detail["details"]["status"] == "excused"
    hist = client.get(f"/api/v1/records/{rec['id']}/corrections", headers=auth(world, "leader")).json()
    assert len(hist) == 1 and hist[0]["before"]["status"] == "tk" and hist[0]["actor"] == "hr"
    bad = client.post(f"/api/v1/records/{rec['id']}/corrections", headers=auth(world, "hr"),
                      json={"expected_version": rec["version"] + 1, "status": "late", "reason": "x"})
    assert bad.status_code == 422 and "tier" in bad.json()["detail"]["message"]
    # Excuse someone in advance for another apel.
    a2 = _create(client, world).json()["id"]
    r = client.post(f"/api/v1/assemblies/{a2}/excuses", headers=auth(world, "hr"),
                    json={"employee_id": world.staff["BALI"][0].id, "category": "dinas_luar", "reason": "SPT 9"})
    assert r.status_code == 200 and r.json()["status"] == "excused"
    r = client.post(f"/api/v1/assemblies/{a2}/excuses", headers=auth(world, "hr"),
                    json={"employee_id": world.staff["PAPUA"][0].id, "category": "sakit", "reason": "x"})
    assert r.status_code == 404      # Papua does not take part


def test_review_and_rules_over_http(client: TestClient, world: World, factory) -> None:
    aid = _create(client, world).json()["id"]
    client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader"))
    with factory() as s:
        committed(record_sightings)(s, aid, world.offices["JKT"].id, seen(None, "u1", at(3), n=3))
    for role in ("leader", "operator", "observer"):
        assert client.get("/api/v1/review", headers=auth(world, role)).status_code == 403
    items = client.get("/api/v1/review", headers=auth(world, "hr")).json()
    assert len(items) == 1 and items[0]["kind"] == "unknown" and not items[0]["has_evidence"]
    assert client.get(f"/api/v1/review/{items[0]['id']}/evidence", headers=auth(world, "hr")).status_code == 404
    emp = world.staff["JKT"][1]
    r = client.post(f"/api/v1/review/{items[0]['id']}/assign", headers=auth(world, "hr"),
                    json={"employee_id": emp.id, "reason": "dikenali kepala bidang"})
    assert r.status_code == 200 and (r.json()["status"], r.json()["tier"]) == ("late", "TL1")
    assert client.post(f"/api/v1/review/{items[0]['id']}/dismiss", headers=auth(world, "hr"),
                       json={"reason": "x"}).status_code == 409
    # Rules: everyone reads, only admins write.
    assert client.get("/api/v1/rulesets/current", headers=auth(world, "observer")).json()["version"] == 1
    body = {"reason": "Perbup baru", "grace_minutes": 10}
    assert client.post("/api/v1/rulesets", headers=auth(world, "hr"), json=body).status_code == 403
    r = client.post("/api/v1/rulesets", headers=auth(world, "admin"), json=body)
    assert r.status_code == 201 and (r.json()["version"], r.json()["grace_minutes"]) == (2, 10)
    r = client.post("/api/v1/rulesets", headers=auth(world, "admin"),
                    json={"reason": "x", "tl1_max_minutes": 70})
    assert r.status_code == 422 and "tier bounds" in r.json()["detail"]["message"]


def test_cookie_forms_need_the_csrf_token(client: TestClient, world: World, factory) -> None:
    """The browser path: a session cookie without the form's CSRF token is refused and changes nothing."""
    from attendance.models import User
    from attendance.roster.passwords import hash_password

    with factory() as s:
        u = s.get(User, world.users["hr"].id)
        u.password_hash = hash_password("rahasia-hr-123")
        s.commit()
    login = client.post("/api/v1/auth/login", json={"username": "hr", "password": "rahasia-hr-123"})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    a = create_apel_closed(client, world)
    rec = client.get(f"/api/v1/assemblies/{a}/records").json()[0]
    form = {"expected_version": str(rec["version"]), "status": "present", "reason": "hadir"}
    r = client.post(f"/records/{rec['id']}/correct", data=form, follow_redirects=False)
    assert r.status_code == 403
    assert client.get(f"/api/v1/records/{rec['id']}").json()["status"] == "tk"
    r = client.post(f"/records/{rec['id']}/correct", data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/records/{rec['id']}").json()["status"] == "present"


def create_apel_closed(client: TestClient, w: World) -> int:
    aid = _create(client, w).json()["id"]
    client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(w, "leader"))
    client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(w, "leader"))
    return aid


def test_pages_render_and_forms_work(client: TestClient, world: World, factory) -> None:
    h = auth(world, "hr")
    aid = _create(client, world).json()["id"]
    client.post(f"/api/v1/assemblies/{aid}/start", headers=auth(world, "leader"))
    with factory() as s:
        committed(record_sightings)(s, aid, world.offices["JKT"].id, seen(world.staff["JKT"][0].id, "a", at(45)))
        committed(record_sightings)(s, aid, world.offices["JKT"].id, seen(None, "u", at(1)))
    page = client.get(f"/apel/{aid}?lang=en", headers=h)
    assert page.status_code == 200
    assert "JKT Pegawai 1" in page.text and "Late TL2" in page.text and "45 min late" in page.text
    assert client.get(f"/apel/{aid}?lang=id", headers=h).text.count("Terlambat TL2") == 1
    assert client.get("/apel", headers=h).status_code == 200
    assert "Kantor Jakarta" in client.get("/apel", headers=auth(world, "leader")).text
    review = client.get("/review?lang=en", headers=h)
    assert review.status_code == 200 and "Unknown" in review.text and "evidence keeping is off" in review.text
    assert client.get("/review", headers=auth(world, "observer")).status_code == 403
    assert client.get("/rules", headers=h).status_code == 200
    client.post(f"/api/v1/assemblies/{aid}/end", headers=auth(world, "leader"))
    rec = client.get(f"/api/v1/assemblies/{aid}/records", headers=h).json()
    rid = next(r["id"] for r in rec if r["status"] == "tk")
    detail = client.get(f"/records/{rid}", headers=h)
    assert detail.status_code == 200 and 'name="expected_version"' in detail.text
    version = int(re.search(r'name="expected_version" value="(\d+)"', detail.text).group(1))
    # Forms with bearer auth need no CSRF token (the cookie path checks it: see app.web.deps).
    r = client.post(f"/records/{rid}/correct", headers=h, data={
        "expected_version": str(version), "status": "excused", "excuse_category": "cuti",
        "reason": "cuti tahunan", "attachment_ref": "ST-88"}, follow_redirects=False)
    assert r.status_code == 303
    again = client.post(f"/records/{rid}/correct", headers=auth(world, "hr2"), data={
        "expected_version": str(version), "status": "present", "reason": "hadir"}, follow_redirects=False)
    assert again.status_code == 409 and 'id="conflict"' in again.text
    page = client.get(f"/records/{rid}?lang=en", headers=h).text
    assert "ST-88" in page and "cuti tahunan" in page
    office = next(r["office_id"] for r in rec if r["id"] == rid)
    expected = 200 if office == world.offices["JKT"].id else 403
    assert client.get(f"/records/{rid}", headers=auth(world, "operator")).status_code == expected


def test_page_forms_respect_roles(client: TestClient, world: World, factory) -> None:
    aid = _create(client, world).json()["id"]
    for role, path, data in (("observer", f"/apel/{aid}/start", {}), ("hr", f"/apel/{aid}/start", {}),
                             ("operator", f"/apel/{aid}/token", {"office_id": str(world.offices["JKT"].id)}),
                             ("leader", f"/apel/{aid}/excuse", {"employee_id": str(world.staff["JKT"][0].id),
                                                              "category": "sakit", "reason": "x"}),
                             ("hr", "/rules", {"reason": "x", "grace_minutes": "5"})):
        r = client.post(path, headers=auth(world, role), data=data, follow_redirects=False)
        assert r.status_code == 403, (role, path)
    assert client.get(f"/api/v1/assemblies/{aid}", headers=auth(world, "hr")).json()["status"] == "scheduled"
    r = client.post(f"/apel/{aid}/start", headers=auth(world, "leader"), follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/assemblies/{aid}", headers=auth(world, "hr")).json()["status"] == "open"
    r = client.post(f"/apel/{aid}/token", headers=auth(world, "leader"),
                    data={"office_id": str(world.offices["JKT"].id), "ttl_minutes": "15"}, follow_redirects=False)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    token = re.search(r"/live/join\?office=JKT#token=([A-Za-z0-9_-]+)", r.text).group(1)
    import base64

    cookie = client.cookies.get("apel_session") or ""
    payload = base64.b64decode(cookie.split(".")[0] + "==").decode("utf-8", "replace")
    assert "csrf" in payload or payload == "" or "flash" in payload
    assert token not in payload and token not in cookie              # never put in the session cookie
    assert 'id="new-token"' not in client.get(f"/apel/{aid}", headers=auth(world, "leader")).text   # shown once
    with factory() as s:
        from attendance.assemblies.lifecycle import verify_office_token

        assert verify_office_token(s, "JKT", token) is not None
