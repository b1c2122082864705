"""Web pages for login, the dashboard, offices, employees, enrolment and users.

Plain HTML forms posting back to these routes (post/redirect/get); they call the same services as
the API, so the rules and the audit are the same. CSRF: every POST carries the session's token in
a hidden `csrf_token` field, checked by app.web.deps.optional_user (and here for the login form).

The routes are plain `def`s that FastAPI runs in its threadpool, never on the event loop (the form
comes from the `FormFields` dependency); the two upload routes are async only to read the upload and
await the face workers, and run their database work in worker threads."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.web.deps import DbId, DbSession, OptionalUser, form_id
from app.web.enrol import MAX_CSV_BYTES, BulkBody, PhotoBody, bulk_enrol, enrol_one
from app.web.errors import flash_refusal, refusal_text
from app.web.login import authenticate, end_session, login_turn, start_session
from app.web.office_scope import ensure_office_access
from app.web.rendering import FormFields, add_nav, flash, form_fields, lang_of, render, require_page_user
from app.web.security import same_secret
from app.web.uploads import read_upload
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import ApelError, Invalid
from attendance.i18n import LANGS, t
from attendance.models import Employee, FaceTemplate, Office, Role, User
from attendance.models.users import HR_ROLES
from attendance.nip import explain_nip, format_nip, parse_nip
from attendance.roster.employees import (
    create_employee,
    delete_employee,
    get_employee,
    list_employees,
    template_counts,
    update_employee,
)
from attendance.roster.learned_geometry import forget_geometry, learned_roll_calls
from attendance.roster.offices import create_office, delete_office, list_offices, update_office
from attendance.roster.privacy import erase_templates
from attendance.roster.templates import remove_photo_files, template_dict
from attendance.roster.users import create_user, list_users, update_user
from attendance.vision.config import format_row_lines, parse_row_lines, rows_at_the_limit_advice

router = APIRouter(include_in_schema=False)

READERS = (Role.admin.value, Role.hr.value, Role.leader.value, Role.operator.value)

add_nav("nav.dashboard", "/", order=0)
add_nav("nav.offices", "/offices", roles=READERS, order=10)
add_nav("nav.employees", "/employees", roles=READERS, order=20)
add_nav("nav.enrolment", "/enrolment", roles=HR_ROLES, order=30)
add_nav("nav.users", "/users", roles=(Role.admin.value,), order=90)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login would help phishing."""
    if not target or not target.startswith("/") or target.startswith("//") or urlparse(target).netloc:
        return "/"
    return target


def _number(form: dict[str, str], key: str) -> float | None:
    """A number field as typed (a decimal comma is fine; empty: unknown). A slip in it is the field's
    own error, shown with the field's hint like a value out of range."""
    v = (form.get(key) or "").strip().replace(",", ".")
    if not v:
        return None
    try:
        return float(v)
    except ValueError:
        raise Invalid(key, f"{key}: {form[key]!r} is not a number") from None


def _row_lines_or_none(v: str | None) -> list[float] | None:
    """The row-lines field as typed ("3; 4,5; 6"; empty: unknown). A slip in it is the field's own
    error, shown with the field's hint like a value out of range, not Python's float() message."""
    try:
        return parse_row_lines(v or "") or None
    except ValueError as exc:
        raise Invalid("row_lines_m", str(exc)) from None


def lang_t(request: Request, key: str, **kw: object) -> str:
    return t(key, lang_of(request), **kw)


def _refused(request: Request, db: Session, exc: ApelError, typed: dict[str, str]) -> dict[str, Any]:
    """A refused form comes back as it was typed, with the reason beside it (a redirect would empty
    it): forget the half-done work, keep the fields (never a password). A refused NIP also shows
    which of its digits are wrong."""
    db.rollback()
    form = {k: v for k, v in typed.items() if k not in ("password", "csrf_token")}
    nip_problem = explain_nip(form.get("nip", "")) if exc.code.startswith("nip_") else None
    return {"form": form, "form_error": refusal_text(request, exc), "form_status": exc.status,
            "nip_problem": nip_problem}


