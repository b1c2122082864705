"""Reports over HTTP on both databases: figures, office scoping by role, signed downloads that the
verify endpoint and page accept and reject after a one-byte change, and clear 4xx on bad input."""
from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from attendance.models import AuditEntry, User

from .dataset import Dataset, seed

PASSWORD = "correct horse battery"


@dataclass
class Web:
    app: object
    ds: Dataset

    def client(self, username: str | None = None) -> TestClient:
        c = TestClient(self.app)
        if username:
            r = c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    def audit_count(self) -> int:
        with self.app.state.session_factory() as s:
            return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


@pytest.fixture
def web(db_url, settings_factory) -> Iterator[Web]:
    from app.web.app import create_app
    from attendance.roster.passwords import hash_password

    app = create_app(settings_factory(db_url), migrate=False)
    pw = hash_password(PASSWORD)
    with app.state.session_factory() as s:
        ds = seed(s)
        for name, role, office in (("hr", "hr", None), ("admin", "admin", None), ("leader", "leader", None),
                                   ("obs", "observer", None), ("opbkd", "operator", ds.offices["BKD"]),
                                   ("opnone", "operator", None)):
            s.add(User(username=name, password_hash=pw, role=role, office_id=office))
        s.commit()
    yield Web(app, ds)
    app.state.engine.dispose()


def _unzip(resp) -> tuple[str, bytes, bytes]:
    z = zipfile.ZipFile(io.BytesIO(resp.content))
    names = z.namelist()
    main = next(n for n in names if not n.endswith(".sig"))
    return main, z.read(main), z.read(main + ".sig")


def test_hr_sees_every_office_and_the_totals(web):
    with web.client("hr") as c:
        r = c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert [o["code"] for o in body["offices"]] == ["BKD", "DINKES", "DKI"]
        assert body["total"]["roster"] == 12
        assert body["total"]["late_by_tier"] == {"TL1": 1, "TL2": 1, "TL3": 1, "TL4": 1}
        bkd = body["offices"][0]
        assert bkd["scheduled_start_local"] == "2026-11-01 07:30:00 WITA"
        people = c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}/offices/{web.ds.offices['DKI']}/people",
                       params={"status": "late"}).json()["people"]
        assert [(p["name"], p["tier"], p["first_seen_local"]) for p in people] == [
            ("Komang Ayu", "TL2", "2026-11-01 09:15:00 WIT")]
        rc = c.get("/api/v1/reports/recap", params={"month": "2026-11"}).json()
        assert rc["total"]["present"] == 12 and len(rc["employees"]) == 12


@pytest.mark.parametrize("who", ["admin", "leader", "obs"])
def test_other_readers_see_all_offices(web, who):
    with web.client(who) as c:
        assert len(c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}").json()["offices"]) == 3


def test_operator_sees_only_their_office(web):
    a = web.ds.apels["nov1"]
    with web.client("opbkd") as c:
        body = c.get(f"/api/v1/reports/apel/{a}").json()
        assert [o["code"] for o in body["offices"]] == ["BKD"] and body["total"]["roster"] == 5
        assert c.get(f"/api/v1/reports/apel/{a}", params={"office_id": web.ds.offices["DKI"]}).status_code == 403
        assert c.get(f"/api/v1/reports/apel/{a}/offices/{web.ds.offices['DKI']}/people").status_code == 403
        assert c.get(f"/api/v1/reports/apel/{a}/offices/{web.ds.offices['BKD']}/people").status_code == 200
        rc = c.get("/api/v1/reports/recap", params={"month": "2026-11"}).json()
        assert [o["code"] for o in rc["offices"]] == ["BKD"] and len(rc["employees"]) == 5
        assert c.get("/api/v1/reports/recap/export", params={"month": "2026-11",
                                                             "office_id": web.ds.offices["DKI"]}).status_code == 403
        r = c.get(f"/api/v1/reports/apel/{a}/export", params={"format": "csv"})
        assert r.status_code == 200
        _, data, _ = _unzip(r)
        text = data.decode("utf-8-sig")
        assert "Badan Kepegawaian Daerah" in text and "Dinas Kesehatan" not in text and "Komang Ayu" not in text


def test_operator_without_an_office_sees_nothing(web):
    with web.client("opnone") as c:
        assert c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}").status_code == 403
        assert c.get("/api/v1/reports/recap", params={"month": "2026-11"}).status_code == 403


def test_login_required(web):
    with web.client() as c:
        assert c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}").status_code == 401
        assert c.get("/api/v1/reports/recap/export", params={"month": "2026-11"}).status_code == 401
        r = c.get("/reports", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "pdf"])
def test_signed_download_verifies_and_fails_after_one_byte(web, fmt):
    with web.client("hr") as c:
        before = web.audit_count()
        r = c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}/export", params={"format": fmt, "lang": "en"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert web.audit_count() == before + 1          # the export is in the audit log
        name, data, sig = _unzip(r)
        assert name.endswith("." + fmt) and json.loads(sig)["document_id"] == r.headers["X-Apel-Document-Id"]
        ok = c.post("/api/v1/verify", files={"file": (name, data), "sig": (name + ".sig", sig)})
        assert ok.status_code == 200 and ok.json()["valid"] is True, ok.text
        assert ok.json()["signer"] and ok.json()["signed_at"]
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0x01
        res = c.post("/api/v1/verify", files={"file": (name, bytes(bad)), "sig": (name + ".sig", sig)}).json()
        assert res["valid"] is False and res["reason"] == "modified"


