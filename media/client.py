"""The office side of a join, shared by `apel camera`, the tests and the benchmarks: one offer with the
camera going up and (optionally) the leader's audio and video coming down, one answer back."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

Signal = Callable[[dict], Awaitable[dict]]   # {"sdp", "type"} offer in -> {"sdp", "type"} answer out


async def connect_peer(signal: Signal, *, send_video: MediaStreamTrack | None = None,
                       send_audio: MediaStreamTrack | None = None, receive_video: bool = True,
                       receive_audio: bool = False, ice_servers: list[RTCIceServer] | None = None,
                       on_track: Callable[[MediaStreamTrack], None] | None = None) -> tuple[RTCPeerConnection, dict]:
    """Returns the connected-to-be peer connection and the server's full JSON reply."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or []))
    if on_track is not None:
        pc.on("track", on_track)
    if send_video is not None:
        pc.addTransceiver(send_video, direction="sendrecv" if receive_video else "sendonly")
    elif receive_video:
        pc.addTransceiver("video", direction="recvonly")
    if send_audio is not None:
        pc.addTransceiver(send_audio, direction="sendrecv" if receive_audio else "sendonly")
    elif receive_audio:
        pc.addTransceiver("audio", direction="recvonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        reply = await signal({"sdp": pc.localDescription.sdp, "type": pc.localDescription.type})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
    except BaseException:
        await pc.close()
        raise
    return pc, reply
