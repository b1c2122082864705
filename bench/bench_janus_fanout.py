"""Janus's CPU per 720p15 office published and per office receiving the leader, against the embedded
aiortc server (media/server.py) in the same run with the same senders, up to the seed's 41 offices.

Janus (Debian's `janus`, started as tests/janus_server.py does, own config on loopback) carries an
apel's room made by Apel's own JanusMedia (media/janus/rooms.py): the offices publish and the leader
publishes once through `join_office` / `join_leader`, and each office subscribes to the leader through
`subscribe_leader` / `start_subscription`, the calls Apel's join endpoints make after their checks
(the HTTP layer and the token checks are left out: they cost nothing per packet). Each office's video
is also forwarded by Janus as plain RTP (`rtp_forward`, as to a vision node) to a socket here that
counts frames, so a frozen office feed shows.

Senders cost little: each office replays one 720p15 VP8 clip encoded once (bench_fanout's way,
media.client.PreEncodedTrack), the leader another. Receivers cost little too: aiortc's receivers here
reassemble each frame (SRTP, jitter buffer) but do not decode it (`_CountingDecoder`), so 41 of them
fit on this machine next to Janus; each frame's arrival time is kept to find the longest gap.
The offices live in worker processes (`--workers`), the leader and the forward counter in this one.

Phases, all in one run: Janus with 5, 10, 20, 41 offices publishing (the leader publishing, nobody
subscribed); then, with every office publishing, 5, 10, 20, 41 offices receiving the leader; then
the embedded server (bench_fanout.server_main, its own process: it decodes every office feed, samples
it at 5 fps, receives the leader and encodes its stream once for everyone, and encodes the leader's
mosaic) with 5, 10, 20, 41 offices each sending the same clip and receiving the leader.
CPU from /proc (utime+stime) over a steady window after everyone joined; the machine's from /proc/stat.

    flock /tmp/helpers/bench.lock .venv/bin/python bench/bench_janus_fanout.py [--levels 5,10,20,41]
        [--window 20] [--settle 6] [--workers 2] [--leader-bitrate 2500000] [--skip-embedded] [--json OUT]
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench_fanout import DEFAULT_CLIP, proc_cpu_s, server_main

OFFICE_CLIP = DEFAULT_CLIP.parent / "facenet_pytorch_video.mp4"   # bench_fanout --ingest's office feed
LEADER_CLIP = DEFAULT_CLIP
ROOM = "1"
FPS = 15


# -- receiving without decoding ------------------------------------------------------------------
class _CountingDecoder:
    """Stands in for aiortc's VP8 decoder in the bench's own receivers: a complete frame (reassembled
    and decrypted by aiortc as usual) is not decoded; its arrival time is handed to the track."""

    def decode(self, encoded_frame: Any) -> list[float]:
        return [time.monotonic()]


def _no_decoding() -> None:
    import aiortc.rtcrtpreceiver as receiver

    receiver.get_decoder = lambda codec: _CountingDecoder()   # type: ignore[assignment,return-value]


def gap_stats(times: list[float], t0: float, t1: float) -> tuple[int, float]:
    """Frames in [t0, t1] and the longest time without one (window edges included)."""
    i, j = bisect.bisect_left(times, t0), bisect.bisect_right(times, t1)
    points = [t0, *times[i:j], t1]
    return j - i, max(b - a for a, b in itertools.pairwise(points))


def machine_busy() -> tuple[int, int, int]:
    """(busy, busy at a nice level above 0, total) jiffies of all cores since boot. The other helpers'
    tests run niced and fill whatever the bench leaves idle: the un-niced share is what competes."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, f[1], sum(f[:8])


def udp_drops(pids: dict[str, int]) -> dict[str, int]:
    """Datagrams the kernel dropped because a socket's receive buffer was full, per process, from
    /proc/net/udp (since each socket opened): who fell behind, the sender's server or a receiver."""
    owner: dict[str, str] = {}
    for name, pid in pids.items():
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                owner[link[8:-1]] = name
    drops: dict[str, int] = defaultdict(int)
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) > 12 and f[9] in owner:
            drops[owner[f[9]]] += int(f[12])
    return drops


