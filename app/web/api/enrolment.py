"""Enrolment over the API: one photo for one employee, or a bulk roster CSV + ZIP of photos.

Templates are computed in worker processes and the database work runs in worker threads (never on
the event loop; the routes are async only to read the upload and await them). A bulk request is all or
nothing: every row and every photo is checked and analysed first, then everything is written in
one transaction; any problem answers 4xx with every reason and writes nothing."""
from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from app.web.deps import DbId, DbSession, HrUser
from app.web.enrol import MAX_CSV_BYTES, BulkBody, PhotoBody, bulk_enrol, enrol_one
from app.web.schemas.errors import UNAVAILABLE
from app.web.schemas.roster import BulkEnrolled, PhotoEnrolled
from app.web.uploads import read_upload, require_multipart
from attendance.errors import Invalid
from attendance.roster.employees import get_employee

router = APIRouter(prefix="/api/v1", tags=["enrolment"], responses=UNAVAILABLE)

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


@router.post("/employees/{employee_id}/photos", status_code=status.HTTP_201_CREATED, openapi_extra=PHOTO_DOC,
             response_model=PhotoEnrolled, response_model_exclude_unset=True)
async def upload_photo(employee_id: DbId, request: Request, _limit: PhotoBody, user: HrUser, db: DbSession) -> dict:
    await run_in_threadpool(get_employee, db, employee_id)  # 404 before reading a large body
    upload = await read_upload(request, ("photo", "file"), request.app.state.settings.max_upload_bytes, "the photo")
    if upload is None:
        raise Invalid("photo_missing", "no 'photo' file in the form")
    return await enrol_one(request, db, user, employee_id, *upload)


@router.post("/enrolment/bulk", status_code=status.HTTP_201_CREATED, openapi_extra=BULK_DOC,
             response_model=BulkEnrolled, response_model_exclude_unset=True)
async def bulk(request: Request, _limit: BulkBody, user: HrUser, db: DbSession) -> dict:
    require_multipart(request, "'roster' and/or 'photos'")
    roster = await read_upload(request, ("roster", "csv"), MAX_CSV_BYTES, "the roster CSV")
    photos = await read_upload(request, ("photos", "zip"), request.app.state.settings.max_zip_bytes, "the ZIP")
    office_code = (await request.form()).get("office_code")
    return await bulk_enrol(request, db, user, roster[1] if roster else None, photos[1] if photos else None,
                            office_code if isinstance(office_code, str) else None)
