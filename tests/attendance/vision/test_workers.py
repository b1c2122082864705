"""Vision worker processes do not outlive a server that was killed (SIGKILL skips every cleanup)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from attendance.vision.workers import VisionWorkerPool
if __name__ == "__main__":
    pool = VisionWorkerPool(2)
    pool.start(lambda key, result: None)
    print(" ".join(str(p.pid) for p in pool._procs), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie waiting for its (new) parent to reap it has exited too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_exit_when_the_server_is_killed(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(SERVER.format(root=str(ROOT)))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(p) for p in server.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        status = {p: [line for line in Path(f"/proc/{p}/status").read_text().splitlines()
                      if line.startswith(("State", "PPid"))]
                  for p in workers if _alive(p)}
        assert not status, f"vision workers outlived their server: {status} (server {server.pid})"
    finally:
        if server.poll() is None:
            server.kill()
        for p in workers if "workers" in locals() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


# An owner of a pool (what `apel serve` is to it): a worker busy on one office's large frame, a second
# office's frame half written into the same worker's inbox (a frame is larger than a pipe holds). Then
# the test kills the worker with SIGKILL and tells the owner either to exit at once, without closing
# the pool (an interpreter exit with a pool left open, as a test or a crashed service leaves it), or to
# check the pool's recovery and close it.
OWNER = """
import sys, threading, time
sys.path.insert(0, {root!r})
import numpy as np
from attendance.vision.config import PipelineConfig
from attendance.vision.workers import VisionWorkerPool

if __name__ == "__main__":
    results = {{}}
    arrived = threading.Condition()

    def on_result(key, result):
        with arrived:
            results.setdefault(key, []).append(result)
            arrived.notify_all()

    def wait_for(key, n, timeout):
        with arrived:
            return arrived.wait_for(lambda: len(results.get(key, [])) >= n, timeout)

    pool = VisionWorkerPool(1, recogniser="dlib")
    pool.start(on_result)
    for key in ("a", "b"):
        pool.configure(key, [], PipelineConfig(hfov_deg=50))
    small = np.zeros((120, 160, 3), np.uint8)
    big = np.random.default_rng(0).integers(0, 255, (2160, 3840, 3), dtype=np.uint8)
    # Each stream's first look is a quick one (PipelineConfig.quick_first_frame) and is taken before
    # other streams' frames (workers._next_message); after it, a frame of the same size a detection
    # interval later is a whole look, seconds on a 4K frame, and the two are handled in the order sent.
    assert pool.submit("a", big, 0.0) and wait_for("a", 1, 300), "the worker never answered"
    assert pool.submit("b", big, 0.0) and wait_for("b", 1, 300), "the worker never answered"
    assert pool.submit("a", big, 10.0) and pool.submit("b", big, 10.0)
    time.sleep(0.5)   # the worker is inside the first frame; the second is still being written to it
    print("ready", pool._procs[0].pid, flush=True)
    mode = sys.stdin.readline().strip()
    if mode == "exit":
        sys.exit(0)   # no close(): nothing may hold the interpreter's exit
    ok_failed = wait_for("a", 2, 20) and results["a"][1] is None and wait_for("b", 2, 20) and results["b"][1] is None
    print("frames failed", ok_failed, pool.errors[-1][1] if pool.errors else "", flush=True)
    again = pool.submit("a", small, 20.0) and wait_for("a", 3, 300)
    print("restarted", pool.restarts, again and results["a"][2] is not None, pool._procs[0].pid, flush=True)
    t0 = time.monotonic()
    pool.close()
    print("closed in", round(time.monotonic() - t0, 2), flush=True)
"""


def _owner(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    script = tmp_path / "owner.py"
    script.write_text(OWNER.format(root=str(ROOT)))
    owner = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.startswith("ready"), (line, owner.stderr.read() if owner.poll() is not None else "")
    return owner, int(line.split()[1])


def test_owner_exits_at_once_after_its_worker_was_killed_mid_frame(tmp_path):
    owner, worker = _owner(tmp_path)
    try:
        os.kill(worker, signal.SIGKILL)
        t0 = time.monotonic()
        owner.communicate("exit\n", timeout=15)
        assert time.monotonic() - t0 < 10
        assert owner.returncode == 0
    except subprocess.TimeoutExpired:
        raise AssertionError("the pool's owner did not exit: it waits on a frame for a dead worker") from None
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.communicate()


def test_a_killed_worker_fails_its_frames_and_is_replaced(tmp_path):
    owner, worker = _owner(tmp_path)
    try:
        os.kill(worker, signal.SIGKILL)
        out, err = owner.communicate("close\n", timeout=400)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.communicate()
    lines = {ln.split(" ", 1)[0]: ln for ln in out.splitlines()}
    assert owner.returncode == 0, (out, err)
    assert lines["frames"].startswith("frames failed True") and "died" in lines["frames"], out   # not left busy
    restarted = lines["restarted"].split()
    assert restarted[1:3] == ["1", "True"] and int(restarted[3]) != worker, out   # a new worker analyses again
    assert float(lines["closed"].split()[-1]) < 10, out
    assert "Traceback" not in err, err


def test_workers_run_below_the_server_and_a_bad_nice_is_refused() -> None:
    """When the cores are short the server (pages, API, media) must go first: the workers run at the
    pool's `nice` below their parent, set by each worker itself (a restarted one too)."""
    import pytest

    from attendance.vision.workers import VisionWorkerPool

    with pytest.raises(ValueError, match="nice"):
        VisionWorkerPool(1, nice=20)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    want = min(19, own + 4)
    pool = VisionWorkerPool(1, recogniser="dlib", nice=4)
    pool.start(lambda key, result: None)
    try:
        pid = pool._procs[0].pid
        assert pid is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and os.getpriority(os.PRIO_PROCESS, pid) != want:
            time.sleep(0.1)
        assert os.getpriority(os.PRIO_PROCESS, pid) == want
        assert os.getpriority(os.PRIO_PROCESS, 0) == own   # the server's own priority is untouched
    finally:
        pool.close()


def test_a_new_streams_first_frame_goes_before_other_streams_frames() -> None:
    """Offices joining together: the first frame of a stream not looked at yet is handled before the
    frames of streams already in view (which may be dear whole looks); other messages keep their order
    and are never passed by a frame sent after them."""
    import queue
    from collections import deque
    from typing import Any

    from attendance.vision.workers import _next_message

    inbox: queue.Queue[Any] = queue.Queue()
    sent: list[Any] = [("frame", "a", None, 0.0), ("frame", "b", None, 0.0), ("configure", "c", [], None),
                       ("frame", "c", None, 0.0), None]
    for m in sent:
        inbox.put(m)
    pending: deque[Any] = deque()
    fresh = {"b", "c"}
    order = []
    while True:
        msg: Any = _next_message(inbox, pending, fresh)   # type: ignore[arg-type]   # a queue.Queue will do
        if msg is None:
            break
        order.append(msg[:2])
        fresh.discard(msg[1])
    assert order == [("frame", "b"), ("frame", "a"), ("configure", "c"), ("frame", "c")]
    assert not pending