# -- requests both ways over a Pipe ---------------------------------------------------------------
class Rpc:
    """Requests in both directions between two asyncio loops over one multiprocessing Pipe (an
    office's offer goes up to whoever holds the media server while the office waits for the answer)."""

    def __init__(self, conn: Any, handler: Callable[..., Awaitable[Any]]) -> None:
        self.conn, self.handler = conn, handler
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(conn.fileno(), self._readable)

    def _readable(self) -> None:
        while self.conn.poll():
            try:
                kind, rid, payload = self.conn.recv()
            except (EOFError, OSError):
                self.close()
                for pending in self._waiting.values():
                    if not pending.done():
                        pending.set_exception(RuntimeError("the other side went away"))
                return
            if kind == "rep":
                fut = self._waiting.pop(rid, None)
                if fut is not None and not fut.done():
                    ok, value = payload
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(RuntimeError(value))
            else:
                task = asyncio.ensure_future(self._serve(rid, payload))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _serve(self, rid: int, payload: tuple[Any, ...]) -> None:
        try:
            result = (True, await self.handler(*payload))
        except Exception as exc:
            result = (False, f"{type(exc).__name__}: {exc}")
        self.conn.send(("rep", rid, result))

    async def call(self, *payload: Any, timeout: float = 90.0) -> Any:
        rid = next(self._ids)
        fut = self._loop.create_future()
        self._waiting[rid] = fut
        self.conn.send(("req", rid, payload))
        return await asyncio.wait_for(fut, timeout)

    def close(self) -> None:
        try:
            self._loop.remove_reader(self.conn.fileno())
        except (ValueError, OSError):
            pass


# -- the offices (worker processes) ---------------------------------------------------------------
def worker_main(conn: Any, packets: list[bytes]) -> None:
    _no_decoding()
    asyncio.run(_worker(conn, packets))


async def _worker(conn: Any, packets: list[bytes]) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    from media.client import PreEncodedTrack, connect_peer

    pcs: dict[str, RTCPeerConnection] = {}
    frames: dict[str, list[float]] = {}
    tasks: list[asyncio.Task[None]] = []
    done = asyncio.Event()

    def counting(key: str) -> Callable[[MediaStreamTrack], None]:
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind != "video":
                return
            times = frames.setdefault(key, [])

            async def consume() -> None:
                try:
                    while True:
                        times.append(await track.recv())   # type: ignore[arg-type]
                except (MediaStreamError, asyncio.CancelledError):
                    pass
            tasks.append(asyncio.ensure_future(consume()))
        return on_track

    async def close_all() -> None:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await asyncio.gather(*(pc.close() for pc in pcs.values()), return_exceptions=True)
        pcs.clear()
        frames.clear()

    async def handle(cmd: str, *args: Any) -> Any:
        if cmd == "publish":            # an office's camera up (and, sendrecv, the leader down)
            key, receive = args

            async def signal(offer: dict[str, Any]) -> dict[str, Any]:
                return {"sdp": await rpc.call("offer", key, offer["sdp"]), "type": "answer"}

            pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(packets, FPS), receive_video=receive,
                                       on_track=counting(key) if receive else None)
            pcs["pub:" + key] = pc
            return None
        if cmd == "subscribe":          # Janus's offer of the leader's feed to this office: our answer
            key, offer_sdp = args
            pc = RTCPeerConnection()
            pc.on("track", counting(key))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            pcs["sub:" + key] = pc
            return pc.localDescription.sdp
        if cmd == "gaps":
            t0, t1 = args
            return {key: gap_stats(times, t0, t1) for key, times in frames.items()}
        if cmd == "close":
            await close_all()
            return None
        if cmd == "quit":
            await close_all()
            done.set()
            return None
        raise ValueError(cmd)

    rpc = Rpc(conn, handle)
    await done.wait()
    await asyncio.sleep(0.2)   # the reply to "quit" goes out
    rpc.close()


