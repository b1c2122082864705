"""Undo from HR's review queue (issue 18 §2): a face confirmed as the wrong person, by an operator
during the apel or by HR in the queue, is un-confirmed there: the record goes back to what the
cameras alone say (a correction, the apel being closed), the learned template goes, and it is
audited. Over the API and the page form, on the real databases; refusals (no answer to undo, a
user without the right, an item that does not exist, no reason) change nothing."""
from __future__ import annotations

import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.web.app import create_app
from attendance.assemblies.confirmations import LiveFaceRef, confirm_face
from attendance.assemblies.lifecycle import end_assembly
from attendance.assemblies.sightings import record_sightings
from attendance.audit_seals import verify_seals
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, AuditEntry, Correction, FaceTemplate, ReviewItem, SightingTrack, User

from .conftest import World, at
from .test_routes import auth
from .test_sightings import _open_apel, seen


@pytest.fixture
def client(db_url: str, settings_factory, world: World):
    app = create_app(settings_factory(db_url), migrate=False)
    with TestClient(app) as c:
        yield c


def _emb(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _confirmed_by_operator(factory, w: World):
    """An apel where the JKT operator confirmed an unknown face as the wrong person; then it ended."""
    wrong = w.staff["JKT"][0]
    with factory() as s:
        a = _open_apel(s, w)
        o = w.offices["JKT"]
        committed(record_sightings)(s, a.id, o.id, seen(None, "u1", at(-2), n=4, conf=0.3, mask=False))
        face = LiveFaceRef(a.id, o.id, "u1", embedding=_emb(7), embedding_backend="dlib+faceres", confidence=0.3)
        committed(confirm_face)(s, face, actor=s.get(User, w.users["operator"].id), employee_id=wrong.id)
        committed(end_assembly)(s, a.id, actor=s.get(User, w.users["leader"].id))
        item_id = s.execute(select(ReviewItem.id)).scalar_one()
        return a.id, item_id, wrong.id


def _state(factory) -> tuple:
    """Everything an undo could change."""
    with factory() as s:
        return (
            sorted((r.employee_id, r.status, r.frames, r.version)
                   for r in s.execute(select(AttendanceRecord)).scalars()),
            sorted((t.employee_id, t.kind) for t in s.execute(select(FaceTemplate)).scalars()),
            sorted((i.id, i.status, i.resolved_employee_id, i.embedding is not None)
                   for i in s.execute(select(ReviewItem)).scalars()),
            sorted((t.id, t.employee_id, t.confirmed_by, t.confident_frames)
                   for t in s.execute(select(SightingTrack)).scalars()),
            s.execute(select(func.count()).select_from(Correction)).scalar_one(),
            s.execute(select(func.count()).select_from(AuditEntry)).scalar_one(),
        )


def _record(factory, aid: int, emp_id: int) -> tuple[str, int]:
    with factory() as s:
        r = s.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == aid,
                                                     AttendanceRecord.employee_id == emp_id)).scalar_one()
        return r.status, r.frames


def test_hr_undoes_an_operators_wrong_confirmation_over_the_api(client: TestClient, world: World, factory) -> None:
    aid, item_id, wrong = _confirmed_by_operator(factory, world)
    assert _record(factory, aid, wrong) == ("present", 4)
    listed = client.get("/api/v1/review?status=assigned", headers=auth(world, "hr")).json()
    assert [(i["id"], i["resolved_employee_id"], i["resolved_by"]) for i in listed] == [(item_id, wrong, "operator")]
    before = _state(factory)
    assert before[1] == [(wrong, "sighting")]

    # Refusals change nothing: wrong role (the operator who answered included), no reason, no such item.
    for role in ("operator", "leader", "observer"):
        r = client.post(f"/api/v1/review/{item_id}/undo", headers=auth(world, role), json={"reason": "salah orang"})
        assert r.status_code == 403, (role, r.text)
    r = client.post(f"/api/v1/review/{item_id}/undo", headers=auth(world, "hr"), json={"reason": ""})
    assert r.status_code == 422
    r = client.post(f"/api/v1/review/{item_id}/undo", headers=auth(world, "hr"), json={"reason": "   "})
    assert r.status_code == 422 and r.json()["detail"]["message"] == "reason is required"
    r = client.post(f"/api/v1/review/{item_id + 999}/undo", headers=auth(world, "hr"), json={"reason": "x"})
    assert r.status_code == 404 and r.json()["detail"]["code"] == "not_found"
    assert _state(factory) == before

    r = client.post(f"/api/v1/review/{item_id}/undo", headers=auth(world, "hr"),
                    json={"reason": "bukan dia, kata kepala bidang"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["resolved_employee_id"], body["resolved_by"], body["has_embedding"]) == \
        ("open", None, None, True)
    assert _record(factory, aid, wrong) == ("tk", 0)   # what the cameras alone say of a closed apel
    with factory() as s:
        assert s.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0
        item = s.get(ReviewItem, item_id)
        assert np.allclose(np.frombuffer(item.embedding, "<f4"), _emb(7))   # can be answered again
        track = s.execute(select(SightingTrack)).scalar_one()
        assert (track.employee_id, track.confirmed_by, track.confident_frames) == (None, None, 0)
        corr = s.execute(select(Correction).where(Correction.kind == "review_unassign")).scalar_one()
        assert (corr.employee_id, corr.actor, corr.before["status"], corr.after["status"]) == \
            (wrong, "hr", "present", "tk")
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "review.unassign")).scalar_one()
        assert entry.actor == "hr" and entry.reason == "bukan dia, kata kepala bidang"
        assert entry.before["employee_id"] == wrong and entry.after["face_template_deleted"]
        assert verify_seals(s, {}).problems == []   # the closed apel's records were sealed as changed

    # Nothing left to undo: a clear refusal, nothing changes.
    after = _state(factory)
    r = client.post(f"/api/v1/review/{item_id}/undo?lang=en", headers=auth(world, "hr"), json={"reason": "lagi"})
    assert r.status_code == 409 and r.json()["detail"]["code"] == "not_answered"
    assert r.json()["detail"]["hint"] == "This face has no answer to undo."
    assert _state(factory) == after

    # ... and HR answers it rightly: the right person is present and their face is learned.
    right = world.staff["JKT"][1]
    r = client.post(f"/api/v1/review/{item_id}/assign", headers=auth(world, "hr"),
                    json={"employee_id": right.id, "reason": "dikenali kepala bidang"})
    assert r.status_code == 200 and r.json()["status"] in ("present", "late")
    with factory() as s:
        assert [t.employee_id for t in s.execute(select(FaceTemplate)).scalars()] == [right.id]


