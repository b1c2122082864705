"""One count everywhere (issue 18 §4): on one recorded apel, the console's roll-call, the apel page,
the laporan apel (data and CSV) and `apel analyze`'s summary give the same distancing alerts and
mask compliance. The apel is real: a synthetic office rendered from real lfw10 photos with one pair
standing clearly too close and some people masked, run through `apel analyze`'s pipeline; the very
frames it analysed are recorded as the live service records them (translate -> record_sightings)
on a real SQLite database, and each place is read through its own route."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"
# One row 3 m from the camera: the first two 0.6 m apart (too close), the others 1.1 m apart.
PLACES = [(-1.3, 3.0, 0), (-0.7, 3.0, 0), (0.4, 3.0, 0), (1.5, 3.0, 0)]
SECONDS = 6.0


def _office(shared_data: Path, work: Path, ids: list[int]) -> tuple[Path, Path]:
    """A roster folder per employee id (their lfw10 photos) and the clip rendered from it."""
    from attendance.vision.roster_dir import read_image_rgb
    from attendance.vision.training import synth_office as synth

    lfw = shared_data / "faces" / "lfw10"
    names = sorted(d.name for d in lfw.iterdir() if d.is_dir())[:len(ids)]
    roster = work / "roster"
    for emp_id, name in zip(ids, names, strict=True):
        (roster / str(emp_id)).mkdir(parents=True)
        one_face = [p for p in sorted((lfw / name).glob("*.jpg"))
                    if len(synth.detect_enrolment_faces(read_image_rgb(p))) == 1]
        for p in one_face[:4]:
            shutil.copy(p, roster / str(emp_id) / p.name)
    real = synth._layout
    synth._layout = lambda n, *a, **k: PLACES[:n]
    try:
        clip = work / "office.mp4"
        synth.make_office(roster, len(ids), SECONDS, clip, work / "truth.json", fps=5.0, size=(1280, 720),
                          hfov_deg=60.0, masked_fraction=0.5, seed=3, arrive_within_s=0.0)
    finally:
        synth._layout = real
    return roster, clip


def _cards(html: str) -> dict[str, str]:
    """The apel page's total cards: label -> figure."""
    return {label.strip(): value.strip() for value, label in
            re.findall(r'<div class="card"><strong>([^<]*)</strong><br>([^<]*)</div>', html)}


@pytest.mark.slow
@pytest.mark.shared_data
def test_console_page_report_and_analyze_agree(sqlite_url: str, settings_factory, shared_data: Path,
                                               tmp_path: Path, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    from app.cli.vision import analyze_source
    from app.live.streams import StreamInfo
    from app.live.translate import sightings_from_result
    from app.web.app import create_app
    from attendance.assemblies.counts import percent
    from attendance.assemblies.lifecycle import create_assembly, start_assembly
    from attendance.assemblies.sightings import record_sightings
    from attendance.db.unit_of_work import committed
    from attendance.i18n import t
    from attendance.models import AssemblyKind, AssemblyOffice, Employee
    from attendance.reports.apel import apel_report
    from attendance.roster.offices import create_office
    from attendance.roster.users import create_user
    from attendance.vision.pipeline import OfficePipeline

    app = create_app(settings_factory(sqlite_url), migrate=False)
    with app.state.session_factory() as s:
        office = create_office(s, actor="test", code="OPD1", name="Dinas Satu")
        people = [Employee(nip=f"19800101200501{n + 1:04d}", name=f"Pegawai {n + 1}", office_id=office.id)
                  for n in range(len(PLACES))]
        s.add_all(people)
        leader = create_user(s, actor="test", username="leader", password=PASSWORD, role="leader")
        s.commit()
        ids = [e.id for e in people]
        a = committed(create_assembly)(s, actor=leader, kind=list(AssemblyKind)[0].value, title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[office.id], ruleset_name="default")
        committed(start_assembly)(s, a.id, actor=leader)
        ao_id = s.query(AssemblyOffice).filter_by(assembly_id=a.id, office_id=office.id).one().id
        assembly_id, office_id = a.id, office.id

    roster, clip = _office(shared_data, tmp_path, ids)
    results = []
    process = OfficePipeline.process

    def recorded(self, frame, t_s):   # the frames analyze saw, to record them as the live service does
        res = process(self, frame, t_s)
        results.append(res)
        return res
    monkeypatch.setattr(OfficePipeline, "process", recorded)
    summary = analyze_source(clip, roster, fps=5.0, hfov=60.0, min_distance=1.0, with_frames=False)
    assert summary["distancing_alerts"] >= 1, "the pair 0.6 m apart for seconds is an alert"
    assert summary["mask_known"] >= 2
    # Only the pair standing too close alerts, not the neighbours 1.1 m apart (the two left faces).
    centres = [res.faces[k].box[0] + res.faces[k].box[2] / 2
               for res in results for al in res.alerts if al.new for k in (al.a, al.b)]
    assert centres and max(centres) < 500, centres   # x = -1.3 and -0.7 m at 3 m: ~160 and ~380 px

    info = StreamInfo(stream_key=f"{assembly_id}/OPD1", assembly_id=assembly_id, office_id=office_id,
                      assembly_office_id=ao_id, office_code="OPD1", track_prefix="j1", names={}, joined_at=0.0)
    start = datetime.now(UTC).timestamp()
    with app.state.session_factory() as s:
        for res in results:
            res.t_s += start      # analyze's clock starts at 0; the live one is the wall clock
            committed(record_sightings)(s, assembly_id, office_id, sightings_from_result(info, res))
        report = apel_report(s, assembly_id).total

    want = (summary["distancing_alerts"], summary["mask_known"], summary["masked"])
    assert (report.distancing_alerts, report.mask_known, report.masked) == want
    assert report.mask_compliance == pytest.approx(summary["mask_compliance"], abs=1e-4)

    with TestClient(app) as c:
        assert c.post("/api/v1/auth/login", json={"username": "leader", "password": PASSWORD}).status_code == 200
        console = c.get(f"/api/v1/live/assemblies/{assembly_id}/rollcall")
        if console.status_code != 200:   # no live service in this app: the assemblies API's roll-call
            console = c.get(f"/api/v1/assemblies/{assembly_id}/rollcall")
        assert console.status_code == 200, console.text
        tot = console.json()["totals"]
        assert (tot["distancing_alerts"], tot["mask_known"], tot["masked"]) == want
        assert tot["mask_compliance"] == pytest.approx(summary["mask_compliance"], abs=1e-4)
        assert tot["mask_compliance_pct"] == percent(summary["mask_compliance"])

        rep = c.get(f"/api/v1/reports/apel/{assembly_id}")
        assert rep.status_code == 200, rep.text
        assert (rep.json()["total"]["distancing_alerts"], rep.json()["total"]["masked"],
                rep.json()["total"]["mask_known"]) == (want[0], want[2], want[1])

        page = c.get(f"/apel/{assembly_id}")
        assert page.status_code == 200
        cards = _cards(page.text)
        lang = "en" if t("att.mask", "en") in cards else "id"
        assert cards[t("att.distancing", lang)] == str(want[0])
        assert cards[t("att.mask", lang)] == f"{tot['mask_compliance_pct']}%"   # what console.js shows
    app.state.engine.dispose()
