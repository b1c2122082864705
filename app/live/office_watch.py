"""APEL_MEDIA=janus: the leader's console opens one office large and sees its video with its overlays.

In the embedded mode the server draws every office, with its overlays, into one mosaic the console
receives; with Janus the offices' video never passes through Apel's media path, so the console
subscribes to the office it opens (Janus's SDP offer, handed out by Apel after its own checks; the
browser never reaches Janus's API) and draws the overlays itself, on a canvas, from what vision last
found in that office (the same `Overlay` the embedded mosaic draws, `overlay_json`).

The tiles show a still of each office every few seconds (`office_preview`): a small JPEG of the last
frame the web node decoded from the office's RTP forward for vision, made at most once per office per
`PREVIEW_EVERY_S` however many consoles ask, instead of a video subscription per tile.

With vision on other nodes (APEL_JANUS_ANALYSE=false) the web node decodes no office video: the node
holding an office's lease writes the office's overlay and still into the database (app.live.node_views,
table office_views), and for an office this process has neither of, both come from there, as long as
the node refreshed them within NODE_STALE_S (a dead node's, or a stopped camera's, are not shown as
live). The database is read at most every NODE_OVERLAY_READ_S per office for the overlay streams and
every NODE_STILL_READ_S for the stills, however many consoles ask.

Who may: the office's video (and its tile's still) goes to leaders, admins and observers: an observer
watching the embedded mode's console receives the mosaic of every office's video too (docs/roster.md),
so the read-only console in this mode gets the same picture. The overlays name people, which observers
may not see: their stream stays with leaders and admins, and an observer's large view shows the video
without boxes or names."""
from __future__ import annotations

import asyncio
import functools
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import extract, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from attendance.errors import ApelError
from attendance.models import Assembly, AssemblyStatus, Office, OfficeView, Role
from attendance.models.users import LEADER_ROLES
from media.interfaces import AV_FRAME_LOCK, Overlay
from media.janus.rooms import JanusMedia

if TYPE_CHECKING:
    import av

    from app.live.service import LiveService

VIDEO_ROLES = (*LEADER_ROLES, Role.hr.value, Role.observer.value)   # whoever watches the console (the embedded
# mosaic shows them every office); the overlay names people: not observers
PREVIEW_WIDTH = 320      # a tile's still: small enough for 41 at once
PREVIEW_EVERY_S = 2.0    # at most one new still per office this often, shared by every console
PREVIEW_QUALITY = 70
NODE_STALE_S = 6.0          # a node's overlay or still older than this is not live (node dead, camera stopped)
NODE_OVERLAY_READ_S = 0.2   # an office's overlay is read from the database at most this often
NODE_STILL_READ_S = 1.0     # ... its still at most this often
NODE_READS_KEPT = 512       # the cache of those reads forgets its oldest half beyond this


@dataclass
class _Still:
    frame: object       # the decoded frame it was made from
    jpeg: bytes
    made_at: float


_stills: weakref.WeakKeyDictionary[JanusMedia, dict[str, _Still]] = weakref.WeakKeyDictionary()


def _janus(live: LiveService) -> JanusMedia:
    if not isinstance(live.media, JanusMedia):
        raise ApelError("janus_mode_only", "the office video comes in the console's mosaic unless APEL_MEDIA=janus",
                        404)
    return live.media


async def watch_office(live: LiveService, assembly_id: int, office_code: str, viewer: str) -> dict[str, Any]:
    """Janus's SDP offer of the office's video for this viewer's console; it answers with `answer_watch`."""
    media = _janus(live)
    await live._open_assembly(assembly_id)   # no such apel: 404; ended or not started: 409
    offer, peer = await media.watch_office(str(assembly_id), office_code, viewer)
    return {"sdp": offer["sdp"], "type": "offer", "assembly_id": assembly_id, "office": office_code,
            "subscription": peer.id}


