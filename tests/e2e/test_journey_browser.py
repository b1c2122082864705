"""The whole first apel as its three users do it, in real headless Chromiums against a real server.

HR (signed in) enrols two offices from real photos: one by the bulk form (a roster CSV and a ZIP of
`<NIP>/<phone-named photo>`), the other person by person (a NIP pasted as printed on an ID card, then a
photo). The leader schedules and starts the apel from the apel pages and issues each office's token.
Office 1 opens its join link in a browser whose camera plays a synthetic office of its people; office 2
runs `apel camera` on a clip of its own. The leader's console shows all four present; the leader ends
the apel, answering the page's question; the office page says it ended. HR opens the review queue and
the apel, corrects the one person never seen to Izin with a reason and a document number, and
downloads the apel report (XLSX and PDF) from the report page: the correction is in both."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from attendance.i18n import t
from tests.app.live.conftest import LIVE_MIN_CONFIDENCE, OFFICE_HFOV, office_clip
from tests.servers import ROOT, ServerThread

from .cdp import Browser, Page, fake_camera
from .y4m import clip_to_y4m

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.shared_data]
ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"
PASSWORD = "correct horse battery staple"
TZ = "Asia/Makassar"
# Who stands in which office (lfw10 folders). GEORGE is enrolled in office 1 and never comes.
OFFICE1 = {"Ariel_Sharon": "198001012005011001", "Arnold_Schwarzenegger": "198001012005011002"}
ABSENT = ("George_W_Bush", "198001012005011003")
OFFICE2 = {"Colin_Powell": "19850312 201001 1 001", "Donald_Rumsfeld": "19850312 201001 1 002"}   # as printed
NEW_EMPLOYEE, NEW_APEL = "form[method=post][action='/employees']", "form[method=post][action='/apel']"
REASON, DOCUMENT = "Dinas luar ke Denpasar", "SPT-094/BKPSDM/2026"


def _name(folder: str) -> str:
    return folder.replace("_", " ")


async def _clips(shared_data: Path, work: Path) -> dict[str, tuple[Path, dict[str, Path]]]:
    """Each office's clip, rendered from a roster folder of its own people only (links to lfw10); the
    two at once."""
    def render(code: str, people: dict[str, str]) -> tuple[Path, dict[str, Path]]:
        roster = work / f"roster-{code}"
        roster.mkdir()
        for folder in people:
            (roster / folder).symlink_to(shared_data / "faces" / "lfw10" / folder, target_is_directory=True)
        return office_clip(shared_data, work, len(people), seconds=8, roster=roster, name=code, masked_fraction=0.0)

    one, two = await asyncio.gather(asyncio.to_thread(render, "OPD1", OFFICE1),
                                    asyncio.to_thread(render, "OPD2", OFFICE2))
    return {"OPD1": one, "OPD2": two}


def _server(sqlite_url: str, settings_factory) -> ServerThread:
    """What the administrator set up before the first day: two offices, HR's and the leader's accounts,
    and the rule set's min_confidence at vision's scale (tests.app.live.conftest.LIVE_MIN_CONFIDENCE)."""
    from app.web.app import create_app
    from attendance.assemblies.rulesets import create_ruleset_version
    from attendance.db.unit_of_work import committed
    from attendance.roster.offices import create_office
    from attendance.roster.users import create_user

    app = create_app(settings_factory(sqlite_url))
    with app.state.session_factory() as db:
        create_office(db, actor="admin", code="OPD1", name="Dinas Satu", timezone=TZ, camera_hfov_deg=OFFICE_HFOV)
        create_office(db, actor="admin", code="OPD2", name="Dinas Dua", timezone=TZ, camera_hfov_deg=OFFICE_HFOV)
        admin = create_user(db, actor="setup", username="admin", password=PASSWORD, role="admin")
        create_user(db, actor=admin, username="hr", password=PASSWORD, role="hr")
        create_user(db, actor=admin, username="leader", password=PASSWORD, role="leader")
        db.commit()
        committed(create_ruleset_version)(db, actor=admin, name="default", reason="calibrated for these cameras",
                                          min_confidence=LIVE_MIN_CONFIDENCE)
    server = ServerThread(app)
    server.start()
    return server


async def _submit(page: Page, form: str, then: str, timeout: float = 60) -> None:
    """Press the form's submit button as a person does, and wait for the page it leads to."""
    await page.eval(f"document.querySelector({json.dumps(form)}).setAttribute('data-left', '1'); true")
    await page.eval(f"setTimeout(() => document.querySelector({json.dumps(form + ' button[type=submit]')}).click(),"
                    " 0); true")
    done = await page.wait_for(f"document.readyState === 'complete' && !document.querySelector('[data-left]')"
                               f" && ({then}) && 'yes'", timeout)
    assert done == "yes", await page.eval("document.querySelector('main') ? document.querySelector('main')"
                                          ".innerText.slice(0, 800) : document.body.innerText.slice(0, 800)")


