"""`apel camera FILE --loop` plays the file over and over (aiortc's own loop stops after one pass with
PyAV 18), and a feed that stops for an error never ends the command with exit code 0."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import build_live_world
from .rtsp_server import RtspCamera
from .test_live_api import _tiny_clip

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]
CLIP_S, CLIP_FPS = 1, 15   # _tiny_clip's rate


@pytest.fixture
def world(sqlite_url, settings_factory):
    yield from build_live_world(sqlite_url, settings_factory, {})


def _h264_clip(path: Path, seconds: float = CLIP_S) -> None:
    """H.264 in MP4, as phones and cameras record: the format whose end PyAV 18 reports as EOFError."""
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=CLIP_FPS)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(int(seconds * CLIP_FPS)):
            img = np.full((120, 160, 3), (i * 8) % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def _camera(world, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-m", "app.cli", "camera", "--server", world.url, "--office",
                             world.office_code, "--token", world.tokens[world.office_code], *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _frames_received(world) -> int:
    live = getattr(world.server.app.state, "live", None)
    status = live.media_status(world.assembly_id) if live else None
    return sum(o["frames"] for o in status["offices"]) if status else 0


def _finish(cli: subprocess.Popen) -> tuple[str, str]:
    if cli.poll() is None:
        cli.terminate()
    try:
        return cli.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        cli.kill()
        return cli.communicate()


def test_a_looping_file_plays_at_least_three_passes(world, tmp_path) -> None:
    clip = tmp_path / "short.mp4"
    _h264_clip(clip)
    cli = _camera(world, "--loop", str(clip))
    try:
        deadline = time.monotonic() + 90
        while _frames_received(world) < 3.5 * CLIP_S * CLIP_FPS and cli.poll() is None:
            assert time.monotonic() < deadline, f"only {_frames_received(world)} frames arrived"
            time.sleep(0.2)
        received, still_running = _frames_received(world), cli.poll() is None
    finally:
        out, err = _finish(cli)
    assert still_running, f"apel camera --loop stopped (exit {cli.returncode}) after {received} frames: {out} {err}"
    assert "joined apel" in out and "source ended" not in out, (out, err)


def test_a_file_without_loop_plays_once_and_ends_cleanly(world, tmp_path) -> None:
    clip = tmp_path / "short.mp4"
    _h264_clip(clip, seconds=2)
    cli = _camera(world, str(clip))
    most, deadline = 0, time.monotonic() + 90
    while cli.poll() is None and time.monotonic() < deadline:
        most = max(most, _frames_received(world))   # the office's count goes when it leaves
        time.sleep(0.1)
    out, err = _finish(cli)
    assert cli.returncode == 0 and "source ended" in out, (out, err)
    assert 2 * CLIP_FPS * 0.5 <= most <= 2 * CLIP_FPS + 2, (most, out, err)   # the file, once (no second pass)


def test_a_camera_that_stops_sending_is_an_error_not_an_end(world, tmp_path) -> None:
    """An IP camera's feed has no normal end: when it stops, `apel camera` retries and, out of retries,
    exits 1 (it exited 0, "source ended", as if the job were done)."""
    clip = tmp_path / "short.mp4"
    _tiny_clip(clip, seconds=2)
    with RtspCamera(clip, fps=CLIP_FPS) as camera:
        cli = _camera(world, "--max-retries", "1", camera.url)
        try:
            deadline = time.monotonic() + 90
            while _frames_received(world) < CLIP_FPS and cli.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _frames_received(world) >= CLIP_FPS, _finish(cli)
        except BaseException:
            _finish(cli)
            raise
    try:
        out, err = cli.communicate(timeout=120)   # the camera is gone: one retry cannot open it, then it gives up
    finally:
        _finish(cli)
    assert cli.returncode == 1, (cli.returncode, out, err)
    assert "stopped sending video" in err and "giving up" in err and "source ended" not in out, (out, err)
