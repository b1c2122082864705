"""Checking a signed report: upload the file and its `.sig`, get valid/invalid, signer and time.

Any logged-in user may verify (verifying reveals nothing but the signer name printed on the report)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from app.web.deps import CurrentUser
from app.web.rendering import lang_of
from app.web.schemas.reports import VerificationOut
from app.web.verification import VerifyBody, read_pair, verification_dict
from attendance.reports.signing import trusted_fingerprints, verify_bytes

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.post("/verify", response_model=VerificationOut)
async def verify_upload(request: Request, _limit: VerifyBody, user: CurrentUser) -> dict:
    """Valid only when the file's bytes match the signature and the key is trusted by this installation."""
    _, data, sig = await read_pair(request)
    settings = request.app.state.settings
    result = verify_bytes(data, sig, trusted_fingerprints(settings.data_dir, settings.signing_settings))
    return verification_dict(result, lang_of(request))
