"""Live apel over WebRTC: signaling (offer in, answer out), ICE configuration, the live roll-call and its
event stream (Server-Sent Events). The pages that use them are app.web.pages.live.

Who may do what: an office joins with its per-apel token (no login: the camera operator may be a
device); the leader's console (camera out) is for leaders and admins; HR and observers get the
read-only console (observers' roll-call without the people: figures only), which with APEL_MEDIA=janus
receives the leader on a subscription of its own (`.../leader-feed`). Starting and ending an apel
are the assemblies API's (leader/admin only)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from app.live import leader_watch, office_watch
from app.live.service import LiveService, get_live
from app.web.deps import (
    ConsoleUser,
    DbId,
    LeaderUser,
    OptionalUser,
    ensure_sees_people,
    require_roles,
    sees_people,
    without_people,
)
from app.web.schemas.console_leader import ConsoleLeaderClosedOut, ConsoleLeaderOfferOut, ConsoleLeaderStartedOut
from app.web.schemas.live import (
    IceServersOut,
    JoinOut,
    LeaderFeedOfferOut,
    LeaderFeedStartedOut,
    LiveRollcallOut,
    OfficeCameraOut,
    OfficeJoinOut,
)
from app.web.schemas.office_video import OfficeVideoClosedOut, OfficeVideoOfferOut, OfficeVideoStartedOut
from attendance.errors import ApelError, NotFound
from attendance.models import User
from media.signaling import MAX_SDP_BYTES

router = APIRouter(tags=["live"])


class SdpIn(BaseModel):
    sdp: str = Field(..., max_length=MAX_SDP_BYTES)
    type: str = Field("offer", max_length=16)


class OfficeJoinIn(SdpIn):
    office: str = Field(..., min_length=1, max_length=32, description="Office code.")
    token: str = Field(..., min_length=1, max_length=256, description="The office's token for this apel.")


async def live_service(request: Request) -> LiveService:
    return await get_live(request.app)


Live = Annotated[LiveService, Depends(live_service)]


@router.get("/api/v1/live/ice-servers", response_model=IceServersOut, response_model_exclude_unset=True)
async def ice_servers(live: Live, user: OptionalUser,
                      x_office_code: Annotated[str | None, Header()] = None,
                      x_office_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """STUN/TURN servers for browsers (TURN credentials only to a logged-in user or a valid office token)."""
    if user is None:
        from attendance.assemblies.lifecycle import verify_office_token

        ok = await live.db.run(lambda s: verify_office_token(s, x_office_code or "", x_office_token or "") is not None)
        if not ok:
            raise ApelError("bad_token", "log in or send X-Office-Code and X-Office-Token", 401)
    servers = []
    s = live.settings
    for url in s.ice_servers:
        entry: dict[str, str] = {"urls": url}
        if url.startswith(("turn:", "turns:")) and s.turn_username:
            entry.update(username=s.turn_username, credential=s.turn_password or "")
        servers.append(entry)
    return {"iceServers": servers}


@router.post("/api/v1/live/office/join", response_model=OfficeJoinOut)
async def office_join(body: OfficeJoinIn, live: Live) -> dict[str, Any]:
    """An office's camera joins the open apel its token belongs to. Joining again replaces the
    previous connection of that office and continues its attendance."""
    return await live.join_office(body.office.strip(), body.token.strip(), body.sdp, body.type)


class OfficeIn(BaseModel):
    office: str = Field(..., min_length=1, max_length=32, description="Office code.")
    token: str = Field(..., min_length=1, max_length=256, description="The office's token for this apel.")


class LeaderFeedAnswerIn(OfficeIn):
    subscription: str = Field(..., min_length=1, max_length=64)
    sdp: str = Field(..., max_length=MAX_SDP_BYTES)
    type: str = Field("answer", max_length=16)


@router.post("/api/v1/live/office/leader-feed", response_model=LeaderFeedOfferOut)
async def office_leader_feed(body: OfficeIn, live: Live) -> dict[str, Any]:
    """APEL_MEDIA=janus: the leader's audio and video for an office, as an SDP offer (Janus's, through
    Apel: the token is checked first, and nothing of Janus but the SDP is handed out). 409
    `leader_not_live` until the leader sends."""
    return await live.subscribe_leader(body.office.strip(), body.token.strip())


@router.post("/api/v1/live/office/leader-feed/answer", response_model=LeaderFeedStartedOut)
async def office_leader_feed_answer(body: LeaderFeedAnswerIn, live: Live) -> dict[str, Any]:
    """The office's SDP answer to the leader feed's offer: the feed starts."""
    return await live.answer_leader_feed(body.office.strip(), body.token.strip(), body.subscription, body.sdp,
                                         body.type)


def _office_stream(session: Any, code: str, token: str) -> tuple[int, str] | None:
    """The apel and the office code a valid office token is for, or None."""
    from attendance.assemblies.lifecycle import verify_office_token
    from attendance.models import Office

    ao = verify_office_token(session, code, token)
    office = session.get(Office, ao.office_id) if ao is not None else None
    return None if ao is None or office is None else (ao.assembly_id, office.code)


@router.get("/api/v1/live/office/camera-check", response_model=OfficeCameraOut)
async def office_camera_check(live: Live, x_office_code: Annotated[str | None, Header()] = None,
                              x_office_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """The office's camera check (can its camera name its people, and what to change), as its feed's
    last seconds give it; the office's own page and `apel camera` ask for it with the office's code
    and token, the consoles get every office's in the media status."""
    found = await live.db.run(_office_stream, (x_office_code or "").strip(), (x_office_token or "").strip())
    if found is None:
        raise ApelError("bad_token", "send the office's code and token for an open apel as X-Office-Code and "
                        "X-Office-Token", 401)
    assembly_id, code = found
    info = live.streams.get(f"{assembly_id}/{code}")
    return {"office": code, "assembly_id": assembly_id, "joined": info is not None,
            "camera": info.camera if info is not None else None}


