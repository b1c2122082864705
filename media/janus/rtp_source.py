"""One office's video as Janus forwards it (VideoRoom `rtp_forward`): plain RTP on a UDP port of this
machine, depacketised and decoded by libav (PyAV, from a small SDP file) in a thread of its own, and
handed out as decoded frames by an aiortc-style track, as `FileVideoTrack` and aiortc's remote tracks
are. So a `FrameTap` samples it into a `FrameSink` the same way (media/sampling.py), whether the
frames reached this process by WebRTC or by a forward from Janus.

Why a thread and PyAV: the per-packet work (RTP reordering, VP8 decoding) stays in C and off the
event loop; Python only sees whole frames. The reader keeps the newest few frames and drops older
ones (as the tap does), so a slow consumer never grows a queue.

A forward that goes quiet (the office left, Janus restarted) is not an error: the reader waits and
picks the stream up again when packets come back, and `seconds_since_frame` says how long it has
been, for the consoles' frozen-feed marks.

The first frame needs a keyframe, and Janus does not ask the office for one when a forward starts.
With `feedback=True` the track has an RTCP port of its own (`rtcp_port`, given to Janus with the
forward): Janus writes to it first, so the track learns the forward's RTCP address, and a PLI sent
there is passed on to the office's encoder. Until the first frame is decoded the track asks so
(`ask_keyframe`, and every KEYFRAME_ASK_S), so it needs no one who holds the office's publisher
handle, nor the room's periodic keyframe."""
from __future__ import annotations

import asyncio
import logging
import socket
import struct
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger("apel.media.janus.rtp")

OPEN_TIMEOUT_S = 5.0     # how long one attempt to open the stream waits for its first packets
READ_TIMEOUT_S = 1.0     # a read that waits longer gives up, so `close` is seen within about this
KEEP_FRAMES = 3          # decoded frames waiting for the consumer; older ones are dropped
KEYFRAME_ASK_S = 0.25    # with feedback: until the first frame, a keyframe is asked for this often ...
KEYFRAME_ASK_FOR_S = 10.0   # ... for this long at most (by then the room's periodic one has come)


