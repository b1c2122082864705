"""Issue 21's load target: a real `apel serve` (uvicorn in a subprocess, SQLite file or PostgreSQL) takes
`--logins` concurrent logins and `--reads` authenticated reads (a mix of GET routes) while a live apel
runs: two offices' cameras streaming a synthetic office (aiortc peers sending a clip made by
`apel synth-office` from ../shared/data/faces/lfw10, encoded once, as bench_capacity does), two consoles
open (each an SSE event stream; the first also the leader's WebRTC peer).

Every login starts at once (or evenly over `--login-spread` s); the reads arrive at an even rate over
`--spread` seconds; the requests run in a separate client process (in this one they would share the
interpreter lock with the WebRTC senders). Everything must complete within `--seconds`.

Reported, per phase:
- errors (any status >= 400, or no answer within `--seconds`), p50/p99 latency of logins and of reads;
- per camera, the largest feed gap: the longest time the server's analysed-frame count did not grow
  (polled from the live roll-call every 0.5 s, the poll's own latency reported beside it), and the
  longest time without a received frame as the server measures it (`max_gap_s`, grown in the phase);
- event-loop stalls longer than APEL_LOOP_STALL_S (0.1 s here), from the watchdog's log lines in the
  server's stderr, with the loop thread's innermost frames.

Phases, on one server, in this order: the reads alone and then the logins with the reads, both before
any live apel (no camera, console or vision worker yet: the same-run baselines); the live apel with no
load (the feeds' own gaps on this machine); the live apel with the reads alone; the live apel with the
logins and the reads (the target). Each phase also reports the CPU the server and its vision workers
used and the machine's load average: the machine is shared, and a phase starved of CPU says so.

The client sends plain HTTP/1.1, one connection a request, from its own process (`_request`).

    .venv/bin/python bench/bench_load_live.py [--db sqlite|postgresql] [--logins 200] [--reads 2000]
        [--seconds 60] [--spread 30] [--people 10] [--cache DIR]

Targets (issue 21): 0 errors, p99 < 2 s, no feed gap > 2 s, the loop never blocked > 100 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_capacity import SHARED, leader_session, make_office_clip, seed

PG_ADMIN_URL = os.environ.get("APEL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
LOGIN_PASSWORD = "bench-load-Passw0rd"
STALL_S = 0.1
P99_TARGET_S = 2.0
GAP_TARGET_S = 2.0
STALL_END = re.compile(r"event loop answered again after ([0-9.]+) s")
STALL_START = "event loop blocked for more than"
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


# -- the client process: logins and reads ------------------------------------------------------------

async def _request(host: str, port: int, method: str, path: str, headers: dict[str, str], body: bytes | None,
                   timeout_s: float) -> str:
    """One HTTP/1.1 request on its own connection (Connection: close); the status code, or the error's
    name. Raw asyncio streams, not httpx: httpx's connection pool spends CPU per queued request on every
    request it assigns, and with a few hundred requests in flight the client process, not the server,
    was the bottleneck (the server idle at 0% CPU while the client ran flat out)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")

    async def exchange() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(raw)
            await writer.drain()
            status = (await reader.readline()).split(b" ", 2)
            while await reader.read(65536):   # the whole answer, until the server closes
                pass
            return status[1].decode() if len(status) > 1 else "NoStatus"
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(exchange(), timeout_s)
    except OSError as exc:   # TimeoutError included
        return exc.__class__.__name__


async def _load(base: str, usernames: list[str], login_spread_s: float, reads: int, spread_s: float,
                read_headers: list[dict[str, str]], paths: list[str], timeout_s: float) -> dict[str, Any]:
    host, port = base.removeprefix("http://").split(":")
    t_start = time.monotonic()

    async def call(kind: str, method: str, path: str, delay: float, headers: dict[str, str],
                   body: bytes | None = None) -> tuple[str, str, float, str]:
        await asyncio.sleep(delay)
        t0 = time.monotonic()
        outcome = await _request(host, int(port), method, path, headers, body, timeout_s)
        return kind, path, time.monotonic() - t0, outcome

    gap = login_spread_s / len(usernames) if usernames else 0.0
    tasks = [call("login", "POST", "/api/v1/auth/login", i * gap, {},
                  json.dumps({"username": u, "password": LOGIN_PASSWORD}).encode())
             for i, u in enumerate(usernames)]
    step = spread_s / reads if reads else 0.0
    tasks += [call("read", "GET", paths[i % len(paths)], i * step, read_headers[i % len(read_headers)])
              for i in range(reads)]
    rows = await asyncio.gather(*tasks)
    return {"rows": rows, "wall_s": time.monotonic() - t_start}


