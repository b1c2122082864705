"""Reports over the API: the apel report (JSON, drill-down) and the monthly recap, and signed
downloads in CSV, XLSX and PDF.

Who sees what: admin, HR, leaders and observers see every office; an operator only their own office
(asking for another one is 403, and reports are cut to their office). Observers see figures only: no
drill-down, no per-person rows in exports or the recap (asking for them is 403 `observer_no_people`).
All of these are reads; every download is signed with the installation key and leaves an audit entry naming its SHA-256.

Downloads: `bundle=true` (default) gives a ZIP with the report and its `.sig`; `bundle=false` gives
the file alone with the signature JSON base64-encoded in the `X-Apel-Signature` header.
"""
from __future__ import annotations

import base64
import io
import zipfile
from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from app.settings import Settings
from app.web.deps import CurrentUser, DbId, DbSession, PeopleReader, people_wanted
from app.web.office_scope import ensure_office_access, is_operator, scope_offices
from app.web.schemas.errors import ErrorBody
from app.web.schemas.reports import SIGNED_DOWNLOAD, ApelPeopleOut, ApelReportOut, RecapOut, SigningKeyOut
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import ApelError, NotFound
from attendance.i18n import Lang
from attendance.models.users import HR_ROLES
from attendance.reports.apel import apel_people, apel_report
from attendance.reports.exports import SignedExport
from attendance.reports.publish import export_apel, export_recap
from attendance.reports.recap import monthly_recap
from attendance.reports.signing import Signer, load_signer, short_fingerprint

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses={
    500: {"model": ErrorBody, "description": "The installation's signing key cannot be loaded (code `signing_key`)"}})

Fmt = Literal["csv", "xlsx", "pdf"]


def signed_download(exp: SignedExport, bundle: bool) -> Response:
    headers = {"X-Apel-Document-Id": exp.sig["document_id"], "Cache-Control": "no-store"}
    if bundle:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(exp.filename, exp.data)
            z.writestr(exp.sig_filename, exp.sig_data)
        name = exp.filename.rsplit(".", 1)[0] + f"-{exp.filename.rsplit('.', 1)[1]}.zip"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(buf.getvalue(), media_type="application/zip", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{exp.filename}"'
    headers["X-Apel-Signature"] = base64.b64encode(exp.sig_data).decode()
    return Response(exp.data, media_type=exp.media_type, headers=headers)


def installation_signer(request: Request) -> Signer:
    """The installation's key; a key that cannot be loaded is the installation's fault (500), said plainly."""
    settings: Settings = request.app.state.settings
    try:
        return load_signer(settings.data_dir, settings.signing_settings)
    except ValueError as exc:
        raise ApelError("signing_key", str(exc), 500) from exc


def run_export(request: Request, db: Session, build) -> SignedExport:
    """Export and commit its audit entry (two exports at once may race for the audit chain's tip: the
    unit of work runs the loser again)."""
    settings: Settings = request.app.state.settings
    signer = installation_signer(request)
    return run_in_transaction(db, lambda: build(signer, settings))


@router.get("/apel/{assembly_id}", response_model=ApelReportOut)
def apel_report_json(assembly_id: DbId, user: CurrentUser, db: DbSession, office_id: DbId | None = None) -> dict:
    """Laporan apel: per office roster, present, late by tier, absent by category, masks, distancing, totals."""
    report = apel_report(db, assembly_id, scope_offices(user, office_id))
    if not report.offices and (office_id is not None or is_operator(user)):
        raise NotFound("not_found", "this office does not take part in this apel")
    return report.as_dict()


@router.get("/apel/{assembly_id}/offices/{office_id}/people", response_model=ApelPeopleOut)
def apel_people_json(assembly_id: DbId, office_id: DbId, user: PeopleReader, db: DbSession,
                     status_: str | None = Query(None, alias="status", max_length=16),
                     tier: str | None = Query(None, pattern="^TL[1-4]$"),
                     category: str | None = Query(None, max_length=32)) -> dict:
    """Drill-down: who was marked how and why (times in the office's zone, frames, confidence, mask)."""
    ensure_office_access(user, office_id)
    office, people = apel_people(db, assembly_id, office_id, status=status_, tier=tier, category=category)
    return {"assembly_id": assembly_id, "office": {"id": office.id, "code": office.code, "name": office.name,
                                                    "timezone": office.timezone},
            "people": [p.as_dict(office.timezone) for p in people]}


@router.get("/apel/{assembly_id}/export", response_class=Response, responses=SIGNED_DOWNLOAD)
def apel_report_export(assembly_id: DbId, request: Request, user: CurrentUser, db: DbSession,
                       format: Fmt = "pdf", lang: Lang = "id", office_id: DbId | None = None,
                       detail: bool | None = None, bundle: bool = True) -> Response:
    """`detail` (each person's row) defaults to whether the user may see people: observers may not."""
    offices = scope_offices(user, office_id)
    with_people = people_wanted(user, detail)
    exp = run_export(request, db, lambda signer, s: export_apel(
        db, assembly_id, fmt=format, lang=lang, signer=signer, actor=user.username, tz=s.default_timezone,
        office_ids=offices, detail=with_people, report_settings=s.report_settings))
    return signed_download(exp, bundle)


@router.get("/recap", response_model=RecapOut, response_model_exclude_unset=True)
def recap_json(request: Request, user: CurrentUser, db: DbSession,
               month: str = Query(..., examples=["2026-11"]), office_id: DbId | None = None,
               employees: bool | None = None) -> dict:
    """Rekap kehadiran: per office and per employee, closed apels of the month (installation time zone).
    `employees` defaults to whether the user may see people: observers get the offices' figures only.
    `by_hand`: of present + late, marked by an operator without the camera; `hand_by_operator` (HR and
    admins only) says who marked how many."""
    settings: Settings = request.app.state.settings
    employees = people_wanted(user, employees)
    recap = monthly_recap(db, month, tz=settings.default_timezone, office_ids=scope_offices(user, office_id),
                          with_employees=employees, with_operators=user.role in HR_ROLES)
    return recap.as_dict(with_employees=employees)


@router.get("/recap/export", response_class=Response, responses=SIGNED_DOWNLOAD)
def recap_export(request: Request, user: CurrentUser, db: DbSession, month: str = Query(..., examples=["2026-11"]),
                 format: Fmt = "xlsx", lang: Lang = "id", office_id: DbId | None = None,
                 employees: bool | None = None, bundle: bool = True) -> Response:
    offices = scope_offices(user, office_id)
    with_employees = people_wanted(user, employees)
    exp = run_export(request, db, lambda signer, s: export_recap(
        db, month, fmt=format, lang=lang, signer=signer, actor=user.username, tz=s.default_timezone,
        office_ids=offices, with_employees=with_employees, with_operators=user.role in HR_ROLES,
        report_settings=s.report_settings))
    return signed_download(exp, bundle)


@router.get("/signing-key", response_model=SigningKeyOut)
def signing_key(request: Request, user: CurrentUser) -> dict:
    """The installation's public key: give it to whoever must verify reports elsewhere."""
    signer = installation_signer(request)
    return {"signer": signer.name, "fingerprint": signer.fingerprint,
            "fingerprint_short": short_fingerprint(signer.fingerprint), "public_key_pem": signer.public_pem().decode()}