@router.post("/api/v1/live/assemblies/{assembly_id}/leader", response_model=JoinOut)
async def leader_join(assembly_id: DbId, body: SdpIn, live: Live, user: LeaderUser) -> dict[str, Any]:
    """The leader's console: camera and microphone out to every office, the office mosaic back."""
    return await live.join_leader(assembly_id, body.sdp, body.type)


@router.post("/api/v1/live/assemblies/{assembly_id}/observe", response_model=JoinOut)
async def observer_join(assembly_id: DbId, body: SdpIn, live: Live, user: ConsoleUser) -> dict[str, Any]:
    """Read-only console: the office mosaic and the leader's voice, nothing sent."""
    return await live.join_observer(assembly_id, body.sdp, body.type)


OfficeCode = Annotated[str, Path(min_length=1, max_length=32, description="Office code.")]
# The office's video for every console role; its overlay stream names people: not observers (sees_people).
VideoUser = Annotated[User, Depends(require_roles(*office_watch.VIDEO_ROLES))]
OVERLAY_POLL_S = 0.2    # how often an office's overlay stream looks for vision's newer findings


class OfficeVideoIn(BaseModel):
    console: str = Field("", max_length=32, pattern=r"^[A-Za-z0-9_-]*$",
                         description="The console page's own id: two of the leader's pages each keep their own "
                         "subscription to the same office instead of taking it from each other.")


class OfficeVideoAnswerIn(OfficeVideoIn):
    subscription: str = Field(..., min_length=1, max_length=64)
    sdp: str = Field(..., max_length=MAX_SDP_BYTES)
    type: str = Field("answer", max_length=16)


class OfficeVideoCloseIn(OfficeVideoIn):
    subscription: str = Field(..., min_length=1, max_length=64)


def _viewer(user: Any, body: OfficeVideoIn) -> str:
    """Whose subscription it is: only the same user's same console page may answer or close it."""
    return f"user-{user.id}/{body.console}"