def run_load(*args: Any) -> dict[str, Any]:
    """In the client process."""
    return asyncio.run(_load(*args))


# -- the server and what it logs -------------------------------------------------------------------

class ServerLog:
    """The server's stderr, each line with the time it arrived (this process's monotonic clock), so a
    watchdog line can be put in the phase it happened in."""

    def __init__(self, proc: subprocess.Popen[bytes], path: Path) -> None:
        self.lines: list[tuple[float, str]] = []
        self._proc, self._path = proc, path
        self._thread = threading.Thread(target=self._read, name="server-stderr", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stderr is not None
        with open(self._path, "w") as out:
            for raw in self._proc.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                self.lines.append((time.monotonic(), line))
                out.write(line + "\n")

    def join(self) -> None:
        self._thread.join(timeout=10)

    def stalls(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """(duration, where the loop's thread was) of each stall reported between t0 and t1. A stack that
        ends in asyncio's runner is inside uvloop's C code: the loop waited for the CPU or the interpreter
        lock, no Python call of its own blocked it."""
        found, where = [], "?"
        in_main = False
        frames: list[str] = []
        for t, line in self.lines:
            if STALL_START in line:
                where, in_main, frames = "?", False, []
            elif line.startswith("--- thread "):
                if in_main and frames:
                    where = " <- ".join(reversed(frames[-3:]))
                in_main = line.startswith("--- thread MainThread")
                frames = []
            elif in_main and (m := FRAME.search(line)):
                frames.append(f"{Path(m.group(1)).name}:{m.group(2)} {m.group(3)}")
                if m.group(1).endswith("asyncio/runners.py"):
                    frames.append("uvloop (C): starved of CPU or the GIL")
            if (m := STALL_END.search(line)):
                if in_main and frames:
                    where = " <- ".join(reversed(frames[-3:]))
                in_main = False
                if t0 <= t <= t1:
                    found.append((float(m.group(1)), where))
        return found


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and every live descendant (the server and its vision
    workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:   # gone meanwhile
            continue
        used[int(d.name)] = (int(fields[11]) + int(fields[12])) / tick   # utime + stime
        children.setdefault(int(fields[1]), []).append(int(d.name))
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += used.get(p, 0.0)
        todo += children.get(p, [])
    return total


def _stat_cpu_s(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_parts(pid: int) -> dict[str, float]:
    """Where the server's CPU went so far: its event loop's thread (the main thread), its other threads
    (request threads, aiortc's codecs, the live apel's database threads) and its child processes (the
    vision workers). One process's Python threads share one interpreter lock: loop + threads near one
    core means the process, not the machine, is the limit."""
    try:
        own = _stat_cpu_s(Path(f"/proc/{pid}/stat"))
        loop = _stat_cpu_s(Path(f"/proc/{pid}/task/{pid}/stat"))
    except OSError:
        return {"loop": 0.0, "threads": 0.0, "workers": 0.0}
    return {"loop": loop, "threads": own - loop, "workers": tree_cpu_s(pid) - own}


def pg_database() -> tuple[str, str]:
    from sqlalchemy import text

    from attendance.db import make_engine

    name = f"apel_bench_load_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(name: str) -> None:
    from sqlalchemy import text

    from attendance.db import make_engine

    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def add_login_users(db_url: str, n: int) -> list[str]:
    """n users who log in during the load (half HR, half leaders). One hash for all: hashing is the
    server's cost under test, not the seeding's."""
    from attendance.db import make_engine, make_session_factory
    from attendance.models import User
    from attendance.roster.passwords import hash_password

    engine = make_engine(db_url)
    digest = hash_password(LOGIN_PASSWORD)
    names = [f"load{i:04d}" for i in range(n)]
    with make_session_factory(engine)() as db:
        db.add_all([User(username=u, password_hash=digest, role="hr" if i % 2 else "leader")
                    for i, u in enumerate(names)])
        db.commit()
    engine.dispose()
    return names


# -- what the live apel's consoles see ---------------------------------------------------------------

class FeedWatch:
    """Polls the live roll-call (as a console does) and keeps, per office, (time, analysed frames,
    server's max receive gap), and the poll's own latency."""

    def __init__(self, http: Any, aid: int, auth: dict[str, str]) -> None:
        self.http, self.aid, self.auth = http, aid, auth
        self.samples: list[tuple[float, dict[str, tuple[int, float]]]] = []
        self.poll_s: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t0 = time.monotonic()
            try:
                r = await self.http.get(f"/api/v1/live/assemblies/{self.aid}/rollcall", headers=self.auth)
                media = r.json().get("media") or {} if r.status_code == 200 else {}
            except Exception:   # a slow or failing poll is measured, not fatal
                media = {}
            now = time.monotonic()
            self.poll_s.append((now, now - t0))
            feeds = {o["office"]: (int(o.get("analysed_frames") or 0), float(o.get("max_gap_s") or 0.0))
                     for o in media.get("offices", [])}
            if feeds:
                self.samples.append((now, feeds))
            await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def latest(self) -> dict[str, tuple[int, float]]:
        return self.samples[-1][1] if self.samples else {}

    def window(self, t0: float, t1: float) -> dict[str, Any]:
        """Per office: the longest time the analysed count did not grow between t0 and t1 (the window's
        edges count as growth), the frames analysed, and the server's max receive gap if it grew."""
        inside = [(t, f) for t, f in self.samples if t0 <= t <= t1]
        before = [f for t, f in self.samples if t < t0]
        out: dict[str, Any] = {}
        for code in sorted({c for _, f in inside for c in f}):
            last_t, last_n = t0, (before[-1].get(code, (0, 0.0))[0] if before else 0)
            gap, analysed0 = 0.0, last_n
            for t, f in inside:
                n = f.get(code, (last_n, 0.0))[0]
                if n > last_n:
                    gap = max(gap, t - last_t)
                    last_t, last_n = t, n
            gap = max(gap, t1 - last_t)
            rx0 = before[-1].get(code, (0, 0.0))[1] if before else 0.0
            rx1 = inside[-1][1].get(code, (0, rx0))[1] if inside else rx0
            out[code] = {"analysis_gap_s": round(gap, 2), "analysed": last_n - analysed0,
                         "rx_gap_grew_to_s": rx1 if rx1 > rx0 else None, "rx_gap_before_s": rx0}
        polls = [s for t, s in self.poll_s if t0 <= t <= t1]
        out["_poll_max_s"] = round(max(polls), 2) if polls else None
        return out


async def console_stream(base: str, aid: int, auth: dict[str, str], events: list[str]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=None) as sse:
        async with sse.stream("GET", f"/api/v1/live/assemblies/{aid}/events", headers=auth) as r:
            events.append(f"status {r.status_code}")
            async for line in r.aiter_lines():
                if line.startswith("event: "):
                    events.append(line[7:])


# -- phases ------------------------------------------------------------------------------------------

def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"wall_s": round(result["wall_s"], 2)}
    for kind in ("login", "read"):
        rows = [r for r in result["rows"] if r[0] == kind]
        lat = [r[2] for r in rows]
        errors = [r for r in rows if not r[3].startswith("2")]
        kinds: dict[str, int] = {}
        for r in errors:
            key = f"{r[3]} {r[1] if kind == 'read' else ''}".strip()
            kinds[key] = kinds.get(key, 0) + 1
        out[kind] = {"n": len(rows), "errors": len(errors), "error_kinds": kinds,
                     "p50_s": pct(lat, 0.5), "p99_s": pct(lat, 0.99), "max_s": max(lat) if lat else None}
    return out


async def load_phase(clients: ProcessPoolExecutor, base: str, usernames: list[str], args: argparse.Namespace,
                     read_headers: list[dict[str, str]], paths: list[str]) -> dict[str, Any]:
    fut = clients.submit(run_load, base, usernames, args.login_spread, args.reads, args.spread, read_headers, paths,
                         args.seconds)
    return summarise(await asyncio.wrap_future(fut))


def show(name: str, s: dict[str, Any] | None, stalls: list[tuple[float, str]], feeds: dict[str, Any] | None,
         limit_s: float) -> bool:
    """Print one phase; whether it meets the targets."""
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    ok = True
    print(f"[{name}]" + (f" completed in {s['wall_s']:.1f} s (limit {limit_s:g} s)" if s else ""))
    if s is not None:
        ok &= s["wall_s"] <= limit_s
        if "server_cpu_s" in s:
            print(f"  server (and its vision workers) used {s['server_cpu_s']:.1f} CPU-s "
                  f"({s['server_cpu_s'] / s['phase_s']:.2f} cores: event loop {s['cores']['loop']:.2f}, other "
                  f"threads {s['cores']['threads']:.2f}, vision workers {s['cores']['workers']:.2f}); load average "
                  f"{s['load'][0]:.1f} -> {s['load'][1]:.1f}")
        for kind in ("login", "read"):
            k = s[kind]
            ok &= k["errors"] == 0 and (k["p99_s"] or 0) < P99_TARGET_S
            print(f"  {kind}s: n={k['n']} errors={k['errors']} {k['error_kinds'] or ''} "
                  f"p50 {f(k['p50_s'])} s  p99 {f(k['p99_s'])} s  max {f(k['max_s'])} s")
    ok &= not stalls
    worst = max((d for d, _ in stalls), default=0.0)
    print(f"  event-loop stalls > {STALL_S:g} s: {len(stalls)}" + (f", longest {worst:.1f} s" if stalls else ""))
    where: dict[str, int] = {}
    for _, w in stalls:
        where[w] = where.get(w, 0) + 1
    for w, n in sorted(where.items(), key=lambda kv: -kv[1])[:5]:
        print(f"    {n}x loop thread at {w}")
    if feeds is not None:
        for code, v in feeds.items():
            if code.startswith("_"):
                continue
            ok &= v["analysis_gap_s"] <= GAP_TARGET_S and (v["rx_gap_grew_to_s"] or 0) <= GAP_TARGET_S
            rx = (f"grew to {v['rx_gap_grew_to_s']} s" if v["rx_gap_grew_to_s"]
                  else f"not above {v['rx_gap_before_s']} s (before the phase)")
            print(f"  camera {code}: largest analysis gap {v['analysis_gap_s']:.1f} s ({v['analysed']} frames "
                  f"analysed); longest receive gap (server) {rx}")
        print(f"  slowest console roll-call poll: {feeds['_poll_max_s']} s")
    print(f"  {'MEETS' if ok else 'MISSES'} the targets", flush=True)
    return ok


async def main(args: argparse.Namespace) -> int:
    import httpx

    from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8

    if not (SHARED / "faces" / "lfw10").is_dir():
        sys.exit("needs ../shared/data/faces/lfw10")
    people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[: args.people]
    work = Path(tempfile.mkdtemp(prefix="apel-loadlive-"))
    pg_name = None
    if args.db == "postgresql":
        pg_name, db_url = pg_database()
        os.environ["APEL_DATABASE_URL"] = db_url   # seed() builds its Settings from the environment
    else:
        os.environ.pop("APEL_DATABASE_URL", None)
        db_url = f"sqlite:///{work / 'data' / 'apel.db'}"
    server = None
    log = None
    pcs: list[Any] = []
    side_tasks: list[asyncio.Future[Any]] = []
    clients = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        t0 = time.monotonic()
        clip_dir = Path(args.cache) if args.cache else work
        clip_dir.mkdir(parents=True, exist_ok=True)
        clip, _ = make_office_clip(clip_dir, args.people, args.clip_seconds)
        packets = encode_clip_vp8(str(clip), size=(1280, 720), fps=15)
        info = seed(work / "data", 2, people_dirs, 0.5)
        from app.settings import Settings

        db_url = Settings(data_dir=work / "data", secret_key="bench").db_url
        usernames = add_login_users(db_url, args.logins)
        print(f"prepared in {time.monotonic() - t0:.0f} s: {args.db}, {args.people} people per office, "
              f"{len(packets)} VP8 frames 1280x720; {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        env = {**os.environ, "APEL_DATA_DIR": str(work / "data"), "APEL_SECRET_KEY": "bench",
               "APEL_LOOP_STALL_S": str(STALL_S),
               "APEL_VISION_WORKERS": os.environ.get("APEL_VISION_WORKERS", "2")}
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(args.port)], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log = ServerLog(server, work / "server.log")
        base = f"http://127.0.0.1:{args.port}"
        aid = info["assembly_id"]
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            leader = await leader_session(http)
            r = await http.post("/api/v1/auth/login", json={"username": "hr", "password": "bench-hr-1234"})
            r.raise_for_status()
            hr = {"Authorization": f"Bearer {r.json()['access_token']}"}
            offices = (await http.get("/api/v1/offices", headers=leader)).json()
            items = offices["items"] if isinstance(offices, dict) else offices
            office_ids = [o["id"] for o in items]
            paths = ["/api/v1/auth/me", "/api/v1/offices", f"/api/v1/offices/{office_ids[0]}",
                     "/api/v1/employees", "/api/v1/assemblies", f"/api/v1/assemblies/{aid}",
                     f"/api/v1/assemblies/{aid}/rollcall", f"/api/v1/reports/apel/{aid}",
                     "/api/v1/rulesets/current", "/api/v1/health"]
            for p in paths:   # every route answers before it is measured
                r = await http.get(p, headers=leader)
                if r.status_code >= 400:
                    sys.exit(f"{p}: {r.status_code} {r.text[:200]}")
            read_headers = [leader, hr]
            # warm the client process (spawn and imports) outside the measurement
            await asyncio.wrap_future(clients.submit(run_load, base, [], 0.0, 1, 0.0, read_headers, paths, 30.0))
            results: dict[str, dict[str, Any]] = {}
            watch: FeedWatch | None = None

            async def phase(name: str, users: list[str]) -> bool:
                """One load phase, measured from its start to 2 s after its last answer (the feeds after
                the load, the last watchdog line)."""
                parts0 = cpu_parts(server.pid)
                cpu0, load0, t0 = tree_cpu_s(server.pid), os.getloadavg()[0], time.monotonic()
                s = await load_phase(clients, base, users, args, read_headers, paths)
                await asyncio.sleep(2.0)
                t1 = time.monotonic()
                s["server_cpu_s"], s["load"] = tree_cpu_s(server.pid) - cpu0, (load0, os.getloadavg()[0])
                s["phase_s"] = t1 - t0
                s["cores"] = {k: (v - parts0[k]) / (t1 - t0) for k, v in cpu_parts(server.pid).items()}
                results[name] = s
                return show(name, s, log.stalls(t0, t1), watch.window(t0, t1) if watch else None, args.seconds)

            # 1. baselines, no live apel: the reads alone, then the logins and the reads
            await phase("reads alone, no live apel", [])
            await phase("logins + reads, no live apel", usernames)

            # 2. the live apel: vision workers, the leader's console, two cameras, two event streams
            b1 = time.monotonic()
            await http.get("/api/v1/live/ice-servers", headers=leader)
            await asyncio.sleep(3)

            async def leader_signal(offer: dict[str, Any]) -> dict[str, Any]:
                r = await http.post(f"/api/v1/live/assemblies/{aid}/leader", json=offer, headers=leader)
                r.raise_for_status()
                return dict(r.json())
            pc, _ = await connect_peer(leader_signal, send_video=PreEncodedTrack(packets), receive_video=True)
            pcs.append(pc)
            for code, token in info["tokens"].items():
                async def signal(offer: dict[str, Any], code: str = code, token: str = token) -> dict[str, Any]:
                    r = await http.post("/api/v1/live/office/join", json={"office": code, "token": token, **offer})
                    r.raise_for_status()
                    return dict(r.json())
                pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(packets), receive_video=False)
                pcs.append(pc)
            console_events: list[list[str]] = [[], []]
            side_tasks += [asyncio.ensure_future(console_stream(base, aid, h, ev))
                           for h, ev in zip((leader, hr), console_events, strict=True)]
            watch = FeedWatch(http, aid, leader)
            watch.start()
            deadline = time.monotonic() + args.warmup
            while time.monotonic() < deadline:
                feeds = watch.latest()
                if len(feeds) == 2 and all(n > 0 for n, _ in feeds.values()):
                    break
                await asyncio.sleep(0.5)
            else:
                print(f"  the cameras' frames were not analysed within {args.warmup:g} s: {watch.latest()}")
            print(f"live apel up after {time.monotonic() - b1:.0f} s: {watch.latest()}; consoles "
                  f"{[ev[:1] for ev in console_events]}", flush=True)

            parts0 = cpu_parts(server.pid)
            cpu0, load0, i0 = tree_cpu_s(server.pid), os.getloadavg()[0], time.monotonic()
            await asyncio.sleep(args.idle)
            i1 = time.monotonic()
            ok = True
            if args.idle > 0:
                ok &= show("live apel, no load", None, log.stalls(i0, i1), watch.window(i0, i1), args.seconds)
                cores = {k: (v - parts0[k]) / (i1 - i0) for k, v in cpu_parts(server.pid).items()}
                print(f"  the live apel alone used {(tree_cpu_s(server.pid) - cpu0) / (i1 - i0):.2f} cores (event "
                      f"loop {cores['loop']:.2f}, other threads {cores['threads']:.2f}, vision workers "
                      f"{cores['workers']:.2f}); load average {load0:.1f} -> {os.getloadavg()[0]:.1f}")

            # 3. the live apel with the reads alone, then with the logins and the reads: the target
            await phase("live apel + reads alone", [])
            ok &= await phase("live apel + logins + reads (the target)", usernames)
            await watch.stop()
            streams_ok = all(ev and ev[0] == "status 200" for ev in console_events)
            print(f"consoles' event streams: {[(ev[0] if ev else 'none', len(ev) - 1) for ev in console_events]} "
                  f"(status, events received)")
            ok &= streams_ok
            base_reads = results["reads alone, no live apel"]["read"]["p99_s"]
            for name, res in results.items():
                if base_reads and res["read"]["p99_s"]:
                    print(f"reads p99 / reads alone without the live apel: {res['read']['p99_s'] / base_reads:5.1f}x"
                          f"  ({name})")
            print(f"load average at the end {os.getloadavg()[0]:.1f}; server log {work / 'server.log'}")
            print("ALL TARGETS MET" if ok else "TARGETS NOT MET", flush=True)
            return 0 if ok else 1
    finally:
        for t in side_tasks:
            t.cancel()
        await asyncio.gather(*side_tasks, return_exceptions=True)
        for pc in pcs:
            await pc.close()
        clients.shutdown(wait=True, cancel_futures=True)
        if server is not None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if log is not None:
            log.join()
        if pg_name:
            drop_pg_database(pg_name)
        if os.environ.get("APEL_BENCH_KEEP"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--logins", type=int, default=200, help="concurrent logins, each a different user")
    ap.add_argument("--reads", type=int, default=2000, help="authenticated GETs, a mix of routes")
    ap.add_argument("--seconds", type=float, default=60.0, help="everything must complete within this")
    ap.add_argument("--spread", type=float, default=None,
                    help="the reads arrive evenly over this many seconds (default: half of --seconds)")
    ap.add_argument("--login-spread", type=float, default=0.0,
                    help="the logins arrive evenly over this many seconds (default 0: all at once, the target)")
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of live apel without load (feed baseline)")
    ap.add_argument("--warmup", type=float, default=120.0, help="at most this long for both feeds to be analysed")
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--clip-seconds", type=int, default=12)
    ap.add_argument("--port", type=int, default=8771)
    ap.add_argument("--cache", help="keep the synthetic office clip in this directory and reuse it (it is made "
                    "for --people and --clip-seconds: use one directory per pair)")
    args = ap.parse_args()
    if args.spread is None:
        args.spread = args.seconds / 2
    sys.exit(asyncio.run(main(args)))
