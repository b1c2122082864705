"""Checks on what a peer sends before aiortc sees it, so a bad offer gets a clear reason (an `ApelError`,
a 400 from the HTTP layer) instead of a stack trace, and a valid one is known to carry what its role needs."""
from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCSessionDescription
from aiortc.sdp import SessionDescription

from attendance.errors import ApelError

MAX_SDP_BYTES = 64 * 1024


@dataclass(frozen=True)
class OfferSummary:
    sends_video: bool
    sends_audio: bool
    receives_video: bool
    receives_audio: bool


def parse_offer(sdp: object, type_: object = "offer") -> tuple[RTCSessionDescription, OfferSummary]:
    if type_ != "offer":
        raise ApelError("not_an_offer", f"expected an SDP of type 'offer', got {type_!r}")
    if not isinstance(sdp, str) or not sdp.strip():
        raise ApelError("empty_sdp", "the SDP offer is empty")
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise ApelError("sdp_too_large", f"the SDP offer is larger than {MAX_SDP_BYTES} bytes")
    if not sdp.lstrip().startswith("v=0"):
        raise ApelError("malformed_sdp", "the SDP offer must start with 'v=0'")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises assorted errors on garbage
        raise ApelError("malformed_sdp", f"the SDP offer could not be parsed: {exc}") from exc
    media = [m for m in parsed.media if m.kind in ("audio", "video")]
    if not media:
        raise ApelError("no_media", "the SDP offer has no audio or video section")
    for m in media:
        if m.ice is None or not (m.ice.usernameFragment and m.ice.password):
            raise ApelError("no_ice_credentials", f"the {m.kind} section has no ICE ufrag/pwd")
        if m.dtls is None or not m.dtls.fingerprints:
            raise ApelError("no_dtls_fingerprint", f"the {m.kind} section has no DTLS fingerprint")
    summary = OfferSummary(
        sends_video=any(m.kind == "video" and m.direction in ("sendrecv", "sendonly") for m in media),
        sends_audio=any(m.kind == "audio" and m.direction in ("sendrecv", "sendonly") for m in media),
        receives_video=any(m.kind == "video" and m.direction in ("sendrecv", "recvonly") for m in media),
        receives_audio=any(m.kind == "audio" and m.direction in ("sendrecv", "recvonly") for m in media),
    )
    return RTCSessionDescription(sdp=sdp, type="offer"), summary


def require(summary: OfferSummary, *, sends_video: bool = False, receives_video: bool = False) -> None:
    if sends_video and not summary.sends_video:
        raise ApelError("no_camera", "this role must send a camera video track (sendonly or sendrecv)")
    if receives_video and not summary.receives_video:
        raise ApelError("no_receive_video", "this role must be able to receive video (recvonly or sendrecv)")
