"""A video file as an office camera: with `loop` it plays pass after pass at the file's pace on one
clock (aiortc's MediaPlayer stops after one pass with PyAV 18, whose decoder ends a file with
EOFError); without, it ends after one pass; a file that breaks mid-way stops the feed with a reason."""
from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from media.file_source import FileVideoTrack

FPS = 15


def h264_clip(path: Path, frames: int = FPS) -> Path:
    """H.264 in MP4 (as phones and cameras record), noise so every frame carries data."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for _ in range(frames):
            img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


async def test_a_looping_file_plays_three_passes_at_its_pace(tmp_path) -> None:
    track = FileVideoTrack(str(h264_clip(tmp_path / "one-second.mp4")), loop=True)
    pts, t0 = [], time.monotonic()
    try:
        while track.passes < 3:
            frame = await track.recv()
            pts.append(frame.pts)
        elapsed = time.monotonic() - t0
    finally:
        track.stop()
    assert len(pts) >= 3 * FPS
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "the clock went back at a new pass"
    assert elapsed >= (3 * FPS - 2) / FPS, elapsed          # paced at the file's rate, not as fast as it decodes
    assert pts[-1] / 90000 == pytest.approx((3 * FPS - 1) / FPS, abs=0.1)
    assert track.error is None


async def test_without_loop_one_pass_then_the_end(tmp_path) -> None:
    track = FileVideoTrack(str(h264_clip(tmp_path / "one-second.mp4")))
    n = 0
    with pytest.raises(MediaStreamError):
        while True:
            await track.recv()
            n += 1
    assert n == FPS and track.passes == 1 and track.error is None   # a normal end
    assert track.readyState == "ended"


async def test_a_file_that_breaks_mid_way_says_why(tmp_path) -> None:
    path = h264_clip(tmp_path / "broken.mp4", frames=3 * FPS)
    data = bytearray(path.read_bytes())
    quarter = len(data) // 4
    data[quarter:3 * quarter] = bytes(2 * quarter)   # the middle of the picture data zeroed, as a bad copy leaves it
    path.write_bytes(bytes(data))
    track = FileVideoTrack(str(path), loop=True)
    with pytest.raises(MediaStreamError):
        for _ in range(10 * FPS):
            await track.recv()
    assert track.error and "broken.mp4" in track.error and "InvalidData" in track.error, track.error
    assert track.readyState == "ended"
