"""A real headless Chromium is the office: the operator signs in, joins from the office page with its
fake camera playing a synthetic office of real photos in which one person of the roster was never
enrolled. Their face appears on the office page as a crop; the operator finds them in the picker and
taps their name; a second browser, the leader's console, shows them present. Screenshots of both are
saved to tests/_artifacts/."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from attendance.models import FaceTemplate, SightingTrack
from attendance.vision.enrol import enrol_face
from attendance.vision.roster_dir import read_image_rgb
from tests.app.live.conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip
from tests.app.live.test_live_confirmations import NEW_NIP, _newcomer_face, add_newcomer

from .cdp import Browser, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"

async def test_operator_confirms_an_unknown_face_and_the_console_shows_them_present(
        chromium, sqlite_url, settings_factory, shared_data, tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    newcomer, *enrolled = sorted(photos)
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office.y4m", fps=15, max_seconds=8)
    gen = build_live_world(sqlite_url, settings_factory, {n: photos[n] for n in enrolled},
                           min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    office_browser = Browser(tmp_path / "office-profile", fake_camera(y4m))
    leader_browser = Browser(tmp_path / "leader-profile", fake_camera(y4m))   # its own cookies: another person
    try:
        new_id = await asyncio.to_thread(add_newcomer, world, newcomer)
        await office_browser.start()
        office = await office_browser.new_page()
        await office.login(world.url, "operator", world.users["operator"], page="/live/join")
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])

        # Which of the faces on the page is the newcomer: the person in the room knows; the test
        # knows from their photo (never stored).
        truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
        face_id = await _newcomer_face(world, await asyncio.to_thread(world.login, "operator"), truth)
        card = f"document.querySelector('li[data-face-id=\"{face_id}\"]')"
        assert await office.wait_for(f"{card} && {card}.dataset.status === 'open' && 'yes'", 30) == "yes"
        crop_ok = await office.wait_for(f"{card}.querySelector('img.face-crop').naturalWidth > 0 && 'yes'", 15)
        assert crop_ok == "yes"
        # search by NIP, then tap the name
        await office.eval(f"(() => {{ const s = {card}.querySelector('.face-search'); s.value = '{NEW_NIP[-6:]}';"
                          " s.dispatchEvent(new Event('input')); })()")
        picks = await office.eval(f"[...{card}.querySelectorAll('button.face-pick')].map(b => +b.dataset.employeeId)")
        assert picks == [new_id]
        await office.eval(f"{card}.querySelector('button.face-pick[data-employee-id=\"{new_id}\"]').click()")
        assert await office.wait_for(f"{card}.dataset.status === 'confirmed' && 'yes'", 30) == "yes", \
            await office.eval("document.getElementById('faces-note').textContent")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await office.screenshot(ARTIFACTS / "live_office_confirmed.png")

        await leader_browser.start()
        console = await leader_browser.new_page()
        await console.login(world.url, "leader", world.users["leader"], page="/live/join")
        await console.goto(f"{world.url}/live/assemblies/{world.assembly_id}")
        marked = ("(() => { const li = document.querySelector('li[data-employee-id=\"" + str(new_id) + "\"]');"
                  " return li && ['present', 'late'].includes(li.dataset.status) && 'yes'; })()")
        ok = await console.wait_for(marked, 60, 0.5)
        people = await console.eval("[...document.querySelectorAll('li[data-employee-id]')]"
                                    ".map(li => [li.dataset.employeeId, li.dataset.status])")
        assert ok == "yes", f"console shows {people}"
        # the console's own faces panel shows the answer, and who gave it
        answer = await console.wait_for(
            f"(() => {{ const c = {card}; return c && c.dataset.status === 'confirmed'"
            " && c.querySelector('.face-answer').textContent; })()", 30)
        assert answer and "operator" in answer and newcomer in answer, answer
        await console.screenshot(ARTIFACTS / "live_console_confirmed.png")
        with world.server.app.state.session_factory() as db:
            confirmed = db.execute(select(SightingTrack.confirmed_by).where(SightingTrack.employee_id == new_id)
                                   ).scalars().all()
            assert "operator" in confirmed
            kinds = db.execute(select(FaceTemplate.kind).where(FaceTemplate.employee_id == new_id)).scalars().all()
            assert kinds == ["sighting"], json.dumps(kinds)
    finally:
        await office_browser.close()
        await leader_browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "office-profile", ignore_errors=True)
        shutil.rmtree(tmp_path / "leader-profile", ignore_errors=True)
