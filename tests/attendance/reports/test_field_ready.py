"""What HR saw in the first exported reports: a correction did not show, the recap's "Apel" counted
people, the NIP wrapped in the recap PDF, English headers broke mid-word, XLSX kept confidence as
text and cut sheet names. Each export is opened as HR would open it (csv, openpyxl, pypdf)."""
from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from attendance.assemblies.corrections import correct_record
from attendance.db.unit_of_work import committed
from attendance.models import AttendanceRecord, User
from attendance.reports.exports.tabular import _sheet_title
from attendance.reports.publish import export_apel, export_recap

from .dataset import EMPLOYEES, nip

TZ = "Asia/Makassar"


def _correct_dewa(session, ds) -> None:
    """Dewa Made (TK in nov1) brings a doctor's letter: HR corrects the record to sick."""
    hr = User(username="bkd", password_hash="x", role="hr")
    session.add(hr)
    session.commit()
    rec = session.execute(select(AttendanceRecord).where(AttendanceRecord.assembly_id == ds.apels["nov1"],
                                                         AttendanceRecord.employee_id == ds.employees[4])).scalar_one()
    committed(correct_record)(session, rec.id, actor=hr, expected_version=rec.version, status="excused",
                              excuse_category="sakit", reason="surat dokter",
                              attachment_ref="445/123/RSUD/XI/2026")


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)


def test_a_correction_shows_in_the_apel_report_and_the_recap(session, ds, signer) -> None:
    _correct_dewa(session, ds)
    note = "Dikoreksi: Sakit — surat dokter (dokumen 445/123/RSUD/XI/2026)"
    exp = export_apel(session, ds.apels["nov1"], fmt="csv", lang="id", signer=signer, actor="test")
    rows = list(csv.reader(io.StringIO(exp.data.decode("utf-8-sig"))))
    header = next(r for r in rows if r[:3] == ["No", "NIP", "Nama"])
    dewa = next(r for r in rows if "Dewa Made" in r)
    assert dewa[header.index("Keterangan")] == note
    ayu = next(r for r in rows if "Ayu Lestari" in r)
    assert ayu[header.index("Keterangan")] == ""                      # nobody corrected hers
    recap = export_recap(session, "2026-11", fmt="csv", lang="id", signer=signer, actor="test", tz=TZ)
    rows = list(csv.reader(io.StringIO(recap.data.decode("utf-8-sig"))))
    header = next(r for r in rows if r[:3] == ["No", "NIP", "Nama"])
    dewa = next(r for r in rows if "Dewa Made" in r)
    assert dewa[header.index("Keterangan")] == f"01/11: {note}"    # the apel's day, in WITA
    en = export_recap(session, "2026-11", fmt="pdf", lang="en", signer=signer, actor="test", tz=TZ)
    assert "Corrected: Sick" in _pdf_text(en.data)


def test_recap_apels_per_office_count_apels_not_people(session, ds, signer) -> None:
    exp = export_recap(session, "2026-11", fmt="xlsx", lang="id", signer=signer, actor="test", tz=TZ)
    ws = load_workbook(io.BytesIO(exp.data)).worksheets[0]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    header = next(r for r in rows if r[0] == "No")
    by_code = {r[1]: r[header.index("Apel")] for r in rows if r[1] in ("BKD", "DINKES", "DKI")}
    assert by_code == {"BKD": 2, "DINKES": 2, "DKI": 2}               # it said 10, 8 and 6


def test_recap_pdf_keeps_each_nip_and_each_header_word_whole(session, ds, signer) -> None:
    _correct_dewa(session, ds)   # the widest recap: a Keterangan with text
    for lang in ("id", "en"):
        exp = export_recap(session, "2026-11", fmt="pdf", lang=lang, signer=signer, actor="test", tz=TZ)
        text = _pdf_text(exp.data)
        for i in EMPLOYEES:
            assert nip(i) in text, (lang, nip(i))                       # not broken over two lines
        if lang == "en":
            for words in ("Permission", "Study assignment", "Official travel", "Assemblies", "Employees"):
                assert re.search(r"\s+".join(words.split()), text), words   # a header may wrap between words
    exp = export_apel(session, ds.apels["nov1"], fmt="pdf", lang="en", signer=signer, actor="test")
    text = _pdf_text(exp.data)
    assert all(nip(i) in text for i in EMPLOYEES)
    for word in ("Permission", "Distancing", "Confidence", "Reason"):
        assert word in text, word
    assert not re.search(r"\bPermiss\s+ion\b|\bassignm\s+ent\b", text)


def test_xlsx_keeps_confidence_as_a_number_and_names_sheets_whole(session, ds, signer) -> None:
    exp = export_apel(session, ds.apels["nov1"], fmt="xlsx", lang="id", signer=signer, actor="test")
    wb = load_workbook(io.BytesIO(exp.data))
    assert wb.sheetnames[1:] == ["BKD", "DINKES", "DKI"]             # not "Rincian pegawai  BAPPEDA Bad"
    cells = [c for r in wb["BKD"].iter_rows() for c in r]
    header = next(c.row for c in cells if c.value == "Keyakinan")
    col = next(c.column for c in cells if c.value == "Keyakinan")
    conf = [c for c in cells if c.column == col and c.row > header and c.value not in (None, "")]
    assert conf and all(isinstance(c.value, float) and c.number_format == "0.00" for c in conf)
    assert conf[0].value == 0.91
    csv_exp = export_apel(session, ds.apels["nov1"], fmt="csv", lang="id", signer=signer, actor="test")
    assert ",0.91," in csv_exp.data.decode("utf-8-sig")                # printed as before


def test_sheet_names_fit_excel_and_stay_unique() -> None:
    used: set[str] = set()
    name = _sheet_title("Rincian pegawai: BAPPEDA Badan Perencanaan Pembangunan Daerah", used)
    assert len(name) <= 31 and name == "Rincian pegawai BAPPEDA Badan"
    again = _sheet_title("Rincian pegawai: BAPPEDA Badan Perencanaan Pembangunan Daerah", used)
    assert again != name and len(again) <= 31