# ---------------------------------------------------------------- login, language, dashboard

@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: OptionalUser, next: str = "/") -> Response:
    if user is not None:
        return _see_other(_safe_next(next))
    return render(request, "roster/login.html", {"next": _safe_next(next)})


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(login_turn)])
def login_submit(request: Request, db: DbSession, form: FormFields) -> Response:
    """A plain `def`: the password check (argon2) and the lookup run in a worker thread."""
    expected = request.session.get("csrf")
    nxt = _safe_next(form.get("next"))
    if not expected or not same_secret(form.get("csrf_token", ""), expected):
        return render(request, "roster/login.html", {"next": nxt, "error": "login.csrf"}, status_code=403)
    try:
        user = authenticate(request, db, form.get("username", ""), form.get("password", ""))
    except ApelError as exc:   # the login form shows its own words for a refused login
        key = "login.throttled" if exc.status == 429 else "login.failed"
        page = render(request, "roster/login.html", {"next": nxt, "error": key,
                                                     "username": form.get("username", "")},
                      status_code=exc.status)
        if isinstance(exc.details, dict) and "retry_after_s" in exc.details:
            page.headers["Retry-After"] = str(exc.details["retry_after_s"])
        return page
    start_session(request, user)
    return _see_other(nxt)


@router.post("/logout")
def logout_submit(request: Request, user: OptionalUser, db: DbSession) -> Response:
    end_session(request, db, user)
    return _see_other("/login")


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/") -> Response:
    if code not in LANGS:
        raise HTTPException(404)
    resp = _see_other(_safe_next(next))
    resp.set_cookie("lang", code, max_age=365 * 24 * 3600, samesite="lax")
    return resp


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user)
    office_filter = user.office_id if user.role == Role.operator.value else None
    emp_q = select(func.count()).select_from(Employee).where(Employee.active.is_(True))
    enrolled_q = select(func.count(func.distinct(FaceTemplate.employee_id))).join(Employee)
    if office_filter is not None:
        emp_q = emp_q.where(Employee.office_id == office_filter)
        enrolled_q = enrolled_q.where(Employee.office_id == office_filter)
    sees_offices = user.role != Role.operator.value or office_filter
    stats = {
        "offices": len(list_offices(db, only_id=office_filter)) if sees_offices else 0,
        "employees": db.execute(emp_q).scalar_one(),
        "enrolled": db.execute(enrolled_q).scalar_one(),
    }
    office = db.get(Office, user.office_id) if user.office_id else None
    return render(request, "roster/dashboard.html", {"stats": stats, "office": office}, user=user)


# ---------------------------------------------------------------- offices

@router.get("/offices", response_class=HTMLResponse)
def offices_page(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *READERS)
    return _offices_view(request, user, db)


def _offices_view(request: Request, user: User, db: Session, refused: dict[str, Any] | None = None,
                  edit_id: int | None = None) -> Response:
    """The offices page; `refused`: a form that was refused, shown again as typed (the new-office form,
    or the edit form of office `edit_id`, opened)."""
    only = user.office_id if user.role == Role.operator.value else None
    offices = list_offices(db, only_id=only) if (only or user.role != Role.operator.value) else []
    counts = dict(db.execute(select(Employee.office_id, func.count()).group_by(Employee.office_id)).all())
    at_limit = {o.id: advice for o in offices if (advice := rows_at_the_limit_advice(o.row_lines_m, o.min_distance_m))}
    refused = refused or {}
    return render(request, "roster/offices.html", {"offices": offices, "counts": counts,
                                                   "can_edit": user.role in HR_ROLES,
                                                   "row_lines_text": format_row_lines, "at_limit": at_limit,
                                                   "edit_id": edit_id, "form": refused.get("form", {}),
                                                   "form_error": refused.get("form_error")},
                  user=user, status_code=refused.get("form_status", 200))