# -- Janus's forwards of the offices' feeds, counted ----------------------------------------------
class ForwardCounter(asyncio.DatagramProtocol):
    """The offices' RTP forwards (what a vision node would receive), counted, not decoded: a frame
    ends at a packet with the marker bit; offices are told apart by the SSRC each forward was given."""

    def __init__(self) -> None:
        self.frames: dict[int, list[float]] = defaultdict(list)
        self.packets = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets += 1
        if len(data) >= 12 and data[1] & 0x80:
            self.frames[int.from_bytes(data[8:12], "big")].append(time.monotonic())


# -- the run ------------------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, office_packets: list[bytes], leader_packets: list[bytes]) -> None:
        self.args = args
        self.office_packets = office_packets
        self.leader_packets = leader_packets
        self.workers: list[tuple[Any, Rpc]] = []
        self.on_offer: Callable[[str, str], Awaitable[str]] | None = None
        self.rows: list[dict[str, Any]] = []
        self.pids: dict[str, int] = {"bench (leader, counter)": os.getpid()}

    def worker_of(self, i: int) -> Rpc:
        return self.workers[i % len(self.workers)][1]

    async def start_workers(self) -> None:
        ctx = mp.get_context("spawn")
        for w in range(self.args.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=worker_main, args=(child, self.office_packets), daemon=True)
            proc.start()
            self.workers.append((proc, Rpc(parent, self._from_worker)))
            assert proc.pid is not None
            self.pids[f"offices worker {w}"] = proc.pid

    async def _from_worker(self, cmd: str, *args: Any) -> Any:
        if cmd == "offer" and self.on_offer is not None:
            return await self.on_offer(*args)
        raise ValueError(cmd)

    async def stop_workers(self) -> None:
        for proc, rpc in self.workers:
            try:
                await rpc.call("quit", timeout=30)
            except Exception as exc:
                print(f"  worker {proc.pid} quit: {exc}")
            rpc.close()
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    async def in_batches(self, items: list[Any], fn: Callable[[Any], Awaitable[None]], n: int = 4) -> None:
        sem = asyncio.Semaphore(n)

        async def one(x: Any) -> None:
            async with sem:
                await fn(x)
        await asyncio.gather(*(one(x) for x in items))

    async def measure(self, label: dict[str, Any], *, forwards: ForwardCounter | None = None,
                      status: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> dict[str, Any]:
        """CPU of every process and of the machine over one window; each receiver's and each office
        feed's frames and longest gap in it."""
        await asyncio.sleep(self.args.settle)
        pids = dict(self.pids)
        c0 = {k: proc_cpu_s(p) for k, p in pids.items()}
        d0 = udp_drops(pids)
        m0, t0, la0 = machine_busy(), time.monotonic(), os.getloadavg()[0]
        office_max_since: dict[str, float] = defaultdict(float)
        office_frames0: dict[str, int] = {}
        office_frames1: dict[str, int] = {}
        office_connected = 0
        end = t0 + self.args.window
        while time.monotonic() < end:
            if status is not None:
                st = await status()
                office_connected = sum(bool(o["connected"]) for o in st["offices"])
                for o in st["offices"]:
                    office_frames0.setdefault(o["office"], o["frames"])
                    office_frames1[o["office"]] = o["frames"]
                    since = o["seconds_since_frame"]
                    office_max_since[o["office"]] = max(office_max_since[o["office"]],
                                                        since if since is not None else self.args.window)
                await asyncio.sleep(0.25)
            else:
                await asyncio.sleep(min(1.0, max(0.0, end - time.monotonic())))
        t1, m1 = time.monotonic(), machine_busy()
        c1 = {k: proc_cpu_s(p) for k, p in pids.items()}
        d1 = udp_drops(pids)
        wall = t1 - t0
        cpu = {k: 100.0 * (c1[k] - c0[k]) / wall for k in pids}
        cores, span = os.cpu_count() or 1, max(1, m1[2] - m0[2])
        row: dict[str, Any] = {**label, "cpu": cpu, "window_s": wall, "load": la0,
                               "machine_cores": cores * (m1[0] - m0[0]) / span,
                               "niced_cores": cores * (m1[1] - m0[1]) / span,
                               "udp_drops": {k: d1.get(k, 0) - d0.get(k, 0) for k in pids}}
        recv: dict[str, tuple[int, float]] = {}
        for _, rpc in self.workers:
            recv.update(await rpc.call("gaps", t0, t1))
        row["recv_fps"] = [n / wall for n, _ in recv.values()]
        row["recv_gap"] = [g for _, g in recv.values()]
        if forwards is not None:
            feeds = [gap_stats(times, t0, t1) for times in forwards.frames.values()]
            missing = label["offices"] - len(feeds)
            row["feed_fps"] = [n / wall for n, _ in feeds] + [0.0] * missing
            row["feed_gap"] = [g for _, g in feeds] + [wall] * missing
        elif status is not None:   # an office dropped and rejoined restarts its count
            row["feed_fps"] = [(f1 - office_frames0[k] if f1 >= office_frames0[k] else f1) / wall
                               for k, f1 in office_frames1.items()]
            row["feed_gap"] = list(office_max_since.values())
            row["connected"] = office_connected
        self.rows.append(row)
        print_row(row, flush=True)
        return row

    # -- Janus
    async def run_janus(self) -> None:
        from media.client import PreEncodedTrack, connect_peer
        from media.janus import videoroom as vr
        from media.janus.client import JanusClient
        from media.janus.rooms import JanusConfig, JanusMedia
        from media.sampling import DropOldestQueue
        from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer

        levels = self.args.levels
        with tempfile.TemporaryDirectory(prefix="bench-janus-") as tmp:
            janus = JanusServer(Path(tmp), rtp_ports=400)
            janus.start()
            self.pids["janus"] = janus.proc.pid   # type: ignore[union-attr]
            config = JanusConfig(url=janus.url, api_secret=API_SECRET, admin_key=ADMIN_KEY,
                                 room_key="bench-room-key", room_base=9000, analyse=False)
            media = JanusMedia(DropOldestQueue(2), config)
            client = JanusClient(janus.url, api_secret=API_SECRET)   # the "vision node": asks for the forwards
            loop = asyncio.get_running_loop()
            transport, counter = await loop.create_datagram_endpoint(ForwardCounter, local_addr=("127.0.0.1", 0))
            counter_port = transport.get_extra_info("sockname")[1]
            leader_pc = None
            session = None
            feeds: dict[str, int] = {}
            try:
                async def leader_signal(offer: dict[str, Any]) -> dict[str, Any]:
                    answer, _ = await media.join_leader(ROOM, offer["sdp"], "offer")
                    return {"sdp": answer.sdp, "type": "answer"}

                leader_pc, _ = await connect_peer(leader_signal, send_video=PreEncodedTrack(self.leader_packets, FPS),
                                                  receive_video=False)
                room = media.rooms[ROOM]
                assert room.leader is not None
                await asyncio.wait_for(room.leader.connected.wait(), 30)
                session = await client.create_session()
                control = vr.VideoRoomControl(await session.attach(), admin_key=ADMIN_KEY)

                async def office_offer(key: str, sdp: str) -> str:
                    answer, peer = await media.join_office(ROOM, key, sdp, "offer", feed_id=1000 + int(key[1:]))
                    assert peer.feed_id is not None
                    feeds[key] = peer.feed_id
                    return answer.sdp

                self.on_offer = office_offer

                async def publish(i: int) -> None:
                    key = f"o{i}"
                    await self.worker_of(i).call("publish", key, False)
                    assert session is not None
                    await asyncio.wait_for(room.offices[key].connected.wait(), 30)   # a feed Janus knows
                    mid = await vr.publisher_video_mid(session, room.number, room.keys, feeds[key])
                    await control.rtp_forward(room.number, room.keys, feeds[key], "127.0.0.1", counter_port,
                                              video_mid=mid or "0", ssrc=5000 + i)

                async def subscribe(i: int) -> None:
                    key = f"o{i}"
                    offer, peer = await media.subscribe_leader(ROOM, key)
                    answer = await self.worker_of(i).call("subscribe", key, offer["sdp"])
                    await media.start_subscription(ROOM, key, peer.id, answer, "answer")

                have = 0
                for n in levels:
                    t = time.monotonic()
                    await self.in_batches(list(range(have, n)), publish)
                    print(f"  janus: {n} offices publishing (joined in {time.monotonic() - t:.1f} s)", flush=True)
                    have = n
                    await self.measure({"server": "janus", "offices": n, "receivers": 0}, forwards=counter)
                subs = 0
                for n in levels:
                    t = time.monotonic()
                    await self.in_batches(list(range(subs, n)), subscribe)
                    print(f"  janus: {n} offices receiving the leader (subscribed in {time.monotonic() - t:.1f} s)",
                          flush=True)
                    subs = n
                    await self.measure({"server": "janus", "offices": have, "receivers": n}, forwards=counter)
                print(f"  janus: {counter.packets} forwarded RTP packets counted", flush=True)
            finally:
                self.on_offer = None
                for _, rpc in self.workers:
                    await rpc.call("close")
                if leader_pc is not None:
                    await leader_pc.close()
                await media.close()
                if session is not None:
                    await session.destroy()
                await client.aclose()
                transport.close()
                janus.stop()
                self.pids.pop("janus", None)

    # -- embedded
    async def run_embedded(self) -> None:
        from media.client import PreEncodedTrack, connect_peer

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=server_main, args=(child, True, str(LEADER_CLIP), FPS, True), daemon=True)
        proc.start()
        loop = asyncio.get_running_loop()
        lock = asyncio.Lock()

        async def ask(*msg: Any) -> Any:
            async with lock:
                parent.send(msg)
                return await loop.run_in_executor(None, parent.recv)

        await loop.run_in_executor(None, parent.recv)   # ready
        assert proc.pid is not None
        self.pids["embedded server"] = proc.pid
        leader_pc = None
        try:
            async def leader_signal(offer: dict[str, Any]) -> dict[str, Any]:
                return {"sdp": (await ask("leader", offer["sdp"]))[1], "type": "answer"}

            # the leader receives the mosaic (the embedded leader must): counted, not decoded
            leader_pc, _ = await connect_peer(leader_signal, send_video=PreEncodedTrack(self.leader_packets, FPS),
                                              receive_video=True)

            async def office_offer(key: str, sdp: str) -> str:
                return str((await ask("join", key, sdp))[1])

            self.on_offer = office_offer

            async def status() -> dict[str, Any]:
                return dict((await ask("status",))[1])

            async def publish(i: int) -> None:
                await self.worker_of(i).call("publish", f"o{i}", True)

            have = 0
            for n in self.args.levels:
                t = time.monotonic()
                await self.in_batches(list(range(have, n)), publish)
                print(f"  embedded: {n} offices sending and receiving the leader (joined in "
                      f"{time.monotonic() - t:.1f} s)", flush=True)
                have = n
                await self.measure({"server": "embedded", "offices": n, "receivers": n}, status=status)
        finally:
            self.on_offer = None
            for _, rpc in self.workers:
                await rpc.call("close")
            if leader_pc is not None:
                await leader_pc.close()
            try:
                await asyncio.wait_for(ask("quit",), 20)
            except Exception:
                pass
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
            self.pids.pop("embedded server", None)


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def print_row(r: dict[str, Any], flush: bool = False) -> None:
    server_cpu = r["cpu"].get("janus", r["cpu"].get("embedded server", 0.0))
    clients = sum(v for k, v in r["cpu"].items() if k not in ("janus", "embedded server"))
    feed_fps, feed_gap = r.get("feed_fps", []), r.get("feed_gap", [])
    print(f"  {r['server']:>8} pub={r['offices']:>2} recv={r['receivers']:>2} | server {server_cpu:6.1f}% | "
          f"clients {clients:6.1f}% | machine {100 * r['machine_cores']:6.1f}% | "
          f"feeds fps {_med(feed_fps):5.1f} (min {min(feed_fps, default=float('nan')):5.1f}) "
          f"max gap {max(feed_gap, default=0.0):5.2f} s | leader fps {_med(r['recv_fps']):5.1f} "
          f"(min {min(r['recv_fps'], default=float('nan')):5.1f}) max gap {max(r['recv_gap'], default=0.0):5.2f} s "
          f"| connected {r.get('connected', '-')} | load {r['load']:.2f} niced {100 * r['niced_cores']:.0f}% "
          f"| udp drops "
          f"{ {k: v for k, v in r['udp_drops'].items() if v} } | cpu { {k: round(v, 1) for k, v in r['cpu'].items()} }",
          flush=flush)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (CPU per office)."""
    if len(points) < 2:
        return float("nan")
    mx, my = statistics.fmean(p[0] for p in points), statistics.fmean(p[1] for p in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


def report(rows: list[dict[str, Any]], levels: list[int]) -> None:
    top = max(levels)
    print("\n| server | offices publishing | offices receiving the leader | server CPU (% of a core) | "
          "bench's own clients | whole machine (% of 1 core, 2 cores = 200%), of it niced | office feeds fps median "
          "/ min | longest office-feed gap | leader fps median / min | longest leader gap | UDP drops server / "
          "clients |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        server_cpu = r["cpu"].get("janus", r["cpu"].get("embedded server", 0.0))
        clients = sum(v for k, v in r["cpu"].items() if k not in ("janus", "embedded server"))
        ff, fg = r.get("feed_fps", []), r.get("feed_gap", [])
        rf, rg = r["recv_fps"], r["recv_gap"]
        drops = r["udp_drops"]
        server_drops = drops.get("janus", drops.get("embedded server", 0))
        client_drops = sum(v for k, v in drops.items() if k not in ("janus", "embedded server"))
        print(f"| {r['server']} | {r['offices']} | {r['receivers']} | {server_cpu:.1f}% | {clients:.0f}% | "
              f"{100 * r['machine_cores']:.0f}%, {100 * r['niced_cores']:.0f}% | "
              f"{_med(ff):.1f} / {min(ff, default=float('nan')):.1f} | {max(fg, default=0.0):.2f} s | "
              + (f"{_med(rf):.1f} / {min(rf):.1f} | {max(rg):.2f} s |" if rf else "- | - |")
              + f" {server_drops} / {client_drops} |")
    jp = [(r["offices"], r["cpu"]["janus"]) for r in rows if r["server"] == "janus" and r["receivers"] == 0]
    jr = [(r["receivers"], r["cpu"]["janus"]) for r in rows if r["server"] == "janus" and r["offices"] == top
          and (r["receivers"] > 0 or not any(q["receivers"] for q in rows))]
    jr0 = [(0, c) for n, c in jp if n == top]
    em = [(r["offices"], r["cpu"]["embedded server"]) for r in rows if r["server"] == "embedded"
          and min(r.get("feed_fps", [0.0]), default=0.0) >= 0.9 * FPS]   # beyond, its CPU is capped
    print()
    if jp:
        print(f"Janus: {slope(jp):.2f}% of a core per 720p15 office published (incl. its RTP forward), "
              f"least squares over {[n for n, _ in jp]}")
    if jr:
        print(f"Janus: {slope(jr0 + jr):.2f}% of a core per office receiving the leader, "
              f"least squares over {[n for n, _ in jr0 + jr]} receivers with {top} publishing")
    if em:
        print(f"embedded: {slope(em):.2f}% of a core per office (sending 720p15 and receiving the leader), "
              f"least squares over {[n for n, _ in em]} (the levels where it kept up)")
    final = [r for r in rows if r["server"] == "janus" and r["offices"] == top and r["receivers"] == top]
    if final:
        f = final[-1]
        frozen = max([*f.get("feed_gap", []), *f["recv_gap"]], default=0.0)
        print(f"target, {top} offices + the leader to all {top} through Janus: Janus {f['cpu']['janus']:.1f}% of a "
              f"core [<= 50%] {'met' if f['cpu']['janus'] <= 50 else 'NOT met'}; longest gap of any feed "
              f"{frozen:.2f} s [<= 2 s] {'met' if frozen <= 2 else 'NOT met'}")
    emb = [r for r in rows if r["server"] == "embedded" and r["offices"] == top]
    if emb:
        e = emb[-1]
        ok = min(e.get("feed_fps", [0.0]), default=0.0) >= 0.9 * FPS and max(e["recv_gap"], default=99) <= 2
        print(f"embedded at {top}: server {e['cpu']['embedded server']:.1f}% of a core, office feeds median "
              f"{_med(e.get('feed_fps', [])):.1f} fps (min {min(e.get('feed_fps', [0.0]), default=0.0):.1f}), "
              f"longest office-feed gap {max(e.get('feed_gap', [0.0]), default=0.0):.2f} s: "
              f"{'keeps up' if ok else 'does NOT keep up'}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", type=lambda s: sorted({int(x) for x in s.split(",")}), default=[5, 10, 20, 41])
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured at each level")
    ap.add_argument("--settle", type=float, default=6.0, help="seconds after the joins before measuring")
    ap.add_argument("--workers", type=int, default=2, help="processes holding the offices' peers")
    ap.add_argument("--bitrate", type=int, default=2_500_000, help="the offices' VP8 bitrate")
    ap.add_argument("--leader-bitrate", type=int, default=2_500_000,
                    help="the leader's VP8 bitrate (what Janus fans out; the embedded server re-encodes it at 1 Mbps)")
    ap.add_argument("--json", type=Path, help="write every measured window here")
    ap.add_argument("--skip-embedded", action="store_true")
    ap.add_argument("--skip-janus", action="store_true")
    args = ap.parse_args()
    for clip in (OFFICE_CLIP, LEADER_CLIP):
        if not clip.exists():
            sys.exit(f"clip not found: {clip} (needs ../shared/data)")
    from tests.janus_server import JANUS_BIN
    if not args.skip_janus and not Path(JANUS_BIN).exists():
        sys.exit("janus not installed (apt-get install janus)")
    _no_decoding()   # this process's receivers (the embedded leader's mosaic) count, not decode
    from media.client import encode_clip_vp8

    office = encode_clip_vp8(str(OFFICE_CLIP), size=(1280, 720), fps=FPS, bitrate=args.bitrate)
    leader = encode_clip_vp8(str(LEADER_CLIP), size=(1280, 720), fps=FPS, bitrate=args.leader_bitrate)
    kbps = lambda p: 8 * sum(map(len, p)) / len(p) * FPS / 1000  # noqa: E731
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {os.cpu_count()} cores; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"offices: {OFFICE_CLIP.name} as 1280x720 VP8 at {FPS} fps, {kbps(office):.0f} kbps ({len(office)} frames "
          f"looped); leader: {LEADER_CLIP.name} as 1280x720 VP8, {kbps(leader):.0f} kbps; levels {args.levels}; "
          f"window {args.window:g} s after {args.settle:g} s; {args.workers} office worker processes")
    bench = Bench(args, office, leader)
    await bench.start_workers()
    try:
        if not args.skip_janus:
            await bench.run_janus()
        if not args.skip_embedded:
            await bench.run_embedded()
    finally:
        await bench.stop_workers()
    report(bench.rows, args.levels)
    if args.json:
        import json

        args.json.write_text(json.dumps(bench.rows, indent=1))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