async def _fill(page: Page, form: str, values: dict[str, str]) -> None:
    """Type into the form's fields (by name), as a person does."""
    missing = await page.eval(f"""(() => {{ const f = document.querySelector({json.dumps(form)});
        const v = {json.dumps(values)};
        const missing = Object.keys(v).filter(k => !f.querySelector(`[name="${{k}}"]`));
        if (!missing.length) for (const [k, x] of Object.entries(v)) f.querySelector(`[name="${{k}}"]`).value = x;
        return missing; }})()""")
    assert missing == [], f"{form} has no field {missing}"


async def _flash(page: Page) -> str:
    return await page.eval("[...document.querySelectorAll('.flash')].map(f => f.innerText).join(' | ')")


async def hr_enrols(hr: Page, url: str, photos1: dict[str, Path], photos2: dict[str, Path], absent_photo: Path,
                    work: Path) -> None:
    # Office 1, all at once: the roster CSV and a ZIP of NIP folders with photos named as a phone names them.
    people1 = {**{f: (nip, photos1[f]) for f, nip in OFFICE1.items()}, ABSENT[0]: (ABSENT[1], absent_photo)}
    roster_csv, photos_zip = work / "pegawai-opd1.csv", work / "foto-opd1.zip"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["nip", "name", "office_code", "position"])
    for folder, (nip, _photo) in people1.items():
        w.writerow([nip, _name(folder), "OPD1", "Analis"])
    roster_csv.write_text(buf.getvalue(), encoding="utf-8")
    with zipfile.ZipFile(photos_zip, "w") as z:
        for n, (nip, photo) in enumerate(people1.values()):
            z.write(photo, f"{nip}/20240315_08301{n}.jpg")
    await hr.goto(f"{url}/enrolment")
    await hr.choose_files("input[name=roster]", roster_csv)
    await hr.choose_files("input[name=photos]", photos_zip)
    await _submit(hr, "form[action='/enrolment']", "document.querySelector('.flash')")
    assert await _flash(hr) == t("enrol.bulk_done", "id", created=3, photos=3)
    enrolled = await hr.eval("document.querySelector('main').innerText")
    assert all(nip in enrolled for nip, _ in people1.values()), enrolled

    # Office 2, one by one: the NIP pasted as printed on the ID card, then the face photo.
    for folder, printed in OFFICE2.items():
        await hr.goto(f"{url}/employees")
        office2 = await hr.eval(f"[...document.querySelectorAll({json.dumps(NEW_EMPLOYEE + ' select option')})]"
                                ".find(o => o.textContent.startsWith('OPD2')).value")
        await _fill(hr, NEW_EMPLOYEE, {"nip": printed, "name": _name(folder), "office_id": office2,
                                       "position": "Pranata Komputer"})
        await _submit(hr, NEW_EMPLOYEE, "/^\\/employees\\/\\d+$/.test(location.pathname)")
        assert await _flash(hr) == t("employees.created", "id", name=_name(folder))
        await hr.choose_files("input[name=photo]", photos2[folder])
        await _submit(hr, "form[action$='/photos']", "document.querySelector('.flash')")
        flashed = await _flash(hr)
        assert flashed.startswith(t("enrol.accepted", "id", quality="")[:-2]), flashed
    await hr.goto(f"{url}/employees")
    listed = await hr.eval("document.querySelector('main').innerText")
    for folder in [*OFFICE1, ABSENT[0], *OFFICE2]:
        assert _name(folder) in listed, listed


