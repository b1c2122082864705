"""The live writer keeps sightings through a database error: it retries, in order, on the real database."""
from __future__ import annotations

from sqlalchemy import func, select, text


async def test_write_retries_through_database_errors(db_url: str, settings_factory) -> None:
    from app.live import LiveService
    from app.main import create_app
    from attendance.models import Office

    app = create_app(settings_factory(db_url), migrate=False)
    service = LiveService(app, app.state.settings)
    calls = {"n": 0}

    def work(session) -> None:  # noqa: ANN001
        calls["n"] += 1
        if calls["n"] <= 2:   # a real error from the real database, as when it is briefly unreachable
            session.execute(text("SELECT * FROM table_that_is_not_there_yet"))
        session.add(Office(code="RETRY", name="Written on the third attempt"))
        session.commit()

    try:
        await service._write_with_retry(work)
    finally:
        service._db_executor.shutdown(wait=True)
    assert calls["n"] == 3 and service.write_retries == 2
    with app.state.session_factory() as s:
        assert s.execute(select(func.count()).select_from(Office).where(Office.code == "RETRY")).scalar_one() == 1
    app.state.engine.dispose()