async def answer_watch(live: LiveService, assembly_id: int, office_code: str, viewer: str, subscription: str,
                       sdp: object, type_: object) -> dict[str, Any]:
    media = _janus(live)
    peer = media._watcher(str(assembly_id), viewer, subscription)
    if peer.office_key != office_code:
        raise ApelError("no_such_subscription", "no such office video subscription (ask for a new one)", 404)
    await media.start_watch(str(assembly_id), viewer, subscription, sdp, type_)
    return {"assembly_id": assembly_id, "office": office_code, "subscription": subscription}


async def stop_watch(live: LiveService, assembly_id: int, viewer: str, subscription: str) -> None:
    await _janus(live).stop_watch(str(assembly_id), viewer, subscription)


def _css(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


def overlay_json(overlay: Overlay | None) -> dict[str, Any]:
    """The overlay the embedded mosaic draws (media.mosaic.draw_overlay), for a browser's canvas: boxes
    and lines in the office frame's pixels (`frame_size`), colours as CSS."""
    if overlay is None:
        return {"frame_size": None, "boxes": [], "lines": [], "caption": ""}
    return {"frame_size": list(overlay.frame_size) if overlay.frame_size else None,
            "boxes": [{"box": list(b.box), "label": b.label, "color": _css(b.color_bgr)} for b in overlay.boxes],
            "lines": [{"from": list(a), "to": list(c), "color": _css(col)} for a, c, col in overlay.lines],
            "caption": overlay.caption}


async def check_overlay(live: LiveService, assembly_id: int) -> None:
    """Before an overlay stream starts: Janus mode (404 `janus_mode_only`), an open apel (404, 409)."""
    _janus(live)
    await live._open_assembly(assembly_id)


def office_overlay(live: LiveService, assembly_id: int, office_code: str) -> Overlay | None:
    """What vision last found in the office's feed in this process (None: nothing yet, or the office left)."""
    return live.overlays.overlay_for(f"{assembly_id}/{office_code}")


async def overlay_now(live: LiveService, assembly_id: int, office_code: str) -> tuple[object, dict[str, Any]]:
    """The office's current overlay for the console's canvas (overlay_json), and what tells it from
    the previous one: this process's own when it analyses the office, else the node's from the
    database (office_views), else none."""
    own = office_overlay(live, assembly_id, office_code)
    if own is not None:
        return own, overlay_json(own)
    node = await _node_view(live, assembly_id, office_code, "overlay")
    if node is None:
        return None, overlay_json(None)
    data = dict(node[1])
    return ("node", data), data   # a rewrite of the same overlay (vision confirming it) is not sent again


def preview_height(width: int, height: int) -> int:
    """A tile's still keeps the frame's shape at PREVIEW_WIDTH wide, with an even height for the encoders."""
    return max(2, round(height * PREVIEW_WIDTH / max(width, 1)) // 2 * 2)


def encode_preview(small: np.ndarray) -> bytes | None:
    """The tile's JPEG of a BGR image already at preview size; None when OpenCV cannot encode it."""
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
    return bytes(data.tobytes()) if ok else None


def _jpeg(frame: av.VideoFrame) -> bytes:
    height = preview_height(frame.width, frame.height)
    with AV_FRAME_LOCK:   # vision may be converting the same frame at this moment
        small = np.asarray(frame.reformat(width=PREVIEW_WIDTH, height=height, format="bgr24").to_ndarray(),
                           dtype=np.uint8)
    data = encode_preview(small)
    if data is None:
        raise ApelError("preview_failed", "the office's still could not be encoded", 500)
    return data


async def office_preview(live: LiveService, assembly_id: int, office_code: str) -> bytes:
    """A small JPEG of the office's latest frame, for its tile: of the frames this process decodes, or
    else the still the node analysing the office wrote (office_views). 409 `office_not_publishing` when
    neither is there (not sending, or the node's still is stale)."""
    media = _janus(live)
    room = media.rooms.get(str(assembly_id))
    peer = room.offices.get(office_code) if room is not None else None
    frame = peer.tap.latest if peer is not None and peer.tap is not None else None
    if frame is None:
        node = await _node_view(live, assembly_id, office_code, "still")
        if node is None:
            raise ApelError("office_not_publishing", f"office {office_code} is not sending video to this apel",
                            409)
        return bytes(node[1])
    stills = _stills.setdefault(media, {})
    key = f"{assembly_id}/{office_code}"
    still = stills.get(key)
    now = time.monotonic()
    if still is None or (still.frame is not frame and now - still.made_at >= PREVIEW_EVERY_S):
        still = stills[key] = _Still(frame, await asyncio.to_thread(_jpeg, frame), now)
    return still.jpeg


# -- what the vision nodes wrote (app.live.node_views): read through a small shared cache per office

@dataclass
class _Read:
    found: tuple[float, Any] | None   # (its time, as the database's epoch seconds; the overlay or the JPEG)
    age_s: float                      # its age when read (the database's clock)
    read_at: float                    # monotonic


_node_reads: weakref.WeakKeyDictionary[JanusMedia, dict[tuple[str, int, str], _Read]] = weakref.WeakKeyDictionary()


def _on_postgres(live: LiveService) -> bool:
    """Vision nodes run on PostgreSQL only: on SQLite there is nothing to read."""
    return _is_postgres_url(live.settings.db_url)


@functools.lru_cache(maxsize=8)
def _is_postgres_url(db_url: str) -> bool:
    """Read on every tile and overlay poll: the URL is parsed once, not five times a second an office."""
    return make_url(db_url).get_backend_name() == "postgresql"


def read_node_view(session: Session, assembly_id: int, office_code: str, part: str) -> tuple[
        tuple[float, Any] | None, float]:
    """The node's overlay (`part` "overlay") or still ("still") of the office of an open apel: ((its
    time, the value), its age in seconds), or (None, 0) when there is none."""
    if part not in ("overlay", "still"):
        raise ValueError(f"no such part of an office's view: {part!r} (overlay or still)")
    value, at = (OfficeView.overlay, OfficeView.overlay_at) if part == "overlay" else (
        OfficeView.still_jpeg, OfficeView.still_at)
    row = session.execute(
        select(value, extract("epoch", at), extract("epoch", func.statement_timestamp() - at))
        .join(Office, Office.id == OfficeView.office_id).join(Assembly, Assembly.id == OfficeView.assembly_id)
        .where(OfficeView.assembly_id == assembly_id, Office.code == office_code,
               Assembly.status == AssemblyStatus.open.value, value.is_not(None), at.is_not(None))).first()
    if row is None:
        return None, 0.0
    return (float(row[1]), row[0]), float(row[2])


async def _node_view(live: LiveService, assembly_id: int, office_code: str, part: str) -> tuple[float, Any] | None:
    """The node's part of the office if it is live (refreshed within NODE_STALE_S), else None."""
    if not _on_postgres(live):
        return None
    reads = _node_reads.setdefault(_janus(live), {})
    key = (part, assembly_id, office_code)
    now = time.monotonic()
    cached = reads.get(key)
    every = NODE_OVERLAY_READ_S if part == "overlay" else NODE_STILL_READ_S
    if cached is None or now - cached.read_at >= every:
        found, age = await live.db.run(read_node_view, assembly_id, office_code, part)
        cached = reads[key] = _Read(found, age, time.monotonic())
        if len(reads) > NODE_READS_KEPT:   # offices of apels that ended: forget the oldest reads
            for old in sorted(reads, key=lambda k: reads[k].read_at)[: len(reads) // 2]:
                reads.pop(old, None)
    if cached.found is None or cached.age_s + (time.monotonic() - cached.read_at) > NODE_STALE_S:
        return None
    return cached.found