async def leader_opens(lead: Page, url: str) -> tuple[int, str, str]:
    """Schedules the apel 30 minutes from now (so everyone seen is on time) and starts it early; returns
    its id, office 1's join link and office 2's token."""
    start = datetime.now(ZoneInfo(TZ)) + timedelta(minutes=30)
    await lead.goto(f"{url}/apel")
    await _fill(lead, NEW_APEL, {"title": "Apel pagi gabungan", "local_date": f"{start:%Y-%m-%d}",
                                 "local_time": f"{start:%H:%M}"})
    await _submit(lead, NEW_APEL, "/^\\/apel\\/\\d+$/.test(location.pathname)")
    assert await _flash(lead) == t("att.flash.created", "id")
    aid = int(await lead.eval("location.pathname.split('/').pop()"))
    await _submit(lead, f"form[action='/apel/{aid}/start']", "document.querySelector('.flash')")
    assert await _flash(lead) == t("att.flash.start", "id")
    assert await lead.eval("document.querySelector('h1 .badge').textContent") == t("att.astatus.open", "id")
    links = {}
    for code in ("OPD1", "OPD2"):
        await lead.eval(f"""(() => {{ const s = document.querySelector('form[action$="/token"] select[name=office_id]');
            s.value = [...s.options].find(o => o.textContent === '{code}').value; return true; }})()""")
        await _submit(lead, "form[action$='/token']", "document.getElementById('join-url')")
        links[code] = (await lead.eval("document.getElementById('join-url').value"),
                       await lead.eval("document.querySelector('#new-token code').textContent"))
        assert links[code][0].startswith(f"{url}/live/join?office={code}#token=")
    return aid, links["OPD1"][0], links["OPD2"][1]


def _camera(url: str, clip: Path, token: str) -> subprocess.Popen:
    """Office 2's `apel camera`, the token in its environment as the docs advise."""
    return subprocess.Popen([sys.executable, "-u", "-m", "app.cli", "camera", "--server", url, "--office", "OPD2",
                             "--loop", str(clip)], cwd=ROOT, env={**os.environ, "APEL_OFFICE_TOKEN": token},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0]


def _media(server: ServerThread, aid: int) -> list[dict]:
    """What reached the server from each office, for a failure's message."""
    status = server.app.state.live.media_status(aid) or {"offices": []}
    keys = ("office", "frames", "resolution", "submitted_frames", "analysed_frames", "join_to_first_analysis_s")
    return [{k: o.get(k) for k in keys} for o in status["offices"]]


PRESENT = """(() => { const want = %s; const seen = {};
  document.querySelectorAll('#people li[data-employee-id]').forEach(li =>
    seen[li.querySelector('.name').textContent] = li.dataset.status);
  return want.every(n => ['present', 'late'].includes(seen[n])) && JSON.stringify(seen); })()"""


