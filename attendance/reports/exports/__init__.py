"""Report exports: CSV, XLSX and PDF writers over one `ReportDocument`, and signed output.

`render_signed(doc, fmt, signer)` prints the signer's claims into the document, renders it, and
signs the final bytes (see attendance/reports/signing.py for why in that order)."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from attendance.reports.exports.document import Column, Heading, ReportDocument, Table
from attendance.reports.exports.pdf import to_pdf
from attendance.reports.exports.tabular import to_csv, to_xlsx
from attendance.reports.signing import Signer, sig_bytes

Format = Literal["csv", "xlsx", "pdf"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
WRITERS = {"csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}


@dataclass
class SignedExport:
    filename: str
    data: bytes
    sig: dict
    media_type: str

    @property
    def sig_filename(self) -> str:
        return self.filename + ".sig"

    @property
    def sig_data(self) -> bytes:
        return sig_bytes(self.sig)


def render(doc: ReportDocument, fmt: str) -> bytes:
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return WRITERS[fmt](doc)


def render_signed(doc: ReportDocument, fmt: str, signer: Signer, *, basename: str) -> SignedExport:
    claims = signer.claims()
    signed_doc = replace(doc, signature=claims)
    data = render(signed_doc, fmt)
    filename = f"{basename}.{fmt}"
    return SignedExport(filename, data, signer.sign(data, claims, filename=filename), MEDIA_TYPES[fmt])


__all__ = ["Column", "FORMATS", "Heading", "MEDIA_TYPES", "ReportDocument", "SignedExport", "Table",
           "render", "render_signed", "to_csv", "to_pdf", "to_xlsx"]
