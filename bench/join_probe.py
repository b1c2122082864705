"""`apel node` with stage stamps, for bench_join.py --stages: the node's log gets one line per stage of an
office's first frame (`probe <stream> <stage> <wall time>`), so the join latency can be split where the
node spends it. Nothing of the node changes but the logging: the stamps wrap the source's open, the RTP
reader's first decoded frame, the bridge's first frame in and its first hand-over to a worker, and the
first result back.

    python bench/join_probe.py node --source janus:127.0.0.1 ...    (as `python -m app.cli node ...`)
    python bench/join_probe.py serve --port N                        (the web node: `wspan` lines, install_web)

Stages (each the first after the office's join, per stream):
- open_ok_start / open_ok: the open that found the publisher began / returned (mid asked, forward made);
- decoded: the RTP reader decoded the forward's first frame (after the keyframe the node asked for);
- frame_in: the frame tap handed the bridge its first sampled frame;
- submitted: the bridge handed a frame to the vision pool;
- result: the pool's first result came back (the worker's whole time, its queue included).
Each vision worker also writes a line per frame it analysed (`wprobe`: which stream, when taken, when done)."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger("apel.probe")
_seen: set[tuple[str, str]] = set()


def stamp(key: str, stage: str) -> None:
    """Log the first time `stage` happens for `key`."""
    if (key, stage) in _seen:
        return
    _seen.add((key, stage))
    log.info("probe %s %s %.3f", key, stage, time.time())


def install() -> None:
    from app.live import bridge as bridge_mod
    from attendance.vision import workers
    from media.janus import feed_source, rtp_source
    log.info("probe tree %s", Path(workers.__file__).parent)
    open_ = feed_source.JanusFeedSource.open

    async def open(self: Any, feed: Any, sink: Any) -> Any:
        started = time.time()
        out = await open_(self, feed, sink)
        if (feed.stream_key, "open_ok_start") not in _seen:
            _seen.add((feed.stream_key, "open_ok_start"))
            log.info("probe %s open_ok_start %.3f", feed.stream_key, started)
        stamp(feed.stream_key, "open_ok")
        out.track._probe_key = feed.stream_key  # type: ignore[attr-defined]
        return out
    feed_source.JanusFeedSource.open = open  # type: ignore[method-assign]

    deliver_ = rtp_source.RtpForwardTrack._deliver

    def deliver(self: Any, frame: Any) -> None:
        if self.frames_decoded == 0 and getattr(self, "_probe_key", None):
            stamp(self._probe_key, "decoded")
        deliver_(self, frame)
    rtp_source.RtpForwardTrack._deliver = deliver  # type: ignore[method-assign]

    put_ = bridge_mod.FrameBridge.put

    def put(self: Any, frame: Any) -> None:
        stamp(frame.stream_key, "frame_in")
        put_(self, frame)
    bridge_mod.FrameBridge.put = put  # type: ignore[method-assign]

    submit_ = bridge_mod.FrameBridge._submit

    def submit(self: Any, pool: Any, info: Any, frame: Any) -> None:
        submit_(self, pool, info, frame)
        if info.stream_key in self._in_flight:
            stamp(info.stream_key, "submitted")
    bridge_mod.FrameBridge._submit = submit  # type: ignore[method-assign]

    done_ = bridge_mod.FrameBridge._done

    def done(self: Any, key: str, result: Any) -> None:
        if result is not None:
            stamp(key, "result")
        done_(self, key, result)
    bridge_mod.FrameBridge._done = done  # type: ignore[method-assign]


def install_worker() -> None:
    """In a vision worker (spawned: it imports this file as __mp_main__): one stderr line per frame it
    analysed, `wprobe <pid> <stream> <taken> <done>` (wall times), stderr being the node's log."""
    import os

    from attendance.vision import workers

    next_ = workers._next_message
    current: list[Any] = []

    def next_message(inbox: Any, pending: Any, fresh: Any) -> Any:
        if current:
            key, taken = current.pop()
            print(f"wprobe {os.getpid()} {key} {taken:.3f} {time.time():.3f}", file=sys.stderr, flush=True)
        msg = next_(inbox, pending, fresh)
        if msg is not None and msg[0] == "frame":
            current.append((msg[1], time.time()))
        return msg
    workers._next_message = next_message


_office: Any = None   # contextvars.ContextVar: the office whose join the current task serves (web node)


def span(label: str, started: float, ended: float) -> None:
    """One timed step of an office's join on the web node: `wspan <office> <label> <start> <end>`."""
    office = _office.get() if _office is not None else None
    log.info("wspan %s %s %.4f %.4f", office or "-", label, started, ended)


