"""Present in the room, not seen by the camera, over HTTP on a running server (real uvicorn, the real
database of each kind): the office's operator marks a person of their roster present by hand; the
record is present with the operator as its source in the roll-call, the record list (filterable) and
the operator's own list of marks; the picker no longer offers them; undo gives the record back. The
refusals (another office's person, an observer, unknown ids, an ended apel) are the confirmations'
and change nothing."""
from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from attendance.models import AttendanceRecord, AuditEntry, Employee, Office, SightingTrack, User
from attendance.roster.passwords import hash_password

from .conftest import build_live_world

PASSWORDS = {"observer": "obs-pass-1234", "operator2": "op2-pass-1234"}


@pytest.fixture
def world(db_url, settings_factory):
    gen = build_live_world(db_url, settings_factory, {}, extra_offices=1)
    w = next(gen)
    with w.server.app.state.session_factory() as db:
        opd2 = db.execute(select(Office).where(Office.code == "OPD2")).scalar_one()
        ours = [Employee(nip=f"19800101200501{900 + i}", name=f"Pegawai Tersembunyi {i}", office_id=w.office_id)
                for i in range(2)]
        theirs = Employee(nip="198001012005018888", name="Pegawai Lain", office_id=opd2.id)
        db.add_all([*ours, theirs,
                    User(username="observer", password_hash=hash_password(PASSWORDS["observer"]), role="observer"),
                    User(username="operator2", password_hash=hash_password(PASSWORDS["operator2"]),
                         role="operator", office_id=opd2.id)])
        db.commit()
        w.people.update({"hidden": ours[0].id, "hidden2": ours[1].id, "other": theirs.id})
    w.users.update(PASSWORDS)
    yield w
    next(gen, None)


