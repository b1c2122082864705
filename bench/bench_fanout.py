"""Fan-out of the leader's stream: server CPU with 1 and with N offices receiving it, shared encoder
(encode once, same packets to everyone) versus aiortc's default (one encoder per receiver), same run.

The server runs in its own process (its CPU is read from the kernel); the offices are real aiortc peers
in this process on loopback. The leader's camera is a real clip (../shared/data/video), decoded up front
and played at 15 fps, so the server's CPU is fan-out, not decoding. Each office sends a 64x64 2 fps
picture (an office must send a camera to join); that costs the same in both modes.

    .venv/bin/python bench/bench_fanout.py [--offices 20] [--seconds 8] [--clip PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import fractions
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_CLIP = ROOT.parent / "shared" / "data" / "video" / "face_recognition_short_hamilton_clip.mp4"
CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK   # utime + stime


def load_clip(path: Path, fps: float, max_frames: int = 150):
    import av

    frames = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        step = max(1, round(float(stream.average_rate) / fps))
        for i, f in enumerate(c.decode(stream)):
            if i % step == 0:
                frames.append(f.reformat(format="yuv420p"))
            if len(frames) >= max_frames:
                break
    return frames


def make_clip_track(frames, fps: float):
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class ClipTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.n, self.t0 = 0, time.monotonic()

        async def recv(self) -> av.VideoFrame:
            if self.readyState != "live":
                raise MediaStreamError
            delay = self.t0 + self.n / fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            src = frames[self.n % len(frames)]
            frame = av.VideoFrame.from_ndarray(src.to_ndarray(), format="yuv420p")
            frame.pts, frame.time_base = int(self.n * 90000 / fps), fractions.Fraction(1, 90000)
            self.n += 1
            return frame

    return ClipTrack()


def server_main(conn, shared: bool, clip: str, fps: float, ingest: bool = False) -> None:
    """Child process: a MediaServer with one room whose leader source is the clip (fan-out), or with
    no leader and offices sampled at 5 fps into a sink as in production (ingest)."""
    from media.sampling import DropOldestQueue
    from media.server import MediaConfig, MediaServer

    frames = [] if ingest else load_clip(Path(clip), fps)

    async def run() -> None:
        server = MediaServer(DropOldestQueue(2), config=MediaConfig(shared_encoding=shared,
                                                                   sample_fps=5.0 if ingest else 1.0))
        room = server.room("bench")
        if not ingest:
            room.leader_video.set_source(make_clip_track(frames, fps))
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        queue: asyncio.Queue = asyncio.Queue()
        loop.add_reader(conn.fileno(), lambda: queue.put_nowait(conn.recv()))
        conn.send(("ready", len(frames), frames[0].width if frames else 0, frames[0].height if frames else 0))
        while not done.is_set():
            msg = await queue.get()
            if msg[0] == "join":
                answer, _ = await server.join_office("bench", msg[1], msg[2], "offer")
                conn.send(("answer", answer.sdp))
            elif msg[0] == "leader":   # a real leader peer (bench_janus_fanout): decoded, encoded once
                answer, _ = await server.join_leader("bench", msg[1], "offer")
                conn.send(("answer", answer.sdp))
            elif msg[0] == "status":   # the offices' feeds as the console sees them (bench_janus_fanout)
                conn.send(("status", room.status()))
            elif msg[0] == "stats":
                enc = room.leader_video
                conn.send(("stats", {"frames_encoded": enc.frames_encoded, "receivers": enc.subscriber_count,
                                     "encode_s": enc.encode_seconds}))
            elif msg[0] == "quit":
                await server.close()
                done.set()
        conn.send(("bye",))

    asyncio.run(run())


class TinyTrack:
    """64x64 at 2 fps: the least an office can send."""

    @staticmethod
    def make():
        import av
        import numpy as np
        from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

        class _T(MediaStreamTrack):
            kind = "video"

            def __init__(self) -> None:
                super().__init__()
                self.n = 0

            async def recv(self):
                if self.readyState != "live":
                    raise MediaStreamError
                await asyncio.sleep(0.5)
                f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), self.n % 255, np.uint8), format="bgr24")
                f.pts, f.time_base = self.n * 45000, fractions.Fraction(1, 90000)
                self.n += 1
                return f

        return _T()


async def run_config(shared: bool, offices: int, seconds: float, clip: Path, fps: float,
                     uplink: list[bytes] | None = None) -> dict:
    """`uplink`: VP8 frames each office sends (ingest mode); else a tiny picture and the leader comes down."""
    from aiortc.mediastreams import MediaStreamError

    from media.client import PreEncodedTrack, connect_peer

    parent, child = mp.Pipe()
    proc = mp.get_context("spawn").Process(target=server_main, args=(child, shared, str(clip), fps, uplink is not None),
                                           daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()

    async def ask(msg):
        parent.send(msg)
        return await loop.run_in_executor(None, parent.recv)

    ready = await loop.run_in_executor(None, parent.recv)
    counts = [0] * offices
    pcs, tasks = [], []
    try:
        for i in range(offices):
            async def signal(offer, key=f"o{i}"):
                reply = await ask(("join", key, offer["sdp"]))
                return {"sdp": reply[1], "type": "answer"}

            def on_track(track, i=i):
                async def consume():
                    try:
                        while True:
                            await track.recv()
                            counts[i] += 1
                    except (MediaStreamError, asyncio.CancelledError):
                        pass
                if track.kind == "video":
                    tasks.append(asyncio.ensure_future(consume()))

            if uplink is not None:
                pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(uplink), receive_video=False)
            else:
                pc, _ = await connect_peer(signal, send_video=TinyTrack.make(), receive_video=True, on_track=on_track)
            pcs.append(pc)
        await asyncio.sleep(3.0)   # connect, first keyframes, steady state
        s0 = (await ask(("stats",)))[1]
        c0, t0, r0 = proc_cpu_s(proc.pid), time.monotonic(), list(counts)
        await asyncio.sleep(seconds)
        c1, t1, r1 = proc_cpu_s(proc.pid), time.monotonic(), list(counts)
        s1 = (await ask(("stats",)))[1]
        wall = t1 - t0
        per_office_fps = [(b - a) / wall for a, b in zip(r0, r1, strict=True)] if uplink is None else [0.0]
        return {
            "mode": "shared" if shared else "per-receiver", "offices": offices,
            "server_cpu_pct": 100.0 * (c1 - c0) / wall,
            "encodes_per_s": (s1["frames_encoded"] - s0["frames_encoded"]) / wall,
            "recv_fps_median": statistics.median(per_office_fps),
            "recv_fps_min": min(per_office_fps),
            "leader": f"{ready[2]}x{ready[3]}",
        }
    finally:
        for t in tasks:
            t.cancel()
        for pc in pcs:
            await pc.close()
        try:
            await asyncio.wait_for(ask(("quit",)), 10)
        except Exception:
            pass
        proc.join(5)
        if proc.is_alive():
            proc.kill()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--offices", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--ingest", action="store_true",
                    help="instead: server CPU to receive N offices' 720p15 feeds (real clip, VP8 2.5 Mbps) and "
                         "sample them at 5 fps, no vision")
    ap.add_argument("--ingest-clip", type=Path, default=DEFAULT_CLIP.parent / "facenet_pytorch_video.mp4")
    args = ap.parse_args()
    if args.ingest:
        await ingest(args)
        return
    if not args.clip.exists():
        sys.exit(f"clip not found: {args.clip} (needs ../shared/data)")
    print(f"leader clip: {args.clip.name} at {args.fps:g} fps; {os.cpu_count()} cores; window {args.seconds:g} s")
    rows = []
    for shared in (True, False):
        for n in (1, args.offices):
            r = await run_config(shared, n, args.seconds, args.clip, args.fps)
            rows.append(r)
            print(f"  {r['mode']:>12}  offices={n:>3}  server CPU {r['server_cpu_pct']:6.1f}% of a core  "
                  f"encodes/s {r['encodes_per_s']:5.1f}  office recv fps median {r['recv_fps_median']:5.1f} "
                  f"min {r['recv_fps_min']:5.1f}", flush=True)
    by = {(r["mode"], r["offices"]): r for r in rows}
    n = args.offices
    for mode in ("shared", "per-receiver"):
        extra = (by[(mode, n)]["server_cpu_pct"] - by[(mode, 1)]["server_cpu_pct"]) / (n - 1)
        print(f"{mode:>12}: {extra:5.2f}% of a core per extra office (1 -> {n} offices)")
    s_extra = (by[("shared", n)]["server_cpu_pct"] - by[("shared", 1)]["server_cpu_pct"]) / (n - 1)
    b_extra = (by[("per-receiver", n)]["server_cpu_pct"] - by[("per-receiver", 1)]["server_cpu_pct"]) / (n - 1)
    print(f"ratio per-receiver / shared per extra office: {b_extra / max(s_extra, 1e-6):.1f}x; "
          f"server CPU at {n} offices: {by[('shared', n)]['server_cpu_pct']:.1f}% vs "
          f"{by[('per-receiver', n)]['server_cpu_pct']:.1f}%")
    if by[("per-receiver", n)]["recv_fps_median"] < 0.9 * args.fps:
        print(f"note: per-receiver encoding could not keep {args.fps:g} fps for {n} offices on this machine "
              f"(median {by[('per-receiver', n)]['recv_fps_median']:.1f} fps): "
              "its CPU is capped, the true cost is higher")


async def ingest(args) -> None:
    from media.client import encode_clip_vp8

    uplink = encode_clip_vp8(str(args.ingest_clip), size=(1280, 720), fps=15, bitrate=2_500_000)
    print(f"office feed: {args.ingest_clip.name} as 1280x720 VP8 at 15 fps, 2.5 Mbps ({len(uplink)} frames looped); "
          f"{os.cpu_count()} cores; window {args.seconds:g} s; load average {os.getloadavg()[0]:.1f}")
    rows = {}
    for n in (1, args.offices):
        r = await run_config(True, n, args.seconds, args.clip, args.fps, uplink=uplink)
        rows[n] = r["server_cpu_pct"]
        print(f"  offices={n:>3}  server CPU {r['server_cpu_pct']:6.1f}% of a core", flush=True)
    per = (rows[args.offices] - rows[1]) / (args.offices - 1)
    print(f"ingest: {per:.1f}% of a core per extra office (1 -> {args.offices}); "
          f"media alone would fill one core at about {int(100 // per) if per > 0 else 'inf'} offices")


if __name__ == "__main__":
    asyncio.run(main())
