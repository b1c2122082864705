"""The office side of a join, shared by `apel camera`, the tests and the benchmarks: one offer with the
camera going up and (optionally) the leader's audio and video coming down, one answer back."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

if TYPE_CHECKING:
    import av

Signal = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]   # {"sdp", "type"} offer in -> answer out


async def connect_peer(signal: Signal, *, send_video: MediaStreamTrack | None = None,
                       send_audio: MediaStreamTrack | None = None, receive_video: bool = True,
                       receive_audio: bool = False, ice_servers: list[RTCIceServer] | None = None,
                       on_track: Callable[[MediaStreamTrack], None] | None = None,
                       ) -> tuple[RTCPeerConnection, dict[str, Any]]:
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


class RestampedTrack(MediaStreamTrack):
    """Re-times a source's frames on one monotonic clock. A looping file restarts its timestamps and
    RTSP cameras jump theirs; a VP8 encoder refuses a frame whose pts goes backwards, which would kill
    the sender. (aiortc's MediaPlayer(loop=True) does exactly that at every loop.)"""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._t0: float | None = None
        self._last = -1

    async def recv(self) -> av.frame.Frame | av.Packet[Any]:
        import fractions
        import time

        frame = await self._source.recv()
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        if self.kind == "video":
            pts = int((now - self._t0) * 90000)
            if pts <= self._last:
                pts = self._last + 1
            self._last = pts
            frame.pts, frame.time_base = pts, fractions.Fraction(1, 90000)
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def encode_clip_vp8(path: str, *, size: tuple[int, int] | None = None, fps: int = 15, bitrate: int = 2_500_000,
                    gop: int = 30, max_seconds: float | None = None) -> list[bytes]:
    """A clip as VP8 frames, encoded once (keyframe every `gop` frames so a receiver can start anywhere).
    Lets tests and benchmarks replay one office clip from many peers without encoding it per peer."""
    import fractions

    import av

    codec = None
    out: list[bytes] = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or fps)
        step = max(1, round(rate / fps))
        for i, frame in enumerate(container.decode(stream)):
            if i % step:
                continue
            if max_seconds is not None and len(out) >= max_seconds * fps:
                break
            w, h = size or (frame.width, frame.height)
            if codec is None:
                codec = av.CodecContext.create("libvpx", "w")
                codec.width, codec.height, codec.pix_fmt = w, h, "yuv420p"
                codec.bit_rate, codec.gop_size = bitrate, gop
                codec.time_base = fractions.Fraction(1, fps)
                codec.options = {"deadline": "good", "cpu-used": "4", "lag-in-frames": "0"}
            f = frame.reformat(width=w, height=h, format="yuv420p")
            f.pts = len(out)
            f.pict_type = av.video.frame.PictureType.I if len(out) % gop == 0 else av.video.frame.PictureType.NONE
            for packet in codec.encode(f):
                out.append(bytes(packet))
    if codec is not None:
        for packet in codec.encode(None):
            out.append(bytes(packet))
    return out


class PreEncodedTrack(MediaStreamTrack):
    """Plays VP8 frames from `encode_clip_vp8` in a loop at `fps`, as `av.Packet`s (aiortc sends them
    without encoding)."""

    kind = "video"

    def __init__(self, packets: list[bytes], fps: int = 15) -> None:
        super().__init__()
        if not packets:
            raise ValueError("no packets")
        self._packets = packets
        self._fps = fps
        self._n = 0
        self._t0: float | None = None
        self.sent = 0

    async def recv(self) -> av.Packet[Any]:
        import asyncio
        import fractions
        import time

        import av
        from aiortc.mediastreams import MediaStreamError

        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        delay = self._t0 + self._n / self._fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        packet = av.Packet(self._packets[self._n % len(self._packets)])
        packet.pts, packet.time_base = self._n * (90000 // self._fps), fractions.Fraction(1, 90000)
        self._n += 1
        self.sent += 1
        return packet
