"""The leader's console for a province's 41 offices, in a real headless Chromium: one tile per office in a
grid that scrolls in its own box (not one shrinking mosaic), the roll-call table sorted by who came and
filtered by name or code, a tile opening the office large (by mouse and by keyboard), in Indonesian and
English, laid out from 1280 px to a 390 px phone. One office (OPD1) joins with a real aiortc sender, so
its tile shows a live feed while the other 40 have not joined; the others' attendance is written through
the domain (record_sightings), as the vision pipeline writes it."""
from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from attendance.assemblies.sightings import Sighting, record_sightings
from attendance.db.unit_of_work import committed
from attendance.models import Employee, Office
from media.client import PreEncodedTrack, connect_peer, encode_clip_vp8
from tests.app.live.conftest import build_live_world
from tests.app.web.test_browser_narrow_screens import LAYOUT_JS

from .cdp import Browser, Page

pytestmark = [pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
OFFICES = 41


def seed_attendance(world) -> dict[str, tuple[int, int, int]]:
    """Each office a roster of 2-6 people, some of them seen (present) and, in every seventh office, one
    distancing alert episode. Returns code -> (roster, came, alerts) for the assertions."""
    expected: dict[str, tuple[int, int, int]] = {}
    now = datetime.now(UTC)
    with world.server.app.state.session_factory() as db:
        offices = sorted(db.query(Office).all(), key=lambda o: o.id)
        assert len(offices) == OFFICES
        for k, office in enumerate(offices):
            roster = 2 + (k * 3) % 5
            staff = [Employee(nip=f"1980010120050{k:03d}{n:02d}", name=f"Pegawai {office.code}-{n}",
                              office_id=office.id) for n in range(roster)]
            db.add_all(staff)
            db.flush()
            came = (k * 7) % (roster + 1)
            alerts = 1 if k % 7 == 3 and came >= 2 else 0
            # Three confident frames each: the default rules' min_frames to count as seen.
            seen = [Sighting(employee_id=e.id, track_key=f"t{e.id}", at=now + timedelta(seconds=f), confidence=0.99,
                             mask=True, distancing_violation=bool(alerts and i < 2),
                             new_alerts=1 if alerts and i < 2 and f == 0 else 0)
                    for i, e in enumerate(staff[:came]) for f in range(3)]
            db.commit()
            if seen:
                committed(record_sightings)(db, world.assembly_id, office.id, seen)
            expected[office.code] = (roster, came, alerts)
    return expected


def synthetic_clip(path: Path) -> Path:
    """Two seconds of a moving gradient (no faces needed: the tile shows the feed, not who is in it)."""
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 15, (640, 360))
    ramp = np.tile(np.linspace(0, 255, 640, dtype=np.uint8), (360, 1))
    for i in range(30):
        out.write(cv2.merge([np.roll(ramp, 8 * i, axis=1), ramp, 255 - ramp]))
    out.release()
    return path


async def join_office(world, clip: Path, office: str = "OPD1"):
    packets = await asyncio.to_thread(encode_clip_vp8, str(clip), fps=15)

    async def signal(offer: dict) -> dict:
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.post(f"{world.url}/api/v1/live/office/join",
                                json={"office": office, "token": world.tokens[office], **offer})
        assert r.status_code == 200, r.text
        return r.json()

    pc, _ = await connect_peer(signal, send_video=PreEncodedTrack(packets), receive_video=False)
    return pc


TILES = "[...document.querySelectorAll('#office-grid .office-tile')]"
ROWS = "[...document.querySelectorAll('#offices-table tbody tr')]"
# The joined office's feed state on its tile, once it is joined or live.
OPD1_FEED = ("(() => { const t = document.querySelector('.office-tile[data-office=\"OPD1\"]');"
             " return t && ['ok', 'joined'].includes(t.dataset.feed) && t.dataset.feed; })()")