@router.post("/offices")
def offices_create(request: Request, user: OptionalUser, db: DbSession, f: FormFields) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    try:
        office = run_in_transaction(db, lambda: create_office(
            db, actor=user, code=f.get("code", ""), name=f.get("name", ""),
            timezone=f.get("timezone") or "Asia/Makassar", camera_hfov_deg=_number(f, "camera_hfov_deg"),
            min_distance_m=_number(f, "min_distance_m"), back_row_m=_number(f, "back_row_m"),
            camera_height_m=_number(f, "camera_height_m"), row_lines_m=_row_lines_or_none(f.get("row_lines_m"))))
        flash(request, lang_t(request, "offices.created", code=office.code))
    except ApelError as exc:
        return _offices_view(request, user, db, _refused(request, db, exc, f))
    return _see_other("/offices")


@router.post("/offices/{office_id}")
def offices_update(office_id: DbId, request: Request, user: OptionalUser, db: DbSession, f: FormFields) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    try:
        if f.get("action") == "delete":
            run_in_transaction(db, lambda: delete_office(db, office_id, actor=user))
            flash(request, lang_t(request, "offices.deleted"))
        else:
            run_in_transaction(db, lambda: update_office(
                db, office_id, actor=user, name=f.get("name"), timezone=f.get("timezone"),
                camera_hfov_deg=_number(f, "camera_hfov_deg"), min_distance_m=_number(f, "min_distance_m"),
                back_row_m=_number(f, "back_row_m"), camera_height_m=_number(f, "camera_height_m"),
                row_lines_m=_row_lines_or_none(f.get("row_lines_m")), active=f.get("active") == "on"))
            flash(request, lang_t(request, "common.saved"))
    except ApelError as exc:
        if f.get("action") == "delete":
            flash_refusal(request, exc, db)
        else:
            return _offices_view(request, user, db, _refused(request, db, exc, f), edit_id=office_id)
    return _see_other("/offices")


# ---------------------------------------------------------------- employees

@router.get("/employees", response_class=HTMLResponse)
def employees_page(request: Request, user: OptionalUser, db: DbSession, office_id: str = "",
                   q: str = "") -> Response:
    user = require_page_user(request, user, *READERS)
    return _employees_view(request, user, db, form_id(office_id), q)


def _employees_view(request: Request, user: User, db: Session, oid: int | None, q: str,
                    refused: dict[str, Any] | None = None) -> Response:
    if user.role == Role.operator.value:
        oid = user.office_id
    offices = list_offices(db, only_id=oid if user.role == Role.operator.value else None)
    employees = list_employees(db, office_id=oid, q=q[:100] or None, limit=1000)
    counts = template_counts(db, [e.id for e in employees])
    refused = refused or {}
    return render(request, "roster/employees.html", {
        "employees": employees, "offices": offices, "office_map": {o.id: o for o in offices},
        "counts": counts, "office_id": oid, "q": q, "can_edit": user.role in HR_ROLES,
        "form": refused.get("form", {}), "form_error": refused.get("form_error"),
        "nip_problem": refused.get("nip_problem")}, user=user, status_code=refused.get("form_status", 200))


@router.post("/employees")
def employees_create(request: Request, user: OptionalUser, db: DbSession, f: FormFields) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    try:
        office_id = form_id(f.get("office_id")) or 0
        emp = run_in_transaction(db, lambda: create_employee(
            db, actor=user, nip=f.get("nip", ""), name=f.get("name", ""), office_id=office_id,
            position=f.get("position")))
        flash(request, lang_t(request, "employees.created", name=emp.name))
        return _see_other(f"/employees/{emp.id}")
    except ApelError as exc:
        return _employees_view(request, user, db, form_id(f.get("office_id")), "", _refused(request, db, exc, f))


