"""Real servers for the tests: uvicorn in a thread (the app's lifespan runs for real) and `apel serve`
as its own process. One place, so every test starts and stops them the same way and none is left
running."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn in a thread with its own event loop: the app's lifespan (and shutdown hooks) run for real."""

    def __init__(self, app, port: int | None = None) -> None:
        import uvicorn

        from app.cli.main import GRACEFUL_SHUTDOWN_S

        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
        self.thread = threading.Thread(target=self.server.run, name="test-uvicorn", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """As SIGTERM does to `apel serve`: open streams get GRACEFUL_SHUTDOWN_S, then the app's
        shutdown hooks run; a server that has not finished within the wait fails the test."""
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the server did not stop"

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def apel_serve(env: dict[str, str], log_path: Path, port: int | None = None,
               extra_args: tuple[str, ...] = (),
               command: tuple[str, ...] = ("-m", "app.cli", "serve")) -> Iterator[tuple[str, subprocess.Popen]]:
    """`apel serve` (with `extra_args`, e.g. --demo) in its own process with `env`, answering /health; yields
    its URL and process. `command`: what Python runs (a bench's probe that wraps `serve`). On the way out a
    process still running is terminated (killed after 10 s), so none outlives the test."""
    port = port or free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, *command, "--port", str(port), *extra_args],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/api/v1/health", timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, log_path.read_text()
                time.sleep(0.3)
            yield url, proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
