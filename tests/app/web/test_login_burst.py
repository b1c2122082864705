"""A burst of logins cannot take the whole server: at most `login_hash_slots` password checks run at
once and `login_hash_waiting` wait; the rest get a quick 503 `busy` with Retry-After, and a logged-in
read answers meanwhile. Real uvicorn server on loopback, real SQLite file, real argon2."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from app.web.app import create_app
from attendance.roster.users import create_user
from tests.servers import ServerThread

from .test_load import PASSWORD

BURST = 12


def test_a_burst_of_logins_is_bounded_and_reads_go_on(sqlite_url: str, settings_factory) -> None:
    app = create_app(settings_factory(sqlite_url, login_hash_slots=1, login_hash_waiting=2), migrate=False)
    with app.state.session_factory() as s:
        for i in range(BURST + 1):
            create_user(s, actor="test", username=f"staf{i}", password=PASSWORD, role="hr", office_id=None)
        s.commit()
    server = ServerThread(app)
    server.start()
    url = server.url
    try:
        first = httpx.post(f"{url}/api/v1/auth/login", json={"username": f"staf{BURST}", "password": PASSWORD},
                           timeout=30)
        headers = {"Authorization": f"Bearer {first.json()['access_token']}"}

        def login(i: int) -> httpx.Response:
            return httpx.post(f"{url}/api/v1/auth/login", json={"username": f"staf{i}", "password": PASSWORD},
                              timeout=60)

        with ThreadPoolExecutor(BURST + 1) as pool:
            burst = [pool.submit(login, i) for i in range(BURST)]
            time.sleep(0.2)
            t0 = time.monotonic()
            read = httpx.get(f"{url}/api/v1/auth/me", headers=headers, timeout=60)
            read_s = time.monotonic() - t0
            answers = [f.result() for f in burst]
        codes = sorted(r.status_code for r in answers)
        assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
        # One check at a time and two waiting: at most three of the burst got in at once; the others were
        # told to come back (and then get in, as a person pressing the button again would).
        busy = [r for r in answers if r.status_code == 503]
        assert all(r.json()["detail"]["code"] == "busy" and int(r.headers["retry-after"]) > 0 for r in busy)
        assert read.status_code == 200 and read_s < 5, f"a read took {read_s:.1f} s during the burst"
        again = login(answers.index(busy[0]))   # the same person, a moment later
        assert again.status_code == 200
    finally:
        server.stop()
