"""Logins waiting for the password check wait on the event loop, not in request threads: a burst larger
than the request thread pool (anyio's 40) all gets in, in turn, while at most a handful of request
threads ever exist, so the reads keep theirs. Real uvicorn server on loopback, real SQLite file, real
argon2."""
from __future__ import annotations

import asyncio
import threading
import time

import httpx

from app.web.app import create_app
from attendance.models import User
from attendance.roster.passwords import hash_password
from tests.servers import ServerThread

PASSWORD = "correct horse battery"
BURST = 60   # more than anyio's 40 request threads


def _request_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("AnyIO worker thread"))


def test_a_burst_larger_than_the_thread_pool_waits_on_the_loop(sqlite_url: str, settings_factory) -> None:
    app = create_app(settings_factory(sqlite_url, login_hash_slots=1, login_hash_waiting=BURST), migrate=False)
    digest = hash_password(PASSWORD)
    with app.state.session_factory() as s:
        s.add_all([User(username=f"staf{i}", password_hash=digest, role="hr") for i in range(BURST + 1)])
        s.commit()
    threads_before = _request_threads()
    most = 0
    with ServerThread(app) as server:
        async def burst() -> tuple[list[int], list[float]]:
            async with httpx.AsyncClient(base_url=server.url, timeout=120,
                                         limits=httpx.Limits(max_connections=BURST + 10)) as http:
                first = await http.post("/api/v1/auth/login", json={"username": f"staf{BURST}", "password": PASSWORD})
                auth = {"Authorization": f"Bearer {first.json()['access_token']}"}

                async def read() -> float:
                    t0 = time.monotonic()
                    r = await http.get("/api/v1/auth/me", headers=auth)
                    assert r.status_code == 200, r.text
                    return time.monotonic() - t0

                logins = [asyncio.ensure_future(http.post("/api/v1/auth/login",
                                                          json={"username": f"staf{i}", "password": PASSWORD}))
                          for i in range(BURST)]
                reads = []
                while not all(t.done() for t in logins):
                    nonlocal most
                    most = max(most, _request_threads() - threads_before)
                    reads.append(await read())
                    await asyncio.sleep(0.05)
                return [t.result().status_code for t in logins], reads

        codes, reads = asyncio.run(burst())
    assert codes == [200] * BURST, sorted(set(codes))
    # One login past the gate, a read, the session middleware's and the database session's helpers: a
    # few threads, never one per waiting login (without the turn on the loop: the pool's 40).
    assert most <= 8, f"{most} request threads during a burst of {BURST} logins"
    assert reads and max(reads) < 5, f"reads during the burst took up to {max(reads):.1f} s"