async def hr_corrects_and_exports(hr: Page, url: str, aid: int, downloads: Path) -> None:
    await hr.goto(f"{url}/review")   # the queue of faces nobody named (the synthetic offices leave none)
    assert await hr.eval("document.querySelector('h1').textContent") == t("att.review.title", "id")
    await hr.goto(f"{url}/apel/{aid}")
    row = f"[...document.querySelectorAll('tr')].find(tr => tr.innerText.includes('{_name(ABSENT[0])}'))"
    assert await hr.eval(f"{row}.dataset.status") == "tk"
    await hr.eval(f"{row}.querySelector('a[href^=\"/records/\"]').click(); true")
    assert await hr.wait_for("/^\\/records\\/\\d+$/.test(location.pathname) && document.readyState === 'complete'"
                             " && document.getElementById('correct-form') && 'yes'", 20) == "yes"
    await _fill(hr, "#correct-form", {"status": "excused", "excuse_category": "izin", "reason": REASON,
                                      "attachment_ref": DOCUMENT})
    await _submit(hr, "#correct-form", "document.querySelector('.flash')")
    assert await _flash(hr) == t("att.flash.corrected", "id")
    assert (await hr.eval("document.getElementById('record-status').textContent")).startswith(
        t("att.status.excused", "id"))
    history = await hr.eval("document.querySelector('#history tbody').innerText")
    assert REASON in history and DOCUMENT in history and "hr" in history, history

    # The apel report: each office's figures, the correction in its office's list of people.
    await hr.goto(f"{url}/reports/apel/{aid}")
    summary = await hr.eval(SUMMARY)
    present, tk = t("rep.c.present", "id"), t("rep.c.tk", "id")
    assert [summary["OPD1"][present], summary["OPD1"][tk], summary["OPD1"]["Izin"]] == ["2", "0", "1"], summary
    assert [summary["OPD2"][present], summary["OPD2"][tk]] == ["2", "0"], summary
    await hr.eval("[...document.querySelectorAll('#apel-summary tbody tr')].find(tr => tr.cells[0].textContent"
                  " === 'OPD1').querySelector('a').click(); true")
    absent = json.dumps(_name(ABSENT[0]))
    person = await hr.wait_for("location.pathname.includes('/office/') && [...document.querySelectorAll("
                               f"'#people tbody tr')].map(tr => tr.innerText).find(x => x.includes({absent}))", 20)
    assert person and REASON in person and DOCUMENT in person, person

    # The download form, once as XLSX and once as PDF (each a ZIP with its signature).
    await hr.goto(f"{url}/reports/apel/{aid}")
    await hr.allow_downloads(downloads)
    got: dict[str, bytes] = {}
    for fmt in ("xlsx", "pdf"):
        before = set(downloads.iterdir())
        await hr.eval(f"document.querySelector('form.download select[name=format]').value = '{fmt}'; true")
        await hr.eval("document.querySelector('form.download button[type=submit]').click(); true")
        for _ in range(200):
            new = [p for p in set(downloads.iterdir()) - before if not p.name.endswith(".crdownload")]
            if new:
                break
            await asyncio.sleep(0.1)
        assert new, f"no {fmt} download"
        with zipfile.ZipFile(new[0]) as z:
            name = next(n for n in z.namelist() if n.endswith(f".{fmt}"))
            assert f"{name}.sig" in z.namelist()
            got[fmt] = z.read(name)
    _check_exports(got)


SUMMARY = """(() => { const t = document.getElementById('apel-summary');
  const h = [...t.querySelectorAll('thead th')].map(th => th.textContent.trim());
  return Object.fromEntries([...t.querySelectorAll('tbody tr:not(.total)')].map(tr => {
    const c = [...tr.cells].map(td => td.textContent.trim());
    return [c[0], Object.fromEntries(h.map((k, i) => [k, c[i]]))]; })); })()"""


def _check_exports(got: dict[str, bytes]) -> None:
    """The corrected record's keterangan (Izin, the reason, the document number) is in both files."""
    import openpyxl
    from pypdf import PdfReader

    book = openpyxl.load_workbook(io.BytesIO(got["xlsx"]), read_only=True)
    cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
    notes = [c for c in cells if REASON in c]
    assert notes and DOCUMENT in notes[0], notes or cells[:80]
    assert any(_name(ABSENT[0]) in c for c in cells)
    text = "".join("".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(got["pdf"])).pages)
    assert "".join(REASON.split()) in text and DOCUMENT in text, text[:2000]


