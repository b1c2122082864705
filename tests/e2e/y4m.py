"""Chromium's fake camera reads a .y4m file: convert a clip (raw yuv420p, looped by Chromium)."""
from __future__ import annotations

from pathlib import Path

import av


def clip_to_y4m(src: Path, dst: Path, *, fps: int = 15, max_seconds: float = 8.0,
                size: tuple[int, int] | None = None) -> Path:
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        rate = float(stream.average_rate or fps)
        step = max(1, round(rate / fps))
        with av.open(str(dst), "w", format="yuv4mpegpipe") as out:
            ostream = out.add_stream("rawvideo", rate=fps)
            ostream.pix_fmt = "yuv420p"
            first = True
            n = 0
            for i, frame in enumerate(inp.decode(stream)):
                if i % step:
                    continue
                w, h = size or (frame.width, frame.height)
                if first:
                    ostream.width, ostream.height = w, h
                    first = False
                f = frame.reformat(width=w, height=h, format="yuv420p")
                f.pts = None
                for packet in ostream.encode(f):
                    out.mux(packet)
                n += 1
                if n >= max_seconds * fps:
                    break
            for packet in ostream.encode():
                out.mux(packet)
    return dst
