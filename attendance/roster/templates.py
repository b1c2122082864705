"""Face templates after a change of recogniser: who the live pipeline can no longer recognise,
and rebuilding their templates from enrolment photos kept on disk.

Why: templates are only compared with templates of the same recogniser (their `backend`), so
when the service's recogniser changes (APEL_RECOGNIZER; the default became "dlib+faceres" on
2026-11-29, before that "dlib"), everyone enrolled before has no template the live roster takes
and is silently unknown at the next apel. The service warns about them at start-up
(`warn_at_start`), `apel templates status` lists them, and `apel templates rebuild` makes new
templates from the photos kept with APEL_KEEP_ENROLMENT_PHOTOS; people enrolled without kept
photos (the UU PDP default) must be enrolled again from new photos."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attendance.roster.enrolment import PhotoLimits, analyse_photo, store_templates
from attendance.models import Employee, FaceTemplate

log = logging.getLogger(__name__)


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
    for emp in unrecognisable(session, _backend(limits.recogniser)):
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


def _backend(spec: str) -> str:
    from attendance.vision.recognise.recognisers import backend_name

    return backend_name(spec)


def warn_at_start(session: Session, recogniser_spec: str) -> int:
    """Log, once at start-up, how many active staff the live pipeline cannot recognise because
    their templates were made by another recogniser. Returns that number."""
    backend = _backend(recogniser_spec)
    stale = unrecognisable(session, backend)
    if stale:
        log.warning("%d active employees have face templates only from another recogniser than %s "
                    "(APEL_RECOGNIZER) and will not be recognised live: `apel templates rebuild` "
                    "(from kept photos) or enrol them again; `apel templates status` lists them",
                    len(stale), backend)
    return len(stale)
