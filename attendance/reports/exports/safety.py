"""What every writer does to the text it prints, so no stored value can break or turn an export.

Formula (CSV) injection, per OWASP: a text cell that starts with = + - @ TAB or CR is prefixed with a
single quote, so Excel/LibreOffice/Sheets show it as text instead of running it. A spreadsheet may split
a cell again on `;` (Excel in the Indonesian locale), `,` or TAB, so a formula character after one of
those gets the quote as well. Only text is touched: real numbers stay numbers (a count of -1 is not an
attack, and turning figures into text would break sums in the spreadsheet).

Control characters are dropped from every text (`printable`): the roster refuses them at input, but an
XLSX cannot hold most of them at all, so one that got in some other way must not make every export fail.
"""
from __future__ import annotations

import re
from dataclasses import replace

from attendance.reports.exports.document import Cell, ReportDocument

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_AFTER_SEPARATOR = re.compile(r"([;,\t]\s*)(?=[=+\-@])")
# C0 and C1 controls and DEL; tab, line feed and carriage return are text that every format holds.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def neutralise(value: Cell) -> Cell:
    if not isinstance(value, str):
        return value
    value = FORMULA_AFTER_SEPARATOR.sub(r"\1'", value)
    return "'" + value if value.startswith(DANGEROUS_PREFIXES) else value


def printable_text(value: str) -> str:
    return CONTROL_CHARACTERS.sub("", value)


def _printable_cell(value: Cell) -> Cell:
    return printable_text(value) if isinstance(value, str) else value


def _printable_row(row: list[Cell]) -> list[Cell]:
    return [_printable_cell(v) for v in row]


def printable(doc: ReportDocument) -> ReportDocument:
    """The document without control characters in any text it prints (the writers' last defence)."""
    heading = replace(doc.heading, institution=[printable_text(s) for s in doc.heading.institution],
                      address=None if doc.heading.address is None else printable_text(doc.heading.address))
    tables = [replace(t, title=printable_text(t.title),
                      columns=[replace(c, label=printable_text(c.label)) for c in t.columns],
                      rows=[_printable_row(r) for r in t.rows],
                      total=None if t.total is None else _printable_row(t.total))
              for t in doc.tables]
    return replace(doc, heading=heading, title=printable_text(doc.title), tables=tables,
                   meta=[(printable_text(label), printable_text(value)) for label, value in doc.meta])
