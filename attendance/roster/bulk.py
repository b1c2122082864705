"""Bulk enrolment, all or nothing: validate every CSV line and photo first, then write all of it in one
transaction; and the folder layout `apel enroll` imports from.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from attendance.errors import ApelError, Invalid
from attendance.models import Employee
from attendance.roster.bulk_csv import RosterRow, parse_roster_csv
from attendance.roster.bulk_zip import entry_problems, scan_photo_zip
from attendance.roster.common import valid_nip
from attendance.roster.employees import check_employee_input, create_employee, employee_by_nip, employee_dict
from attendance.roster.offices import office_by_code
from attendance.roster.photos import PHOTO_SUFFIXES, AnalysedPhoto, PhotoLimits, refuse_costly_upload
from attendance.roster.templates import PendingPhoto, find_duplicate, store_templates


@dataclass
class BulkPlan:
    """Everything a bulk request will write, validated; nothing is written until `apply_bulk`.
    `problems` holds what is already wrong with the CSV and the ZIP: they are refused together with
    the photos' own problems once those are analysed, so that HR fixes everything in one round."""

    rows: list[RosterRow] = field(default_factory=list)
    photos: list[tuple[str, str, bytes]] = field(default_factory=list)  # (member, nip, bytes)
    problems: list[ApelError] = field(default_factory=list)


def _csv_problems(session: Session, rows: list[RosterRow], errors: list[str]) -> ApelError | None:
    seen: dict[str, int] = {}
    offices: dict[str, int] = {}
    for row in rows:
        try:
            office_id = offices.get(row.office_code.upper())
            if office_id is None:
                office_id = office_by_code(session, row.office_code).id
                offices[row.office_code.upper()] = office_id
            checked = check_employee_input(session, nip=row.nip, name=row.name, office_id=office_id,
                                           position=row.position, active=row.active)
        except ApelError as exc:
            errors.append(f"line {row.line}: {exc.message}")
            continue
        row.nip = checked.nip
        if checked.nip in seen:
            errors.append(f"line {row.line}: NIP {checked.nip} repeats line {seen[checked.nip]}")
        elif employee_by_nip(session, checked.nip) is not None:
            errors.append(f"line {row.line}: NIP {checked.nip} is already registered")
        seen.setdefault(checked.nip, row.line)
    if not errors:
        return None
    errors.sort(key=lambda e: int(e.split(":")[0].split()[1]))
    return Invalid("csv_rows", f"{len(errors)} bad line(s) in the CSV: " + "; ".join(errors[:20]),
                   details={"errors": errors})


def plan_bulk(session: Session, *, csv_bytes: bytes | None, zip_bytes: bytes | None, limits: PhotoLimits,
              max_zip_bytes: int, max_files: int, default_office: str | None = None) -> BulkPlan:
    """Reads and checks the CSV and the ZIP, each as far as it can be read: a problem of one does not
    hide the other's (see BulkPlan.problems)."""
    if not csv_bytes and not zip_bytes:
        raise Invalid("bulk_empty", "send a roster CSV, a ZIP of photos, or both")
    plan = BulkPlan()
    csv_readable = True
    if csv_bytes:
        try:
            plan.rows, errors = parse_roster_csv(csv_bytes, default_office=default_office)
        except ApelError as exc:   # unreadable as a whole (encoding, columns)
            plan.problems.append(exc)
            csv_readable = False
        else:
            problem = _csv_problems(session, plan.rows, errors)
            if problem is not None:
                plan.problems.append(problem)
    if zip_bytes:
        try:
            plan.photos, entry_errors = scan_photo_zip(zip_bytes, limits=limits, max_zip_bytes=max_zip_bytes,
                                                       max_files=max_files)
        except ApelError as exc:   # refused as a whole (size, paths, a bomb)
            plan.problems.append(exc)
        else:
            # Before any photo is decoded, and not as one problem among others: the analysis would pay it.
            refuse_costly_upload([(member, data) for member, _, data in plan.photos], limits)
            if entry_errors:
                plan.problems.append(entry_problems(entry_errors))
            known = {r.nip for r in plan.rows}
            unknown = [f"{member}: no employee with NIP {nip} (add them to the CSV)"
                       for member, nip, _ in plan.photos
                       if csv_readable and nip not in known and employee_by_nip(session, nip) is None]
            if unknown:
                plan.problems.append(Invalid("zip_unknown_nip", f"{len(unknown)} photo(s) for unknown employees: "
                                             + "; ".join(unknown[:20]), details={"errors": unknown}))
    return plan


