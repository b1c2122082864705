"""Print-ready A4 PDF (fpdf2): kop surat on the first page, a running title on the others, the tables
with their header row repeated across page breaks, page "x of y" and the document id in every footer,
and the visible electronic-signature block at the end.

The font is DejaVu Sans, bundled in ./fonts (the core PDF fonts only cover Latin-1, and a name with
any other character would fail to print or print wrong).
"""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from .document import ReportDocument
from .tabular import signature_lines

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"


class _ReportPDF(FPDF):
    def __init__(self, doc: ReportDocument):
        super().__init__(orientation="L" if doc.landscape else "P", unit="mm", format="A4")
        self.doc = doc
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.alias_nb_pages("{nb}")
        self.set_title(doc.title)
        self.set_lang("id-ID" if doc.lang == "id" else "en-GB")
        if doc.signature:
            self.set_author(doc.signature.signer)
            self.set_subject(f"{doc.kind} {doc.signature.document_id}")
        self.set_creator("Apel")

    def header(self) -> None:
        if self.page_no() == 1:
            return  # the kop surat is drawn by the body on page 1
        self.set_font(FONT, "", 7.5)
        self.set_text_color(90)
        self.cell(0, 5, self.doc.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0)
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(90)
        left = ""
        if self.doc.signature:
            left = f"{self.doc.label('sig.document', 'Document ID')}: {self.doc.signature.document_id}"
        self.cell(self.epw / 2, 5, left, align="L")
        page = self.doc.label("page", "Page {page} of {pages}").format(page=self.page_no(), pages="{nb}")
        self.cell(self.epw / 2, 5, page, align="R")
        self.set_text_color(0)


def _kop(pdf: _ReportPDF, doc: ReportDocument) -> None:
    for i, line in enumerate(doc.heading.institution):
        pdf.set_font(FONT, "B", 13 if i == 0 else 12)
        pdf.cell(0, 6.5, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.heading.address:
        pdf.set_font(FONT, "", 8.5)
        pdf.cell(0, 5, doc.heading.address, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    y = pdf.get_y() + 1.5
    pdf.set_line_width(0.8)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_line_width(0.2)
    pdf.line(pdf.l_margin, y + 1.2, pdf.w - pdf.r_margin, y + 1.2)
    pdf.set_y(y + 4)
    pdf.set_font(FONT, "B", 11.5)
    pdf.multi_cell(0, 6, doc.title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    pdf.set_font(FONT, "", 9)
    label_w = 38
    for label, value in doc.meta:
        pdf.cell(label_w, 5, label)
        pdf.multi_cell(0, 5, f": {value}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _table(pdf: _ReportPDF, table) -> None:  # noqa: ANN001
    pdf.set_font(FONT, "B", 10)
    if pdf.get_y() > pdf.h - 45:
        pdf.add_page()
    pdf.cell(0, 6, table.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    n = len(table.columns)
    font_size = 8 if n <= 10 else 7
    pdf.set_font(FONT, "", font_size)
    widths = tuple(c.width for c in table.columns)
    aligns = tuple(c.align for c in table.columns)
    with pdf.table(col_widths=widths, text_align=aligns, line_height=font_size * 0.55,
                   headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 240)),
                   repeat_headings=1, padding=0.8, first_row_as_headings=True) as t:
        header = t.row()
        for c in table.columns:
            header.cell(c.label, align="C")
        for row in table.rows:
            r = t.row()
            for value in row:
                r.cell("" if value is None else str(value))
        if table.total:
            r = t.row(style=FontFace(emphasis="BOLD", fill_color=(242, 242, 242)))
            for value in table.total:
                r.cell("" if value is None else str(value))
    pdf.ln(4)


def _signature_block(pdf: _ReportPDF, doc: ReportDocument) -> None:
    lines = signature_lines(doc)
    if not lines:
        return
    height = 6 + 5 * (len(lines) - 1) + 4
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    w = min(120.0, pdf.epw)
    pdf.set_x(pdf.w - pdf.r_margin - w)
    x = pdf.get_x()
    pdf.set_draw_color(40, 70, 140)
    pdf.rect(x, y, w, height)
    pdf.set_draw_color(0)
    pdf.set_xy(x + 2, y + 1.5)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(w - 4, 5, lines[0][0], new_x=XPos.LEFT, new_y=YPos.NEXT)
    for label, value in lines[1:]:
        pdf.set_x(x + 2)
        pdf.set_font(FONT, "", 7.5)
        pdf.cell(30, 5, label)
        pdf.set_font(FONT, "B" if label == lines[1][0] else "", 7.5)
        pdf.cell(w - 34, 5, value, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(y + height + 2)


def to_pdf(doc: ReportDocument) -> bytes:
    pdf = _ReportPDF(doc)
    pdf.add_page()
    _kop(pdf, doc)
    for table in doc.tables:
        _table(pdf, table)
    _signature_block(pdf, doc)
    return bytes(pdf.output())
