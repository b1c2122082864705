"""Enrolment over the API: one photo for one employee, or a bulk roster CSV + ZIP of photos.

Templates are computed in worker processes (never on the event loop). A bulk request is all or
nothing: every row and every photo is checked and analysed first, then everything is written in
one transaction; any problem answers 4xx with every reason and writes nothing."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status

from app.web.deps import DbSession, HrUser
from attendance.roster.enrolment import (
    PhotoLimits, PhotoRejected, apply_bulk, check_not_duplicate, plan_bulk, store_templates, template_dict,
    write_pending)
from attendance.roster import RosterError, get_employee, run_in_transaction

from app.web.api.roster_common import body_limit, enrolment_workers, http_error, read_upload

router = APIRouter(prefix="/api/v1", tags=["enrolment"])

PhotoBody = Annotated[None, Depends(body_limit(lambda s: s.max_upload_bytes))]
BulkBody = Annotated[None, Depends(body_limit(lambda s: s.max_zip_bytes + 5 * 1024 * 1024))]

PHOTO_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["photo"],
    "properties": {"photo": {"type": "string", "format": "binary", "description": "JPEG, PNG or WebP"}}}}}}}
BULK_DOC = {"requestBody": {"content": {"multipart/form-data": {"schema": {
    "type": "object",
    "properties": {
        "roster": {"type": "string", "format": "binary",
                   "description": "UTF-8 CSV: nip,name,office_code[,position][,active]"},
        "photos": {"type": "string", "format": "binary",
                   "description": "ZIP of photos named <NIP>.jpg, <NIP>_2.jpg or <NIP>/<any>.jpg"},
        "office_code": {"type": "string", "description": "office for rows without office_code"}}}}}}}


async def enrol_one(request: Request, db, user, employee_id: int, filename: str, data: bytes) -> dict:  # noqa: ANN001
    """Shared by the API and the employee page."""
    settings = request.app.state.settings
    emp = get_employee(db, employee_id)
    photo = await enrolment_workers(request.app).analyse(data, PhotoLimits.from_settings(settings), filename)
    if not photo.ok:
        raise PhotoRejected(photo.error_code or "rejected", photo.error_message or "photo rejected",
                            status=photo.error_status)
    keep_dir = settings.data_dir if settings.keep_enrolment_photos else None

    def write() -> tuple:
        employee = get_employee(db, employee_id)
        check_not_duplicate(db, photo, employee)
        return store_templates(db, employee, photo, actor=user, keep_dir=keep_dir, data=data)

    rows, pending = run_in_transaction(db, write)
    write_pending(pending)
    return {"employee_id": emp.id, "nip": emp.nip, "photo": photo.summary(),
            "templates": [template_dict(t) for t in rows]}


@router.post("/employees/{employee_id}/photos", status_code=status.HTTP_201_CREATED, openapi_extra=PHOTO_DOC)
async def upload_photo(employee_id: int, request: Request, _limit: PhotoBody, user: HrUser, db: DbSession) -> dict:
    settings = request.app.state.settings
    try:
        get_employee(db, employee_id)  # 404 before reading a large body
        upload = await read_upload(request, ("photo", "file"), settings.max_upload_bytes, "the photo")
        if upload is None:
            raise HTTPException(422, detail={"code": "photo_missing", "message": "no 'photo' file in the form"})
        return await enrol_one(request, db, user, employee_id, *upload)
    except RosterError as exc:
        raise http_error(request, exc) from None


async def bulk_enrol(request: Request, db, user, csv_bytes: bytes | None, zip_bytes: bytes | None,  # noqa: ANN001
                     office_code: str | None) -> dict:
    settings = request.app.state.settings
    limits = PhotoLimits.from_settings(settings)
    plan = plan_bulk(db, csv_bytes=csv_bytes, zip_bytes=zip_bytes, limits=limits,
                     max_zip_bytes=settings.max_zip_bytes, max_files=settings.max_zip_files,
                     default_office=office_code or None)
    analysed = await enrolment_workers(request.app).analyse_many([(m, b) for m, _, b in plan.photos], limits)
    keep_dir = settings.data_dir if settings.keep_enrolment_photos else None
    report, pending = run_in_transaction(db, lambda: apply_bulk(db, plan, analysed, actor=user, keep_dir=keep_dir))
    write_pending(pending)
    return report


@router.post("/enrolment/bulk", status_code=status.HTTP_201_CREATED, openapi_extra=BULK_DOC)
async def bulk(request: Request, _limit: BulkBody, user: HrUser, db: DbSession) -> dict:
    settings = request.app.state.settings
    try:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPException(415, detail={"code": "not_multipart",
                                             "message": "send multipart/form-data with 'roster' and/or 'photos'"})
        roster = await read_upload(request, ("roster", "csv"), 5 * 1024 * 1024, "the roster CSV")
        photos = await read_upload(request, ("photos", "zip"), settings.max_zip_bytes, "the ZIP")
        form = await request.form()
        office_code = form.get("office_code")
        return await bulk_enrol(request, db, user, roster[1] if roster else None, photos[1] if photos else None,
                                office_code if isinstance(office_code, str) else None)
    except RosterError as exc:
        raise http_error(request, exc) from None
