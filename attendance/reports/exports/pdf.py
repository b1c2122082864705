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
from fpdf.util import Padding

from attendance.reports.exports.document import ReportDocument
from attendance.reports.exports.safety import printable
from attendance.reports.exports.tabular import cell_text, signature_lines

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


class _TableDrawer:
    """Draws a table with the cheap primitives (text, line): fpdf2's cell() and table() lay out every
    cell as a styled, line-broken paragraph, which took minutes for a 10,000-employee recap.
    Vertical rules are drawn once per page segment; each row adds its text and one horizontal rule."""

    def __init__(self, pdf: _ReportPDF, widths: list[float], aligns: list[str], size: float):
        self.pdf, self.widths, self.aligns, self.size = pdf, widths, aligns, size
        self.line_h = size * 0.55
        self.pad = 0.8
        self.xs = [pdf.l_margin]
        for w in widths:
            self.xs.append(self.xs[-1] + w)
        self.top: float | None = None
        self._width_cache: dict[tuple[str, str], float] = {}
        # baseline offset that centres the digits/capitals of the font vertically in a line
        self.baseline = self.line_h / 2 + size * 0.3528 * 0.36

    def width(self, text: str) -> float:
        key = (text, self.pdf.font_style)
        w = self._width_cache.get(key)
        if w is None:
            w = self._width_cache[key] = self.pdf.get_string_width(text)
        return w

    def wrap(self, text: str, w: float) -> list[str]:
        if not text or self.width(text) <= w - 2 * self.pad:
            return [text]
        lines = self.pdf.multi_cell(w, 1, text, dry_run=True, output="LINES",
                                    padding=Padding(top=0, right=self.pad, bottom=0, left=self.pad))
        assert isinstance(lines, list)  # output="LINES" returns the lines alone
        return lines or [text]

    def begin_segment(self) -> None:
        y = self.pdf.get_y()
        self.top = y
        self.pdf.line(self.xs[0], y, self.xs[-1], y)

    def end_segment(self) -> None:
        if self.top is None:
            return
        y = self.pdf.get_y()
        for x in self.xs:
            self.pdf.line(x, self.top, x, y)
        self.top = None

    def row(self, cells: list[str], *, aligns: list[str] | None = None, fill: tuple[int, int, int] | None = None,
            bottom: float, on_break=None) -> None:
        pdf, line_h = self.pdf, self.line_h
        lines = [self.wrap(text, w) for text, w in zip(cells, self.widths, strict=True)]
        n = max(len(x) for x in lines)
        h = n * line_h
        if on_break is not None and pdf.get_y() + h > bottom:
            self.end_segment()
            pdf.add_page()
            on_break()
        y0 = pdf.get_y()
        if fill is not None:
            pdf.set_fill_color(*fill)
            pdf.rect(self.xs[0], y0, self.xs[-1] - self.xs[0], h, style="F")
        for i, (cell_lines, a) in enumerate(zip(lines, aligns or self.aligns, strict=True)):
            x, w = self.xs[i], self.widths[i]
            for k, text in enumerate(cell_lines):
                if not text:
                    continue
                if a == "L":
                    tx = x + self.pad
                else:
                    tw = self.width(text)
                    tx = x + w - self.pad - tw if a == "R" else x + (w - tw) / 2
                pdf.text(tx, y0 + k * line_h + self.baseline, text)
        pdf.line(self.xs[0], y0 + h, self.xs[-1], y0 + h)
        pdf.set_xy(self.xs[0], y0 + h)


LONGEST_WORDS = 24    # per column, the longest words (by characters) measured for its least width
SMALLEST_SIZE = 5.5   # pt: a table shrinks its font to here before it breaks a word


def _longest_words(texts: list[str]) -> list[str]:
    words = {w for text in texts for w in text.split()}
    return sorted(words, key=len, reverse=True)[:LONGEST_WORDS]


def _fit_widths(pdf: _ReportPDF, table, rows: list[list[str]], size: float) -> list[float] | None:
    """Column widths in mm that keep every word on one line (an 18-digit NIP, "Permission" in a
    header): each column gets at least its longest word, the rest of the page is shared by the declared
    relative widths. None when the words alone are wider than the page at this size."""
    pad = 2 * 0.8 + 0.4
    least: list[float] = []
    for j, col in enumerate(table.columns):
        pdf.set_font(FONT, "B", size)
        w = max((pdf.get_string_width(x) for x in _longest_words([col.label])), default=0.0)
        pdf.set_font(FONT, "", size)
        cells = [r[j] for r in rows] + ([str(table.total[j] or "")] if table.total else [])
        w = max([w, *(pdf.get_string_width(x) for x in _longest_words(cells))])
        least.append(w + pad)
    if sum(least) > pdf.epw:
        return None
    weights = [c.width for c in table.columns]
    fixed: set[int] = set()
    while True:   # columns below their least width take it; the others share what is left by weight
        free = pdf.epw - sum(least[j] for j in fixed)
        share = sum(weights[j] for j in range(len(weights)) if j not in fixed)
        widths = [least[j] if j in fixed else free * weights[j] / share for j in range(len(weights))]
        short = {j for j, w in enumerate(widths) if j not in fixed and w < least[j]}
        if not short:
            return widths
        fixed |= short


def _table(pdf: _ReportPDF, table) -> None:
    """A titled table; the header row is repeated after every page break."""
    pdf.set_font(FONT, "B", 10)
    if pdf.get_y() > pdf.h - 45:
        pdf.add_page()
    pdf.cell(0, 6, table.title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    n = len(table.columns)
    rows = [["" if v is None else str(cell_text(v)) for v in r] for r in table.rows]
    size = 8.0 if n <= 10 else 7.0
    widths = _fit_widths(pdf, table, rows, size)
    while widths is None and size > SMALLEST_SIZE:
        size -= 0.5
        widths = _fit_widths(pdf, table, rows, size)
    if widths is None:   # too many columns for the page: words must break
        total_w = sum(c.width for c in table.columns)
        widths = [pdf.epw * c.width / total_w for c in table.columns]
    d = _TableDrawer(pdf, widths, [c.align for c in table.columns], size)
    header = [c.label for c in table.columns]
    bottom = pdf.h - pdf.b_margin
    pdf.set_auto_page_break(False)
    pdf.set_draw_color(120)
    pdf.set_line_width(0.15)

    def draw_header() -> None:
        pdf.set_font(FONT, "B", size)
        d.begin_segment()
        d.row(header, aligns=["C"] * n, fill=(225, 230, 240), bottom=bottom)
        pdf.set_font(FONT, "", size)

    if pdf.get_y() + 4 * d.line_h > bottom:
        pdf.add_page()
    draw_header()
    for r in rows:
        d.row(r, bottom=bottom, on_break=draw_header)
    if table.total:
        def bold_header() -> None:
            draw_header()
            pdf.set_font(FONT, "B", size)

        pdf.set_font(FONT, "B", size)
        d.row(["" if v is None else str(v) for v in table.total], fill=(242, 242, 242), bottom=bottom,
              on_break=bold_header)
    d.end_segment()
    pdf.set_draw_color(0)
    pdf.set_line_width(0.2)
    pdf.set_fill_color(255)
    pdf.set_auto_page_break(True, margin=18)
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
    doc = printable(doc)   # a control character prints as a box or breaks the line layout
    pdf = _ReportPDF(doc)
    pdf.add_page()
    _kop(pdf, doc)
    for table in doc.tables:
        _table(pdf, table)
    _signature_block(pdf, doc)
    return bytes(pdf.output())
