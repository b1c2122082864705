"""The apel pages as the leader and HR meet them: "Akhiri apel" asks before it ends the apel, in the
console's words (it used to end it on one click; the question itself is asked by static/js/apel.js for
every <form data-confirm>), and a record's correction history is in the office's zone like the rest
of the page (it said UTC). Real SQLite behind the real app."""
from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from app.web.app import create_app
from app.web.security import issue_token
from attendance.i18n import t
from attendance.roster.employees import create_employee
from attendance.roster.offices import create_office
from attendance.roster.users import create_user


def test_end_button_asks_first_and_history_is_local(sqlite_url: str, settings_factory) -> None:
    app = create_app(settings_factory(sqlite_url), migrate=False)
    with app.state.session_factory() as s:
        office = create_office(s, actor="test", code="BKPSDM", name="Badan Kepegawaian", timezone="Asia/Makassar")
        create_employee(s, actor="test", nip="199107242013111005", name="Made", office_id=office.id)
        leader = create_user(s, actor="test", username="leader", password="correct horse battery", role="leader")
        hr = create_user(s, actor="test", username="hr", password="correct horse battery", role="hr")
        s.commit()
        auth = {"Authorization": f"Bearer {issue_token('test-secret', leader.id, leader.password_hash)}"}
        hr_auth = {"Authorization": f"Bearer {issue_token('test-secret', hr.id, hr.password_hash)}"}
        office_id = office.id
    with TestClient(app) as client:
        start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        aid = client.post("/api/v1/assemblies", headers=auth, json={
            "kind": "pagi", "title": "Apel pagi", "scheduled_start": start, "office_ids": [office_id]}).json()["id"]
        assert client.post(f"/api/v1/assemblies/{aid}/start", headers=auth).status_code == 200
        for lang in ("id", "en"):
            page = client.get(f"/apel/{aid}?lang={lang}", headers=auth)
            assert page.status_code == 200
            form = re.search(rf'<form[^>]*action="/apel/{aid}/end"[^>]*>', page.text)
            assert form, page.text
            asked = re.search(r'data-confirm="([^"]+)"', form.group(0))
            assert asked and html.unescape(asked.group(1)) == t("live.console.end_confirm", lang)
        assert client.post(f"/api/v1/assemblies/{aid}/end", headers=auth).status_code == 200
        rec = client.get(f"/api/v1/assemblies/{aid}/records", headers=hr_auth).json()[0]
        before = datetime.now(UTC)
        r = client.post(f"/api/v1/records/{rec['id']}/corrections", headers=hr_auth, json={
            "expected_version": rec["version"], "status": "excused", "excuse_category": "sakit",
            "reason": "surat dokter", "attachment_ref": "SKD-1"})
        assert r.status_code == 200, r.text
        page = client.get(f"/records/{rec['id']}", headers=hr_auth).text
        history = page[page.index('id="history"'):]
        wita = before.astimezone(ZoneInfo("Asia/Makassar"))
        assert f"{wita:%Y-%m-%d %H}:" in history and "WITA" in history and " UTC" not in history, history
