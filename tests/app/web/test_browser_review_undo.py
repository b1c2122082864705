"""In a real headless Chromium against a real server: HR's review queue asks before undoing a
confirmation (issue 18 §2). Answering "Cancel" changes nothing; answering "OK" takes the answer back
and the face is open in the queue again, its learned template gone."""
from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.app.live.conftest import ServerThread, free_port
from tests.e2e.cdp import Browser

from .browser_seed import PASSWORD, open_apel

pytestmark = [pytest.mark.e2e]


async def test_undo_in_the_review_queue_asks_first(chromium, sqlite_url, settings_factory, tmp_path) -> None:
    from app.web.app import create_app
    from attendance.assemblies.confirmations import LiveFaceRef, confirm_face
    from attendance.assemblies.lifecycle import end_assembly
    from attendance.assemblies.sightings import Sighting, record_sightings
    from attendance.db.unit_of_work import committed
    from attendance.models import Employee, FaceTemplate, ReviewItem, User

    app = create_app(settings_factory(sqlite_url))
    with app.state.session_factory() as db:
        seeded = open_apel(db, operator=True)
        office_id, aid = seeded.office_id, seeded.assembly_id
        leader, operator = db.get(User, seeded.users["leader"]), db.get(User, seeded.users["operator"])
        emp = Employee(nip="198503122010011001", name="Siti Rahayu", office_id=office_id)
        db.add(emp)
        db.commit()
        now = datetime.now(UTC)
        committed(record_sightings)(db, aid, office_id, [
            Sighting(employee_id=None, track_key="u1", at=now + timedelta(seconds=i), confidence=0.3, mask=True,
                     distancing_violation=False)
            for i in range(4)])
        emb = np.random.default_rng(3).normal(size=128).astype(np.float32)
        committed(confirm_face)(db, LiveFaceRef(aid, office_id, "u1", embedding=emb / np.linalg.norm(emb),
                                                embedding_backend="dlib+faceres"),
                                actor=operator, employee_id=emp.id)
        committed(end_assembly)(db, aid, actor=leader)
        item_id = db.execute(select(ReviewItem.id)).scalar_one()

    def state() -> tuple[str, int]:
        with app.state.session_factory() as db:
            return (db.get(ReviewItem, item_id).status,
                    db.execute(select(func.count()).select_from(FaceTemplate)).scalar_one())

    assert state() == ("assigned", 1)
    server = ServerThread(app, free_port())
    server.start()
    browser = Browser(tmp_path / "chrome-profile", [])
    try:
        await browser.start()
        hr = await browser.new_page()
        await hr.login(server.url, "hr", PASSWORD)
        await hr.goto(f"{server.url}/review?status=assigned&lang=en")
        form = f"#item-{item_id} form[action$='/undo']"
        await hr.eval(f"document.querySelector(\"{form} input[name=reason]\").value = 'bukan Siti'")
        asked = await hr.click_then_answer(f"{form} button", accept=False)
        assert asked.startswith("Undo this confirmation?"), asked
        await hr.eval("new Promise(r => setTimeout(r, 500))")
        assert state() == ("assigned", 1)   # "Cancel": nothing changed

        await hr.click_then_answer(f"{form} button", accept=True)
        shown = await hr.wait_for("(() => { const t = document.body.innerText; return (t.includes('Answer undone')"
                                  " || t.includes('Jawaban dibatalkan')) && location.pathname; })()", 20)
        assert shown == "/review"
        assert state() == ("open", 0)
        assert await hr.eval(f"!!document.querySelector('#item-{item_id} form[action$=\"/assign\"]')")
    finally:
        await browser.close()
        server.stop()
        shutil.rmtree(tmp_path / "chrome-profile", ignore_errors=True)