async def click(page: Page, selector: str) -> None:
    """A real mouse click at the element's centre (scrolled into view first), once the element is what
    the pointer is over there: a line appearing above (a status, Janus's error) may move it meanwhile."""
    sel = json.dumps(selector)
    for _ in range(20):
        box = await page.eval(f"(() => {{ const e = document.querySelector({sel});"
                              " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                              " const x = r.left + r.width / 2, y = r.top + r.height / 2;"
                              f" const hit = document.elementFromPoint(x, y);"
                              f" return hit && hit.closest({sel}) === e ? [x, y] : null; }})()")
        if box:
            break
        await asyncio.sleep(0.1)
    assert box, f"{selector} is not under the pointer"
    for kind in ("mousePressed", "mouseReleased"):
        await page.send("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


async def key(page: Page, name: str, code: int) -> None:
    """A key pressed as on a keyboard (Enter carries its text: that is what activates a button)."""
    text = {"Enter": "\r"}.get(name)
    await page.send("Input.dispatchKeyEvent", type="keyDown" if text else "rawKeyDown", key=name, code=name,
                    windowsVirtualKeyCode=code, nativeVirtualKeyCode=code, **({"text": text} if text else {}))
    await page.send("Input.dispatchKeyEvent", type="keyUp", key=name, code=name,
                    windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)


async def check_console(page: Page, expected: dict[str, tuple[int, int, int]], lang: str) -> None:
    words = {"id": ("Semua kantor", "Paling sedikit hadir dulu", "belum bergabung", "Tutup"),
             "en": ("All offices", "Fewest present first", "not joined", "Close")}[lang]
    assert await page.wait_for(f"{TILES}.length === {OFFICES} && {ROWS}.length === {OFFICES}", 20), \
        await page.eval(f"{TILES}.length")
    assert await page.eval("document.getElementById('office-grid-title').textContent") == words[0]
    assert await page.eval("document.getElementById('sort-fewest').textContent") == words[1]
    tile_of = "(c) => document.querySelector(`#office-grid .office-tile[data-office=\"${c}\"]`)"
    assert await page.eval(f"({tile_of})('OPD2').querySelector('.tile-feed').textContent") == words[2]
    # The tiles carry what the roll-call says: present / roster and the alerts.
    shown = await page.eval(f"Object.fromEntries({TILES}.map(t => [t.dataset.office,"
                            " [+t.dataset.present, +t.dataset.alerts]]))")
    assert shown == {c: [came, alerts] for c, (_, came, alerts) in expected.items()}
    # The grid scrolls inside its own box: 41 offices do not fit its height, and it really scrolls.
    scroll = await page.eval("(() => { const g = document.getElementById('office-grid'); g.scrollTop = 10000;"
                             " return [g.scrollHeight, g.clientHeight, g.scrollTop]; })()")
    assert scroll[0] > scroll[1] and scroll[2] > 0, scroll
    # 41 offices' people lists start closed; one the leader opens stays open through the next updates
    # (the media status re-renders every 2 s while OPD1 is joined).
    people = "document.querySelector('#people details[data-office=\"OPD5\"]')"
    assert await page.eval(f"{people}.open") is False
    await click(page, '#people details[data-office="OPD5"] summary')
    await page.eval("new Promise(r => setTimeout(r, 2500))")
    assert await page.eval(f"{people}.open") is True

    # One click: the offices with the fewest present come first, in the tiles and in the table.
    await click(page, "#sort-fewest")
    order = sorted(expected, key=lambda c: (expected[c][1], int(c[3:])))
    assert await page.wait_for(f"{ROWS}.map(r => r.dataset.office).join() === {json.dumps(','.join(order))}", 5), \
        await page.eval(f"{ROWS}.map(r => r.dataset.office).join()")
    assert await page.eval(f"{TILES}.map(t => t.dataset.office).join()") == ",".join(order)
    assert await page.eval("document.querySelector('th[data-sort=present]').getAttribute('aria-sort')") == "ascending"
    # The column heading by keyboard: focus it, Enter reverses the sort.
    await page.eval("document.querySelector('th[data-sort=present] button').focus()")
    await key(page, "Enter", 13)
    came_desc = await page.eval(f"{ROWS}.map(r => +r.querySelector('.n-present').textContent"
                                " + +r.children[5].textContent)")
    assert came_desc == sorted(came_desc, reverse=True) and came_desc[0] > came_desc[-1], came_desc
    assert await page.eval("document.querySelector('th[data-sort=present]').getAttribute('aria-sort')") == "descending"
    # Sorting by % and by alerts.
    await click(page, "th[data-sort=alerts] button")
    await click(page, "th[data-sort=alerts] button")
    alerts = await page.eval(f"{ROWS}.map(r => +r.children[8].textContent)")
    assert alerts == sorted(alerts, reverse=True) and alerts[0] == 1, alerts
    await click(page, "th[data-sort=percent] button")
    pct = await page.eval(f"{ROWS}.map(r => parseInt(r.querySelector('.n-percent').textContent))")
    assert pct == sorted(pct), pct

    # The filter narrows the tiles and the table to the offices whose code or name matches, as typed.
    await click(page, "#office-filter")
    await page.send("Input.insertText", text="opd4")
    want = sorted(c for c in expected if c.startswith("OPD4"))
    assert await page.wait_for(f"{TILES}.length === {len(want)}", 5), await page.eval(f"{TILES}.length")
    assert sorted(await page.eval(f"{ROWS}.map(r => r.dataset.office)")) == want
    assert await page.eval("document.getElementById('office-count').textContent.startsWith('3 ')")
    await click(page, "#sort-reset")
    assert await page.wait_for(f"{TILES}.length === {OFFICES}", 5)

    # A click opens the office large: its figures, and (embedded mode) the mosaic video with overlays below.
    await click(page, '#office-grid .office-tile[data-office="OPD1"]')
    assert await page.wait_for("!document.getElementById('office-detail').hidden && document.getElementById"
                               "('office-detail').dataset.office === 'OPD1'", 5)
    detail = await page.eval("document.getElementById('office-detail').innerText")
    assert "OPD1" in detail and words[3] in detail, detail
    assert await page.wait_for("document.querySelector('#office-detail .detail-media').dataset.media", 15) == "embedded"
    assert await page.eval("getComputedStyle(document.getElementById('mosaic')).display") != "none"
    # Escape closes it and gives the focus back to the tile; Enter on another tile opens that one.
    await key(page, "Escape", 27)
    assert await page.eval("document.getElementById('office-detail').hidden")
    assert await page.eval("document.activeElement.dataset.office") == "OPD1"
    await page.eval(f"({tile_of})('OPD17').focus()")
    await key(page, "Enter", 13)
    assert await page.wait_for("document.getElementById('office-detail').dataset.office === 'OPD17'"
                               " && !document.getElementById('office-detail').hidden", 5)
    await click(page, "#office-detail-close")
    assert await page.wait_for("document.getElementById('office-detail').hidden", 5)
    assert await page.eval("document.activeElement.dataset.office") == "OPD17"


async def test_console_for_41_offices(chromium, sqlite_url, settings_factory, tmp_path) -> None:
    gen = build_live_world(sqlite_url, settings_factory, {}, extra_offices=OFFICES - 1)
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", ["--use-fake-ui-for-media-stream",
                                                    "--use-fake-device-for-media-stream"])
    office_pc = None
    try:
        expected = await asyncio.to_thread(seed_attendance, world)
        office_pc = await join_office(world, await asyncio.to_thread(synthetic_clip, tmp_path / "office.avi"))
        await browser.start()
        page = await browser.new_page()
        await page.login(world.url, "leader", world.users["leader"], page="/live/join")
        await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang=id")
        # The joined office's tile shows its feed (joined, then live) and its camera check's state.
        feed = await page.wait_for(OPD1_FEED, 20)
        assert feed in ("ok", "joined"), feed
        assert await page.eval("!!document.querySelector('.office-tile[data-office=\"OPD1\"] .camera-badge')")
        await check_console(page, expected, "id")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "console_grid_41.png")

        await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang=en")
        await check_console(page, expected, "en")

        # From a laptop to a phone: the page never scrolls sideways, the table fits or scrolls in its box.
        for width, height in ((1280, 800), (390, 844)):
            await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                            deviceScaleFactor=1, mobile=width < 600)
            await page.eval("new Promise(r => setTimeout(r, 300))")
            problems = await page.eval(LAYOUT_JS % str(width >= 1280).lower())
            assert problems == [], (width, problems)
            cols = await page.eval("getComputedStyle(document.getElementById('office-grid'))"
                                   ".gridTemplateColumns.split(' ').length")
            assert cols >= (4 if width >= 1280 else 2), (width, cols)
            if width < 600:
                await page.screenshot(ARTIFACTS / "console_grid_phone.png")
    finally:
        if office_pc is not None:
            await office_pc.close()
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)


