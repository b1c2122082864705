"""HR pages for apels: the list and per-office detail (who was marked how and why), record detail
with the correction form, the review queue, and the rules. Plain forms (post/redirect/get) calling
the same services as the API, so the rules, the role checks and the audit are the same. The routes
are plain `def`s that FastAPI runs in its threadpool, never on the event loop (the form comes from the
`FormFields` / `PostedForm` dependencies)."""
from __future__ import annotations

from datetime import date, datetime, time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from app.live.review_sync import review_answer_changed
from app.web.audit_checkpoints import sign_now
from app.web.deps import DbId, DbSession, OptionalUser, form_id, sees_people, without_people
from app.web.errors import flash_refusal
from app.web.join_link import join_url, qr_data_uri
from app.web.office_scope import ensure_takes_part, scoped_office
from app.web.rendering import FormFields, PostedForm, add_nav, flash, lang_of, render, require_page_user
from attendance.assemblies.corrections import correct_record, excuse_employee, get_record, list_corrections
from attendance.assemblies.hand_marks import hand_marks
from attendance.assemblies.lifecycle import (
    create_assembly,
    end_assembly,
    issue_office_token,
    list_assemblies,
    start_assembly,
)
from attendance.assemblies.lookups import get_assembly
from attendance.assemblies.record_crops import record_crops
from attendance.assemblies.review import (
    assign_review_item,
    dismiss_review_item,
    get_item,
    list_review_items,
    purge_expired,
    review_view,
    undo_review_item,
)
from attendance.assemblies.rulesets import create_ruleset_version, list_rulesets
from attendance.assemblies.sightings import live_rollcall, record_view
from attendance.db.unit_of_work import run_in_transaction
from attendance.errors import ApelError, StaleVersion
from attendance.i18n import t
from attendance.models import Assembly, AssemblyKind, Employee, Office, Role
from attendance.models.users import HR_ROLES, LEADER_ROLES, PEOPLE_ROLES
from attendance.rules import TIERS, format_local, to_local, zone_label

router = APIRouter(include_in_schema=False)

ALL = tuple(r.value for r in Role)

add_nav("att.nav.apel", "/apel", roles=ALL, order=25)
add_nav("att.nav.review", "/review", roles=HR_ROLES, order=35)
add_nav("att.nav.rules", "/rules", roles=ALL, order=80)


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _int(v: str | None) -> int | None:
    v = (v or "").strip()
    return int(v) if v.isascii() and v.isdigit() else None


def _category_label(categories: list[dict], code: str | None, lang: str) -> str:
    for c in categories:
        if c.get("code") == code:
            return c.get(lang) or c.get("id") or code or ""
    return code or ""


# ---------------------------------------------------------------- apel list and detail

def _start_label(a: Assembly) -> str:
    """The start as the offices see it: "2026-11-30 07:30 WIB/WITA/WIT" when every office starts at
    the same local time, else the first office's local time."""
    if not a.offices:
        return a.scheduled_start.strftime("%Y-%m-%d %H:%M UTC")
    local = {to_local(ao.scheduled_start, ao.office.timezone).strftime("%Y-%m-%d %H:%M") for ao in a.offices}
    zones = list(dict.fromkeys(zone_label(ao.office.timezone) for ao in a.offices))
    if len(local) == 1:
        return f"{local.pop()} {'/'.join(zones)}"
    first = a.offices[0]
    return format_local(first.scheduled_start, first.office.timezone, "%Y-%m-%d %H:%M")

@router.get("/apel", response_class=HTMLResponse)
def apel_list(request: Request, user: OptionalUser, db: DbSession, status: str | None = None,
              office_id: str | None = None) -> Response:
    user = require_page_user(request, user, *ALL)
    oid = scoped_office(user, form_id(office_id))
    assemblies = list_assemblies(db, office_id=oid, status=status or None, limit=300)
    offices = list(db.execute(select(Office).where(Office.active.is_(True)).order_by(Office.code)).scalars())
    if oid is not None:
        offices_shown = [o for o in offices if o.id == oid]
    else:
        offices_shown = offices
    rows = []
    for a in assemblies:
        rows.append({"a": a, "start_local": _start_label(a), "offices": ", ".join(ao.office.code for ao in a.offices)})
    return render(request, "attendance/list.html", {
        "rows": rows, "offices": offices, "offices_shown": offices_shown, "status": status or "",
        "office_id": oid, "kinds": [k.value for k in AssemblyKind], "can_lead": user.role in LEADER_ROLES,
        "today": date.today().isoformat()}, user=user)


