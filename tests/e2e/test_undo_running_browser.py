"""Real Chromium on both sides of an operator's confirmation while the apel runs: the operator's office
page (fake camera playing a synthetic office of real photos, one person never enrolled) shows the
newcomer's face confirmed; HR, in a second browser, sees on the review page the picture the operator
saw and takes the confirmation back there; the operator's page, which never reloads, asks for that
face again (its card open, the newcomer back in its picker)."""
from __future__ import annotations

import asyncio
import shutil

import httpx
import pytest
from sqlalchemy import select

from attendance.models import ReviewItem
from attendance.vision.enrol import enrol_face
from attendance.vision.roster_dir import read_image_rgb
from tests.app.live.conftest import LIVE_MIN_CONFIDENCE, build_live_world, office_clip
from tests.app.live.test_live_confirmations import NEW_NIP, _newcomer_face, add_newcomer

from .cdp import Browser, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]

def _assigned_item(world, employee_id: int) -> int:
    with world.server.app.state.session_factory() as db:
        return db.execute(select(ReviewItem.id).where(ReviewItem.assembly_id == world.assembly_id,
                                                      ReviewItem.resolved_employee_id == employee_id)).scalar_one()


async def test_hr_undo_in_the_queue_reaches_the_operators_page(chromium, sqlite_url, settings_factory, shared_data,
                                                               tmp_path) -> None:
    clip, photos = await asyncio.to_thread(office_clip, shared_data, tmp_path)
    newcomer, *enrolled = sorted(photos)
    y4m = await asyncio.to_thread(clip_to_y4m, clip, tmp_path / "office.y4m", fps=15, max_seconds=8)
    gen = build_live_world(sqlite_url, settings_factory, {n: photos[n] for n in enrolled},
                           min_confidence=LIVE_MIN_CONFIDENCE)
    world = await asyncio.to_thread(next, gen)
    office_browser = Browser(tmp_path / "office-profile", fake_camera(y4m))
    hr_browser = Browser(tmp_path / "hr-profile", fake_camera())
    try:
        new_id = await asyncio.to_thread(add_newcomer, world, newcomer)
        await office_browser.start()
        office = await office_browser.new_page()
        await office.login(world.url, "operator", world.users["operator"], page="/live/join")
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])

        op = await asyncio.to_thread(world.login, "operator")
        truth = enrol_face(read_image_rgb(photos[newcomer]), masked_variants=False).embedding
        face_id = await _newcomer_face(world, op, truth)
        card = f"document.querySelector('li[data-face-id=\"{face_id}\"]')"
        assert await office.wait_for(f"{card} && {card}.dataset.status === 'open' && 'yes'", 30) == "yes"
        # the operator taps the newcomer's name
        await office.eval(f"(() => {{ const s = {card}.querySelector('.face-search'); s.value = '{NEW_NIP[-6:]}';"
                          " s.dispatchEvent(new Event('input')); })()")
        await office.eval(f"{card}.querySelector('button.face-pick[data-employee-id=\"{new_id}\"]').click()")
        assert await office.wait_for(f"{card}.dataset.status === 'confirmed' && 'yes'", 30) == "yes", \
            await office.eval("document.getElementById('faces-note').textContent")

        # HR, in another browser, sees the face the operator confirmed and takes the answer back
        item_id = await asyncio.to_thread(_assigned_item, world, new_id)
        await hr_browser.start()
        review = await hr_browser.new_page()
        await review.login(world.url, "hr", world.users["hr"])
        await review.goto(f"{world.url}/review?status=assigned")
        img = f"document.querySelector('#item-{item_id} img')"
        assert await review.wait_for(f"{img} && {img}.complete && {img}.naturalWidth > 0 && 'yes'", 15) == "yes", \
            await review.eval(f"(document.getElementById('item-{item_id}') || document.body).innerText")
        await review.eval(f"document.querySelector('#item-{item_id} .review-undo input[name=reason]').value ="
                          " 'bukan orang ini'")
        await review.click_then_answer(f"#item-{item_id} .review-undo button[type=submit]")
        hr = await asyncio.to_thread(world.login, "hr")
        async with httpx.AsyncClient(timeout=30) as http:
            for _ in range(60):   # the form posts once the dialog is answered
                items = (await http.get(f"{world.url}/api/v1/review", headers=hr,
                                        params={"assembly_id": world.assembly_id, "status": ""})).json()
                if next(i for i in items if i["id"] == item_id)["status"] == "open":
                    break
                await asyncio.sleep(0.25)
        assert next(i for i in items if i["id"] == item_id)["status"] == "open", items

        # the operator's page, never reloaded, asks for the face again
        assert await office.wait_for(f"{card} && {card}.dataset.status === 'open' && 'yes'", 20) == "yes", \
            await office.eval(f"({card} || document.body).innerText")
        picks = await office.eval(f"[...{card}.querySelectorAll('button.face-pick')].map(b => +b.dataset.employeeId)")
        assert new_id in picks
    finally:
        await office_browser.close()
        await hr_browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "office-profile", ignore_errors=True)
        shutil.rmtree(tmp_path / "hr-profile", ignore_errors=True)