@router.post("/api/v1/live/assemblies/{assembly_id}/offices/{office}/video", response_model=OfficeVideoOfferOut)
async def office_video(assembly_id: DbId, office: OfficeCode, body: OfficeVideoIn, live: Live,
                       user: VideoUser) -> dict[str, Any]:
    """APEL_MEDIA=janus: the office's video for the leader's console that opens it large, as Janus's SDP
    offer (through Apel: leaders, admins and observers, nothing of Janus but the SDP; the overlay stream that
    names people is for leaders and admins only). 409
    `office_not_publishing` while the office sends no video, 503 `janus_unreachable`; 404
    `janus_mode_only` in the embedded mode (the mosaic carries every office)."""
    return await office_watch.watch_office(live, assembly_id, office.strip(), _viewer(user, body))


@router.post("/api/v1/live/assemblies/{assembly_id}/offices/{office}/video/answer",
             response_model=OfficeVideoStartedOut)
async def office_video_answer(assembly_id: DbId, office: OfficeCode, body: OfficeVideoAnswerIn, live: Live,
                              user: VideoUser) -> dict[str, Any]:
    """The console's SDP answer to the office video's offer: the video starts."""
    return await office_watch.answer_watch(live, assembly_id, office.strip(), _viewer(user, body), body.subscription,
                                           body.sdp, body.type)


@router.post("/api/v1/live/assemblies/{assembly_id}/offices/{office}/video/close",
             response_model=OfficeVideoClosedOut)
async def office_video_close(assembly_id: DbId, office: OfficeCode, body: OfficeVideoCloseIn, live: Live,
                             user: VideoUser) -> dict[str, Any]:
    """The large view closed: Janus stops sending the office's video (closing the connection does too)."""
    await office_watch.stop_watch(live, assembly_id, _viewer(user, body), body.subscription)
    return {"assembly_id": assembly_id, "office": office.strip(), "subscription": body.subscription}


@router.post("/api/v1/live/assemblies/{assembly_id}/leader-feed", response_model=ConsoleLeaderOfferOut)
async def console_leader_feed(assembly_id: DbId, body: OfficeVideoIn, live: Live, user: VideoUser) -> dict[str, Any]:
    """APEL_MEDIA=janus: the leader's audio and video for the read-only console, as Janus's SDP offer
    (through Apel: the console roles, nothing of Janus but the SDP), what `.../observe` carries with the
    mosaic in the embedded mode. 409 `leader_not_live` until the leader sends (ask again), 404
    `no_such_apel`, 409 `apel_not_open`, 429 `too_many_watchers`, 503 `janus_unreachable`; 404
    `janus_mode_only` in the embedded mode. A console page's new one replaces its old one."""
    return await leader_watch.watch_leader(live, assembly_id, _viewer(user, body))


@router.post("/api/v1/live/assemblies/{assembly_id}/leader-feed/answer", response_model=ConsoleLeaderStartedOut)
async def console_leader_feed_answer(assembly_id: DbId, body: OfficeVideoAnswerIn, live: Live,
                                     user: VideoUser) -> dict[str, Any]:
    """The console's SDP answer to the leader feed's offer: the leader's audio and video start."""
    return await leader_watch.answer_watch(live, assembly_id, _viewer(user, body), body.subscription, body.sdp,
                                           body.type)


@router.post("/api/v1/live/assemblies/{assembly_id}/leader-feed/close", response_model=ConsoleLeaderClosedOut)
async def console_leader_feed_close(assembly_id: DbId, body: OfficeVideoCloseIn, live: Live,
                                    user: VideoUser) -> dict[str, Any]:
    """The console leaves: Janus stops sending it the leader (closing the connection does too)."""
    await leader_watch.stop_watch(live, assembly_id, _viewer(user, body), body.subscription)
    return {"assembly_id": assembly_id, "subscription": body.subscription}


@router.get("/api/v1/live/assemblies/{assembly_id}/offices/{office}/overlay", response_class=StreamingResponse,
            responses={200: {"description": "Server-Sent Events: `overlay`, data OfficeOverlayOut as JSON",
                             "content": {"text/event-stream": {"schema": {
                                 "type": "object", "required": ["event", "data"],
                                 "properties": {"event": {"enum": ["overlay"]},
                                                "data": {"type": "string", "description": "JSON"}}}}}}})