def test_the_downloaded_zip_verifies_as_it_is(web):
    with web.client("hr") as c:
        r = c.get(f"/api/v1/reports/apel/{web.ds.apels['nov1']}/export", params={"format": "csv"})
        res = c.post("/api/v1/verify", files={"file": ("laporan.zip", r.content)}).json()
        assert res["valid"] is True
        name, data, sig = _unzip(r)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:   # the same bundle with one byte of the report changed
            z.writestr(name, data.replace(b"Ayu Lestari", b"Ayu Lestary"))
            z.writestr(name + ".sig", sig)
        res = c.post("/api/v1/verify", files={"file": ("laporan.zip", buf.getvalue())}).json()
        assert res["valid"] is False and res["reason"] == "modified"


def test_unbundled_download_carries_the_signature_header(web):
    with web.client("hr") as c:
        r = c.get("/api/v1/reports/recap/export", params={"month": "2026-11", "format": "xlsx", "bundle": "false"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
        sig = base64.b64decode(r.headers["X-Apel-Signature"])
        res = c.post("/api/v1/verify", files={"file": ("r.xlsx", r.content), "sig": ("r.xlsx.sig", sig)}).json()
        assert res["valid"] is True


def test_bad_input_is_a_clear_4xx_and_writes_nothing(web):
    with web.client("hr") as c:
        before = web.audit_count()
        a = web.ds.apels["nov1"]
        assert c.get(f"/api/v1/reports/apel/{a}/export", params={"format": "doc"}).status_code == 422
        assert c.get(f"/api/v1/reports/apel/{a}/export", params={"lang": "fr"}).status_code == 422
        r = c.get("/api/v1/reports/recap/export", params={"month": "2026-13"})
        assert r.status_code == 422 and r.json()["detail"]["code"] == "bad_input"
        assert c.get("/api/v1/reports/apel/999999/export").status_code == 404
        assert c.get("/api/v1/reports/apel/999999").status_code == 404
        assert c.get(f"/api/v1/reports/apel/{a}/offices/999999/people").status_code == 404
        assert c.post("/api/v1/verify", files={"file": ("a.csv", b"x")}).status_code == 422
        assert c.post("/api/v1/verify", files={"sig": ("a.sig", b"{}")}).status_code == 422
        assert c.post("/api/v1/verify", data={"x": "1"}).status_code in (415, 422)
        assert web.audit_count() == before


def test_verify_needs_csrf_with_a_cookie(web):
    with web.client("hr") as c:
        del c.headers["X-CSRF-Token"]
        assert c.post("/api/v1/verify", files={"file": ("a", b"x"), "sig": ("a.sig", b"{}")}).status_code == 403


def test_pages_render_and_verify_form(web):
    a = web.ds.apels["nov1"]
    with web.client("hr") as c:
        assert "Apel nov1" in c.get("/reports").text
        page = c.get(f"/reports/apel/{a}").text
        assert "Badan Kepegawaian Daerah" in page and "JUMLAH" in page
        office = c.get(f"/reports/apel/{a}/office/{web.ds.offices['BKD']}", params={"status": "late"}).text
        assert "Bagus Pratama" in office and "Ayu Lestari" not in office
        en = c.get(f"/reports/apel/{a}", params={"lang": "en"}).text
        assert "ASSEMBLY REPORT: Apel nov1" in en and "TOTAL" in en
        recap = c.get("/reports/recap", params={"month": "2026-11", "office_id": web.ds.offices["DINKES"]}).text
        assert "Hana Wijaya" in recap
        assert c.get("/reports/recap", params={"month": "bogus"}).status_code == 422
        r = c.get(f"/api/v1/reports/apel/{a}/export", params={"format": "pdf"})
        name, data, sig = _unzip(r)
        token = c.headers["X-CSRF-Token"]
        del c.headers["X-CSRF-Token"]
        ok = c.post("/verify", data={"csrf_token": token}, files={"file": (name, data), "sig": (name + ".sig", sig)})
        assert ok.status_code == 200 and 'id="verify-result"' in ok.text
        assert "SAH" in ok.text and "TIDAK SAH" not in ok.text
        bad = c.post("/verify", data={"csrf_token": token},
                     files={"file": (name, data + b" "), "sig": (name + ".sig", sig)})
        assert "TIDAK SAH" in bad.text
    with web.client("opbkd") as c:
        assert c.get(f"/reports/apel/{a}/office/{web.ds.offices['DKI']}").status_code == 403
        page = c.get(f"/reports/apel/{a}").text
        assert "Badan Kepegawaian Daerah" in page and "Dinas Kesehatan" not in page


def test_the_office_report_page_shows_a_correction_as_the_exports_do(web):
    from attendance.models import AttendanceRecord

    from .test_field_ready import _correct_dewa

    with web.app.state.session_factory() as s:
        _correct_dewa(s, web.ds)
        office_id = s.execute(select(AttendanceRecord.office_id).where(
            AttendanceRecord.assembly_id == web.ds.apels["nov1"],
            AttendanceRecord.employee_id == web.ds.employees[4])).scalar_one()
    with web.client("hr") as c:
        page = c.get(f"/reports/apel/{web.ds.apels['nov1']}/office/{office_id}").text
    assert "Dikoreksi: Sakit — surat dokter (dokumen 445/123/RSUD/XI/2026)" in page
