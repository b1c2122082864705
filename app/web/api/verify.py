"""Checking a signed report: upload the file and its `.sig`, get valid/invalid, signer and time.

Any logged-in user may verify (verifying reveals nothing but the signer name printed on the report).
Uploads are capped while they stream (a report is at most a few MB; 50 MB leaves room)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.datastructures import UploadFile

from app.web.deps import CurrentUser
from app.web.i18n import t
from app.web.rendering import lang_of
from attendance.reports.signing import (
    MAX_SIG_BYTES, Verification, short_fingerprint, split_bundle, trusted_fingerprints, verify_bytes)

from app.web.api.roster_common import body_limit

MAX_REPORT_BYTES = 50 * 1024 * 1024
VerifyBody = Annotated[None, Depends(body_limit(lambda s: MAX_REPORT_BYTES + MAX_SIG_BYTES))]

router = APIRouter(prefix="/api/v1", tags=["reports"])


async def read_pair(request: Request) -> tuple[str, bytes, bytes]:
    """(file name, file bytes, sig bytes) from a multipart form with `file` and `sig`; 4xx otherwise."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(415, detail={"code": "not_multipart", "message": "send multipart/form-data with 'file' and 'sig'"})
    form = await request.form(max_files=2, max_fields=10)
    f, s = form.get("file"), form.get("sig")
    has_sig = isinstance(s, UploadFile) and bool(s.filename or s.size)
    if not isinstance(f, UploadFile):
        raise HTTPException(422, detail={"code": "missing_file", "message": "'file' is required",
                                         "hint": t("rep.err.bad_input", lang_of(request))})
    data = await f.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise HTTPException(413, detail={"code": "too_large", "message": "file too large"})
    if not data:
        raise HTTPException(422, detail={"code": "empty_file", "message": "the report file is empty"})
    if not has_sig:
        # The ZIP as downloaded (report + .sig) may be uploaded alone.
        try:
            bundle = split_bundle(data, MAX_REPORT_BYTES)
        except ValueError as exc:
            raise HTTPException(413, detail={"code": "too_large", "message": str(exc)}) from exc
        if bundle is None:
            raise HTTPException(422, detail={"code": "missing_file",
                                             "message": "send 'sig' too, or upload the downloaded ZIP (report + .sig)",
                                             "hint": t("rep.err.bad_input", lang_of(request))})
        return bundle
    sig = await s.read(MAX_SIG_BYTES + 1)
    if len(sig) > MAX_SIG_BYTES:
        raise HTTPException(413, detail={"code": "too_large", "message": "signature file too large"})
    return f.filename or "", data, sig


def verification_dict(v: Verification, lang: str) -> dict[str, Any]:
    return {"valid": v.valid, "reason": v.reason, "message": v.message,
            "explanation": t(f"rep.ui.reason.{v.reason}", lang),
            "signer": v.signer, "signed_at": v.signed_at, "document_id": v.document_id,
            "key_fingerprint": v.key_fingerprint,
            "key_fingerprint_short": short_fingerprint(v.key_fingerprint) if v.key_fingerprint else None,
            "filename": v.filename, "details": v.details}


@router.post("/verify")
async def verify_upload(request: Request, _limit: VerifyBody, user: CurrentUser) -> dict:
    """Valid only when the file's bytes match the signature and the key is trusted by this installation."""
    _, data, sig = await read_pair(request)
    result = verify_bytes(data, sig, trusted_fingerprints(request.app.state.settings.data_dir))
    return verification_dict(result, lang_of(request))