@router.get("/employees/nip-check")
def nip_check(request: Request, user: OptionalUser, nip: str = "") -> JSONResponse:
    """Checks a NIP as it is typed, before the rest of the form (the employees page asks on each
    change): what it encodes, or which digits are wrong and why, in the person's language."""
    user = require_page_user(request, user, *HR_ROLES)
    problem = explain_nip(nip[:64])
    if problem is None:
        info = parse_nip(nip)
        return JSONResponse({"ok": True, "nip": info.nip, "printed": format_nip(info.nip),
                             "text": lang_t(request, "employees.nip_ok", birth=info.birth_date.isoformat(),
                                            appointed=f"{info.appointment_year:04d}-{info.appointment_month:02d}",
                                            gender=lang_t(request, f"employees.gender_{info.gender}"))})
    return JSONResponse({"ok": False, "code": f"nip_{problem.code}",
                         "text": f"{lang_t(request, 'err.nip_' + problem.code)} ({problem.message})",
                         "groups": [[[d, wrong] for d, wrong in g] for g in problem.groups]})


def _readable_employee(db: Session, user: User, employee_id: int) -> Employee:
    emp = get_employee(db, employee_id)
    ensure_office_access(user, emp.office_id)
    return emp


@router.get("/employees/{employee_id}", response_class=HTMLResponse)
def employee_page(employee_id: DbId, request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *READERS)
    return _employee_view(request, user, db, employee_id)


def _employee_view(request: Request, user: User, db: Session, employee_id: int,
                   refused: dict[str, Any] | None = None) -> Response:
    emp = _readable_employee(db, user, employee_id)
    refused = refused or {}
    templates = db.execute(select(FaceTemplate).where(FaceTemplate.employee_id == emp.id)
                           .order_by(FaceTemplate.id)).scalars().all()
    return render(request, "roster/employee.html", {
        "emp": emp, "templates": [template_dict(t) for t in templates if t.kind == "photo"],
        "masked_count": sum(1 for t in templates if t.kind == "masked"),
        "learned_roll_calls": learned_roll_calls(db, emp.id),
        "offices": list_offices(db), "can_edit": user.role in HR_ROLES,
        "max_mb": request.app.state.settings.max_upload_bytes / 1024 / 1024,
        "form": refused.get("form", {}), "form_error": refused.get("form_error")},
        user=user, status_code=refused.get("form_status", 200))


@router.post("/employees/{employee_id}")
def employee_update(employee_id: DbId, request: Request, user: OptionalUser, db: DbSession,
                    f: FormFields) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    action = f.get("action", "save")
    try:
        if action == "delete":
            result = run_in_transaction(db, lambda: delete_employee(db, employee_id, actor=user,
                                                                    reason=f.get("reason") or None))
            remove_photo_files(result["photo_paths"])
            flash(request, lang_t(request, "employees.deleted", name=result["employee"]["name"]))
            return _see_other("/employees")
        if action == "forget_geometry":
            run_in_transaction(db, lambda: forget_geometry(db, employee_id, actor=user, reason=f.get("reason") or None))
            flash(request, lang_t(request, "employees.geometry_forgotten"))
        elif action == "erase":
            paths = run_in_transaction(db, lambda: erase_templates(db, employee_id, actor=user,
                                                                   reason=f.get("reason") or None))
            remove_photo_files(paths)
            flash(request, lang_t(request, "employees.erased"))
        else:
            run_in_transaction(db, lambda: update_employee(
                db, employee_id, actor=user, name=f.get("name"), position=f.get("position"),
                office_id=form_id(f.get("office_id")),
                active=f.get("active") == "on"))
            flash(request, lang_t(request, "common.saved"))
    except ApelError as exc:
        if action != "save":
            flash_refusal(request, exc, db)
        else:
            return _employee_view(request, user, db, employee_id, _refused(request, db, exc, f))
    return _see_other(f"/employees/{employee_id}")


