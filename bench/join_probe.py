"""`apel node` with stage stamps, for bench_join.py --stages: the node's log gets one line per stage of an
office's first frame (`probe <stream> <stage> <wall time>`), so the join latency can be split where the
node spends it. Nothing of the node changes but the logging: the stamps wrap the source's open, the RTP
reader's first decoded frame, the bridge's first frame in and its first hand-over to a worker, and the
first result back.

    python bench/join_probe.py node --source janus:127.0.0.1 ...    (as `python -m app.cli node ...`)

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


if __name__ == "__mp_main__":
    install_worker()

if __name__ == "__main__":
    install()
    from app.cli.main import main

    sys.argv = ["apel", *sys.argv[1:]]
    main()