def free_udp_port_pair(host: str = "0.0.0.0") -> int:
    """An even UDP port whose next port is free too (libav's RTP reader binds the pair: RTP, RTCP)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port % 2 or port >= 65535:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind((host, port))
                b.bind((host, port + 1))
            return port
        except OSError:
            continue
    raise OSError("no free pair of UDP ports for an RTP forward")


def vp8_sdp(port: int, *, pt: int = 96, address: str = "127.0.0.1") -> str:
    """The SDP that tells libav what arrives on `port`: VP8 at the payload type Janus is told to use."""
    return (f"v=0\r\no=- 0 0 IN IP4 {address}\r\ns=Apel office feed\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=video {port} RTP/AVP {pt}\r\na=rtpmap:{pt} VP8/90000\r\na=recvonly\r\n")


def pli_packet(sender_ssrc: int = 1, media_ssrc: int = 0) -> bytes:
    """An RTCP Picture Loss Indication (RFC 4585: payload-specific feedback, FMT 1): "send a keyframe"."""
    return struct.pack("!BBHII", 0x81, 206, 2, sender_ssrc, media_ssrc)


class RtpForwardTrack(MediaStreamTrack):
    """Decoded frames of the RTP stream arriving on `port`. `port`: the one to ask Janus to forward to
    (chosen free when not given). Call `start()` before asking Janus to forward (so the first packets,
    with the keyframe, find the port open), `close()` when done."""

    kind = "video"

    def __init__(self, port: int | None = None, *, pt: int = 96, address: str = "127.0.0.1",
                 feedback: bool = False) -> None:
        super().__init__()
        self.port = port if port is not None else free_udp_port_pair()
        self._rtcp: socket.socket | None = None
        self.rtcp_port: int | None = None        # with feedback: give it to Janus with the forward
        self._rtcp_peer: tuple[str, int] | None = None   # the forward's RTCP address, once Janus wrote
        self._asking: asyncio.Task[None] | None = None
        self.keyframes_asked = 0
        if feedback:
            self._rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._rtcp.bind(("0.0.0.0", 0))
            self._rtcp.setblocking(False)
            self.rtcp_port = int(self._rtcp.getsockname()[1])
        self.pt = pt
        self._dir = tempfile.TemporaryDirectory(prefix="apel-rtp-")
        self.sdp_path = Path(self._dir.name) / "forward.sdp"
        self.sdp_path.write_text(vp8_sdp(self.port, pt=pt, address=address))
        self._frames: deque[av.VideoFrame] = deque(maxlen=KEEP_FRAMES)
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.frames_decoded = 0
        self.frames_dropped = 0
        self.opened = threading.Event()       # the reader has the stream (its first packets arrived)
        self.last_frame_at: float | None = None   # monotonic
        self.error: str | None = None         # the latest reason the reader had to start over

    # -- the reader thread
    def start(self) -> None:
        """Opens the port and starts reading (idempotent). On the event loop that will call `recv`."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=f"rtp-forward-{self.port}", daemon=True)
        self._thread.start()
        if self._rtcp is not None:
            self._asking = asyncio.ensure_future(self._ask_keyframes())

    # -- keyframe requests (with feedback)
    def ask_keyframe(self) -> bool:
        """Sends a PLI to the forward, once Janus has written to this track's RTCP port; False before."""
        if self._rtcp is None:
            return False
        while True:   # whatever Janus sent (its latching packets, reports): where the forward's RTCP is
            try:
                _, self._rtcp_peer = self._rtcp.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:   # e.g. ICMP port unreachable from an earlier send: read on
                continue
        if self._rtcp_peer is None:
            return False
        try:
            self._rtcp.sendto(pli_packet(), self._rtcp_peer)
        except OSError as exc:
            log.debug("asking the forward on port %d for a keyframe: %s", self.port, exc)
            return False
        self.keyframes_asked += 1
        return True

    async def _ask_keyframes(self) -> None:
        deadline = time.monotonic() + KEYFRAME_ASK_FOR_S
        while self.frames_decoded == 0 and time.monotonic() < deadline and not self._stop.is_set():
            self.ask_keyframe()
            await asyncio.sleep(KEYFRAME_ASK_S)

    def _open(self) -> av.container.InputContainer:
        # fpsprobesize 0: libav's probe of the stream (in av.open) stops at the first decodable frame
        # instead of reading 20 more to estimate a frame rate nobody here uses (the tap samples by the
        # clock), which held every forward's first frame back by 20 frames' time.
        return av.open(str(self.sdp_path), format="sdp", timeout=(OPEN_TIMEOUT_S, READ_TIMEOUT_S),
                       options={"protocol_whitelist": "file,udp,rtp", "reorder_queue_size": "64",
                                "analyzeduration": "100000", "probesize": "500000", "fpsprobesize": "0"})

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                container = self._open()
            except (av.error.FFmpegError, OSError) as exc:
                if not self._stop.is_set():
                    self.error = f"no video on UDP port {self.port} yet ({exc.__class__.__name__})"
                continue
            try:
                self.opened.set()
                self._read(container)
            finally:
                container.close()

    def _read(self, container: av.container.InputContainer) -> None:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        while not self._stop.is_set():
            try:
                for packet in container.demux(stream):
                    if self._stop.is_set():
                        return
                    try:
                        frames = packet.decode()
                    except av.error.InvalidDataError:   # a frame broken by loss: wait for the next keyframe
                        continue
                    for frame in frames:
                        if isinstance(frame, av.VideoFrame):
                            self._deliver(frame)
                return   # the end of the stream (libav gave up on it): open it again
            except av.error.FFmpegError as exc:   # a read timed out (no packets for a while): read on
                if self._stop.is_set():
                    return
                self.error = f"{exc.__class__.__name__}: {exc}"
                if not isinstance(exc, av.error.ExitError):
                    return

    def _deliver(self, frame: av.VideoFrame) -> None:
        self.frames_decoded += 1
        self.last_frame_at = time.monotonic()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._put, frame)
        except RuntimeError:   # the loop closed meanwhile
            pass

    def _put(self, frame: av.VideoFrame) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.frames_dropped += 1
        self._frames.append(frame)
        self._wakeup.set()

    # -- the track
    async def recv(self) -> av.VideoFrame:
        self.start()
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._frames.popleft()

    def seconds_since_frame(self) -> float | None:
        return None if self.last_frame_at is None else time.monotonic() - self.last_frame_at

    def stop(self) -> None:
        """Ends the track at once (a waiting `recv` raises); the reader ends within READ_TIMEOUT_S."""
        super().stop()
        self._stop.set()
        self._wakeup.set()
        if self._asking is not None:
            self._asking.cancel()

    async def close(self) -> None:
        """Stops and waits for the reader thread to end, then removes the SDP file."""
        self.stop()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, OPEN_TIMEOUT_S + READ_TIMEOUT_S + 2)
            if self._thread.is_alive():
                log.error("the RTP reader on port %d did not stop", self.port)
        if self._rtcp is not None:
            self._rtcp.close()
        self._dir.cleanup()