def test_hr_undoes_its_own_assignment_and_a_dismissal_from_the_page(client: TestClient, world: World,
                                                                      factory) -> None:
    with factory() as s:
        a = _open_apel(s, world)
        o = world.offices["JKT"]
        committed(record_sightings)(s, a.id, o.id, seen(None, "u1", at(3), n=3, conf=0.3))
        committed(record_sightings)(s, a.id, o.id, seen(None, "u2", at(4), n=3, conf=0.3))
        items = list(s.execute(select(ReviewItem.id).order_by(ReviewItem.id)).scalars())
    assert len(items) == 2
    h = auth(world, "hr")
    emp = world.staff["JKT"][2]
    r = client.post(f"/review/{items[0]}/assign", headers=h, data={"employee_id": str(emp.id), "reason": "dikenali"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.post(f"/review/{items[1]}/dismiss", headers=h, data={"reason": "tamu"},
                       follow_redirects=False).status_code == 303
    assert _record(factory, a.id, emp.id)[0] == "late"

    # The answered items carry an undo form that asks first (static/js/apel.js data-confirm).
    page = client.get("/review?status=&lang=en", headers=h).text
    forms = re.findall(r'<form method="post" action="/review/(\d+)/undo"[^>]*data-confirm="([^"]+)"', page)
    assert [int(i) for i, _ in forms] == items
    assert forms[0][1].startswith("Undo this confirmation?") and forms[1][1].startswith("Reopen this face?")
    assert f'action="/review/{items[0]}/undo"' not in client.get("/review?lang=en", headers=h).text

    # Refusals: a role without the right gets the forbidden page; no reason is said on the page.
    before = _state(factory)
    assert client.post(f"/review/{items[0]}/undo", headers=auth(world, "leader"), data={"reason": "x"},
                       follow_redirects=False).status_code == 403
    r = client.post(f"/review/{items[0]}/undo?lang=en", headers=h, data={"reason": ""})
    assert r.status_code == 200 and "reason is required" in r.text
    r = client.post(f"/review/{items[-1] + 999}/undo?lang=en", headers=h, data={"reason": "x"})
    assert r.status_code == 200 and f"review item {items[-1] + 999} does not exist" in r.text
    assert _state(factory) == before

    r = client.post(f"/review/{items[0]}/undo?lang=en", headers=h, data={"reason": "salah orang"})
    assert r.status_code == 200 and "Answer undone; the face is back in the queue." in r.text
    assert f'id="item-{items[0]}"' in r.text    # back among the open items, with the assign form
    with factory() as s:
        assert s.execute(select(func.count()).select_from(FaceTemplate)).scalar_one() == 0
        assert s.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == a.id,
                                                        AttendanceRecord.employee_id == emp.id)
                         ).scalar_one_or_none() is None   # the record the answer made is gone (apel still open)
        assert s.get(ReviewItem, items[0]).status == "open"

    r = client.post(f"/review/{items[1]}/undo?lang=en", headers=h, data={"reason": "ternyata pegawai"})
    assert "Answer undone" in r.text
    with factory() as s:
        assert s.get(ReviewItem, items[1]).status == "open"
        assert s.execute(select(AuditEntry.action).where(AuditEntry.action.in_(
            ("review.unassign", "review.undismiss"))).order_by(AuditEntry.id)).scalars().all() == \
            ["review.unassign", "review.undismiss"]

    # An open item: nothing to undo, said on the page in the person's language; nothing changes.
    before = _state(factory)
    r = client.post(f"/review/{items[0]}/undo?lang=id", headers=h, data={"reason": "x"})
    assert "Wajah ini belum dijawab, tidak ada yang dibatalkan." in r.text
    assert _state(factory) == before
