"""In a real headless Chromium against a real server with the demo data: on 1600 and 1280 px screens
and a 390 px phone, in both languages, the leader console, the apel page, the reports (apel, office
drill-down, monthly recap) and the employees list never scroll sideways as a whole page, and every
table's right edge is visible or inside its own horizontally scrollable box. From 1280 px a table
must also fit its box: a box that has to be scrolled hides the columns (masks, distancing alerts,
unknown faces) a leader reads during the apel, which is the cut the issue saw."""
from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path

import pytest

from tests.app.live.conftest import ServerThread, free_port
from tests.e2e.cdp import Browser

pytestmark = [pytest.mark.e2e]
PASSWORD = "correct horse battery staple"
WIDTHS = [(1600, 900), (1280, 800), (390, 844)]

# Everything the page shows beyond the viewport's right edge, seen the way a user sees it: the page
# itself must not scroll sideways, and a table wider than the screen must sit in a box that scrolls.
LAYOUT_JS = """((mustFit) => {
  const doc = document.documentElement;
  // clientWidth leaves out a vertical scrollbar, which hides whatever is under it.
  const vw = Math.min(window.innerWidth, doc.clientWidth);
  const problems = [];
  if (doc.scrollWidth > vw + 1) problems.push('page scrolls sideways: ' + doc.scrollWidth + ' > ' + vw);
  const scrolls = (el) => { const o = getComputedStyle(el).overflowX; return o === 'auto' || o === 'scroll'; };
  document.querySelectorAll('table').forEach((t, i) => {
    const r = t.getBoundingClientRect();
    if (r.width === 0 || (r.right <= vw + 1 && r.left >= -1)) return;
    let box = t.parentElement;
    while (box && box !== document.body && !scrolls(box)) box = box.parentElement;
    const b = box && box !== document.body ? box.getBoundingClientRect() : null;
    if (b && mustFit && box.scrollWidth > box.clientWidth + 1)
      problems.push('table ' + i + ' (' + (t.id || t.className || '?') + ') needs scrolling: '
                    + box.scrollWidth + ' > ' + box.clientWidth);
    else if (!b || b.right > vw + 1 || b.left < -1)
      problems.push('table ' + i + ' (' + (t.id || t.className || t.closest('[id]')?.id || '?') + ') cut: right '
                    + Math.round(r.right) + ' > ' + vw);
  });
  return problems;
})(%s)"""


async def test_pages_fit_laptop_and_phone(chromium, sqlite_url, settings_factory, tmp_path) -> None:
    from sqlalchemy import select

    from app.cli.demo import _seed
    from app.web.app import create_app
    from attendance.assemblies.lifecycle import create_assembly, end_assembly, start_assembly
    from attendance.db.unit_of_work import committed, run_in_transaction
    from attendance.models import Office, User

    app = create_app(settings_factory(sqlite_url))
    with app.state.session_factory() as db:
        run_in_transaction(db, lambda: _seed(db, PASSWORD, PASSWORD))
        office_ids = list(db.execute(select(Office.id)).scalars())
        leader = db.execute(select(User).where(User.username == "leader")).scalar_one()
        a = committed(create_assembly)(db, actor=leader, kind="pagi", title="Apel pagi gabungan Pemprov Bali",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=office_ids, ruleset_name="default")
        committed(start_assembly)(db, a.id, actor=leader)
        # An earlier apel of the month, ended, so the recap has rows to lay out.
        done = committed(create_assembly)(db, actor=leader, kind="pagi", title="Apel kemarin",
                                          scheduled_start=datetime.now(UTC) - timedelta(minutes=30),
                                          office_ids=office_ids, ruleset_name="default")
        committed(start_assembly)(db, done.id, actor=leader)
        committed(end_assembly)(db, done.id, actor=leader)
        aid, oid = a.id, office_ids[0]
    month = datetime.now(UTC).strftime("%Y-%m")
    pages = {"console": f"/live/assemblies/{aid}", "apel": f"/apel/{aid}", "report": f"/reports/apel/{aid}",
             "office": f"/reports/apel/{aid}/office/{oid}", "employees": "/employees",
             "recap": f"/reports/recap?month={month}", "recap-office": f"/reports/recap?month={month}&office_id={oid}"}
    # APEL_SCREENSHOTS=dir keeps a PNG of every page, language and width to look at.
    shots = os.environ.get("APEL_SCREENSHOTS")
    server = ServerThread(app, free_port())
    server.start()
    browser = Browser(tmp_path / "chrome-profile", [])
    found: dict[str, list[str]] = {}
    try:
        await browser.start()
        page = await browser.new_page()
        await page.login(server.url, "admin", PASSWORD)
        for width, height in WIDTHS:
            await page.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                            deviceScaleFactor=1, mobile=width < 600)
            for lang, (name, path) in product(("id", "en"), pages.items()):
                await page.goto(f"{server.url}{path}{'&' if '?' in path else '?'}lang={lang}")
                if name == "console":   # its script fills the roll-call table after the page loads
                    assert await page.wait_for("document.querySelectorAll('#offices-table tbody tr').length >= 4", 20)
                await page.eval("new Promise(r => setTimeout(r, 200))")
                if shots:
                    await page.screenshot(Path(shots) / f"{name}-{width}-{lang}.png")
                found[f"{name}@{width}/{lang}"] = await page.eval(LAYOUT_JS % str(width >= 1280).lower())
    finally:
        await browser.close()
        server.stop()
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
    assert len(found) == len(pages) * len(WIDTHS) * 2
    assert {k: v for k, v in found.items() if v} == {}