@router.post("/apel")
def apel_create(request: Request, user: OptionalUser, db: DbSession, form: PostedForm) -> Response:
    user = require_page_user(request, user, *LEADER_ROLES)
    office_ids = [i for i in map(form_id, form.getlist("office_ids")) if i is not None]
    try:
        local_date = date.fromisoformat(str(form.get("local_date") or ""))
        local_time = time.fromisoformat(str(form.get("local_time") or ""))
    except ValueError:
        flash(request, t("err.bad_time", lang_of(request)), "error")
        return _see_other("/apel")
    try:
        a = run_in_transaction(db, lambda: create_assembly(
            db, actor=user, kind=str(form.get("kind") or ""), title=str(form.get("title") or ""),
            office_ids=office_ids, local_date=local_date, local_time=local_time,
            duration_minutes=_int(str(form.get("duration_minutes") or "")) or 60))
    except ApelError as exc:
        flash_refusal(request, exc, db)
        return _see_other("/apel")
    flash(request, t("att.flash.created", lang_of(request)))
    return _see_other(f"/apel/{a.id}")


@router.get("/apel/{assembly_id}", response_class=HTMLResponse)
def apel_detail(assembly_id: DbId, request: Request, user: OptionalUser, db: DbSession,
                office_id: str | None = None, by_hand: str | None = None) -> Response:
    user = require_page_user(request, user, *ALL)
    return _detail_page(request, user, db, assembly_id, form_id(office_id), by_hand_only=by_hand == "1")


def _detail_page(request: Request, user, db, assembly_id: int, office_id: int | None,
                 new_token: dict | None = None, by_hand_only: bool = False) -> Response:
    oid = scoped_office(user, office_id)
    a = get_assembly(db, assembly_id)
    ensure_takes_part(db, user, assembly_id)
    roll = live_rollcall(db, assembly_id, oid)
    if not sees_people(user):   # observers: each office's figures, nobody's name
        roll = without_people(roll)
    lang = lang_of(request)
    categories = a.ruleset.excuse_categories or []
    for o in roll["offices"]:
        for p in o["people"]:
            p["category_label"] = _category_label(categories, p.get("excuse_category"), lang)
    resp = render(request, "attendance/detail.html", {
        "a": a, "roll": roll, "office_id": oid, "can_lead": user.role in LEADER_ROLES,
        "can_correct": user.role in HR_ROLES,
        "categories": categories, "tiers": TIERS, "new_token": new_token, "by_hand_only": by_hand_only,
        # marked present by hand, not seen by the camera (assemblies.present_by_hand): HR's filter
        "hand_count": sum(1 for o in roll["offices"] for p in o.get("people", []) if p.get("by_hand")),
        "all_offices": [ao.office for ao in a.offices] if user.role != Role.operator.value else []}, user=user)
    if new_token:
        resp.headers["Cache-Control"] = "no-store"
    return resp