async def office_overlay(assembly_id: DbId, office: OfficeCode, request: Request, live: Live,
                         user: VideoUser) -> StreamingResponse:
    """APEL_MEDIA=janus: what vision finds in the office's feed (names, masks, distancing boxes and
    lines, the caption) for the console to draw over the office's video, as the embedded mosaic draws
    it: the current one at once, then each newer one; with vision on other nodes, what the node
    analysing the office wrote (none once it is stale). Leaders, admins and HR (it names people: 403
    `observer_no_people` to observers)."""
    ensure_sees_people(user)
    await office_watch.check_overlay(live, assembly_id)
    code = office.strip()

    async def stream() -> AsyncIterator[str]:
        last: object = False
        idle = 0.0
        while True:
            current, data = await office_watch.overlay_now(live, assembly_id, code)
            if current is not last and current != last:
                last, idle = current, 0.0
                yield _sse("overlay", {"office": code, **data})
            elif idle >= 15.0:
                idle = 0.0
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(OVERLAY_POLL_S)
            idle += OVERLAY_POLL_S

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/api/v1/live/assemblies/{assembly_id}/offices/{office}/preview", response_class=Response,
            responses={200: {"description": "A small JPEG of the office's latest frame.",
                             "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}})
async def office_preview(assembly_id: DbId, office: OfficeCode, live: Live, user: VideoUser) -> Response:
    """APEL_MEDIA=janus: a still of the office's video for its tile (renewed at most every 2 s; with
    vision on other nodes, the node analysing the office makes it), leaders, admins and observers. 409
    `office_not_publishing` while the office sends nothing (or the node's still is stale)."""
    jpeg = await office_watch.office_preview(live, assembly_id, office.strip())
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def _live_rollcall(live: LiveService, assembly_id: int) -> dict[str, Any]:
    """The live console's code for an unknown apel is `no_such_apel`, as when joining one."""
    try:
        return await live.rollcall(assembly_id)
    except NotFound as exc:
        raise NotFound("no_such_apel", exc.message) from exc


# Unset fields stay out, as in the assemblies API's roll-call: a person not seen yet has no record fields.
@router.get("/api/v1/live/assemblies/{assembly_id}/rollcall", response_model=LiveRollcallOut,
            response_model_exclude_unset=True)
async def rollcall(assembly_id: DbId, live: Live, user: ConsoleUser) -> dict[str, Any]:
    """The live roll-call and each office's feed, as the event stream's `rollcall` event carries it
    (for observers without the people: figures only)."""
    view = await _live_rollcall(live, assembly_id)
    return view if sees_people(user) else without_people(view)


@router.get("/api/v1/live/assemblies/{assembly_id}/events", response_class=StreamingResponse,
            responses={200: {"description": "Server-Sent Events",
                             "content": {"text/event-stream": {"schema": {
                                 "type": "object", "required": ["event", "data"],
                                 "properties": {"event": {"enum": ["rollcall", "media", "closed"]},
                                                "data": {"type": "string", "description": "JSON"}}}}}}})
async def events(assembly_id: DbId, request: Request, live: Live, user: ConsoleUser) -> StreamingResponse:
    """Server-Sent Events: `rollcall` (the full live roll-call, within ~1 s of new sightings),
    `media` (joins, leaves, feed status every 2 s) and `closed` (the apel ended)."""
    first = await _live_rollcall(live, assembly_id)
    queue = live.events.subscribe(assembly_id)
    people = sees_people(user)

    async def stream() -> AsyncIterator[str]:
        try:
            yield _sse("rollcall", first if people else without_people(first))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                data = event["data"]
                if event["event"] == "rollcall" and not people:
                    data = without_people(data)
                yield _sse(event["event"], data)
        finally:
            live.events.unsubscribe(assembly_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
