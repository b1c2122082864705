"""Export contents: open the CSV, XLSX and PDF that HR would get and check what is in them."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from attendance.reports.exports import Column, Heading, ReportDocument, Table, to_csv, to_pdf, to_xlsx
from attendance.reports.exports.safety import neutralise
from attendance.reports.publish import export_apel, export_recap

EVIL = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "=HYPERLINK(\"http://evil\",\"x\")"]


@pytest.mark.parametrize("value", EVIL)
def test_neutralise_prefixes_dangerous_text(value):
    assert neutralise(value) == "'" + value


def test_neutralise_leaves_numbers_and_plain_text():
    assert neutralise(-3) == -3 and neutralise(2.5) == 2.5 and neutralise("Ayu") == "Ayu" and neutralise(None) is None


@pytest.mark.parametrize(("value", "safe"), [
    ("Budi Santoso;=1+1;@SUM(9)", "Budi Santoso;'=1+1;'@SUM(9)"),
    ("Budi, +1", "Budi, '+1"),
    ("Budi\t-2+3", "Budi\t'-2+3"),
    ("=1;=2", "'=1;'=2"),
])
def test_neutralise_formulas_after_a_separator(value, safe):
    """Excel in the Indonesian locale splits a CSV cell again on `;`: every piece must be text."""
    assert neutralise(value) == safe


def test_neutralise_leaves_separators_without_formulas():
    assert neutralise("Santoso, S.Kom; Staf") == "Santoso, S.Kom; Staf"


def test_control_characters_never_break_an_export():
    """The roster refuses them, but a name stored before (or by other means) must not make exports fail."""
    bad = "Budi\x1b[31m\x07\x00 Santoso\x7f"
    doc = ReportDocument(lang="en", kind="apel", heading=Heading(["INST\x0b"], address="Jl.\x01"), title="T\x1f",
                         meta=[("m\x02", bad)], tables=[Table("t\x03", [Column("c\x04")], [[bad], [3]], total=[bad])])
    rows = list(csv.reader(io.StringIO(to_csv(doc).decode("utf-8-sig"))))
    assert ["Budi[31m Santoso"] in rows and ["m", "Budi[31m Santoso"] in rows
    wb = load_workbook(io.BytesIO(to_xlsx(doc)))
    values = [c.value for ws in wb.worksheets for r in ws.iter_rows() for c in r if c.value is not None]
    assert "Budi[31m Santoso" in values and "INST" in values and 3 in values
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(to_pdf(doc))).pages)
    assert "Budi[31m Santoso" in text


def _evil_doc() -> ReportDocument:
    return ReportDocument(lang="en", kind="apel", heading=Heading(["=INST"]), title="@title", meta=[("-m", "+v")],
                          tables=[Table("=sheet", [Column("=c")], [[v] for v in EVIL] + [[-7]])])


def test_csv_and_xlsx_neutralise_every_text_cell():
    rows = list(csv.reader(io.StringIO(to_csv(_evil_doc()).decode("utf-8-sig"))))
    cells = [c for r in rows for c in r if c]
    assert cells and all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells if c != "-7")
    assert "-7" in cells  # a number stays a number
    wb = load_workbook(io.BytesIO(to_xlsx(_evil_doc())))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if isinstance(c.value, str):
                    assert c.data_type == "s" and not c.value.startswith(("=", "+", "-", "@", "\t", "\r")), c.value
    assert any(c.value == -7 for ws in wb.worksheets for r in ws.iter_rows() for c in r)


def test_apel_xlsx_contents(session, ds, signer):
    exp = export_apel(session, ds.apels["nov1"], fmt="xlsx", lang="id", signer=signer, actor="test")
    wb = load_workbook(io.BytesIO(exp.data))
    assert wb.sheetnames[0].startswith("Ringkasan") and len(wb.sheetnames) == 4
    ws = wb.worksheets[0]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    header = next(r for r in rows if r[0] == "No")
    total = next(r for r in rows if "JUMLAH" in r)
    col = {name: i for i, name in enumerate(header) if name}
    assert total[col["Jumlah pegawai"]] == 12 and total[col["Hadir"]] == 3 and total[col["Terlambat"]] == 4
    assert [total[col[t]] for t in ("TL1", "TL2", "TL3", "TL4")] == [1, 1, 1, 1]
    assert total[col["TK"]] == 2 and total[col["Sakit"]] == 1 and total[col["Cuti"]] == 1
    assert total[col["Dinas luar"]] == 1 and total[col["% masker"]] == "71.4%"
    bkd = next(r for r in rows if r[1] == "BKD")
    assert bkd[col["Jumlah pegawai"]] == 5 and bkd[col["Peringatan jarak"]] == 2   # episodes (dataset)
    # drill-down sheets, NIP kept as text (18 digits would lose precision as a number)
    people = wb.worksheets[1]
    values = [c.value for r in people.iter_rows() for c in r]
    assert "198001012005010002" in values and "Bagus Pratama" in values
    assert "'=HYPERLINK(\"http://evil\",\"x\")" in values
    # visible signature block
    flat = [c.value for r in ws.iter_rows() for c in r]
    assert "Ditandatangani secara elektronik" in flat and exp.sig["document_id"] in flat
    assert signer.name in flat


def test_apel_pdf_contents_both_languages(session, ds, signer):
    exp = export_apel(session, ds.apels["nov1"], fmt="pdf", lang="id", signer=signer, actor="test")
    reader = PdfReader(io.BytesIO(exp.data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert reader.pages[0].mediabox.width == pytest.approx(841.89, abs=1)   # A4 landscape
    assert reader.pages[0].mediabox.height == pytest.approx(595.28, abs=1)
    for needle in ("PEMERINTAH DAERAH", "LAPORAN APEL: Apel nov1", "Ringkasan per perangkat daerah", "JUMLAH",
                   "Badan Kepegawaian Daerah", "Bagus Pratama", "TL3", "Dinas luar", "71.4%",
                   "07:35:00 WITA", "06:29:30 WIB", "09:15:00 WIT",
                   "Ditandatangani secara elektronik", exp.sig["document_id"],
                   f"Halaman 1 dari {len(reader.pages)}"):
        assert needle in text, needle
    en = export_apel(session, ds.apels["nov1"], fmt="pdf", lang="en", signer=signer, actor="test")
    text_en = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(en.data)).pages)
    for needle in ("ASSEMBLY REPORT: Apel nov1", "Summary per office", "TOTAL", "Official travel",
                   "Electronically signed", "Page 1 of"):
        assert needle in text_en, needle


def test_recap_exports(session, ds, signer):
    exp = export_recap(session, "2026-11", fmt="csv", lang="en", signer=signer, actor="test", tz="Asia/Makassar")
    rows = list(csv.reader(io.StringIO(exp.data.decode("utf-8-sig"))))
    assert ["Month", "November 2026"] in rows
    ayu = next(r for r in rows if "Ayu Lestari" in r)
    header = next(r for r in rows if r[:3] == ["No", "NIP", "Name"])
    col = {n: i for i, n in enumerate(header)}
    assert ayu[col["Assemblies"]] == "2" and ayu[col["On time"]] == "1" and ayu[col["TL1"]] == "1"
    pdf = export_recap(session, "2026-11", fmt="pdf", lang="id", signer=signer, actor="test", tz="Asia/Makassar")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "REKAPITULASI KEHADIRAN APEL BULAN NOVEMBER 2026" in text and "Hana Wijaya" in text
    xl = export_recap(session, "2026-11", fmt="xlsx", lang="id", signer=signer, actor="test", tz="Asia/Makassar")
    wb = load_workbook(io.BytesIO(xl.data))
    assert len(wb.worksheets) == 2
    emp = [[c.value for c in r] for r in wb.worksheets[1].iter_rows()]
    hana = next(r for r in emp if "Hana Wijaya" in r)
    assert 120 in hana


def test_exports_are_audited(session, ds, signer):
    from sqlalchemy import select

    from attendance.models import AuditEntry

    exp = export_apel(session, ds.apels["nov1"], fmt="csv", lang="id", signer=signer, actor="hr1")
    session.commit()
    entry = session.execute(select(AuditEntry).where(AuditEntry.action == "report.export")).scalar_one()
    assert entry.actor == "hr1" and entry.entity_id == exp.sig["document_id"]
    assert entry.after["sha256"] == exp.sig["sha256"]
