"""Publishing a report: compute it, build the translated document, render, sign, and write an audit
entry naming the file's SHA-256, all in the caller's session; what the CLI and the HTTP routes call."""
from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Invalid
from attendance.i18n import LANGS
from attendance.models import Office
from attendance.reports.apel import apel_people, apel_report
from attendance.reports.documents import ReportSettings, apel_document, recap_document
from attendance.reports.exports import FORMATS, SignedExport, render_signed
from attendance.reports.recap import monthly_recap
from attendance.reports.signing import Signer


def _safe_name(name: str) -> str:
    """File names end up in Content-Disposition headers and on disks: plain characters only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "laporan"


def _check(fmt: str, lang: str) -> None:
    if fmt not in FORMATS:
        raise Invalid("bad_input", f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if lang not in LANGS:
        raise Invalid("bad_input", f"lang must be one of {', '.join(LANGS)}, got {lang!r}")


def _record_export(session: Session, exp: SignedExport, *, actor: str, what: str, params: dict) -> None:
    audit.record(session, actor=actor, action="report.export", entity="report", entity_id=exp.sig["document_id"],
                 after={"report": what, **params, "filename": exp.filename, "sha256": exp.sig["sha256"],
                        "size": exp.sig["size"], "key_fingerprint": exp.sig["key_fingerprint"]})


def export_apel(session: Session, assembly_id: int, *, fmt: str, lang: str, signer: Signer, actor: str,
                tz: str = "Asia/Makassar", office_ids: list[int] | None = None, detail: bool = True,
                basename: str | None = None, report_settings: ReportSettings | None = None) -> SignedExport:
    _check(fmt, lang)
    report = apel_report(session, assembly_id, office_ids)
    people = ({o.office_id: apel_people(session, assembly_id, o.office_id)[1] for o in report.offices}
              if detail else None)
    doc = apel_document(session, report, lang, tz=tz, people=people, settings=report_settings)
    suffix = f"-{report.offices[0].code}" if len(report.offices) == 1 and office_ids is not None else ""
    exp = render_signed(doc, fmt, signer,
                        basename=_safe_name(basename or f"laporan-apel-{assembly_id}{suffix}-{lang}"))
    _record_export(session, exp, actor=actor, what="apel",
                   params={"assembly_id": assembly_id, "office_ids": office_ids, "format": fmt, "lang": lang})
    return exp


def export_recap(session: Session, month: str, *, fmt: str, lang: str, signer: Signer, actor: str,
                 tz: str = "Asia/Makassar", office_ids: list[int] | None = None,
                 with_employees: bool = True, with_operators: bool = False, basename: str | None = None,
                 report_settings: ReportSettings | None = None) -> SignedExport:
    """`with_operators`: the hand-mark-per-operator table, for HR and admins only (the caller decides)."""
    _check(fmt, lang)
    recap = monthly_recap(session, month, tz=tz, office_ids=office_ids, with_employees=with_employees,
                          with_operators=with_operators)
    label = None
    suffix = ""
    if office_ids is not None and len(office_ids) == 1:
        office = session.get(Office, office_ids[0])
        if office is not None:
            label, suffix = f"{office.code} {office.name}", f"-{office.code}"
    doc = recap_document(session, recap, lang, office_label=label, settings=report_settings)
    exp = render_signed(doc, fmt, signer, basename=_safe_name(basename or f"rekap-{month}{suffix}-{lang}"))
    _record_export(session, exp, actor=actor, what="recap",
                   params={"month": month, "office_ids": office_ids, "format": fmt, "lang": lang})
    return exp


def write_export(exp: SignedExport, out: Path) -> Path:
    """Write the file and its `.sig` next to it; returns the .sig path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(exp.data)
    sig_path = out.with_name(out.name + ".sig")
    sig_path.write_bytes(exp.sig_data)
    return sig_path