async def test_console_in_janus_mode_has_no_mosaic(chromium, sqlite_url, settings_factory, janus, tmp_path) -> None:
    """APEL_MEDIA=janus: the leader's connection brings no mosaic back (no black mosaic box). The tiles
    still show each office's feed (from Janus's forward) and the large view says that the office's video
    comes through Janus (it plays there: tests/e2e/test_console_janus_video.py). Janus lost mid-apel is
    said above the grid."""
    from tests.janus_server import ADMIN_KEY, API_SECRET

    gen = build_live_world(sqlite_url, settings_factory, {}, extra_offices=2, media="janus", janus_url=janus.url,
                           janus_api_secret=API_SECRET, janus_admin_key=ADMIN_KEY)
    world = await asyncio.to_thread(next, gen)
    browser = Browser(tmp_path / "chrome-profile", ["--use-fake-ui-for-media-stream",
                                                    "--use-fake-device-for-media-stream"])
    office_pc = None
    try:
        office_pc = await join_office(world, await asyncio.to_thread(synthetic_clip, tmp_path / "office.avi"))
        await browser.start()
        page = await browser.new_page()
        await page.login(world.url, "leader", world.users["leader"], page="/live/join")
        for lang, words in (("id", "lewat server media"), ("en", "comes through the media server")):
            await page.goto(f"{world.url}/live/assemblies/{world.assembly_id}?lang={lang}")
            assert await page.wait_for(f"{TILES}.length === 3", 20)
            feed = await page.wait_for(OPD1_FEED, 30)
            assert feed in ("ok", "joined"), (feed, page.console[-5:])
            await click(page, '#office-grid .office-tile[data-office="OPD1"]')
            assert await page.wait_for("document.querySelector('#office-detail .detail-media')?.dataset.media"
                                       " === 'janus'", 15), \
                (lang, await page.eval("[document.getElementById('office-detail').outerHTML.slice(0, 300),"
                                       " document.getElementById('console').dataset.media, document.activeElement"
                                       ".outerHTML.slice(0, 120)]"), page.console[-5:])
            note = await page.eval("document.querySelector('#office-detail .detail-media').textContent")
            assert words in note and "Janus" in note, note
            assert await page.eval("getComputedStyle(document.getElementById('mosaic')).display") == "none"
            assert await page.eval("document.querySelectorAll('#office-detail .office-video video').length") == 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(ARTIFACTS / "console_grid_janus.png")
        # Janus lost mid-apel: the console says so above the grid instead of leaving the tiles silently dead.
        await asyncio.to_thread(janus.stop)
        error = await page.wait_for("!document.getElementById('office-grid-error').hidden && document"
                                    ".getElementById('office-grid-error').textContent", 15)
        assert error and "Janus" in error, error
    finally:
        if office_pc is not None:
            await office_pc.close()
        await browser.close()
        await asyncio.to_thread(gen.close)
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
