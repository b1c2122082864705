"""Join latency: from the operator's join request to the first analysed frame of that office, on
loopback, split into the media part (join -> first decoded frame on the server) and the rest (sampling,
vision's first frame). The same office leaves and joins again `--joins` times against one running
`apel serve`; the vision workers are warm after the first join, as they are in an apel.

Baseline in the same run: vision alone on the same clip's frames (OfficePipeline.process in this
process, first frame of a fresh pipeline), i.e. the floor that no media path can beat.

The roll-call push (office frame received -> the SSE roll-call sent) includes that frame's analysis, so
it needs the vision worker to get its CPU: the workers run APEL_VISION_NICE (default 5) below the
server, and under `nice -n 5` (the bench lock's rule) that is nice 10, so any process busy at nice 0
in the same scheduling group (the same session with autogroup, else the machine) takes most of a
shared core from them (2026-12-07, one busy loop beside the bench: first analysed frame up to 10 s, push
max 10.1 s; with APEL_VISION_NICE=0 under the same loop: 0.56 s and 0.91 s). The bench prints the load
and the workers' nice before the run; a figure from a run with a busy neighbour is not the code's.

    .venv/bin/python bench/bench_join.py [--joins 5] [--people 10]
    .venv/bin/python bench/bench_join.py --janus 6,10 [--node-workers 2]

`--janus N,...`: N offices join at the same instant through Janus, as the seed's apel opens (everyone at
07:30 sharp). A real Janus (tests/janus_server.py), a web node that keeps the rules and the room (`apel
serve`, APEL_MEDIA=janus, APEL_JANUS_ANALYSE=false) and one vision node (`apel node --source janus:`) on
a fresh PostgreSQL database; the node holds every office's lease before the joins (it takes them when
the apel opens), so each join waits for what an office joining a running apel waits for: the web node's
answer, ICE and DTLS, the node seeing the new publisher (the web node tells it at the join's commit; it
also asks several times a second), the forward and its keyframe, and the office's first frame's turn at
a vision worker. The offices send as a browser's encoder does (one keyframe, then only when asked: the
node's PLI must work). Each office's first analysed frame is the node's own log line
(app/live/bridge.py), from the moment the bench sent the office's join request. Before that moment each
office has done what its page does before it posts the join (static/live/office.js): asked for the ICE
servers (which also starts the web node's live service) and made its offer; ten offices in this one
process took up to 0.6 s to make their offers and HTTP clients one after the other, which no office's
own browser spends, so `--offer-in-clock` only reproduces the runs before 2026-12-07 06:00, which
counted it. The node runs through bench/join_probe.py, which only adds stamps to its log, so each join
is also split into stages (median and max over the offices): the web node's answer, the peer connection
up (ICE, DTLS), the node's open that found the publisher (start, end: the forward made), the forward's
first decoded frame, the frame at the bridge, handed to the pool, taken by a worker, done there, and its
result back at the node. The web node runs through the probe too (`join_probe.py serve`): each join's
steps on it (the route, each database call's wait and run, each Janus request), summed per office.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_capacity import SHARED, leader_session, make_office_clip, seed


def vision_floor(clip: Path, people_dirs: list[Path], frames: int = 3) -> list[float]:
    """Seconds for a fresh OfficePipeline's first frames, no media involved."""
    import av
    import face_recognition
    import numpy as np

    from attendance.vision.config import PipelineConfig
    from attendance.vision.enrol import enrol_face
    from attendance.vision.pipeline import OfficePipeline
    from attendance.vision.types import RosterPerson

    roster = []
    for d in people_dirs:
        face = enrol_face(face_recognition.load_image_file(str(sorted(d.glob("*.jpg"))[0])))
        embs = np.stack([face.embedding, *face.masked_embeddings]).astype(np.float32)
        roster.append(RosterPerson(d.name, embs, ("photo",) + ("masked",) * (len(embs) - 1)))
    pipe = OfficePipeline(roster, PipelineConfig(hfov_deg=45.0))
    out = []
    with av.open(str(clip)) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i < 40 or i % 5:      # people have arrived by frame 40 (the clip's first 30% is arrival)
                continue
            img = f.to_ndarray(format="bgr24")
            t0 = time.perf_counter()
            pipe.process(img, i / 15)
            out.append(time.perf_counter() - t0)
            if len(out) >= frames:
                break
    return out


