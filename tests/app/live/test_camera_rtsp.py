"""An office with an IP camera: `apel camera ... rtsp://...` reads a real RTSP stream (a small RTSP
server on loopback serving the synthetic office as MJPEG over RTP, interleaved on TCP as IP cameras
do), joins the apel, and its people are marked present. A camera that does not answer gives a
clear error naming the source."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media.helpers import wait_for

from .conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip
from .rtsp_server import RtspCamera
from .test_live_presence import MARKED, RollcallWatcher, records

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
ROOT = Path(__file__).resolve().parents[3]


def _stop(cli: subprocess.Popen) -> tuple[str, str]:
    cli.terminate()
    try:
        return cli.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        cli.kill()
        return cli.communicate()


async def test_ip_camera_over_rtsp_marks_its_people(sqlite_url, settings_factory, shared_data, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    gen = build_live_world(sqlite_url, settings_factory, photos, min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    watcher = None
    with RtspCamera(clip, fps=10) as camera:
        cli = subprocess.Popen([sys.executable, "-u", "-m", "app.cli", "camera", "--server", world.url, "--office",
                                world.office_code, "--token", world.tokens[world.office_code], camera.url],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            hr = await asyncio.to_thread(world.login, "hr")
            watcher = RollcallWatcher(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/events", hr)
            everyone = set(world.people.values())
            ok = await wait_for(lambda: all(watcher.statuses().get(e) in MARKED for e in everyone), 150, 0.5)
            if not ok:
                out, err = _stop(cli)
                live = getattr(world.server.app.state, "live", None)
                media = live.media_status(world.assembly_id) if live else None
                pytest.fail(f"not all marked: {watcher.statuses()}; media {media}; "
                            f"camera requests {camera.requests}, frames {camera.frames_sent}; "
                            f"apel camera said: {out[-2000:]} {err[-3000:]}")
            assert {"DESCRIBE", "SETUP", "PLAY"} <= set(camera.requests)
            got = records(world)
            assert set(got) == everyone and all(c == 1 for _, _, c in got.values())
        finally:
            if watcher:
                watcher.stop()
            out, err = _stop(cli)
            await asyncio.to_thread(gen.close)
    assert "joined apel" in out, (out, err)


def test_camera_that_does_not_answer_is_a_clear_error(tmp_path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there now
    url = f"rtsp://127.0.0.1:{port}/office"
    p = subprocess.run([sys.executable, "-m", "app.cli", "camera", "--server", "http://127.0.0.1:9", "--office", "X",
                        "--token", "t", "--max-retries", "1", url],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.count(f"cannot open the camera {url}") == 2, p.stderr   # tried, retried once, gave up
    assert "giving up" in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_the_test_rtsp_server_ends_its_threads(tmp_path) -> None:
    """A thread left in accept() kept the test suite from exiting."""
    import socket
    import time

    with RtspCamera(tmp_path / "no-clip.mp4") as camera:
        with socket.create_connection(("127.0.0.1", camera.port), timeout=5) as client:   # a client's thread too
            client.sendall(f"OPTIONS {camera.url} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
            assert client.recv(4096).startswith(b"RTSP/1.0 200 OK")
        time.sleep(0.2)
        threads = list(camera._threads)
        assert len(threads) == 2
    assert not [t for t in threads if t.is_alive()]
