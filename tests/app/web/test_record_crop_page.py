"""A record that came from an answered face shows HR that face on its page (/records/{id}): HR sees the
crop's link and it serves the JPEG (the look audited, as on the review queue); an operator, a leader
and an observer never get it; a crop whose retention ended says "no picture kept". Real app over HTTP,
real SQLite, a real photo's JPEG."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.web.app import create_app
from app.web.security import issue_token
from attendance.assemblies.confirmations import LiveFaceRef, confirm_face
from attendance.assemblies.review import purge_expired
from attendance.assemblies.sightings import Sighting, record_sightings
from attendance.db.unit_of_work import committed
from attendance.i18n import t
from attendance.models import AuditEntry, ReviewItem, User, utcnow
from attendance.roster.employees import create_employee
from attendance.roster.offices import create_office
from attendance.roster.users import create_user

PHOTO = Path(__file__).resolve().parents[4] / "shared/data/faces/lfw10/Donald_Rumsfeld/Donald_Rumsfeld_0002.jpg"
PASSWORD = "correct horse battery"


def _crop() -> bytes:
    """The face region of a real photo, as the live service keeps it (a JPEG of the crop)."""
    img = cv2.imread(str(PHOTO))
    assert img is not None, f"missing {PHOTO}"
    ok, data = cv2.imencode(".jpg", img[60:190, 60:190])
    assert ok
    return data.tobytes()


def _apel_with_confirmed_face(app, evidence_dir: Path | None) -> dict:
    """An apel in one office whose one unknown face an operator confirmed as Made (with the crop kept
    in `evidence_dir`, or none kept when it is None). The users' bearer headers and the ids."""
    with app.state.session_factory() as s:
        office = create_office(s, actor="test", code="BKPSDM", name="Badan Kepegawaian", timezone="Asia/Makassar")
        made = create_employee(s, actor="test", nip="199107242013111005", name="Made", office_id=office.id)
        users = {role: create_user(s, actor="test", username=role, password=PASSWORD, role=role,
                                   office_id=office.id if role == "operator" else None)
                 for role in ("leader", "hr", "admin", "operator", "observer")}
        s.commit()
        ids = {"office": office.id, "made": made.id}
        auth = {role: {"Authorization": f"Bearer {issue_token('test-secret', u.id, u.password_hash)}"}
                for role, u in users.items()}
    with TestClient(app) as client:
        start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        aid = client.post("/api/v1/assemblies", headers=auth["leader"], json={
            "kind": "pagi", "title": "Apel pagi", "scheduled_start": start, "office_ids": [ids["office"]]}).json()["id"]
        assert client.post(f"/api/v1/assemblies/{aid}/start", headers=auth["leader"]).status_code == 200
    with app.state.session_factory() as s:
        now = utcnow()
        committed(record_sightings)(s, aid, ids["office"], [
            Sighting(employee_id=None, track_key="u1", at=now + timedelta(seconds=i), confidence=0.3, mask=True,
                     distancing_violation=False)
            for i in range(2)])
        operator = s.get(User, users["operator"].id)
        face = LiveFaceRef(aid, ids["office"], "u1", embedding=np.ones(128, np.float32) / np.sqrt(128),
                           embedding_backend="dlib+faceres", confidence=0.3, crop_jpeg=_crop())
        rec = committed(confirm_face)(s, face, actor=operator, employee_id=ids["made"], evidence_dir=evidence_dir)
        item = s.execute(select(ReviewItem)).scalar_one()
        ids.update(record=rec.id, item=item.id, assembly=aid)
    return {"auth": auth, **ids}


def _crops_panel(page: str) -> str | None:
    m = re.search(r'<div class="panel" id="record-crops">.*?</div>', page, re.S)
    return m.group(0) if m else None


def _looks(app, item_id: int) -> int:
    with app.state.session_factory() as s:
        return len(s.execute(select(AuditEntry).where(AuditEntry.action == "review.evidence_view",
                                                      AuditEntry.entity_id == str(item_id))).scalars().all())


def test_hr_sees_the_crop_others_never(sqlite_url: str, settings_factory, tmp_path: Path) -> None:
    app = create_app(settings_factory(sqlite_url), migrate=False)
    w = _apel_with_confirmed_face(app, tmp_path / "evidence")
    link = f"/api/v1/review/{w['item']}/evidence"
    with TestClient(app) as client:
        for role in ("hr", "admin"):
            page = client.get(f"/records/{w['record']}?lang=en", headers=w["auth"][role])
            assert page.status_code == 200, page.text
            panel = _crops_panel(page.text)
            assert panel is not None and f'src="{link}"' in panel and 'data-kept="yes"' in panel, page.text
            assert t("record_crop.title", "en") in panel and "Answered by operator" in panel
        before = _looks(app, w["item"])
        img = client.get(link, headers=w["auth"]["hr"])
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        assert img.content == _crop() and img.headers["cache-control"] == "no-store"
        assert _looks(app, w["item"]) == before + 1   # every look is audited
        for role in ("operator", "leader"):   # they read the record, never the face
            page = client.get(f"/records/{w['record']}", headers=w["auth"][role])
            assert page.status_code == 200, (role, page.text)
            assert _crops_panel(page.text) is None and "/evidence" not in page.text, role
            assert client.get(link, headers=w["auth"][role]).status_code == 403, role
        page = client.get(f"/records/{w['record']}", headers=w["auth"]["observer"])
        assert page.status_code == 403 and "/evidence" not in page.text   # observers: no records at all
        assert client.get(link, headers=w["auth"]["observer"]).status_code == 403
        assert _looks(app, w["item"]) == before + 1


@pytest.mark.parametrize("purged", [False, True])
def test_an_expired_crop_says_no_picture_kept(sqlite_url: str, settings_factory, tmp_path: Path,
                                              purged: bool) -> None:
    app = create_app(settings_factory(sqlite_url), migrate=False)
    w = _apel_with_confirmed_face(app, tmp_path / "evidence")
    with app.state.session_factory() as s:   # the retention period ended (and, or not yet, the purge ran)
        item = s.get(ReviewItem, w["item"])
        item.expires_at = utcnow() - timedelta(minutes=1)
        s.commit()
        if purged:
            assert committed(purge_expired)(s) == 1
    with TestClient(app) as client:
        for lang in ("id", "en"):
            page = client.get(f"/records/{w['record']}?lang={lang}", headers=w["auth"]["hr"])
            assert page.status_code == 200
            panel = _crops_panel(page.text)
            assert panel is not None and 'data-kept="no"' in panel and "<img" not in panel, page.text
            assert t("record_crop.none.expired", lang) in html.unescape(panel)
        assert client.get(f"/api/v1/review/{w['item']}/evidence", headers=w["auth"]["hr"]).status_code == 404


def test_no_crop_kept_says_so(sqlite_url: str, settings_factory) -> None:
    """APEL_KEEP_EVIDENCE off: the confirmation keeps no crop, and the page says so instead of a broken image."""
    app = create_app(settings_factory(sqlite_url), migrate=False)
    w = _apel_with_confirmed_face(app, None)
    with TestClient(app) as client:
        page = client.get(f"/records/{w['record']}?lang=en", headers=w["auth"]["hr"])
        panel = _crops_panel(page.text)
        assert panel is not None and "<img" not in panel, page.text
        assert t("record_crop.none.not_kept", "en") in html.unescape(panel)
