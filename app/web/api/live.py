"""Live apel over WebRTC: signaling (offer in, answer out), ICE configuration, the live roll-call and its
event stream (Server-Sent Events), and the two pages (office join, leader/observer console).

Who may do what: an office joins with its per-apel token (no login: the camera operator may be a
device); the leader's console (camera out) is for leaders and admins; HR and observers get the
read-only console. Starting and ending an apel are the assemblies API's (leader/admin only)."""
from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from attendance.errors import ApelError, NotFound
from attendance.models import Role, User
from media.signaling import MAX_SDP_BYTES

from app.web.deps import LeaderUser, OptionalUser, require_roles
from app.live.service import LiveService, get_live
from app.web.rendering import add_nav, render, require_page_user

router = APIRouter(tags=["live"])
CONSOLE_ROLES = (Role.admin, Role.leader, Role.hr, Role.observer)
ConsoleUser = Annotated[User, Depends(require_roles(*CONSOLE_ROLES))]


class SdpIn(BaseModel):
    sdp: str = Field(..., max_length=MAX_SDP_BYTES)
    type: str = Field("offer", max_length=16)


class OfficeJoinIn(SdpIn):
    office: str = Field(..., min_length=1, max_length=32, description="Office code.")
    token: str = Field(..., min_length=1, max_length=256, description="The office's token for this apel.")


async def live_service(request: Request) -> LiveService:
    return await get_live(request.app)


Live = Annotated[LiveService, Depends(live_service)]


@router.get("/api/v1/live/ice-servers")
async def ice_servers(live: Live, user: OptionalUser,
                      x_office_code: Annotated[str | None, Header()] = None,
                      x_office_token: Annotated[str | None, Header()] = None) -> dict:
    """STUN/TURN servers for browsers (TURN credentials only to a logged-in user or a valid office token)."""
    if user is None:
        from attendance.assemblies.lifecycle import verify_office_token

        ok = await live.db.run(lambda s: verify_office_token(s, x_office_code or "", x_office_token or "") is not None)
        if not ok:
            raise ApelError("bad_token", "log in or send X-Office-Code and X-Office-Token", 401)
    servers = []
    s = live.settings
    for url in s.ice_servers:
        entry: dict = {"urls": url}
        if url.startswith(("turn:", "turns:")) and s.turn_username:
            entry.update(username=s.turn_username, credential=s.turn_password or "")
        servers.append(entry)
    return {"iceServers": servers}


@router.post("/api/v1/live/office/join")
async def office_join(body: OfficeJoinIn, live: Live) -> dict:
    """An office's camera joins the open apel its token belongs to. Joining again replaces the
    previous connection of that office and continues its attendance."""
    return await live.join_office(body.office.strip(), body.token.strip(), body.sdp, body.type)


@router.post("/api/v1/live/assemblies/{assembly_id}/leader")
async def leader_join(assembly_id: int, body: SdpIn, live: Live, user: LeaderUser) -> dict:
    """The leader's console: camera and microphone out to every office, the office mosaic back."""
    return await live.join_leader(assembly_id, body.sdp, body.type)


@router.post("/api/v1/live/assemblies/{assembly_id}/observe")
async def observer_join(assembly_id: int, body: SdpIn, live: Live, user: ConsoleUser) -> dict:
    """Read-only console: the office mosaic and the leader's voice, nothing sent."""
    return await live.join_observer(assembly_id, body.sdp, body.type)


async def _live_rollcall(live: LiveService, assembly_id: int) -> dict:
    """The live console's code for an unknown apel is `no_such_apel`, as when joining one."""
    try:
        return await live.rollcall(assembly_id)
    except NotFound as exc:
        raise NotFound("no_such_apel", exc.message) from exc


@router.get("/api/v1/live/assemblies/{assembly_id}/rollcall")
async def rollcall(assembly_id: int, live: Live, user: ConsoleUser) -> dict:
    return await _live_rollcall(live, assembly_id)


@router.get("/api/v1/live/assemblies/{assembly_id}/events")
async def events(assembly_id: int, request: Request, live: Live, user: ConsoleUser) -> StreamingResponse:
    """Server-Sent Events: `rollcall` (the full live roll-call, within ~1 s of new sightings),
    `media` (joins, leaves, feed status every 2 s) and `closed` (the apel ended)."""
    first = await _live_rollcall(live, assembly_id)
    queue = live.events.subscribe(assembly_id)

    async def stream():
        try:
            yield _sse("rollcall", first)
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                yield _sse(event["event"], event["data"])
        finally:
            live.events.unsubscribe(assembly_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


# -- pages
add_nav("live.nav", "/live", roles=("admin", "leader", "hr", "observer"), order=30)


@router.get("/live/join", response_class=HTMLResponse, include_in_schema=False)
async def office_page(request: Request, user: OptionalUser) -> HTMLResponse:
    """The office operator's page. The token is read from the URL fragment (#token=...) or typed in,
    so it never reaches server logs."""
    return render(request, "live/office.html", {"office": request.query_params.get("office", "")}, user=user)


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
async def live_index(request: Request, user: OptionalUser) -> HTMLResponse:
    user = require_page_user(request, user, *(r.value for r in CONSOLE_ROLES))
    from attendance.models import Assembly
    from sqlalchemy import select

    def load(session):
        rows = session.execute(select(Assembly).where(Assembly.status == "open").order_by(Assembly.id.desc())).scalars()
        return [{"id": a.id, "title": a.title, "kind": a.kind} for a in rows]
    def run():
        with request.app.state.session_factory() as session:
            return load(session)
    assemblies = await asyncio.to_thread(run)   # never block the loop that carries the media
    return render(request, "live/index.html", {"assemblies": assemblies}, user=user)


@router.get("/live/assemblies/{assembly_id}", response_class=HTMLResponse, include_in_schema=False)
async def console_page(assembly_id: int, request: Request, user: OptionalUser) -> HTMLResponse:
    user = require_page_user(request, user, *(r.value for r in CONSOLE_ROLES))
    can_lead = user.role in (Role.admin.value, Role.leader.value)
    want_observe = request.query_params.get("observe") == "1"
    return render(request, "live/console.html",
                  {"assembly_id": assembly_id, "mode": "leader" if can_lead and not want_observe else "observer"},
                  user=user)