@router.post("/apel/{assembly_id}/{action}")
def apel_action(assembly_id: DbId, action: str, request: Request, user: OptionalUser, db: DbSession,
                form: FormFields) -> Response:
    if action not in ("start", "end", "token", "excuse"):
        raise HTTPException(404)
    user = require_page_user(request, user, *(HR_ROLES if action == "excuse" else LEADER_ROLES))
    back = f"/apel/{assembly_id}"
    try:
        if action == "start":
            run_in_transaction(db, lambda: start_assembly(db, assembly_id, actor=user))
        elif action == "end":
            run_in_transaction(db, lambda: end_assembly(db, assembly_id, actor=user))
            sign_now(request.app, db, f"apel {assembly_id} ended")
        elif action == "token":
            office_id = form_id(form.get("office_id"))
            ttl = _int(form.get("ttl_minutes")) or request.app.state.settings.office_token_ttl_minutes
            token = run_in_transaction(db, lambda: issue_office_token(db, assembly_id, office_id or 0, actor=user,
                                                                      ttl_minutes=ttl))
            code = db.get_one(Office, office_id).code
            # Shown in this answer only (not redirected: the plaintext never goes into the session cookie).
            flash(request, t("att.flash.token", lang_of(request)))
            url = join_url(request, request.app.state.settings, code, token)
            return _detail_page(request, user, db, assembly_id, None, new_token={
                "office": code, "token": token, "url": url, "qr": qr_data_uri(url)})
        else:
            run_in_transaction(db, lambda: excuse_employee(
                db, assembly_id, form_id(form.get("employee_id")) or 0, actor=user, category=form.get("category", ""),
                reason=form.get("reason", ""), attachment_ref=form.get("attachment_ref")))
    except ApelError as exc:
        flash_refusal(request, exc, db)
        return _see_other(back)
    flash(request, t(f"att.flash.{action}", lang_of(request)))
    return _see_other(back)


# ---------------------------------------------------------------- record detail and corrections

def _record_page(request: Request, user, db, record_id: int, *, conflict: dict | None = None,
                 status_code: int = 200) -> Response:
    rec = get_record(db, record_id)
    scoped_office(user, rec.office_id)
    a = rec.assembly
    office = db.get(Office, rec.office_id)
    lang = lang_of(request)
    categories = a.ruleset.excuse_categories or []
    view = record_view(rec, rec.employee, office.timezone)
    view["category_label"] = _category_label(categories, rec.excuse_category, lang)
    history = list_corrections(db, record_id=record_id)
    crops = record_crops(db, rec) if user.role in HR_ROLES else []   # faces are HR's and admins' only
    by_hand = hand_marks(db, rec.assembly_id, employee_ids=[rec.employee_id]).get(rec.employee_id)
    if by_hand:   # the record's source: a person's word, not the camera (assemblies.present_by_hand)
        by_hand = {**by_hand, "local": format_local(datetime.fromisoformat(by_hand["at"]), office.timezone, "%H:%M:%S")}
    return render(request, "attendance/record.html", {
        "rec": view, "a": a, "office": office, "zone": zone_label(office.timezone),
        "scheduled_local": format_local(next((ao.scheduled_start for ao in a.offices if ao.office_id == rec.office_id),
                                             a.scheduled_start), office.timezone, "%Y-%m-%d %H:%M"),
        "history": history, "categories": categories, "tiers": TIERS, "can_correct": user.role in HR_ROLES,
        "conflict": conflict, "crops": crops, "by_hand": by_hand,
        "local": lambda instant: format_local(instant, office.timezone)},   # the history in the page's zone
        user=user, status_code=status_code)


@router.get("/records/{record_id}", response_class=HTMLResponse)
def record_page(record_id: DbId, request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *PEOPLE_ROLES)
    return _record_page(request, user, db, record_id)


@router.post("/records/{record_id}/correct")
def record_correct(record_id: DbId, request: Request, user: OptionalUser, db: DbSession,
                   form: FormFields) -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    status = form.get("status", "")
    try:
        run_in_transaction(db, lambda: correct_record(
            db, record_id, actor=user, expected_version=_int(form.get("expected_version")) or -1,
            status=status, tier=(form.get("tier") or None) if status == "late" else None,
            late_minutes=_int(form.get("late_minutes")) if status == "late" else None,
            excuse_category=(form.get("excuse_category") or None) if status == "excused" else None,
            reason=form.get("reason", ""), attachment_ref=form.get("attachment_ref")))
    except StaleVersion as exc:   # the form comes back beside the record as it is now
        db.rollback()
        flash(request, t("err.stale_version", lang_of(request)), "error")
        return _record_page(request, user, db, record_id, conflict=exc.current, status_code=409)
    except ApelError as exc:
        flash_refusal(request, exc, db)
        return _see_other(f"/records/{record_id}")
    flash(request, t("att.flash.corrected", lang_of(request)))
    return _see_other(f"/records/{record_id}")


# ---------------------------------------------------------------- review queue

