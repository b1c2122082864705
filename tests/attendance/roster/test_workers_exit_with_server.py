"""Worker processes die with the server: after kill -9 of the process that owns them, no enrolment or
vision worker is left behind holding its models in memory."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# A stand-in for `apel serve`: it starts both kinds of worker pool the service starts, prints their
# pids, then waits to be killed.
OWNER = """
import asyncio, io, os, sys, time
from PIL import Image
from attendance.roster.photos import EnrolmentWorkers, PhotoLimits
from attendance.vision.workers import VisionWorkerPool

def main():
    enrol = EnrolmentWorkers(1)
    buf = io.BytesIO(); Image.new("RGB", (64, 64), "grey").save(buf, "PNG")
    for work in (enrol.analyse(buf.getvalue(), PhotoLimits()),
                 enrol.analyse_many([("a.png", buf.getvalue())], PhotoLimits())):
        try:
            asyncio.run(work)
        except Exception:
            pass   # a grey square has no face: the workers (one per lane) exist all the same
    vision = VisionWorkerPool(workers=1, recogniser="dlib")
    vision.start(lambda key, result: None)
    pids = enrol.processes() + [p.pid for p in vision._procs]
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)

main()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_workers_exit_when_their_server_is_killed() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, f"expected two enrolment workers (one per lane) and a vision worker, got {line!r}"
        assert all(_alive(p) for p in pids)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = [p for p in pids if _alive(p)]
        assert not left, f"workers {left} outlived their server"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