def _photo_problem(session: Session, analysed: list[AnalysedPhoto]) -> ApelError | None:
    """Every photo must be usable and new."""
    rejected = [a.summary() for a in analysed if not a.ok]
    seen: dict[str, str] = {}
    for a in analysed:
        if not a.ok:
            continue
        if a.sha256 in seen:
            rejected.append({"file": a.name, "accepted": False, "code": "duplicate_photo",
                             "reason": f"same photo as {seen[a.sha256]}"})
            continue
        seen[a.sha256] = a.name
        dup = find_duplicate(session, a.sha256)
        if dup is not None:
            other = session.get(Employee, dup.employee_id)
            rejected.append({"file": a.name, "accepted": False, "code": "duplicate_photo",
                             "reason": f"already enrolled for NIP {other.nip if other else dup.employee_id}"})
    if not rejected:
        return None
    return Invalid("photos_rejected", f"{len(rejected)} photo(s) rejected; nothing was saved: " +
                   "; ".join(f"{r['file']}: {r['reason']}" for r in rejected[:20]),
                   details={"rejected": rejected})


def check_analysed(session: Session, analysed: list[AnalysedPhoto], problems: Sequence[ApelError] = ()) -> None:
    """Refuse the whole request with every reason: the CSV's and the ZIP's (`problems`) and the photos'.
    One kind of problem keeps its own code and details (clients key on them); several answer
    `bulk_rejected` with every line in `details.errors`, the photo table in `details.rejected` and each
    kind's own error under `details.problems`."""
    found = [*problems]
    photo_problem = _photo_problem(session, analysed)
    if photo_problem is not None:
        found.append(photo_problem)
    if not found:
        return
    if len(found) == 1:
        raise found[0]
    lines: list[str] = []
    for p in found:
        if p.code == "photos_rejected":
            continue
        lines += (p.details or {}).get("errors") or [p.message]
    rejected = (photo_problem.details or {}).get("rejected", []) if photo_problem else []
    total = len(lines) + len(rejected)
    summary = "; ".join([*lines, *(f"{r['file']}: {r['reason']}" for r in rejected)][:20])
    raise Invalid("bulk_rejected", f"{total} problem(s) in the upload; nothing was saved: {summary}",
                  details={"errors": lines, "rejected": rejected,
                           "problems": [{"code": p.code, "message": p.message, "details": p.details or {}}
                                        for p in found]})


def apply_bulk(session: Session, plan: BulkPlan, analysed: list[AnalysedPhoto], *, actor: Any,
               keep_dir: Path | None = None) -> tuple[dict[str, Any], list[PendingPhoto]]:
    check_analysed(session, analysed, plan.problems)
    created = []
    for row in plan.rows:
        office_id = office_by_code(session, row.office_code).id
        emp = create_employee(session, actor=actor, nip=row.nip, name=row.name, office_id=office_id,
                              position=row.position, active=row.active)
        created.append(employee_dict(emp))
    pending: list[PendingPhoto] = []
    enrolled = []
    for (_member, nip, blob), photo in zip(plan.photos, analysed, strict=True):
        person = employee_by_nip(session, nip)
        assert person is not None  # plan_bulk checked it
        _, p = store_templates(session, person, photo, actor=actor, keep_dir=keep_dir, data=blob)
        pending += p
        enrolled.append({"nip": nip, **photo.summary()})
    return {"created": created, "enrolled": enrolled}, pending


@dataclass
class FolderPerson:
    folder: Path
    nip: str | None
    name: str | None
    photos: list[Path]
    error: str | None = None


def scan_folder(root: Path) -> list[FolderPerson]:
    """One subfolder per person: `<NIP>` or `<NIP>_<Name>` / `<NIP> - <Name>`."""
    people = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        m = re.match(r"^([0-9 ]{18,24}?)(?:\s*[-_]\s*(.+))?$", sub.name)
        photos = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        if not m:
            people.append(FolderPerson(sub, None, None, photos, "folder name must be the NIP (or NIP_Name)"))
            continue
        try:
            nip = valid_nip(m.group(1))
        except Invalid as exc:
            people.append(FolderPerson(sub, None, None, photos, exc.message))
            continue
        name = m.group(2).replace("_", " ").strip() if m.group(2) else None
        people.append(FolderPerson(sub, nip, name, photos, None if photos else "no .jpg/.png/.webp photos"))
    return people