@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, user: OptionalUser, db: DbSession, assembly_id: str | None = None,
                status: str | None = "open") -> Response:
    user = require_page_user(request, user, *HR_ROLES)
    run_in_transaction(db, lambda: purge_expired(db))
    items = list_review_items(db, assembly_id=form_id(assembly_id), status=status or None, limit=300)
    office_ids = {i.office_id for i in items}
    staff: dict[int, list[Employee]] = {}
    if office_ids:
        for e in db.execute(select(Employee).where(Employee.office_id.in_(office_ids), Employee.active.is_(True))
                            .order_by(Employee.name)).scalars():
            staff.setdefault(e.office_id, []).append(e)
    offices = {o.id: o for o in db.execute(select(Office).where(Office.id.in_(office_ids))).scalars()} \
        if office_ids else {}
    titles = {a.id: a.title for a in db.execute(select(Assembly).where(
        Assembly.id.in_({i.assembly_id for i in items}))).scalars()} if items else {}
    rows = []
    for i in items:
        v = review_view(i)
        tz = offices[i.office_id].timezone
        v["first_local"] = format_local(i.track.first_at, tz, "%H:%M:%S")
        v["last_local"] = format_local(i.track.last_at, tz, "%H:%M:%S")
        v["office_code"] = offices[i.office_id].code
        v["apel_title"] = titles.get(i.assembly_id, "")
        rows.append(v)
    return render(request, "attendance/review.html", {"rows": rows, "staff": staff, "status": status or ""},
                  user=user)


@router.post("/review/{item_id}/{action}")
def review_action(item_id: DbId, action: str, request: Request, user: OptionalUser, db: DbSession,
                  form: FormFields) -> Response:
    if action not in ("assign", "dismiss", "undo"):
        raise HTTPException(404)
    user = require_page_user(request, user, *HR_ROLES)
    try:
        if action == "assign":
            run_in_transaction(db, lambda: assign_review_item(
                db, item_id, actor=user, employee_id=form_id(form.get("employee_id")) or 0,
                reason=form.get("reason", "")))
        elif action == "undo":
            run_in_transaction(db, lambda: undo_review_item(db, item_id, actor=user, reason=form.get("reason", "")))
        else:
            run_in_transaction(db, lambda: dismiss_review_item(db, item_id, actor=user, reason=form.get("reason", "")))
    except ApelError as exc:
        flash_refusal(request, exc, db)
        return _see_other("/review")
    review_answer_changed(request.app, get_item(db, item_id).assembly_id)
    flash(request, t(f"att.flash.review_{action}", lang_of(request)))
    return _see_other("/review")


# ---------------------------------------------------------------- rules

@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: OptionalUser, db: DbSession) -> Response:
    user = require_page_user(request, user, *ALL)
    versions = list_rulesets(db)
    latest: dict[str, object] = {}
    for r in versions:
        latest.setdefault(r.name, r)
    return render(request, "attendance/rules.html", {"versions": versions, "latest": latest,
                                                     "can_edit": user.role == Role.admin.value}, user=user)


@router.post("/rules")
def rules_save(request: Request, user: OptionalUser, db: DbSession, form: FormFields) -> Response:
    user = require_page_user(request, user, Role.admin.value)
    changes: dict[str, object] = {}
    for key in ("grace_minutes", "tl1_max_minutes", "tl2_max_minutes", "tl3_max_minutes", "min_frames"):
        if (form.get(key) or "").strip():
            changes[key] = form[key].strip()
    if (form.get("min_confidence") or "").strip():
        changes["min_confidence"] = form["min_confidence"].strip().replace(",", ".")
    tk = (form.get("tk_after_minutes") or "").strip()
    changes["tk_after_minutes"] = tk or None
    cats = [c.strip() for c in (form.get("excuse_categories") or "").split(",") if c.strip()]
    if cats:
        changes["excuse_categories"] = cats
    try:
        run_in_transaction(db, lambda: create_ruleset_version(
            db, actor=user, name=form.get("name") or "default", reason=form.get("reason", ""), **changes))
    except ApelError as exc:
        flash_refusal(request, exc, db)
        return _see_other("/rules")
    flash(request, t("att.flash.rules_saved", lang_of(request)))
    return _see_other("/rules")

