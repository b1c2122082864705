"""A small real RTSP server for tests: an IP camera on loopback, serving a video file.

Offices with IP cameras join with `apel camera ... rtsp://...`; to test that path with real parts
and no camera, this serves a clip the way such cameras do: RTSP (RFC 2326) with RTP interleaved
on the RTSP connection (what `apel camera` asks for, `rtsp_transport=tcp`), the picture as
H.264 over RTP (RFC 6184, packetization mode 1, parameter sets in-band at every keyframe, as most
IP cameras send it). FFmpeg's own encoder and RTP muxer (through PyAV) make the packets and send
them to a loopback UDP port; the server relays each datagram to the client as one interleaved
packet. Looping, paced at the clip's rate; one client at a time is enough."""
from __future__ import annotations

import fractions
import socket
import threading
import time
from pathlib import Path

import av

SDP = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=Apel test camera\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
       "a=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\n"
       "a=control:track0\r\n")


def _udp_pair() -> tuple[socket.socket, socket.socket]:
    """Two bound UDP sockets on ports p, p+1 (FFmpeg's RTP muxer sends RTCP to p+1)."""
    for _ in range(50):
        rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)   # a whole frame arrives as one burst
        rtp.bind(("127.0.0.1", 0))
        port = rtp.getsockname()[1]
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtcp.bind(("127.0.0.1", port + 1))
            return rtp, rtcp
        except OSError:
            rtp.close()
            rtcp.close()
    raise RuntimeError("no free UDP port pair on loopback")


class RtspCamera:
    def __init__(self, clip: Path, fps: float = 10.0, path: str = "/office"):
        self.clip, self.fps, self.path = clip, fps, path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.url = f"rtsp://127.0.0.1:{self.port}{path}"
        self.frames_sent = 0
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> RtspCamera:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        """Every thread ends. Closing a socket does not wake a thread blocked in its accept() (Linux);
        shutting it down does, and the accept loop also wakes on its own timeout."""
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for _ in range(2):   # a thread may have started another while we waited
            for t in list(self._threads):
                t.join(timeout=5)
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"the test RTSP server's threads did not end: {alive}"

    def _spawn(self, fn, *args) -> None:
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        self.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        send_lock = threading.Lock()
        playing = threading.Event()
        session = "4711"
        buf = b""
        conn.settimeout(0.5)
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    lines = head.decode("latin-1").split("\r\n")
                    method, url = lines[0].split(" ")[:2]
                    headers = {k.strip().lower(): v.strip()
                               for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                    self.requests.append(method)
                    cseq = headers.get("cseq", "0")
                    extra, body = "", ""
                    if method == "OPTIONS":
                        extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                    elif method == "DESCRIBE":
                        if not url.rstrip("/").endswith(self.path):
                            self._reply(conn, send_lock, "404 Not Found", cseq)
                            continue
                        body = SDP
                        extra = (f"Content-Base: {self.url}/\r\nContent-Type: application/sdp\r\n"
                                 f"Content-Length: {len(body)}\r\n")
                    elif method == "SETUP":
                        extra = f"Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: {session};timeout=60\r\n"
                    elif method == "PLAY":
                        extra = f"Session: {session}\r\n"
                        if not playing.is_set():
                            playing.set()
                            self._spawn(self._stream, conn, send_lock, playing)
                    elif method == "TEARDOWN":
                        playing.clear()
                        extra = f"Session: {session}\r\n"
                    elif method != "GET_PARAMETER":
                        self._reply(conn, send_lock, "501 Not Implemented", cseq)
                        continue
                    self._reply(conn, send_lock, "200 OK", cseq, extra, body)
        except OSError:
            return
        finally:
            playing.clear()
            conn.close()

    @staticmethod
    def _reply(conn: socket.socket, lock: threading.Lock, status: str, cseq: str, extra: str = "",
               body: str = "") -> None:
        with lock:
            conn.sendall(f"RTSP/1.0 {status}\r\nCSeq: {cseq}\r\n{extra}\r\n{body}".encode("latin-1"))

    def _stream(self, conn: socket.socket, lock: threading.Lock, playing: threading.Event) -> None:
        rtp_in, rtcp_in = _udp_pair()
        rtp_in.settimeout(0.2)
        port = rtp_in.getsockname()[1]

        def relay() -> None:
            while playing.is_set():
                try:
                    pkt = rtp_in.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    with lock:
                        conn.sendall(b"$\x00" + len(pkt).to_bytes(2, "big") + pkt)
                except OSError:
                    playing.clear()
                    return

        self._spawn(relay)
        out = av.open(f"rtp://127.0.0.1:{port}?rtcpport={port + 1}&pkt_size=1400", "w", format="rtp")
        try:
            stream = None
            n, t0 = 0, time.monotonic()
            while playing.is_set() and not self._stop.is_set():
                with av.open(str(self.clip)) as src:
                    for frame in src.decode(video=0):
                        if not playing.is_set() or self._stop.is_set():
                            break
                        if stream is None:
                            stream = out.add_stream("libx264", rate=int(self.fps),
                                                    options={"preset": "ultrafast", "tune": "zerolatency"})
                            stream.width, stream.height, stream.pix_fmt = frame.width, frame.height, "yuv420p"
                            stream.codec_context.time_base = fractions.Fraction(1, int(self.fps))
                            stream.codec_context.gop_size = int(2 * self.fps)   # a keyframe every 2 s
                            stream.bit_rate = 4_000_000
                        f = frame.reformat(format="yuv420p")
                        f.pts, f.time_base = n, fractions.Fraction(1, int(self.fps))
                        for packet in stream.encode(f):
                            out.mux(packet)
                        n += 1
                        self.frames_sent = n
                        time.sleep(max(0.0, t0 + n / self.fps - time.monotonic()))
        finally:
            playing.clear()
            out.close()
            rtp_in.close()
            rtcp_in.close()
