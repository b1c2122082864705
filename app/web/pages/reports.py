"""Report and verify pages. They read through the same functions and office scoping as the API
(app.web.office_scope); downloads link to the API export, which signs and audits."""
from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from app.web.deps import DbId, DbSession, OptionalUser, form_id, sees_people
from app.web.office_scope import scope_offices
from app.web.rendering import add_nav, lang_of, render, require_page_user
from app.web.verification import VerifyBody, check_upload, verification_dict
from attendance.assemblies.hand_marks import hand_marks, hand_note
from attendance.errors import Invalid
from attendance.models import Assembly, AssemblyOffice, Office, Role
from attendance.models.users import HR_ROLES, PEOPLE_ROLES
from attendance.reports.apel import apel_people, apel_report
from attendance.reports.common import local_time, zone
from attendance.reports.corrections_note import correction_notes, keterangan
from attendance.reports.recap import MONTH_RE, monthly_recap
from attendance.rules import STATUSES, TIERS

router = APIRouter(include_in_schema=False)

READERS = tuple(r.value for r in Role)   # every role reads reports; operators only their office
add_nav("rep.ui.reports", "/reports", roles=READERS, order=60)
add_nav("rep.ui.verify", "/verify", roles=READERS, order=65)


@router.get("/reports", response_class=HTMLResponse)
def reports_home(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *READERS)
    q = select(Assembly).order_by(Assembly.scheduled_start.desc()).limit(100)
    if user.role == Role.operator.value:
        q = q.where(Assembly.id.in_(select(AssemblyOffice.assembly_id).where(
            AssemblyOffice.office_id == (user.office_id or -1))))
    apels = db.execute(q).scalars().all()
    tz = request.app.state.settings.default_timezone
    offices = db.execute(select(Office).order_by(Office.code)).scalars().all()
    if user.role == Role.operator.value:
        offices = [o for o in offices if o.id == user.office_id]
    rows = [{"a": a, "local": local_time(a.scheduled_start, tz, "%Y-%m-%d %H:%M")} for a in apels]
    return render(request, "reports/index.html", {"apels": rows, "offices": offices, "month": _this_month(request)},
                  user=user)


@router.get("/reports/apel/{assembly_id}", response_class=HTMLResponse)
def apel_page(assembly_id: DbId, request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *READERS)
    report = apel_report(db, assembly_id, scope_offices(user, None))
    lang = lang_of(request)
    return render(request, "reports/apel.html", {
        "r": report, "tiers": TIERS, "cats": report.categories, "lang": lang,
        "sched": local_time(report.scheduled_start, request.app.state.settings.default_timezone, "%Y-%m-%d %H:%M"),
    }, user=user)


@router.get("/reports/apel/{assembly_id}/office/{office_id}", response_class=HTMLResponse)
def apel_office_page(assembly_id: DbId, office_id: DbId, request: Request, user: OptionalUser, db: DbSession,
                     status: str | None = Query(None, max_length=16)) -> Response:
    user = require_page_user(request, user, *PEOPLE_ROLES)   # a list of people: not for observers
    scope_offices(user, office_id)
    report = apel_report(db, assembly_id, [office_id])
    office, people = apel_people(db, assembly_id, office_id, status=status or None)
    lang = lang_of(request)
    cats = {c["code"]: c.get(lang) or c["code"] for c in report.categories}
    # A corrected record says so, as in the signed exports: HR's hand, not the camera's finding.
    notes = correction_notes(db, record_ids=[p.record_id for p in people if p.corrected and p.record_id is not None])
    hands = hand_marks(db, assembly_id, [office_id])   # marked present without the camera: the operator's word
    rows = [{"p": p, "first": local_time(p.first_seen_at, office.timezone, "%H:%M:%S"),
             "last": local_time(p.last_seen_at, office.timezone, "%H:%M:%S"),
             "cat": cats.get(p.excuse_category or "", p.excuse_category),
             "note": keterangan(notes.get(p.record_id or 0), lang, cats)
             or hand_note(hands.get(p.employee_id), office.timezone, lang)} for p in people]
    return render(request, "reports/office.html", {
        "r": report, "o": report.offices[0] if report.offices else None, "office": office, "rows": rows,
        "status": status or "", "statuses": STATUSES, "tiers": TIERS}, user=user)


def _this_month(request: Request) -> str:
    """The current month where the installation is (WITA by default), not in UTC: on the 1st before
    08:00 WITA, UTC is still in the previous month."""
    return datetime.now(zone(request.app.state.settings.default_timezone)).strftime("%Y-%m")


def _month_or_refuse(month: str | None, request: Request) -> str:
    """No month (a bookmarked or typed /reports/recap): this month. A month that is not YYYY-MM: refused on
    the page in the person's language (err.bad_month), not FastAPI's English validation text."""
    month = (month or "").strip()
    if not month:
        return _this_month(request)
    if not MONTH_RE.match(month):
        raise Invalid("bad_month", f"month must be YYYY-MM (e.g. {_this_month(request)}), got {month[:32]!r}")
    return month


@router.get("/reports/recap", response_class=HTMLResponse)
def recap_page(request: Request, user: OptionalUser, db: DbSession, month: str | None = Query(None, max_length=64),
               office_id: str | None = Query(None, max_length=12)) -> Response:
    user = require_page_user(request, user, *READERS)
    month = _month_or_refuse(month, request)
    oid = form_id(office_id)
    scope = scope_offices(user, oid)
    # One office: every employee; all offices: the office table only. Observers: figures only, always.
    show_people = scope is not None and sees_people(user)
    recap = monthly_recap(db, month, tz=request.app.state.settings.default_timezone, office_ids=scope,
                          with_employees=show_people, with_operators=user.role in HR_ROLES)
    return render(request, "reports/recap.html", {"rc": recap, "tiers": TIERS, "cats": recap.categories,
                                                  "office_id": scope[0] if scope else None,
                                                  "show_people": show_people}, user=user)


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, user: OptionalUser) -> Response:
    user = require_page_user(request, user, *READERS)
    return render(request, "reports/verify.html", {"result": None}, user=user)


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request, _limit: VerifyBody, user: OptionalUser) -> Response:
    """CSRF is checked by optional_user (the form carries csrf_token); size capped in check_upload.
    Async only to read the upload; the check and the page run in worker threads."""
    user = require_page_user(request, user, *READERS)
    name, result = await check_upload(request)
    return await run_in_threadpool(render, request, "reports/verify.html",
                                   {"result": verification_dict(result, lang_of(request)), "uploaded": name},
                                   user=user, status_code=200)
