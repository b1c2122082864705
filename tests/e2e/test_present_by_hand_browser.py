"""Real Chromium on both sides of "present, not seen by the camera": the office's operator (their page
joined with a camera that shows nobody) finds a person of the roster the camera never detected, taps
"Hadir, tidak terlihat kamera", confirms, and the leader's console, open in a second browser and never
reloaded, shows them present with the hand mark as the source; the operator's undo takes it back
there too."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from attendance.models import Employee
from tests.app.live.conftest import build_live_world

from .cdp import Browser, fake_camera

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"


def _add_hidden(world) -> int:
    with world.server.app.state.session_factory() as db:
        e = Employee(nip="198001012005019797", name="Pegawai Tersembunyi", office_id=world.office_id)
        db.add(e)
        db.commit()
        return e.id


async def test_operator_marks_present_by_hand_and_the_console_shows_it(chromium, sqlite_url, settings_factory,
                                                                       tmp_path) -> None:
    gen = build_live_world(sqlite_url, settings_factory, {})
    world = await asyncio.to_thread(next, gen)
    office_browser = Browser(tmp_path / "office-profile", fake_camera())
    leader_browser = Browser(tmp_path / "leader-profile", fake_camera())
    try:
        hidden = await asyncio.to_thread(_add_hidden, world)
        await office_browser.start()
        office = await office_browser.new_page()
        await office.login(world.url, "operator", world.users["operator"], page="/live/join")
        await office.join_office(world.url, world.office_code, world.tokens[world.office_code])

        await leader_browser.start()
        console = await leader_browser.new_page()
        await console.login(world.url, "leader", world.users["leader"], page="/live/join")
        await console.goto(f"{world.url}/live/assemblies/{world.assembly_id}")
        row = f"document.querySelector('#people li[data-employee-id=\"{hidden}\"]')"
        assert await console.wait_for(f"{row} && {row}.dataset.status === 'not_seen' && 'yes'", 30) == "yes"

        # the operator finds the person nobody's camera saw and marks them, with a confirm step
        person = f"document.querySelector('#hand-people li[data-employee-id=\"{hidden}\"]')"
        assert await office.wait_for(f"{person} && !document.getElementById('hand').hidden && 'yes'", 30) == "yes", \
            await office.eval("document.getElementById('faces').innerText")
        await office.eval("(() => { const s = document.getElementById('hand-search'); s.value = 'tersembunyi';"
                          " s.dispatchEvent(new Event('input')); })()")
        await office.eval(f"{person}.querySelector('button.hand-mark').click()")
        assert await office.wait_for(f"{person}.querySelector('.hand-confirm') && 'yes'", 5) == "yes"
        assert "Pegawai Tersembunyi" in await office.eval(f"{person}.querySelector('.hand-confirm').innerText")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await office.eval("document.getElementById('hand').scrollIntoView()")
        await office.screenshot(ARTIFACTS / "present_by_hand_confirm.png")
        await office.eval(f"{person}.querySelector('button.hand-yes').click()")
        marked = f"document.querySelector('#hand-marked li[data-employee-id=\"{hidden}\"]')"
        assert await office.wait_for(f"{marked} && 'yes'", 15) == "yes", \
            await office.eval("document.getElementById('faces-note').textContent")
        assert "operator" in await office.eval(f"{marked}.innerText")
        assert await office.eval(f"!!{person}") is False   # no longer offered

        # the leader's console, never reloaded, shows them present with the source
        shown = (f"{row} && {row}.dataset.status === 'present' && {row}.querySelector('.by-hand')"
                 f" && {row}.querySelector('.by-hand').title")
        title = await console.wait_for(shown, 15)
        assert title and "operator" in title, await console.eval(f"({row} || document.body).outerHTML")
        await office.screenshot(ARTIFACTS / "present_by_hand_marked.png")
        await console.eval(f"{row}.scrollIntoView()")
        await console.screenshot(ARTIFACTS / "present_by_hand_console.png")

        # undo: the record goes back and the console follows
        await office.eval(f"{marked}.querySelector('button.hand-undo').click()")
        assert await office.wait_for(f"!{marked} && {person} && 'yes'", 15) == "yes"
        back = f"{row} && {row}.dataset.status === 'not_seen' && !{row}.querySelector('.by-hand') && 'yes'"
        assert await console.wait_for(back, 15) == "yes", await console.eval(f"({row} || document.body).innerText")
    finally:
        await office_browser.close()
        await leader_browser.close()
        await asyncio.to_thread(next, gen, None)   # past its yield: the server stops
        shutil.rmtree(tmp_path / "office-profile", ignore_errors=True)
        shutil.rmtree(tmp_path / "leader-profile", ignore_errors=True)
