"""Face templates: stored from analysed photos (their kept photo files written after commit and
removed after erasure), and rebuilt after a change of recogniser.

Templates are only compared with templates of the same recogniser (their `backend`), so when the
service's recogniser changes (APEL_RECOGNIZER), everyone enrolled before has no template the live
roster takes and is silently unknown at the next apel. The service warns about them at start-up
(`warn_at_start`), `apel templates status` lists them, and `apel templates rebuild` makes new
templates from the photos kept with APEL_KEEP_ENROLMENT_PHOTOS; people enrolled without kept photos
(the UU PDP default) must be enrolled again from new photos. The photo itself is not kept unless
`keep_enrolment_photos` is set (UU PDP: store only what is needed).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance import audit
from attendance.errors import Conflict
from attendance.models import Employee, FaceTemplate
from attendance.roster.common import actor_name
from attendance.roster.photos import FORMATS, AnalysedPhoto, PhotoLimits, analyse_photo
from attendance.vision.config import backend_name, same_person_limit

log = logging.getLogger(__name__)


def find_duplicate(session: Session, sha256: str) -> FaceTemplate | None:
    return session.execute(
        select(FaceTemplate).where(FaceTemplate.source_sha256 == sha256, FaceTemplate.kind == "photo").limit(1)
    ).scalar_one_or_none()


def check_not_duplicate(session: Session, photo: AnalysedPhoto, employee: Employee | None) -> None:
    dup = find_duplicate(session, photo.sha256)
    if dup is None:
        return
    if employee is not None and dup.employee_id == employee.id:
        raise Conflict("duplicate_photo", f"{photo.name}: this photo is already enrolled for this employee")
    other = session.get(Employee, dup.employee_id)
    who = f"NIP {other.nip}" if other else f"employee {dup.employee_id}"
    raise Conflict("duplicate_photo", f"{photo.name}: this exact photo is already enrolled for {who}")


def same_face_elsewhere(session: Session, photo: AnalysedPhoto, employee: Employee) -> list[dict[str, Any]]:
    """Other active employees whose photos show, by the recogniser, the same face as `photo`: the
    same picture re-encoded, or a mix-up of two people's photos. A warning for HR, not a refusal
    (twins exist), nearest first; the live recogniser would confuse the two as they are."""
    limit = same_person_limit(photo.backend or "")
    if limit is None or photo.embedding is None:
        return []
    rows = session.execute(
        select(FaceTemplate.employee_id, FaceTemplate.embedding)
        .join(Employee, Employee.id == FaceTemplate.employee_id)
        .where(FaceTemplate.backend == photo.backend, FaceTemplate.kind.in_(("photo", "sighting")),
               FaceTemplate.employee_id != employee.id, Employee.active.is_(True))).all()
    probe = np.frombuffer(photo.embedding, dtype="<f4")
    rows = [r for r in rows if len(r.embedding) == len(photo.embedding)]
    if not rows:
        return []
    dist = np.linalg.norm(np.stack([np.frombuffer(r.embedding, dtype="<f4") for r in rows]) - probe, axis=1)
    best: dict[int, float] = {}
    for r, d in zip(rows, dist.tolist(), strict=True):
        if d <= limit and d < best.get(r.employee_id, np.inf):
            best[r.employee_id] = d
    out = []
    for emp_id, d in sorted(best.items(), key=lambda kv: kv[1]):
        other = session.get_one(Employee, emp_id)
        out.append({"code": "same_face", "employee_id": other.id, "nip": other.nip, "name": other.name,
                    "distance": round(d, 3),
                    "message": f"{photo.name}: this face matches NIP {other.nip} ({other.name}); "
                               f"check that the photo is of the right person"})
    return out


@dataclass
class PendingPhoto:
    """A photo file to write after the transaction commits (only when photos are kept)."""

    path: Path
    data: bytes


def store_templates(session: Session, employee: Employee, photo: AnalysedPhoto, *, actor: Any,
                    keep_dir: Path | None = None,
                    data: bytes | None = None,
                   same_face_as: list[int] | None = None) -> tuple[list[FaceTemplate], list[PendingPhoto]]:
    """Write one analysed photo as FaceTemplate rows (photo + masked variants), audited (with the
    employees the face matched, when HR enrolled it despite the warning)."""
    if not photo.ok or photo.embedding is None:
        raise photo.refusal()
    pending: list[PendingPhoto] = []
    photo_path: str | None = None
    if keep_dir is not None and data is not None:
        path = keep_dir / "photos" / str(employee.id) / f"{photo.sha256}{FORMATS.get(photo.format or '', '.img')}"
        photo_path = str(path)
        pending.append(PendingPhoto(path, data))
    who = actor_name(actor)
    rows = [FaceTemplate(employee_id=employee.id, backend=photo.backend or "dlib-128", embedding=photo.embedding,
                         kind="photo", source_sha256=photo.sha256, quality=photo.quality, photo_path=photo_path,
                         created_by=who)]
    rows += [FaceTemplate(employee_id=employee.id, backend=photo.backend or "dlib-128", embedding=m, kind="masked",
                          source_sha256=photo.sha256, quality=photo.quality, created_by=who) for m in photo.masked]
    session.add_all(rows)
    session.flush()
    audit.record(session, actor=who, action="employee.enrol_photo", entity="employee", entity_id=employee.id,
                 after={"nip": employee.nip, "sha256": photo.sha256, "quality": round(photo.quality, 3),
                        "templates": [t.id for t in rows], "photo_kept": photo_path is not None,
                        **({"same_face_as": same_face_as} if same_face_as else {})})
    return rows, pending


def write_pending(pending: list[PendingPhoto]) -> None:
    for p in pending:
        p.path.parent.mkdir(parents=True, exist_ok=True)
        p.path.write_bytes(p.data)
        p.path.chmod(0o600)


def remove_photo_files(paths: list[str]) -> None:
    for p in paths:
        try:
            Path(p).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove kept photo %s", p)


def template_dict(t: FaceTemplate, *, with_embedding: bool = False) -> dict[str, Any]:
    out = {"id": t.id, "kind": t.kind, "backend": t.backend, "quality": round(t.quality, 3),
           "source_sha256": t.source_sha256, "dim": len(t.embedding) // 4, "photo_kept": bool(t.photo_path),
           "created_at": t.created_at.isoformat() if t.created_at else None, "created_by": t.created_by}
    if with_embedding:
        out["embedding"] = [float(v) for v in np.frombuffer(t.embedding, dtype="<f4")]
    return out


def templates_by_backend(session: Session) -> dict[str, int]:
    return dict(session.execute(select(FaceTemplate.backend, func.count()).group_by(FaceTemplate.backend)).all())


def unrecognisable(session: Session, backend: str) -> list[Employee]:
    """Active staff with face templates, none of them made by `backend`: the live pipeline
    (which uses that recogniser) cannot recognise them. One query: it runs at every start-up."""
    enrolled = select(FaceTemplate.employee_id)
    by_backend = select(FaceTemplate.employee_id).where(FaceTemplate.backend == backend)
    return list(session.execute(select(Employee).where(Employee.active.is_(True), Employee.id.in_(enrolled),
                                                       Employee.id.not_in(by_backend))
                                .order_by(Employee.nip)).scalars())


@dataclass
class RebuildReport:
    rebuilt: list[str] = field(default_factory=list)              # NIPs given new templates
    without_photos: list[str] = field(default_factory=list)       # NIPs with no kept photo to rebuild from
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (NIP, photo path, reason)


def rebuild_from_kept_photos(session: Session, limits: PhotoLimits, *, actor: Any) -> RebuildReport:
    """New templates, by `limits.recogniser`, from every kept enrolment photo of the staff that
    recogniser cannot recognise. Each photo is analysed as a new upload would be and stored
    (audited as an enrolment); a photo that is gone or now rejected is reported and skipped.
    The caller commits."""
    report = RebuildReport()
    for emp in unrecognisable(session, backend_name(limits.recogniser)):
        photos = session.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id,
                                                            FaceTemplate.kind == "photo",
                                                            FaceTemplate.photo_path.is_not(None))).scalars().all()
        if not photos:
            report.without_photos.append(emp.nip)
            continue
        done: set[str] = set()
        for tpl in photos:
            if tpl.source_sha256 in done:
                continue
            path = Path(tpl.photo_path or "")
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.failed.append((emp.nip, str(path), f"cannot read: {exc.strerror or exc}"))
                continue
            photo = analyse_photo(data, limits, path.name)
            if not photo.ok:
                report.failed.append((emp.nip, str(path), f"{photo.error_code}: {photo.error_message}"))
                continue
            rows, _ = store_templates(session, emp, photo, actor=actor)
            rows[0].photo_path = tpl.photo_path      # the same kept file, not a second copy
            done.add(tpl.source_sha256)
        if done:
            report.rebuilt.append(emp.nip)
    return report


def warn_at_start(session: Session, recogniser_spec: str) -> int:
    """Log, once at start-up, how many active staff the live pipeline cannot recognise because
    their templates were made by another recogniser. Returns that number."""
    backend = backend_name(recogniser_spec)
    stale = unrecognisable(session, backend)
    if stale:
        log.warning("%d active employees have face templates only from another recogniser than %s "
                    "(APEL_RECOGNIZER) and will not be recognised live: `apel templates rebuild` "
                    "(from kept photos) or enrol them again; `apel templates status` lists them",
                    len(stale), backend)
    return len(stale)
