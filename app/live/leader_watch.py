"""APEL_MEDIA=janus: the read-only console (observers, HR, and leaders or admins who open it) hears and
sees the leader.

In the embedded mode the read-only console's own connection (`/observe`) carries the mosaic and the
leader's audio, so an inspector or HR watching the apel hears the leader's address. With Janus there is
no mosaic to receive (`/observe` answers 501), and a VideoRoom publisher only sends: as an office does
(`LiveService.subscribe_leader`), the console takes a second connection, a subscription to the leader's
feed that Janus offers and Apel hands out (the SDP only, after Apel's own checks; the browser never
reaches Janus's API). One per console page (a new one replaces the old), counted with the room's office
videos against its watcher limit, released when the console closes it or hangs up, and with the apel."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attendance.errors import ApelError
from media.janus.rooms import JanusMedia, JanusPeer

if TYPE_CHECKING:
    from app.live.service import LiveService


def _janus(live: LiveService) -> JanusMedia:
    if not isinstance(live.media, JanusMedia):
        raise ApelError("janus_mode_only", "the leader comes on the read-only console's own connection (observe) "
                        "unless APEL_MEDIA=janus", 404)
    return live.media


def _own(media: JanusMedia, assembly_id: int, viewer: str, subscription: str) -> JanusPeer:
    """The viewer's subscription to the leader (not one of its office videos), or 404."""
    peer = media._watcher(str(assembly_id), viewer, subscription)
    if peer.office_key is not None:
        raise ApelError("no_such_subscription", "no such subscription to the leader (ask for a new one)", 404)
    return peer


async def watch_leader(live: LiveService, assembly_id: int, viewer: str) -> dict[str, Any]:
    """Janus's SDP offer of the leader's audio and video for this viewer's console (it answers with
    `answer_watch`). 404 `no_such_apel`, 409 `apel_not_open` before Janus hears of it; 409
    `leader_not_live` until the leader sends; 429 `too_many_watchers`; 503 when Janus is down."""
    media = _janus(live)
    await live._open_assembly(assembly_id)
    offer, peer = await media.watch_leader(str(assembly_id), viewer)
    return {"sdp": offer["sdp"], "type": "offer", "assembly_id": assembly_id, "subscription": peer.id}


async def answer_watch(live: LiveService, assembly_id: int, viewer: str, subscription: str, sdp: object,
                       type_: object) -> dict[str, Any]:
    """The console's SDP answer: the leader's feed starts (the leader is asked for a keyframe at once)."""
    media = _janus(live)
    _own(media, assembly_id, viewer, subscription)
    await media.start_watch(str(assembly_id), viewer, subscription, sdp, type_)
    return {"assembly_id": assembly_id, "subscription": subscription}


async def stop_watch(live: LiveService, assembly_id: int, viewer: str, subscription: str) -> None:
    """The console closed (or reloads): Janus stops sending it the leader (its hangup would too)."""
    media = _janus(live)
    await media.leave(_own(media, assembly_id, viewer, subscription))
