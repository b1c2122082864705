"""The live writer keeps sightings through a database error: it retries, in order, on the real database."""
from __future__ import annotations

from datetime import UTC

from sqlalchemy import func, select, text


async def test_write_retries_through_database_errors(db_url: str, settings_factory) -> None:
    from app.live.service import LiveService
    from app.web.app import create_app
    from attendance.models import Office

    app = create_app(settings_factory(db_url), migrate=False)
    service = LiveService(app, app.state.settings)
    calls = {"n": 0}

    def work(session) -> None:
        calls["n"] += 1
        if calls["n"] <= 2:   # a real error from the real database, as when it is briefly unreachable
            session.execute(text("SELECT * FROM table_that_is_not_there_yet"))
        session.add(Office(code="RETRY", name="Written on the third attempt"))
        session.commit()

    try:
        await service.writer.write_with_retry(work)
    finally:
        service.db.close(wait=True)
    assert calls["n"] == 3 and service.writer.retries == 2
    with app.state.session_factory() as s:
        assert s.execute(select(func.count()).select_from(Office).where(Office.code == "RETRY")).scalar_one() == 1
    app.state.engine.dispose()


async def test_an_orderly_stop_writes_the_sightings_still_queued(db_url: str, settings_factory) -> None:
    """A restart or redeploy during the apel (SIGTERM: app.cli.main's graceful shutdown, then
    LiveService.stop): sightings that vision produced but the writer has not written yet reach the
    database before the service ends."""
    from datetime import datetime, timedelta

    from app.live.service import LiveService
    from app.live.streams import StreamInfo
    from app.web.app import create_app
    from attendance.assemblies.lifecycle import create_assembly, start_assembly
    from attendance.assemblies.sightings import Sighting
    from attendance.db.unit_of_work import committed
    from attendance.models import AssemblyKind, AttendanceRecord, Employee, User
    from attendance.roster.offices import create_office

    from .test_live_office_config import RecordingPool

    app = create_app(settings_factory(db_url), migrate=False)
    with app.state.session_factory() as db:
        office = create_office(db, actor="test", code="OPD1", name="Dinas Satu")
        leader = User(username="leader", password_hash="-", role="leader")
        people = [Employee(nip=f"19800101200501{n + 1:04d}", name=f"P{n}", office_id=office.id) for n in range(3)]
        db.add_all([leader, *people])
        db.commit()
        a = committed(create_assembly)(db, actor=leader, kind=list(AssemblyKind)[0].value, title="Apel pagi",
                                       scheduled_start=datetime.now(UTC) + timedelta(minutes=30),
                                       office_ids=[office.id])
        committed(start_assembly)(db, a.id, actor=leader)
        db.commit()
        assembly_id, office_id, ids = a.id, office.id, [p.id for p in people]
    service = LiveService(app, app.state.settings, pool=RecordingPool())
    await service.start()
    info = StreamInfo(stream_key=f"{assembly_id}/OPD1", assembly_id=assembly_id, office_id=office_id,
                      assembly_office_id=0, office_code="OPD1", track_prefix="t", names={}, joined_at=0.0)
    now = datetime.now(UTC)
    # Queued, as the bridge queues each analysed frame's sightings; the writer has not run yet.
    for k, emp in enumerate(ids):
        service.writer.put(info, [Sighting(employee_id=emp, track_key=f"t{k}", at=now, confidence=0.9,
                                           mask=False, distancing_violation=False)])
    try:
        await service.stop()
        with app.state.session_factory() as db:
            written = set(db.execute(select(AttendanceRecord.employee_id)
                                     .where(AttendanceRecord.assembly_id == assembly_id)).scalars())
        assert written == set(ids) and service.writer.written == 3 and service.writer.errors == 0
    finally:
        app.state.engine.dispose()
