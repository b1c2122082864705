"""CSV and XLSX writers. Both print the heading, the tables and the visible signature block, and
neutralise formula injection in every text cell and drop control characters (see safety.py)."""
from __future__ import annotations

import csv
import io
import re

from openpyxl import Workbook
from openpyxl.cell.cell import TYPE_STRING
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from attendance.reports.exports.document import Cell, ReportDocument
from attendance.reports.exports.safety import neutralise, printable


def signature_lines(doc: ReportDocument) -> list[tuple[str, str]]:
    """The visible signature block, shared by all writers."""
    s = doc.signature
    if s is None:
        return []
    return [
        (doc.label("sig.title", "Electronically signed"), ""),
        (doc.label("sig.signer", "Signer"), s.signer),
        (doc.label("sig.fingerprint", "Key fingerprint"), s.short_fingerprint),
        (doc.label("sig.time", "Signed at (UTC)"), s.signed_at),
        (doc.label("sig.document", "Document ID"), s.document_id),
        (doc.label("sig.verify", "Verify"), doc.label("sig.verify_how", "apel verify FILE --sig FILE.sig")),
    ]


def _preamble(doc: ReportDocument) -> list[list[Cell]]:
    rows: list[list[Cell]] = [[line] for line in doc.heading.institution]
    if doc.heading.address:
        rows.append([doc.heading.address])
    rows.append([doc.title])
    rows.extend([label, value] for label, value in doc.meta)
    return rows


def to_csv(doc: ReportDocument) -> bytes:
    """UTF-8 with a BOM (so Excel reads the accents), CRLF rows, sections separated by blank rows."""
    doc = printable(doc)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def put(row: list[Cell]) -> None:
        w.writerow(["" if c is None else neutralise(cell_text(c)) for c in row])

    for row in _preamble(doc):
        put(row)
    for table in doc.tables:
        put([])
        put([table.title])
        put([c.label for c in table.columns])
        for row in table.rows:
            put(row)
        if table.total:
            put(table.total)
    if doc.signature:
        put([])
        for label, value in signature_lines(doc):
            put([label, value])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def cell_text(value: Cell) -> Cell:
    """A cell as text writers print it: a float (a confidence) with two decimals."""
    return f"{value:.2f}" if isinstance(value, float) else value


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
SHEET_MAX = 31   # Excel's limit on a sheet name


def _sheet_title(title: str, used: set[str]) -> str:
    """A unique sheet name within Excel's limit, cut at a word (not "Rincian pegawai  BAPPEDA Bad")."""
    base = " ".join(_SHEET_BAD.sub(" ", title).split()) or "Sheet"
    if len(base) > SHEET_MAX:
        cut = base[:SHEET_MAX + 1].rsplit(" ", 1)[0]
        base = (cut if len(cut) >= 8 else base[:SHEET_MAX]).rstrip(" -–—")
    name, n = base, 2
    while name.lower() in used:
        suffix = f" {n}"
        name, n = f"{base[:SHEET_MAX - len(suffix)]}{suffix}", n + 1
    used.add(name.lower())
    return name


def _set(ws, row: int, col: int, value: Cell, *, bold: bool = False):
    value = neutralise(value)
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        # Assign then force the type: openpyxl would otherwise store any "=..." text as a formula.
        cell.value = value
        cell.data_type = TYPE_STRING
    else:
        cell.value = value
        if isinstance(value, float):   # a number Excel can sort and average, shown as printed
            cell.number_format = "0.00"
    if bold:
        cell.font = Font(bold=True)
    return cell


def to_xlsx(doc: ReportDocument) -> bytes:
    """One sheet per table, each with the heading on top and the signature block below."""
    doc = printable(doc)
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for table in doc.tables:
        ws = wb.create_sheet(_sheet_title(table.sheet or table.title, used))
        r = 1
        for i, row in enumerate(_preamble(doc)):
            for j, value in enumerate(row, start=1):
                _set(ws, r, j, value, bold=(i < len(doc.heading.institution) or j == 1 and len(row) == 1))
            r += 1
        r += 1
        _set(ws, r, 1, table.title, bold=True)
        r += 1
        header_row = r
        for j, col in enumerate(table.columns, start=1):
            c = _set(ws, r, j, col.label, bold=True)
            c.alignment = Alignment(wrap_text=True, vertical="top")
        r += 1
        for row in table.rows:
            for j, value in enumerate(row, start=1):
                _set(ws, r, j, value)
            r += 1
        if table.total:
            for j, value in enumerate(table.total, start=1):
                _set(ws, r, j, value, bold=True)
            r += 1
        ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
        for j, col in enumerate(table.columns, start=1):
            ws.column_dimensions[get_column_letter(j)].width = max(8, min(45, 9 * col.width + 2))
        if doc.signature:
            r += 1
            for k, (label, value) in enumerate(signature_lines(doc)):
                _set(ws, r, 1, label, bold=(k == 0))
                _set(ws, r, 2, value)
                r += 1
    if doc.signature:
        wb.properties.identifier = doc.signature.document_id
        wb.properties.creator = doc.signature.signer
    wb.properties.title = doc.title
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