async def test_first_apel_from_enrolment_to_export(chromium, sqlite_url, settings_factory, shared_data,
                                                   tmp_path) -> None:
    # What the administrator set up before the first day; the offices' clips are the rooms in front of the cameras.
    server = await asyncio.to_thread(_server, sqlite_url, settings_factory)
    y4m = tmp_path / "opd1.y4m"
    browsers = {"hr": Browser(tmp_path / "hr-profile", []),
                "leader": Browser(tmp_path / "leader-profile", fake_camera()),   # the console sends the leader's camera
                "office": Browser(tmp_path / "office-profile", fake_camera(y4m))}
    cli = None
    try:
        clips = await _clips(shared_data, tmp_path)
        await asyncio.to_thread(clip_to_y4m, clips["OPD1"][0], y4m, fps=15, max_seconds=8)
        for b in browsers.values():
            await b.start()
        hr = await browsers["hr"].new_page()
        await hr.login(server.url, "hr", PASSWORD)
        absent_photo = sorted((shared_data / "faces" / "lfw10" / ABSENT[0]).glob("*.jpg"))[0]
        await hr_enrols(hr, server.url, clips["OPD1"][1], clips["OPD2"][1], absent_photo, tmp_path)

        lead = await browsers["leader"].new_page()
        await lead.login(server.url, "leader", PASSWORD)
        aid, join_link, token2 = await leader_opens(lead, server.url)

        office = await browsers["office"].new_page()   # the join link opened on the office's laptop
        await office.goto(join_link)
        await office.eval("document.querySelector('#join-form button[type=submit]').click(); true")
        state = await office.wait_for("document.getElementById('status').dataset.state === 'connected' && 'yes'", 40)
        assert state == "yes", (await office.eval("document.getElementById('status').textContent"), office.console)
        cli = _camera(server.url, clips["OPD2"][0], token2)

        await lead.eval("document.querySelector('a[href^=\"/live/assemblies/\"]').click(); true")   # Konsol pimpinan
        assert await lead.wait_for(f"location.pathname === '/live/assemblies/{aid}' && 'yes'", 20) == "yes"
        everyone = [_name(f) for f in [*OFFICE1, *OFFICE2]]
        seen = await lead.wait_for(PRESENT % json.dumps(everyone), 300, 0.5)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await lead.screenshot(ARTIFACTS / "journey_console.png")
        rows = await lead.eval("document.querySelector('#offices-table tbody').innerText")
        assert seen, f"console shows {rows}; apel camera: {cli.poll()}; media: {_media(server, aid)}"
        assert json.loads(seen)[_name(ABSENT[0])] == "not_seen"
        assert await lead.eval("[...document.querySelectorAll('#offices-table tbody tr')]"
                               ".map(tr => tr.querySelector('.n-present').textContent).join()") == "2,2"

        asked = await lead.click_then_answer("#end-apel", accept=True)   # "Akhiri apel", and the page asks
        assert asked == t("live.console.end_confirm", "id")
        ended = ("document.getElementById('end-apel').hidden && [...document.querySelectorAll("
                 "'#offices-table td[data-feed]')].every(td => td.dataset.feed === 'ended') && 'yes'")
        assert await lead.wait_for(ended, 30, 0.5) == "yes"
        closed = await office.wait_for("document.getElementById('status').dataset.state === 'closed' && "
                                       "document.getElementById('status').textContent", 45)
        assert closed == t("live.status.closed", "id")
        out, cli = await asyncio.to_thread(_stop, cli), None
        assert f"joined apel {aid} as office OPD2" in out, out

        await hr_corrects_and_exports(hr, server.url, aid, tmp_path / "downloads")
        await hr.screenshot(ARTIFACTS / "journey_report.png")
    finally:
        if cli is not None:
            await asyncio.to_thread(_stop, cli)
        for b in browsers.values():
            await b.close()
        await asyncio.to_thread(server.stop)
        for name in ("hr-profile", "leader-profile", "office-profile"):
            shutil.rmtree(tmp_path / name, ignore_errors=True)
