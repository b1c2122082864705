"""Checking a signed report, for the API and the verify page alike: the uploaded file and its `.sig`
(or the downloaded ZIP holding both), capped while they stream (a report is at most a few MB;
50 MB leaves room). Only reading the upload runs on the event loop; unpacking, hashing and the
signature check run in a worker thread."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.web.uploads import body_limit, require_multipart
from attendance.errors import Invalid, TooLarge
from attendance.i18n import t
from attendance.reports.signing import (
    MAX_SIG_BYTES,
    Verification,
    short_fingerprint,
    split_bundle,
    trusted_fingerprints,
    verify_bytes,
)

MAX_REPORT_BYTES = 50 * 1024 * 1024
VerifyBody = Annotated[None, Depends(body_limit(lambda s: MAX_REPORT_BYTES + MAX_SIG_BYTES))]


async def check_upload(request: Request) -> tuple[str, Verification]:
    """(file name, verification) of the uploaded report, against the keys this installation trusts."""
    name, data, sig = await _read_pair(request)
    settings = request.app.state.settings
    result = await run_in_threadpool(
        lambda: verify_bytes(data, sig, trusted_fingerprints(settings.data_dir, settings.signing_settings)))
    return name, result


async def _read_pair(request: Request) -> tuple[str, bytes, bytes]:
    """(file name, file bytes, sig bytes) from a multipart form with `file` and `sig`."""
    require_multipart(request, "'file' and 'sig'")
    form = await request.form(max_files=2, max_fields=10)
    f, s = form.get("file"), form.get("sig")
    sig_file = s if isinstance(s, UploadFile) and (s.filename or s.size) else None
    if not isinstance(f, UploadFile):
        raise Invalid("missing_file", "'file' is required")
    data = await f.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise TooLarge("too_large", "file too large")
    if not data:
        raise Invalid("empty_file", "the report file is empty")
    if sig_file is None:
        # The ZIP as downloaded (report + .sig) may be uploaded alone.
        try:
            bundle = await run_in_threadpool(split_bundle, data, MAX_REPORT_BYTES)
        except ValueError as exc:
            raise TooLarge("too_large", str(exc)) from exc
        if bundle is None:
            raise Invalid("missing_file", "send 'sig' too, or upload the downloaded ZIP (report + .sig)")
        return bundle
    sig = await sig_file.read(MAX_SIG_BYTES + 1)
    if len(sig) > MAX_SIG_BYTES:
        raise TooLarge("too_large", "signature file too large")
    return f.filename or "", data, sig


def verification_dict(v: Verification, lang: str) -> dict[str, Any]:
    return {"valid": v.valid, "reason": v.reason, "message": v.message,
            "explanation": t(f"rep.ui.reason.{v.reason}", lang),
            "signer": v.signer, "signed_at": v.signed_at, "document_id": v.document_id,
            "key_fingerprint": v.key_fingerprint,
            "key_fingerprint_short": short_fingerprint(v.key_fingerprint) if v.key_fingerprint else None,
            "filename": v.filename, "details": v.details}