@router.post("/employees/{employee_id}/photos")
async def employee_photo(employee_id: DbId, request: Request, _limit: PhotoBody, user: OptionalUser,
                         db: DbSession) -> Response:
    # Async only to read the upload and await the face workers: the database work runs in worker threads.
    user = require_page_user(request, user, *HR_ROLES)
    await run_in_threadpool(_readable_employee, db, user, employee_id)
    try:
        upload = await read_upload(request, ("photo",), request.app.state.settings.max_upload_bytes, "the photo")
        if upload is None:
            raise Invalid("photo_missing", "no photo was chosen")
        result = await enrol_one(request, db, user, employee_id, *upload)
        flash(request, lang_t(request, "enrol.accepted", quality=f"{result['photo']['quality']:.2f}"))
        for w in result["warnings"]:
            flash(request, lang_t(request, "enrol.same_face", nip=w["nip"], name=w["name"]), "warn")
    except ApelError as exc:
        await run_in_threadpool(flash_refusal, request, exc, db)
    return _see_other(f"/employees/{employee_id}")


# ---------------------------------------------------------------- bulk enrolment

@router.get("/enrolment", response_class=HTMLResponse)
def enrolment_page(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    return _enrolment_form(request, user, db)


def _enrolment_form(request: Request, user: User, db: Session, report: dict[str, Any] | None = None,
                    error: ApelError | None = None) -> Response:
    """The bulk enrolment form, with the last upload's report or every reason it was refused."""
    if error is not None:
        db.rollback()
    return render(request, "roster/enrolment.html", {
        "offices": list_offices(db), "report": report,
        "error": refusal_text(request, error) if error else None,
        "error_details": (error.details or {}) if error else {}}, user=user,
        status_code=error.status if error else 200)


@router.post("/enrolment", response_class=HTMLResponse)
async def enrolment_submit(request: Request, _limit: BulkBody, user: OptionalUser, db: DbSession) -> Response:
    # Async only to read the uploads and await the face workers: the database work and the page run in
    # worker threads.
    user = require_page_user(request, user, *HR_ROLES)
    settings = request.app.state.settings
    report, error = None, None
    try:
        roster = await read_upload(request, ("roster",), MAX_CSV_BYTES, "the roster CSV")
        photos = await read_upload(request, ("photos",), settings.max_zip_bytes, "the ZIP")
        form = await form_fields(await request.form())
        report = await bulk_enrol(request, db, user, roster[1] if roster else None,
                                  photos[1] if photos else None, form.get("office_code") or None)
    except ApelError as exc:   # the form comes back with every reason, as the API gives them
        error = exc
    return await run_in_threadpool(_enrolment_form, request, user, db, report, error)


# ---------------------------------------------------------------- users (admin)

@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, Role.admin.value)
    return _users_view(request, user, db)


def _users_view(request: Request, user: User, db: Session, refused: dict[str, Any] | None = None) -> Response:
    offices = list_offices(db)
    refused = refused or {}
    return render(request, "roster/users.html", {"users": list_users(db), "offices": offices,
                                                 "office_map": {o.id: o for o in offices},
                                                 "roles": [r.value for r in Role],
                                                 "form": refused.get("form", {}),
                                                 "form_error": refused.get("form_error")},
                  user=user, status_code=refused.get("form_status", 200))


@router.post("/users")
def users_create(request: Request, user: OptionalUser, db: DbSession, f: FormFields) -> Response:
    """A plain `def`: the password hash (argon2) and the database work run in a worker thread."""
    user = require_page_user(request, user, Role.admin.value)
    try:
        if f.get("user_id", "").strip():
            run_in_transaction(db, lambda: update_user(
                db, form_id(f["user_id"]) or 0, actor=user, active=f.get("active") == "on",
                password=f.get("password") or None))
        else:
            run_in_transaction(db, lambda: create_user(
                db, actor=user, username=f.get("username", ""), password=f.get("password", ""),
                role=f.get("role", ""), full_name=f.get("full_name") or None,
                office_id=form_id(f.get("office_id"))))
        flash(request, lang_t(request, "common.saved"))
    except ApelError as exc:
        if f.get("user_id", "").strip():
            flash_refusal(request, exc, db)
        else:   # the new-user form comes back as typed, but for the password
            return _users_view(request, user, db, _refused(request, db, exc, f))
    return _see_other("/users")


__all__ = ["router"]
