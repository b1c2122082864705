"""What a report says of a corrected record, in its Keterangan column: the status the record was
corrected to, why, and the supporting document's number. A signed report that shows a corrected
status without saying so would look like the camera's finding; the reader must see HR's hand."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from attendance.i18n import t
from attendance.models.assembly import Correction


@dataclass(frozen=True)
class CorrectionNote:
    record_id: int
    assembly_id: int
    employee_id: int
    at: datetime
    status: str | None
    tier: str | None
    excuse_category: str | None
    reason: str
    document: str | None


def correction_notes(session: Session, *, record_ids: Iterable[int] | None = None,
                     assembly_ids: Iterable[int] | None = None) -> dict[int, CorrectionNote]:
    """record id -> its latest correction (the one that gave the record its present value). One query,
    by record or by apel (the monthly recap asks for a month's apels at once)."""
    q = select(Correction).order_by(Correction.record_id, Correction.at, Correction.id)
    if record_ids is not None:
        ids = sorted(set(record_ids))
        if not ids:
            return {}
        q = q.where(Correction.record_id.in_(ids))
    if assembly_ids is not None:
        aids = sorted(set(assembly_ids))
        if not aids:
            return {}
        q = q.where(Correction.assembly_id.in_(aids))
    notes: dict[int, CorrectionNote] = {}
    for c in session.execute(q).scalars():   # ordered: the last one per record wins
        after = c.after or {}
        notes[c.record_id] = CorrectionNote(c.record_id, c.assembly_id, c.employee_id, c.at, after.get("status"),
                                            after.get("tier"), after.get("excuse_category"), c.reason,
                                            c.attachment_ref)
    return notes


def keterangan(note: CorrectionNote | None, lang: str, category_names: dict[str, str] | None = None,
               *, prefix: str = "") -> str:
    """"Dikoreksi: Sakit — surat dokter (No. 445/12/RSUD)"; empty for a record nobody corrected."""
    if note is None:
        return ""
    status = t(f"rep.st.{note.status}", lang) if note.status else ""
    if note.status == "late" and note.tier:
        status += f" {note.tier}"
    if note.status == "excused" and note.excuse_category:
        status = (category_names or {}).get(note.excuse_category, note.excuse_category)
    text = f"{prefix}{t('rep.note.corrected', lang)}: {status}"
    if note.reason:
        text += f" — {note.reason}"
    if note.document:
        text += f" ({t('rep.note.document', lang)} {note.document})"
    return text
