"""Checking a signed report: upload the file and its `.sig`, get valid/invalid, signer and time.

Any logged-in user may verify (verifying reveals nothing but the signer name printed on the report)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.web.deps import CurrentUser
from app.web.rendering import lang_of
from app.web.schemas.reports import VerificationOut
from app.web.verification import VerifyBody, check_upload, verification_dict

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.post("/verify", response_model=VerificationOut)
async def verify_upload(request: Request, _limit: VerifyBody, user: CurrentUser) -> dict:
    """Valid only when the file's bytes match the signature and the key is trusted by this installation.
    Async only to read the upload; the check itself runs in a worker thread (check_upload)."""
    _, result = await check_upload(request)
    return verification_dict(result, lang_of(request))