def _state(w) -> tuple:
    with w.server.app.state.session_factory() as db:
        return (sorted((r.employee_id, r.status) for r in db.execute(select(AttendanceRecord)).scalars()),
                db.execute(select(func.count()).select_from(SightingTrack)).scalar_one(),
                db.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_operator_marks_present_by_hand_and_undoes(world) -> None:
    op = world.login("operator")
    hidden = world.people["hidden"]
    base = f"{world.url}/api/v1/live/present-by-hand/{world.assembly_id}"
    faces_url = f"{world.url}/api/v1/live/faces?assembly_id={world.assembly_id}&office=OPD1"
    with httpx.Client(timeout=20) as http:
        faces = http.get(faces_url, headers=op).json()
        assert faces["assembly_id"] == world.assembly_id
        assert hidden in {c["employee_id"] for c in faces["candidates"][str(world.office_id)]}

        r = http.post(f"{base}/{hidden}", headers=op)
        assert r.status_code == 200, r.text
        rec = r.json()
        assert rec["status"] == "present" and rec["employee_id"] == hidden and rec["by_hand"]["by"] == "operator"
        assert rec["frames"] == 3 and rec["first_seen_at"] == rec["by_hand"]["at"]

        # the roll-call (what the consoles show), the record list and its filter, the operator's list
        roll = http.get(f"{world.url}/api/v1/assemblies/{world.assembly_id}/rollcall", headers=op).json()
        people = {p["employee_id"]: p for o in roll["offices"] for p in o["people"]}
        assert people[hidden]["status"] == "present" and people[hidden]["by_hand"]["by"] == "operator"
        assert people[hidden]["by_hand"]["at_local"] == people[hidden]["first_seen_local"]   # the office clock
        assert people[hidden]["by_hand"]["at_local"].endswith(" WITA")
        assert "by_hand" not in people[world.people["hidden2"]]
        hr = world.login("hr")
        records = f"{world.url}/api/v1/assemblies/{world.assembly_id}/records"
        assert [(x["employee_id"], x["by_hand"]["by"]) for x in
                http.get(records, params={"by_hand": "true"}, headers=hr).json()] == [(hidden, "operator")]
        others = http.get(records, params={"by_hand": "false"}, headers=hr).json()
        assert hidden not in {x["employee_id"] for x in others}
        marks = http.get(base, headers=op).json()["marks"]
        assert [(m["employee_id"], m["office"], m["status"], m["by"]) for m in marks] == \
            [(hidden, "OPD1", "present", "operator")]
        assert http.get(base, headers=world.login("operator2")).json()["marks"] == []   # not their office
        faces = http.get(faces_url, headers=op).json()
        assert hidden not in {c["employee_id"] for c in faces["candidates"][str(world.office_id)]}
        # the record page shows HR the source
        record_page = http.get(f"{world.url}/records/{rec['id']}", headers=hr)
        assert record_page.status_code == 200 and 'id="record-source"' in record_page.text
        assert "operator" in record_page.text
        # the apel's page lists them with a badge, and only them on HR's filter
        page = http.get(f"{world.url}/apel/{world.assembly_id}", headers=hr).text
        assert 'id="by-hand-filter"' in page and "Pegawai Tersembunyi 1" in page and "by-hand" in page
        page = http.get(f"{world.url}/apel/{world.assembly_id}", params={"by_hand": "1"}, headers=hr).text
        rows = page[page.index("<tbody>"):]
        assert "Pegawai Tersembunyi 0" in rows and "Pegawai Tersembunyi 1" not in rows.split("</tbody>")[0]

        # the signed report's Keterangan and the office report page say whose word it is
        csv = http.get(f"{world.url}/api/v1/reports/apel/{world.assembly_id}/export",
                       params={"format": "csv", "lang": "en", "bundle": "false", "office_id": world.office_id},
                       headers=hr)
        assert csv.status_code == 200, csv.text
        line = next(x for x in csv.text.splitlines() if "Pegawai Tersembunyi 0" in x)
        assert "Marked present by operator at" in line and "not seen by the camera" in line
        assert "Marked present" not in next(x for x in csv.text.splitlines() if "Pegawai Tersembunyi 1" in x)
        page = http.get(f"{world.url}/reports/apel/{world.assembly_id}/office/{world.office_id}", headers=hr).text
        assert "Ditandai hadir oleh operator" in page

        # twice: the same record
        assert http.post(f"{base}/{hidden}", headers=world.login("leader")).json()["id"] == rec["id"]
        r = http.post(f"{base}/{hidden}/undo", headers=op)
        assert r.status_code == 204, r.text
        with world.server.app.state.session_factory() as db:
            assert db.execute(select(AttendanceRecord).where(AttendanceRecord.employee_id == hidden)).first() is None
        assert http.get(base, headers=op).json()["marks"] == []
        r = http.post(f"{base}/{hidden}/undo", headers=op)
        assert r.status_code == 409 and r.json()["detail"]["code"] == "not_marked_by_hand"


def test_refusals_are_clear_and_change_nothing(world) -> None:
    op, observer = world.login("operator"), world.login("observer")
    base = f"{world.url}/api/v1/live/present-by-hand"
    aid, hidden, other = world.assembly_id, world.people["hidden"], world.people["other"]
    before = _state(world)

    def refused(url: str, headers: dict, status: int, code: str) -> None:
        r = httpx.post(url, headers=headers, timeout=20)
        assert r.status_code == status, r.text
        assert r.json()["detail"]["code"] == code
        assert _state(world) == before

    refused(f"{base}/{aid}/{other}", op, 403, "not_allowed_to_confirm")          # another office's person
    refused(f"{base}/{aid}/{hidden}", observer, 403, "not_allowed_to_confirm")   # an observer
    refused(f"{base}/{aid}/{hidden}", world.login("operator2"), 403, "not_allowed_to_confirm")
    refused(f"{base}/{aid}/999999", op, 404, "not_found")                         # unknown person
    refused(f"{base}/999999/{hidden}", op, 404, "not_found")                      # unknown apel
    r = httpx.post(f"{base}/{aid}/{hidden}", timeout=20)                          # nobody signed in
    assert r.status_code == 401 and _state(world) == before
    r = httpx.get(f"{base}/{aid}", headers=observer, timeout=20)
    assert r.status_code == 403 and r.json()["detail"]["code"] == "not_allowed_to_confirm"

    leader = world.login("leader")
    assert httpx.post(f"{base}/{aid}/{hidden}", headers=op, timeout=20).status_code == 200
    r = httpx.post(f"{world.url}/api/v1/assemblies/{aid}/end", headers=leader, timeout=30)
    assert r.status_code == 200, r.text
    before = _state(world)
    refused(f"{base}/{aid}/{world.people['hidden2']}", op, 409, "apel_ended")   # after the apel: HR corrects
    refused(f"{base}/{aid}/{hidden}/undo", op, 409, "apel_ended")
    statuses = dict(before[0])
    assert statuses[hidden] == "present" and statuses[world.people["hidden2"]] == "tk"
