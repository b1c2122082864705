"""A report as the writers see it: already translated and formatted, no database, no rules.

Reports (attendance/reports.py) build a `ReportDocument`; each writer (CSV, XLSX, PDF) turns the same
document into bytes, so the three formats cannot disagree about a figure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from attendance.reports.signing import SignatureClaims

Cell = str | int | float | None   # a float is a measured value: two decimals in CSV and PDF, a number in XLSX
Align = Literal["L", "C", "R"]


@dataclass
class Column:
    label: str
    width: float = 1.0            # relative width in the PDF
    align: Align = "L"


@dataclass
class Table:
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    total: list[Cell] | None = None   # printed bold after the rows
    sheet: str | None = None          # a short XLSX sheet name (Excel allows 31 characters); default: the title

    def __post_init__(self) -> None:
        n = len(self.columns)
        for row in self.rows + ([self.total] if self.total else []):
            if len(row) != n:
                raise ValueError(f"table {self.title!r}: row has {len(row)} cells, expected {n}")


@dataclass
class Heading:
    """Kop surat: the institution lines on top of the first page, then the report title."""

    institution: list[str]         # e.g. ["PEMERINTAH PROVINSI BALI", "BADAN KEPEGAWAIAN DAERAH"]
    address: str | None = None


@dataclass
class ReportDocument:
    lang: str
    kind: str                       # "apel" | "recap" (file names, CSV "section" column)
    heading: Heading
    title: str
    meta: list[tuple[str, str]]     # label -> value lines under the title (apel, date, office...)
    tables: list[Table]
    signature: SignatureClaims | None = None
    labels: dict[str, str] = field(default_factory=dict)   # writer chrome: page, signed by, ...
    landscape: bool = False

    def label(self, key: str, default: str) -> str:
        return self.labels.get(key, default)