def install_web() -> None:
    """`apel serve` with one `wspan` line per step of each office join: the whole route, each database
    call (queued, ran), each Janus request (its HTTP round trip; an asynchronous one's event too), and
    `wlag` lines when the event loop was held up (a task ran more than 20 ms without yielding)."""
    import asyncio
    import contextvars

    global _office
    _office = contextvars.ContextVar("probe_office", default=None)
    from app.live import db as db_mod
    from app.live import service as service_mod
    from media.janus import client as client_mod

    join_ = service_mod.LiveService.join_office

    async def join_office(self: Any, office_code: str, *args: Any, **kwargs: Any) -> Any:
        _office.set(office_code)
        started = time.time()
        try:
            return await join_(self, office_code, *args, **kwargs)
        finally:
            span("route", started, time.time())
    service_mod.LiveService.join_office = join_office  # type: ignore[method-assign]

    run_ = db_mod.DbThreads.run

    def run(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        office = _office.get()
        queued = time.time()
        name = getattr(fn, "__qualname__", None) or getattr(getattr(fn, "fn", None), "__qualname__", "db")

        def timed(session: Any, *a: Any, **k: Any) -> Any:
            began = time.time()
            try:
                return fn(session, *a, **k)
            finally:
                log.info("wspan %s db_wait:%s %.4f %.4f", office or "-", name, queued, began)
                log.info("wspan %s db_run:%s %.4f %.4f", office or "-", name, began, time.time())
        return run_(self, timed, *args, **kwargs)
    db_mod.DbThreads.run = run  # type: ignore[method-assign]

    post_ = client_mod.JanusClient.post

    async def post(self: Any, path: str, body: dict[str, Any]) -> Any:
        started = time.time()
        try:
            return await post_(self, path, body)
        finally:
            inner = body.get("body") or {}
            span(f"janus:{body.get('janus')}/{inner.get('request', '')}", started, time.time())
    client_mod.JanusClient.post = post  # type: ignore[method-assign]

    message_ = client_mod.JanusHandle.message

    async def message(self: Any, body: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started = time.time()
        try:
            return await message_(self, body, *args, **kwargs)
        finally:
            span(f"janus_async:{body.get('request', '')}", started, time.time())
    client_mod.JanusHandle.message = message  # type: ignore[method-assign]

    get_live_ = service_mod.get_live

    async def get_live(app: Any) -> Any:
        started = time.time()
        try:
            return await get_live_(app)
        finally:
            log.info("wspan - get_live %.4f %.4f", started, time.time())
    service_mod.get_live = get_live
    from app.web.api import live as live_api
    live_api.get_live = get_live

    from app.web import app as app_mod
    create_ = app_mod.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        """Each office join's arrival at the ASGI app (before its body is read): `wspan - arrived`."""
        application = create_(*args, **kwargs)
        inner = application.build_middleware_stack

        def build() -> Any:
            stack = inner()

            async def asgi(scope: Any, receive: Any, send: Any) -> None:
                if scope.get("type") == "http" and scope.get("path") == "/api/v1/live/office/join":
                    t = time.time()
                    log.info("wspan - arrived %.4f %.4f", t, t)
                await stack(scope, receive, send)
            return asgi
        application.build_middleware_stack = build  # type: ignore[method-assign]
        return application
    app_mod.create_app = create_app

    import threading
    import traceback

    beat = [time.monotonic()]
    loop_thread: list[int] = []

    async def lag() -> None:
        loop_thread.append(threading.get_ident())
        while True:
            t = time.monotonic()
            beat[0] = t
            await asyncio.sleep(0.005)
            late = time.monotonic() - t - 0.005
            if late > 0.02:
                log.info("wlag %.4f %.4f", time.time(), late)

    def watch() -> None:
        """What the loop's thread is doing when it has not come back for 40 ms: its stack, once a stall
        (`wstack`, the innermost frames), so a blocking call on the loop shows by name."""
        said = 0.0
        while True:
            time.sleep(0.01)
            if not loop_thread or time.monotonic() - beat[0] < 0.04 or beat[0] == said:
                continue
            said = beat[0]
            frame = sys._current_frames().get(loop_thread[0])
            if frame is not None:
                where = " | ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                                   for f in traceback.extract_stack(frame)[-12:])
                log.info("wstack %.4f %s", time.time(), where)
    threading.Thread(target=watch, name="probe-watch", daemon=True).start()

    started_ = service_mod.LiveService.start

    async def start(self: Any) -> None:
        self._probe_lag = asyncio.ensure_future(lag())
        await started_(self)
    service_mod.LiveService.start = start  # type: ignore[method-assign]


if __name__ == "__mp_main__":
    install_worker()

if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        logging.basicConfig(level=logging.INFO)
        install_web()
    else:
        install()
    from app.cli.main import main

    sys.argv = ["apel", *sys.argv[1:]]
    main()
