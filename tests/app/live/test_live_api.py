"""The live API on a running server: refusals are clear and change nothing; ICE config; `apel camera`
refuses a bad token and says when the server is unreachable."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from attendance.models import AssemblyOffice

from .conftest import build_live_world, free_port

ROOT = Path(__file__).resolve().parents[3]
GOOD_SHAPE_SDP = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")


@pytest.fixture
def world(db_url, settings_factory):
    yield from build_live_world(db_url, settings_factory, {}, ice_servers=["stun:stun.example.org:3478",
                                                                           "turn:turn.example.org:3478"],
                                turn_username="apel", turn_password="s3cret")


def join_count(world) -> int:
    with world.server.app.state.session_factory() as db:
        return sum(ao.join_count for ao in db.execute(select(AssemblyOffice)).scalars())


def test_office_join_refusals(world) -> None:
    url = f"{world.url}/api/v1/live/office/join"
    token = world.tokens["OPD1"]
    cases = [
        ({"office": "OPD1", "token": "wrong", "sdp": "v=0\r\n", "type": "offer"}, 401, "bad_token"),
        ({"office": "OPD9", "token": token, "sdp": "v=0\r\n", "type": "offer"}, 401, "bad_token"),
        ({"office": "OPD1", "token": token, "sdp": "hello", "type": "offer"}, 400, "malformed_sdp"),
        ({"office": "OPD1", "token": token, "sdp": GOOD_SHAPE_SDP, "type": "offer"}, 400, "no_media"),
        ({"office": "OPD1", "token": token, "sdp": "v=0\r\n", "type": "answer"}, 400, "not_an_offer"),
    ]
    for body, status, code in cases:
        r = httpx.post(url, json=body, timeout=30)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]["code"] == code and r.json()["detail"]["message"]
    r = httpx.post(url, json={"office": "OPD1"}, timeout=30)   # missing fields
    assert r.status_code == 422
    assert join_count(world) == 0   # nothing recorded for refused joins


def test_roles_and_apel_state(world) -> None:
    hr = world.login("hr")
    r = httpx.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader", headers=hr,
                   json={"sdp": "v=0\r\n", "type": "offer"}, timeout=30)
    assert r.status_code == 403
    leader = world.login("leader")
    r = httpx.post(f"{world.url}/api/v1/live/assemblies/999/leader", headers=leader,
                   json={"sdp": "v=0\r\n", "type": "offer"}, timeout=30)
    assert r.status_code == 404 and r.json()["detail"]["code"] == "no_such_apel"
    r = httpx.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader", headers=leader,
                   json={"sdp": "garbage", "type": "offer"}, timeout=30)
    assert r.status_code == 400 and r.json()["detail"]["code"] == "malformed_sdp"
    # operators cannot watch the console; HR can read the roll-call
    op = world.login("operator")
    assert httpx.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall", headers=op).status_code == 403
    r = httpx.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall", headers=hr)
    assert r.status_code == 200 and r.json()["offices"][0]["code"] == "OPD1"
    assert httpx.get(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/rollcall").status_code == 401


def test_ice_servers_need_a_user_or_an_office_token(world) -> None:
    url = f"{world.url}/api/v1/live/ice-servers"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"X-Office-Code": "OPD1", "X-Office-Token": "nope"}).status_code == 401
    r = httpx.get(url, headers={"X-Office-Code": "OPD1", "X-Office-Token": world.tokens["OPD1"]})
    assert r.status_code == 200
    servers = r.json()["iceServers"]
    assert {"urls": "stun:stun.example.org:3478"} in servers
    assert {"urls": "turn:turn.example.org:3478", "username": "apel", "credential": "s3cret"} in servers


def run_camera(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "camera", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_camera_cli_refuses_bad_token(world, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _tiny_clip(clip)
    p = run_camera("--server", world.url, "--office", "OPD1", "--token", "wrong-token", str(clip))
    assert p.returncode == 2, p.stderr
    assert "bad_token" in p.stderr and "refused" in p.stderr
    assert join_count(world) == 0


def test_camera_cli_unreachable_server_and_missing_source(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    _tiny_clip(clip)
    p = run_camera("--server", f"http://127.0.0.1:{free_port()}", "--office", "OPD1", "--token", "t",
                   "--max-retries", "0", str(clip))
    assert p.returncode == 1 and "cannot reach" in p.stderr and "giving up" in p.stderr
    p = run_camera("--server", "http://127.0.0.1:1", "--office", "OPD1", "--token", "t", str(tmp_path / "none.mp4"))
    assert p.returncode == 2 and "video source not found" in p.stderr


def _tiny_clip(path: Path, seconds: int = 2) -> None:
    import av
    import numpy as np

    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=15)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for i in range(seconds * 15):
            img = np.full((120, 160, 3), (i * 8) % 255, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


async def test_leader_console_joins_and_ending_the_apel_closes_the_room(world) -> None:
    from media.client import connect_peer
    from tests.media.helpers import Collector, PatternTrack, wait_for

    leader = world.login("leader")
    mosaic = Collector()

    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader", json=offer,
                                headers=leader)
        assert r.status_code == 200, r.text
        return r.json()

    pc, _ = await connect_peer(signal, send_video=PatternTrack((320, 180)), on_track=mosaic.on_track)
    try:
        assert await wait_for(lambda: mosaic.frames >= 2, 20)        # the office mosaic comes back
        live = world.server.app.state.live
        assert live.media_status(world.assembly_id)["leader_connected"]
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{world.url}/api/v1/assemblies/{world.assembly_id}/end", headers=leader)
            assert r.status_code == 200, r.text
            assert await wait_for(lambda: str(world.assembly_id) not in live.media.rooms, 15)
            assert await wait_for(lambda: pc.connectionState in ("closed", "failed"), 30)
            # an ended apel takes no office and no console
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": "OPD1", "token": world.tokens["OPD1"], "sdp": "v=0\r\n"})
            assert r.status_code == 409 and r.json()["detail"]["code"] == "apel_finished"   # not "wrong token"
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": "OPD1", "token": "wrong", "sdp": "v=0\r\n"})
            assert r.status_code == 401 and r.json()["detail"]["code"] == "bad_token"
            r = await http.post(f"{world.url}/api/v1/live/assemblies/{world.assembly_id}/leader",
                                json={"sdp": "v=0\r\n", "type": "offer"}, headers=leader)
            assert r.status_code == 409 and r.json()["detail"]["code"] == "apel_not_open"
    finally:
        mosaic.stop()
        await pc.close()


def test_pages(world) -> None:
    hr, leader = world.login("hr"), world.login("leader")
    r = httpx.get(f"{world.url}/live/join?office=OPD1")
    assert r.status_code == 200 and 'value="OPD1"' in r.text and "/static/live/office.js" in r.text
    r = httpx.get(f"{world.url}/live", follow_redirects=False)
    assert r.status_code == 303 and "/login" in r.headers["location"]
    r = httpx.get(f"{world.url}/live", headers=hr)
    assert r.status_code == 200 and "Apel pagi" in r.text
    r = httpx.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=hr)
    assert r.status_code == 200 and 'data-mode="observer"' in r.text and "end-apel" not in r.text
    r = httpx.get(f"{world.url}/live/assemblies/{world.assembly_id}", headers=leader)
    assert r.status_code == 200 and 'data-mode="leader"' in r.text and "end-apel" in r.text
    r = httpx.get(f"{world.url}/live/assemblies/{world.assembly_id}?observe=1", headers=leader)
    assert 'data-mode="observer"' in r.text
    r = httpx.get(f"{world.url}/live", headers=world.login("operator"))   # their office's apels, to join
    assert r.status_code == 200 and 'href="/live/join?office=OPD1"' in r.text and "Apel pagi" in r.text
    for asset in ("common.js", "office.js", "console.js", "live.css"):
        assert httpx.get(f"{world.url}/static/live/{asset}").status_code == 200
