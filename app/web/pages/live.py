"""The live apel's pages: an operator's list of their office's open apels, the office join page, and the
leader's and observers' console.
They hold no media themselves: the browser client (static/live/) talks to app.web.api.live. Each is a
plain `def`: FastAPI runs it (the database and the template) in a worker thread, never on the event loop
that carries the media."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from app.live.office_watch import VIDEO_ROLES
from app.web.deps import CONSOLE_ROLES, DbId, DbSession, OptionalUser, sees_people
from app.web.rendering import add_nav, render, require_page_user
from attendance.models import Assembly, AssemblyOffice, AssemblyStatus, Office, Role, User
from attendance.models.base import utcnow
from attendance.rules import format_local, zone_label

router = APIRouter(include_in_schema=False)

add_nav("live.nav", "/live", roles=(*CONSOLE_ROLES, Role.operator.value), order=30)


@router.get("/live/join", response_class=HTMLResponse)
def office_page(request: Request, user: OptionalUser) -> HTMLResponse:
    """The office operator's page. The token is read from the URL fragment (#token=...) or typed in,
    so it never reaches server logs."""
    return render(request, "live/office.html", {"office": request.query_params.get("office", "")}, user=user)


@router.get("/live", response_class=HTMLResponse)
def live_index(request: Request, user: OptionalUser, db: DbSession) -> HTMLResponse:
    """The open apels, each a link to its console; an operator sees their office's, each with a Join button."""
    user = require_page_user(request, user, *CONSOLE_ROLES, Role.operator.value)
    if user.role == Role.operator.value:
        return render(request, "live/operator.html",
                      {"apels": _office_apels(db, user.office_id), "has_office": user.office_id is not None}, user=user)
    rows = db.execute(select(Assembly).where(Assembly.status == AssemblyStatus.open.value)
                      .order_by(Assembly.id.desc())).scalars()
    assemblies = [{"id": a.id, "title": a.title, "kind": a.kind} for a in rows]
    return render(request, "live/index.html", {"assemblies": assemblies}, user=user)


def _office_apels(db: DbSession, office_id: int | None) -> list[dict[str, object]]:
    """The open apels the office takes part in, with what the operator needs to join: the office code
    (the join page's), its local start and whether the leader has issued a token still valid (the
    token itself is shown only once, to the leader, who hands it over)."""
    if office_id is None:
        return []
    rows = db.execute(select(Assembly, AssemblyOffice, Office)
                      .join(AssemblyOffice, AssemblyOffice.assembly_id == Assembly.id)
                      .join(Office, Office.id == AssemblyOffice.office_id)
                      .where(Assembly.status == AssemblyStatus.open.value, AssemblyOffice.office_id == office_id)
                      .order_by(Assembly.id.desc())).all()
    now = utcnow()
    return [{"id": a.id, "title": a.title, "kind": a.kind, "office_code": o.code, "office_name": o.name,
             "start": format_local(ao.scheduled_start, o.timezone, "%Y-%m-%d %H:%M"), "zone": zone_label(o.timezone),
             "token_ready": ao.token_hash is not None and ao.token_expires_at is not None and ao.token_expires_at > now}
            for a, ao, o in rows]


@router.get("/live/assemblies/{assembly_id}", response_class=HTMLResponse)
def console_page(assembly_id: DbId, request: Request, user: OptionalUser) -> HTMLResponse:
    """Leaders and admins lead (camera out) unless they ask to observe (?observe=1); others observe."""
    user = require_page_user(request, user, *CONSOLE_ROLES)
    can_lead = user.role in (Role.admin.value, Role.leader.value)
    want_observe = request.query_params.get("observe") == "1"
    settings = request.app.state.settings
    return render(request, "live/console.html",
                  {"assembly_id": assembly_id, "mode": "leader" if can_lead and not want_observe else "observer",
                   "media": settings.media, "office_video": _office_video(user)}, user=user)


def _office_video(user: User) -> str:
    """What office_video.js may ask for this user, from the roles the office video's endpoints check
    (app/live/office_watch.py), so the page and the API cannot disagree: the video with the overlay
    that names people, the picture alone, or nothing."""
    if user.role not in VIDEO_ROLES:
        return ""
    return "names" if sees_people(user) else "plain"