async def main() -> None:
    import httpx

    from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--joins", type=int, default=5)
    ap.add_argument("--people", type=int, default=10)
    ap.add_argument("--port", type=int, default=8767)
    ap.add_argument("--janus", default="", help="instead: these numbers of offices (comma-separated) join at once "
                                                "through Janus, analysed by one vision node")
    ap.add_argument("--node-workers", type=int, default=2, help="--janus: the node's vision workers")
    ap.add_argument("--repeats", type=int, default=1, help="--janus: run the counts this many times")
    ap.add_argument("--offer-in-clock", action="store_true",
                    help="--janus: each office's offer and HTTP client are made after the clock starts (the runs "
                         "before 2026-12-07 06:00 did: ten in one process took up to 0.6 s)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.janus:
        res = await janus_main([int(x) for x in args.janus.split(",")], args.node_workers, args.people, args.repeats,
                               args.offer_in_clock)
        if args.json:
            import json

            args.json.write_text(json.dumps(res, indent=2))
        return
    people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[: args.people]
    work = Path(tempfile.mkdtemp(prefix="apel-join-"))
    clip, _ = make_office_clip(work, args.people, 12)
    packets = encode_clip_vp8(str(clip), size=(1280, 720), fps=15)
    # start the office's clip after the arrival phase, as an office joining a formed apel would
    packets = packets[60:] if len(packets) > 120 else packets   # 60: a keyframe (one every 30 frames)
    floor = vision_floor(clip, people_dirs)
    info = seed(work / "data", 1, people_dirs, 0.5)
    vision_nice = os.nice(0) + int(os.environ.get("APEL_VISION_NICE", "5"))
    print(f"before the server: load average {os.getloadavg()[0]:.2f}; its vision workers at nice {vision_nice} "
          f"(this process's {os.nice(0)} + APEL_VISION_NICE)", flush=True)
    env = {**os.environ, "APEL_DATA_DIR": str(work / "data"), "APEL_SECRET_KEY": "bench",
           "APEL_VISION_WORKERS": os.environ.get("APEL_VISION_WORKERS", "1")}
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(args.port)], cwd=ROOT,
                              env=env, stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    base = f"http://127.0.0.1:{args.port}"
    rows = []
    push = None
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            auth = await leader_session(http)
            aid = info["assembly_id"]
            code, token = next(iter(info["tokens"].items()))
            # a console is watching (the roll-call is pushed only to watchers)
            async def watch():
                async with httpx.AsyncClient(base_url=base, timeout=None) as sse:
                    async with sse.stream("GET", f"/api/v1/live/assemblies/{aid}/events", headers=auth) as r:
                        async for _ in r.aiter_lines():
                            pass
            watcher = asyncio.ensure_future(watch())
            # the office page asks for the ICE servers before it joins: that also starts the workers
            await http.get("/api/v1/live/ice-servers", headers={"X-Office-Code": code, "X-Office-Token": token})
            await asyncio.sleep(5)
            answered = {}   # the last join's answer time, set by `signal`

            async def signal(offer):
                t = time.monotonic()
                r = await http.post("/api/v1/live/office/join", json={"office": code, "token": token, **offer})
                r.raise_for_status()
                answered["s"] = time.monotonic() - t
                return r.json()

            for k in range(args.joins):
                answered.clear()
                t0 = time.monotonic()
                pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(packets), receive_video=False)
                status = None
                while time.monotonic() - t0 < 60:
                    r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
                    feeds = (r.json().get("media") or {}).get("offices", [])
                    status = feeds[0] if feeds else None
                    if status and status.get("connected") and status.get("join_to_first_analysis_s") is not None:
                        break
                    await asyncio.sleep(0.1)
                client_s = time.monotonic() - t0
                assert status is not None, "the office's feed never showed in the roll-call"
                rows.append((status.get("join_to_first_frame_s"), status.get("join_to_first_analysis_s"), client_s))
                print(f"  join {k + 1}: answer in {answered['s']:.2f} s, join -> first frame {rows[-1][0]} s, "
                      f"-> first analysed frame {rows[-1][1]} s "
                      f"(seen by the client's polling after {client_s:.2f} s)", flush=True)
                await asyncio.sleep(4.0)   # let sightings flow to the console
                r = await http.get(f"/api/v1/live/assemblies/{aid}/rollcall", headers=auth)
                push = (r.json().get("media") or {}).get("sighting_to_console_s")
                await pc.close()
                await asyncio.sleep(2.0)
            watcher.cancel()
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    ff = [r[0] for r in rows if r[0] is not None]
    fa = [r[1] for r in rows if r[1] is not None]
    print(f"{args.people} people, 1280x720, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"join -> first frame on the server: median {statistics.median(ff):.2f} s (n={len(ff)})")
    print(f"join -> first analysed frame:      median {statistics.median(fa):.2f} s, max {max(fa):.2f} s")
    print(f"baseline, vision alone: first frame of a fresh pipeline {floor[0]:.2f} s "
          f"(next frames {', '.join(f'{x:.2f}' for x in floor[1:])} s)")
    print(f"join -> first analysed frame minus the vision baseline: {statistics.median(fa) - floor[0]:.2f} s")
    print(f"sighting -> roll-call pushed to the console (office frame received -> SSE event sent): {push}")


@contextmanager
def probe_serve(env: dict[str, str], log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`apel serve` through bench/join_probe.py (stamps of each join's steps in its log: `wspan`), started
    and stopped as tests/servers.apel_serve starts any server."""
    from tests.servers import apel_serve

    with apel_serve(env, log_path, command=(str(ROOT / "bench" / "join_probe.py"), "serve")) as served:
        yield served


def web_spans(log: Path, joined: float) -> dict[str, dict[str, float]]:
    """The web node's steps of the joins (bench/join_probe.py `wspan` lines): per step, the median and max
    over the offices of its time (summed over an office's calls), and when the route began and ended
    (seconds after the join requests); `loop_held`: the event loop's stalls over 20 ms in the first 3 s."""
    import re
    from collections import defaultdict

    text = log.read_text(errors="replace")
    per: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    edges: dict[str, list[float]] = defaultdict(list)
    for m in re.finditer(r"wspan (\S+) (\S+) ([0-9.]+) ([0-9.]+)", text):
        office, label, a, b = m.group(1), m.group(2), float(m.group(3)), float(m.group(4))
        if a < joined:
            continue
        per[label][office] += b - a
        if label in ("arrived", "get_live"):
            edges[label].append(a - joined)
            continue
        if label == "route":
            edges["route_began"].append(a - joined)
            edges["route_ended"].append(b - joined)
    out: dict[str, dict[str, float]] = {}
    for label, offices in sorted(per.items()):
        xs = list(offices.values())
        out[label] = {"median": round(statistics.median(xs), 3), "max": round(max(xs), 3), "n": len(xs)}
    for label, xs in edges.items():
        out[label] = {"median": round(statistics.median(xs), 3), "max": round(max(xs), 3), "n": len(xs)}
    lags = [float(m.group(2)) for m in re.finditer(r"wlag ([0-9.]+) ([0-9.]+)", text)
            if joined <= float(m.group(1)) <= joined + 3]
    out["loop_held"] = {"median": round(sum(lags), 3), "max": round(max(lags), 3) if lags else 0.0, "n": len(lags)}
    return out


def start_node(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`apel node --source janus:127.0.0.1` in a session of its own, its output in `log`; with stage
    stamps in its log (bench/join_probe.py: logging only, the node is unchanged)."""
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, str(ROOT / "bench" / "join_probe.py"), "node", "--source",
                                 "janus:127.0.0.1", "--sample-fps", "5"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


# An office's stages, in order: the bench's own (the join's answer, the peer connection up: ICE and
# DTLS) and the node's (bench/join_probe.py)
STAGES = ("offer_made", "post_sent", "posted", "answer", "connected", "open_ok_start", "open_ok", "decoded", "frame_in",
          "submitted", "worker_took", "worker_done", "result")


def node_stamps(log: Path) -> dict[str, dict[str, float]]:
    """stream key -> stage -> wall time, from the probe's lines in the node's log."""
    import re

    out: dict[str, dict[str, float]] = {}
    text = log.read_text(errors="replace")
    for m in re.finditer(r"(?<!w)probe (\S+) (\w+) ([0-9.]+)", text):
        out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    for m in re.finditer(r"wprobe \d+ (\S+) ([0-9.]+) ([0-9.]+)", text):   # a worker's frames: the first of each
        stamps = out.setdefault(m.group(1), {})
        if "worker_took" not in stamps:
            stamps["worker_took"], stamps["worker_done"] = float(m.group(2)), float(m.group(3))
    return out


def stage_summary(stamps: dict[str, dict[str, float]], joined: float) -> dict[str, dict[str, float]]:
    """Per stage: median and max over the offices, seconds after the join requests were sent."""
    out = {}
    for stage in STAGES:
        xs = [s[stage] - joined for s in stamps.values() if stage in s]
        if xs:
            out[stage] = {"median": round(statistics.median(xs), 2), "max": round(max(xs), 2), "n": len(xs)}
    return out


def stop_node(node: subprocess.Popen | None) -> None:
    if node is not None and node.poll() is None:
        node.terminate()
        try:
            node.wait(15)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()


async def janus_joins(offices: int, workers: int, people_dirs: list[Path], packets: list[bytes], template: str,
                      work: Path, old_clock: bool = False) -> dict[str, object]:
    """One apel of `offices` offices: all join through Janus at once; join -> first analysed frame each."""
    import httpx
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from bench_node_capacity import pg_database

    from attendance.db import make_engine, make_session_factory
    from tests.app.live.test_janus_nodes import BrowserLikeCamera
    from tests.app.live.vision_nodes import first_analysed, holders, tail, until
    from tests.janus_server import ADMIN_KEY, API_SECRET, JanusServer

    run = Path(tempfile.mkdtemp(prefix=f"n{offices}-", dir=work))
    janus = JanusServer(run, rtp_ports=max(200, 8 * offices))
    janus.start()
    engine = None
    node = None
    pcs = []
    https: list[httpx.AsyncClient] = []
    try:
        with pg_database(template) as url:
            env = {**os.environ, "APEL_DATABASE_URL": url, "APEL_SECRET_KEY": "bench", "APEL_JANUS_URL": janus.url,
                   "APEL_JANUS_API_SECRET": API_SECRET, "APEL_JANUS_ADMIN_KEY": ADMIN_KEY, "APEL_LANGUAGE": "en",
                   "APEL_KEEP_EVIDENCE": "false", "PYTHONUNBUFFERED": "1"}
            node_log = run / "node.log"
            node = start_node({**env, "APEL_DATA_DIR": str(run / "node"), "APEL_VISION_WORKERS": str(workers),
                               "APEL_VISION_NICE": os.environ.get("APEL_VISION_NICE", "5")}, node_log)
            os.environ["APEL_DATABASE_URL"] = url       # seed's Settings read it
            try:
                info = await asyncio.to_thread(seed, run / "data", offices, people_dirs, 0.5)
            finally:
                del os.environ["APEL_DATABASE_URL"]
            aid = info["assembly_id"]
            engine = make_engine(url)
            factory = make_session_factory(engine)
            web_env = {**env, "APEL_DATA_DIR": str(run / "web"), "APEL_MEDIA": "janus", "APEL_JANUS_ANALYSE": "false",
                       "APEL_VISION_WORKERS": "1"}
            with probe_serve(web_env, run / "web.log") as (base, _web):
                logs = [node_log, run / "web.log"]
                await asyncio.to_thread(until, "the node holding every office",
                                        lambda: all(holders(factory, aid).values()) and len(holders(factory, aid))
                                        == offices, 120, [node], logs)
                await asyncio.sleep(5.0)   # the node's workers done loading their models, its feeds waiting
                cameras = {code: BrowserLikeCamera(packets) for code in info["tokens"]}
                answered: dict[str, float] = {}
                client: dict[str, dict[str, float]] = {}   # office -> stage -> wall time

                async def prepare(code: str, token: str) -> Callable[[], Awaitable[None]]:
                    """The office's peer connection and offer, and its HTTP connection (the page's request
                    for the ICE servers, which starts the web node's live service), made before the clock
                    starts (each office's own browser makes them; here one process makes all ten, which
                    took up to 0.6 s, and `--offer-in-clock` counts that, as the runs before it did); the
                    join request and the rest when called."""
                    stamps = client[code] = {}
                    pc = RTCPeerConnection()
                    pc.addTransceiver(cameras[code], direction="sendonly")
                    pcs.append(pc)
                    if not old_clock:
                        await pc.setLocalDescription(await pc.createOffer())
                    http = httpx.AsyncClient(timeout=60)
                    https.append(http)
                    if not old_clock:   # the office page asks for the ICE servers first (static/live/office.js):
                        r = await http.get(f"{base}/api/v1/live/ice-servers",   # its connection is open, the
                                           headers={"X-Office-Code": code, "X-Office-Token": token})   # service up
                        assert r.status_code == 200, r.text

                    async def go() -> None:
                        t = time.monotonic()
                        if old_clock:   # the offer and the HTTP client in the clock, as before
                            await pc.setLocalDescription(await pc.createOffer())
                            stamps["offer_made"] = time.time()
                            async with httpx.AsyncClient(timeout=60) as fresh:
                                stamps["post_sent"] = time.time()
                                r = await fresh.post(f"{base}/api/v1/live/office/join", json={
                                    "office": code, "token": token, "sdp": pc.localDescription.sdp, "type": "offer"})
                        else:
                            stamps["post_sent"] = time.time()
                            r = await http.post(f"{base}/api/v1/live/office/join", json={
                                "office": code, "token": token, "sdp": pc.localDescription.sdp, "type": "offer"})
                        stamps["posted"] = time.time()
                        assert r.status_code == 200, r.text
                        reply = r.json()
                        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type=reply["type"]))
                        cameras[code].listen(pc)
                        answered[code] = time.monotonic() - t
                        stamps["answer"] = time.time()

                        def up() -> None:
                            if pc.connectionState == "connected" and "connected" not in stamps:
                                stamps["connected"] = time.time()
                        pc.on("connectionstatechange", up)
                        up()
                    return go

                goes = [await prepare(c, t) for c, t in info["tokens"].items()]
                load = os.getloadavg()[0]
                joined = time.time()
                await asyncio.gather(*(go() for go in goes))

                def first_frames() -> dict[str, float] | None:
                    got = {c: first_analysed(node_log, f"{aid}/{c}", joined) for c in info["tokens"]}
                    return None if None in got.values() else {c: t - joined for c, t in got.items() if t}

                firsts = await asyncio.to_thread(until, "every office's first analysed frame", first_frames, 60,
                                                 [node], logs)
                assert isinstance(firsts, dict)
                stamps = node_stamps(node_log)
                for code, st in client.items():
                    stamps.setdefault(f"{aid}/{code}", {}).update(st)
                stages = stage_summary(stamps, joined)
                web = web_spans(run / "web.log", joined)
                asked = [cam.asked for cam in cameras.values()]
                for pc in pcs:
                    await pc.close()
                for http in https:
                    await http.aclose()
                if os.environ.get("APEL_BENCH_KEEP"):
                    print(f"  kept {run}\n{tail(logs, 15)}", flush=True)
            stop_node(node)     # before its database is dropped
            engine.dispose()
    finally:
        for pc in pcs:
            await pc.close()
        stop_node(node)
        if engine is not None:
            engine.dispose()
        janus.stop()
    times = sorted(firsts.values())
    return {"offices": offices, "workers": workers, "load_avg_at_join": round(load, 2),
            "answer_s_median": round(statistics.median(answered.values()), 2),
            "answer_s_max": round(max(answered.values()), 2),
            "first_analysed_s": {c: round(t, 2) for c, t in sorted(firsts.items())},
            "median_s": round(statistics.median(times), 2), "max_s": round(times[-1], 2),
            "keyframes_asked_median": statistics.median(asked), "stages_s": stages, "web_s": web}


async def janus_main(counts: list[int], workers: int, people: int, repeats: int,
                     old_clock: bool = False) -> list[dict[str, object]]:
    from bench_node_capacity import pg_template

    out: list[dict[str, object]] = []
    work = Path(tempfile.mkdtemp(prefix="apel-join-janus-"))
    people_dirs = sorted(p for p in (SHARED / "faces" / "lfw10").iterdir() if p.is_dir())[:people]
    clip, _ = make_office_clip(work, people, 12)
    floor = vision_floor(clip, people_dirs)
    print(f"baseline, vision alone (this process): first frame of a fresh pipeline {floor[0]:.2f} s, next "
          f"{', '.join(f'{x:.2f}' for x in floor[1:])} s; load {os.getloadavg()[0]:.2f}", flush=True)
    import attendance

    print(f"the code measured: {Path(attendance.__file__).parent}", flush=True)
    out.append({"vision_floor_s": [round(x, 3) for x in floor], "tree": str(ROOT)})
    from media.client import encode_clip_vp8

    # one keyframe, at the start: later ones only when asked (BrowserLikeCamera)
    packets = encode_clip_vp8(str(clip), size=(1280, 720), fps=15, gop=10**6)
    with pg_template() as template:
        for _ in range(repeats):
            for n in counts:
                r = await janus_joins(n, workers, people_dirs, packets, template, work, old_clock)
                out.append(r)
                print(f"{n} offices joining at once through Janus, one node of {workers} workers: join -> first "
                      f"analysed frame median {r['median_s']} s, max {r['max_s']} s (answer median "
                      f"{r['answer_s_median']} s, max {r['answer_s_max']} s; keyframes asked "
                      f"{r['keyframes_asked_median']} an office; load {r['load_avg_at_join']}); each: "
                      f"{r['first_analysed_s']}", flush=True)
                stages = r["stages_s"]
                assert isinstance(stages, dict)
                print("    stages after the join requests, median/max s: " + ", ".join(
                    f"{k} {v['median']}/{v['max']}" for k, v in stages.items()), flush=True)
                web = r["web_s"]
                assert isinstance(web, dict)
                print("    web node, each office's time in a step, median/max s (n): " + ", ".join(
                    f"{k} {v['median']}/{v['max']} ({v['n']})" for k, v in web.items()), flush=True)
    if not os.environ.get("APEL_BENCH_KEEP"):
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return out


if __name__ == "__main__":
    asyncio.run(main())
