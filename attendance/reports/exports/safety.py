"""Formula (CSV) injection defence, per OWASP: a text cell that starts with = + - @ TAB or CR is
prefixed with a single quote, so Excel/LibreOffice/Sheets show it as text instead of running it.

Only text is touched: real numbers stay numbers (a count of -1 is not an attack, and turning figures
into text would break sums in the spreadsheet).
"""
from __future__ import annotations

from attendance.reports.exports.document import Cell

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(DANGEROUS_PREFIXES):
        return "'" + value
    return value
