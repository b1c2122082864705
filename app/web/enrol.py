"""Enrolment as the API and the pages run it: photos are analysed in worker processes (created on first
use and closed with the app), then written in one transaction. The database work, the ZIP and CSV
checks and the photo files run in worker threads: the event loop only waits for them."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.web.uploads import body_limit
from attendance.db.unit_of_work import run_in_transaction
from attendance.models import User
from attendance.roster.bulk import apply_bulk, plan_bulk
from attendance.roster.employees import get_employee
from attendance.roster.photos import EnrolmentWorkers, PhotoLimits
from attendance.roster.templates import (
    check_not_duplicate,
    same_face_elsewhere,
    store_templates,
    template_dict,
    write_pending,
)

MAX_CSV_BYTES = 5 * 1024 * 1024
PhotoBody = Annotated[None, Depends(body_limit(lambda s: s.max_upload_bytes))]
BulkBody = Annotated[None, Depends(body_limit(lambda s: s.max_zip_bytes + MAX_CSV_BYTES))]


def enrolment_workers(app: FastAPI) -> EnrolmentWorkers:
    """Created on first use (most requests never need dlib), closed with the app."""
    workers = getattr(app.state, "enrolment_workers", None)
    if workers is None:
        workers = EnrolmentWorkers(1)
        app.state.enrolment_workers = workers

        async def _close(_app: FastAPI) -> None:
            await run_in_threadpool(workers.close)   # waits for the worker processes to exit
            _app.state.enrolment_workers = None

        app.state.shutdown_hooks.append(_close)
    return workers


async def enrol_one(request: Request, db: Session, user: User, employee_id: int, filename: str,
                    data: bytes) -> dict[str, Any]:
    """One photo for one employee: the employee, the photo's analysis and the templates written."""
    settings = request.app.state.settings
    emp = await run_in_threadpool(get_employee, db, employee_id)
    photo = await enrolment_workers(request.app).analyse(data, PhotoLimits.from_settings(settings), filename)
    if not photo.ok:
        raise photo.refusal()
    keep_dir = settings.data_dir if settings.keep_enrolment_photos else None

    def write() -> tuple:
        employee = get_employee(db, employee_id)
        check_not_duplicate(db, photo, employee)
        warnings = same_face_elsewhere(db, photo, employee)
        rows, pending = store_templates(db, employee, photo, actor=user, keep_dir=keep_dir, data=data,
                                        same_face_as=[w["employee_id"] for w in warnings])
        return rows, pending, warnings

    def store() -> dict[str, Any]:
        rows, pending, warnings = run_in_transaction(db, write)
        write_pending(pending)
        return {"employee_id": emp.id, "nip": emp.nip, "photo": photo.summary(),
                "templates": [template_dict(t) for t in rows], "warnings": warnings}

    return await run_in_threadpool(store)


async def bulk_enrol(request: Request, db: Session, user: User, csv_bytes: bytes | None, zip_bytes: bytes | None,
                     office_code: str | None) -> dict[str, Any]:
    """A roster CSV and/or a ZIP of photos, all or nothing: every row and photo is checked and
    analysed before anything is written."""
    settings = request.app.state.settings
    limits = PhotoLimits.from_settings(settings)
    plan = await run_in_threadpool(plan_bulk, db, csv_bytes=csv_bytes, zip_bytes=zip_bytes, limits=limits,
                                   max_zip_bytes=settings.max_zip_bytes, max_files=settings.max_zip_files,
                                   default_office=office_code or None)
    analysed = await enrolment_workers(request.app).analyse_many([(m, b) for m, _, b in plan.photos], limits)
    keep_dir = settings.data_dir if settings.keep_enrolment_photos else None

    def store() -> dict[str, Any]:
        report, pending = run_in_transaction(db, lambda: apply_bulk(db, plan, analysed, actor=user,
                                                                    keep_dir=keep_dir))
        write_pending(pending)
        return report

    return await run_in_threadpool(store)
