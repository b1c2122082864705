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
